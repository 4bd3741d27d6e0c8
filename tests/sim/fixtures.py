"""pytest fixtures for the simulated cluster (registered by tests/conftest.py).

    @pytest.mark.cluster
    def test_something(sim_cluster):
        cluster = sim_cluster(4, specs={"node-2": HostSpec(gpus=7)})

Outside CI a machine that cannot run the cluster skips these tests with the reason; under
CI=true that is a failure, so the suite cannot turn green by skipping.
"""

from __future__ import annotations

import functools
import os
import shutil
from collections.abc import Callable, Iterator, Mapping

import pytest

from . import netns, sweep
from .cluster import SimCluster
from .shell import sh
from .spec import HostSpec

MakeCluster = Callable[..., SimCluster]
NEEDED_TOOLS = ("ip", "tc", "iptables", "iperf3", "ssh", "ssh-keygen", "unshare", "ping")


@functools.cache
def missing_capability() -> str | None:
    """Why this machine cannot run a SimCluster, or None when it can."""
    if os.geteuid() != 0:
        return "the simulated cluster needs root (network namespaces, sshd, iptables)"
    if not os.access("/usr/sbin/sshd", os.X_OK):
        return "/usr/sbin/sshd missing (apt-get install openssh-server)"
    missing = [tool for tool in NEEDED_TOOLS if shutil.which(tool) is None]
    if missing:
        return f"missing tools: {', '.join(missing)} (iproute2, iptables, iperf3, openssh-client)"
    probe = sh(["ip", "netns", "list"], check=False)
    if probe.returncode != 0:
        return f"`ip netns` does not work here: {probe.stderr.strip()}"
    return None


def require_sim_cluster() -> None:
    reason = missing_capability()
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true and the simulated cluster cannot run: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def sim_session() -> None:
    """Checks the machine once, and removes clusters left by crashed earlier runs."""
    require_sim_cluster()
    with sweep.cluster_lock():
        sweep.sweep_leftovers()


def _factory(clusters: list[SimCluster]) -> MakeCluster:
    def make(
        n: int = 3, specs: Mapping[str, HostSpec] | None = None, name_prefix: str = "node"
    ) -> SimCluster:
        cluster = SimCluster(n, specs=specs, name_prefix=name_prefix)
        clusters.append(cluster)
        return cluster.start()

    return make


def _stop_all(clusters: list[SimCluster]) -> None:
    errors = []
    for cluster in reversed(clusters):
        try:
            cluster.stop()
        except Exception as exc:  # keep tearing down the others, then report
            errors.append(exc)
    if errors:
        raise errors[0]


@pytest.fixture
def sim_cluster(sim_session: None) -> Iterator[MakeCluster]:
    """Factory: `sim_cluster(n, specs=...)` -> a started SimCluster, stopped after the test."""
    clusters: list[SimCluster] = []
    try:
        yield _factory(clusters)
    finally:
        _stop_all(clusters)


@pytest.fixture(scope="module")
def sim_cluster_module(sim_session: None) -> Iterator[MakeCluster]:
    """The same factory, but clusters live for the whole module (share a healthy one)."""
    clusters: list[SimCluster] = []
    try:
        yield _factory(clusters)
    finally:
        _stop_all(clusters)


def leftovers(cluster_id: str) -> list[str]:
    """What of cluster `cluster_id` still exists on the machine (empty after a clean stop)."""
    prefix = f"{sweep.PREFIX}{cluster_id}"
    found = [f"netns {ns}" for ns in netns.list_namespaces() if ns.startswith(prefix + "-")]
    found += [f"link {link}" for link in netns.list_links() if link.startswith(prefix)]
    if netns.ETC_NETNS.is_dir():
        found += [f"/etc/netns/{d.name}" for d in netns.ETC_NETNS.glob(prefix + "-*")]
    if sweep.workdir_for(cluster_id).exists():
        found.append(str(sweep.workdir_for(cluster_id)))
    return found
