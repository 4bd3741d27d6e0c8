"""~/.ssh/config is honoured: ProxyJump, and UserKnownHostsFile when --known-hosts is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cluster.helpers import explain, run_preflight

pytestmark = pytest.mark.cluster


def test_proxyjump_reaches_a_node_the_head_cannot(sim_cluster, tmp_path: Path) -> None:
    cluster = sim_cluster(3)
    head = str(next(cluster.subnet.hosts()))  # the bridge address the head connects from
    cluster.run_in("node-2", ["iptables", "-A", "INPUT", "-p", "tcp", "--dport", "22",
                              "-s", head, "-j", "DROP"], check=True)
    args = cluster.preflight_args()
    direct = run_preflight(*args, "--expect", "connect_timeout_s=3", "-k", "ssh_reachable",
                           out=tmp_path / "direct")
    assert run_bad(direct) == {("ssh_reachable", "node-2")}, explain(direct)

    jumping = tmp_path / "ssh_config"
    jumping.write_text("Host node-2\n  ProxyJump node-1\n\n" + cluster.ssh_config.read_text())
    args[args.index("--ssh-config") + 1] = str(jumping)
    via = run_preflight(*args, "-k", "ssh_reachable or gpu_count", out=tmp_path / "via")
    assert via.rc == 0, explain(via)
    assert via.of("gpu_count", "node-2")[0]["measured"] == 8


def test_user_known_hosts_file_from_ssh_config(sim_cluster, tmp_path: Path) -> None:
    cluster = sim_cluster(2)
    args = cluster.preflight_args()
    i = args.index("--known-hosts")
    del args[i:i + 2]  # the ssh_config's UserKnownHostsFile names the same file
    run = run_preflight(*args, "-k", "ssh_reachable", out=tmp_path / "run")
    assert run.rc == 0, explain(run)


def run_bad(run) -> set[tuple[str, str]]:
    return {(r["check"], r["node"]) for r in run.bad()}
