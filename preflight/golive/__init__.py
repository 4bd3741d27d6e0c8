"""From a GO to a running job: the launch lines and NCCL settings a run just proved.

`preflight launch RUN_DIR --launcher torchrun|mpirun|srun|deepspeed|fabric` reads the run
directory (facts, results, measurements), keeps the nodes that passed, and prints commands
for the user to run; it starts nothing (preflight.collective.launch is what starts probes).

- runread: the run directory as one immutable input (RunInputs)
- plan: which nodes, which address and port, how many processes per node (LaunchPlan)
- env: the NCCL/libfabric variables, each with the check that justifies it
- printers: the plan as each launcher's command lines, nccl.env and the hostfile
"""
