"""The simulated cluster: real namespaces, real sshd, real faults (docs/architecture.md).

    from tests.sim.cluster import SimCluster
    from tests.sim.spec import HostSpec

Fixtures (registered by tests/conftest.py): `sim_cluster` (factory, per test) and
`sim_cluster_module` (factory, per module). Needs root; see fixtures.missing_capability.
"""
