"""examples/slurm run for real on the simulated cluster's Slurm: the sbatch script that
gates on preflight and resubmits without the bad nodes (then trains with torchrun), and the
health check as a Prolog (slurmd drains the node) and as a HealthCheckProgram."""

from __future__ import annotations

import os
import resource
import sys
import time
from pathlib import Path

import pytest

from tests.cluster.helpers import NOFILE_FLOOR
from tests.sim.slurm import SimSlurm

pytestmark = pytest.mark.cluster

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "slurm"
VENV_BIN = os.path.dirname(sys.executable)
MEMLOCK = resource.getrlimit(resource.RLIMIT_MEMLOCK)[1]
TRAIN = """\
import os, torch, torch.distributed as dist
dist.init_process_group("gloo")
total = torch.ones(1)
dist.all_reduce(total)
print(f"trained: rank {dist.get_rank()} of {dist.get_world_size()} on "
      f"{os.uname().nodename}, all_reduce {int(total.item())}", flush=True)
dist.destroy_process_group()
"""


def _install_torchrun(slurm: SimSlurm) -> None:
    """torchrun is torch's console script; this environment has the module, not the script."""
    for host in slurm.cluster.hosts.values():
        script = host.bin_dir / "torchrun"
        script.write_text(f'#!/bin/sh\nexec {sys.executable} -m torch.distributed.run "$@"\n')
        script.chmod(0o755)


def _wait_no_jobs(slurm: SimSlurm, timeout_s: float = 240) -> None:
    deadline = time.monotonic() + timeout_s
    while slurm.run("squeue", "-h").stdout.strip():
        assert time.monotonic() < deadline, slurm.run("squeue").stdout
        time.sleep(0.5)


def test_sbatch_gates_resubmits_without_the_bad_node_then_trains(sim_slurm,
                                                                   tmp_path: Path) -> None:
    slurm: SimSlurm = sim_slurm(4)
    slurm.cluster.update_spec("node-2", gpus=7)
    _install_torchrun(slurm)
    (tmp_path / "train.py").write_text(TRAIN)
    cluster = slurm.cluster
    env = {"PATH": f"{VENV_BIN}:{os.environ['PATH']}", "PREFLIGHT_PROFILE": "generic",
           "PREFLIGHT_ARGS": f"--ssh-config {cluster.ssh_config} --known-hosts "
                             f"{cluster.known_hosts} -k gpu --expect gpus_per_node=8",
           "NPROC_PER_NODE": "1", "TRAIN": str(tmp_path / "train.py"),
           "GLOO_SOCKET_IFNAME": "eth0",
           # The simulated Slurm schedules no GPUs: this overrides the script's
           # --gpus-per-node=8 here and in its resubmission (env beats #SBATCH).
           "SBATCH_GPUS_PER_NODE": "0"}
    first = slurm.run("sbatch", "--parsable", "--wait", "--nodes=3", f"--chdir={tmp_path}",
                      str(EXAMPLES / "train.sbatch"), env=env, check=False, timeout=300)
    assert first.returncode == 1, first
    _wait_no_jobs(slurm)
    outputs = {p.name: p.read_text() for p in sorted(tmp_path.glob("train-*.out"))}
    first_out = outputs.pop(f"train-{first.stdout.strip()}.out")
    assert "preflight: NO-GO, not starting the job" in first_out, first_out
    assert "preflight: resubmitting without node-2" in first_out and "trained" not in first_out
    (second_out,) = outputs.values()
    assert "preflight: GO" in second_out, second_out
    trained = sorted(line for line in second_out.splitlines() if line.startswith("trained"))
    assert len(trained) == 3 and all(line.endswith("all_reduce 3") for line in trained)
    assert {line.split(" on ")[1].split(",")[0] for line in trained} == {
        "node-1", "node-3", "node-4"}, second_out


def _healthcheck_env(slurm: SimSlurm, tmp_path: Path) -> Path:
    """The site's wrapper (slurm.conf Prolog=): the node's tool paths, then the example."""
    config = tmp_path / "preflight.toml"
    config.write_text(f"[expect]\ngpus_per_node = 8\nmemlock_min_bytes = {MEMLOCK}\n"
                      f"nofile_min = {NOFILE_FLOOR}\n")
    wrapper = tmp_path / "prolog.sh"
    wrapper.write_text(
        "#!/bin/sh\n"
        f'. "{slurm.dir}/env/$SLURMD_NODENAME"\n'
        f"export PREFLIGHT={VENV_BIN}/preflight PREFLIGHT_CONFIG={config}\n"
        f'export PREFLIGHT_OUT="{tmp_path}/hc/$SLURMD_NODENAME" SLURM_CONF={slurm.conf}\n'
        f"exec bash {EXAMPLES / 'healthcheck.sh'}\n")
    wrapper.chmod(0o755)
    return wrapper


def _sed_export(env_file: Path) -> dict[str, str]:
    pairs = (line.removeprefix("export ").split("=", 1) for line in
             env_file.read_text().splitlines())
    return dict(pairs)


def test_healthcheck_as_prolog_and_as_health_check_program(sim_slurm, tmp_path: Path) -> None:
    wrapper = tmp_path / "prolog.sh"
    # Slurm's prolog budget is 60 s by default; this shared test machine gets more room.
    slurm: SimSlurm = sim_slurm(3, conf_lines=[f"Prolog={wrapper}", "PrologFlags=Alloc",
                                                 "PrologEpilogTimeout=240"])
    _healthcheck_env(slurm, tmp_path)
    ok = slurm.run("srun", "-N3", "hostname", timeout=300, check=False)
    assert ok.returncode == 0, ok

    slurm.cluster.update_spec("node-2", gpus=7)
    bad = slurm.run("srun", "-N3", "hostname", timeout=300, check=False)
    assert bad.returncode != 0, bad
    slurm.wait_state({"node-1": "idle", "node-2": "drain", "node-3": "idle"}, timeout_s=120)
    assert "rolog" in slurm.reason("node-2"), slurm.reason("node-2")  # slurmd's own reason

    # As HealthCheckProgram (no job): the script drains its node itself, with the cause.
    slurm.cluster.update_spec("node-3", gpus=7)
    env = _sed_export(slurm.dir / "env" / "node-3") | {
        "SLURMD_NODENAME": "node-3", "SLURM_CONF": str(slurm.conf),
        "PREFLIGHT": f"{VENV_BIN}/preflight", "PREFLIGHT_CONFIG": str(tmp_path / "preflight.toml"),
        "PREFLIGHT_OUT": str(tmp_path / "hc-program")}
    checked = slurm.run_on("node-3", ["bash", str(EXAMPLES / "healthcheck.sh")], env)
    assert checked.returncode == 0, checked
    slurm.wait_state({"node-3": "drain"}, timeout_s=10)
    assert slurm.reason("node-3").startswith("preflight: gpu_count: node-3: "), \
        slurm.reason("node-3")
