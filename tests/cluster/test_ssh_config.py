"""~/.ssh/config is honoured: ProxyJump, and UserKnownHostsFile when --known-hosts is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cluster.helpers import explain, run_preflight
from tests.sim.files import mesh_ssh_config, write_in_place

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


def test_mesh_uses_each_nodes_own_host_key_policy(sim_cluster, tmp_path: Path) -> None:
    """mpirun uses the node's ssh config: node-1's /etc/ssh/ssh_config accepts any key
    (StrictHostKeyChecking no, no known_hosts), node-2's accepts new ones into an empty
    known_hosts (accept-new). Both reach every node, as mpirun would; node-1 is one security
    warning, node-2 nothing."""
    cluster = sim_cluster(3)
    first_use = tmp_path / "node-2-known_hosts"
    policies = {"node-1": "  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n",
                "node-2": f"  StrictHostKeyChecking accept-new\n  UserKnownHostsFile {first_use}\n"}
    for name, policy in policies.items():
        config = cluster.host(name).etc_dir / "ssh" / "ssh_config"
        config.write_text("Host node-*\n" + policy + "\n" + config.read_text())
    try:
        run = run_preflight(*cluster.preflight_args(), "-k", "ssh_mesh or host_key_checking",
                            out=tmp_path / "run")
    finally:
        for name in policies:
            host = cluster.host(name)
            write_in_place(host.etc_dir / "ssh" / "ssh_config", mesh_ssh_config(host))
    assert run.bad_summary() == {("ssh_host_key_checking", "node-1", "warn")}, explain(run)
    (warning,) = run.bad()
    assert warning["reason"] == "host-key-checking-off"
    assert "node-1: its ssh client accepts any host key (StrictHostKeyChecking false" \
        in warning["message"]
    assert len(run.of("ssh_mesh")) == 3 and len(run.of("ssh_host_key_checking")) == 3
    assert len(first_use.read_text().splitlines()) == 2  # node-1's and node-3's, on first use


def test_one_machine_listed_twice_through_an_ssh_alias_fails(sim_cluster,
                                                             tmp_path: Path) -> None:
    """node-1-ib is node-1 under another name (an ssh config alias with the same HostName):
    mpirun would put both entries' ranks on one machine."""
    cluster = sim_cluster(3)
    config = tmp_path / "ssh_config"
    alias = cluster.ssh_config.read_text().replace("Host node-1\n", "Host node-1 node-1-ib\n")
    config.write_text(alias)
    hostfile = tmp_path / "hosts"
    hostfile.write_text(cluster.hostfile.read_text() + "node-1-ib slots=8\n")
    args = cluster.preflight_args()
    args[args.index("--ssh-config") + 1] = str(config)
    args[args.index("--hostfile") + 1] = str(hostfile)
    run = run_preflight(*args, "-k", "machines_distinct or hostnames_distinct or probe_ran",
                        out=tmp_path / "run")
    assert run.bad_summary() == {("machines_distinct", "cluster", "fail")}, explain(run)
    (result,) = run.bad()
    assert result["message"] == ("one machine listed twice (same machine-id, boot_id and "
                                 "hostname): node-1 and node-1-ib")
    assert result["reason"] == "machine-listed-twice" and run.rc == 1
    assert len(run.of("probe_ran")) == 4
