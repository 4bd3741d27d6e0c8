"""The fault matrix as data: each fault, how the simulated cluster injects it, what preflight
must report, and its hint. test_fault_matrix.py runs it, docs/faults.md is rendered from it.

Results are named by their test id without the `check_` prefix: `gpu_count[node-3]`,
`iperf3_bandwidth[node-1-to-node-3]`; the all-to-all
checks (TCP ports, SSH mesh, path MTU) have one result per source node: `path_mtu[node-1]`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from preflight import facts
from preflight.checks import (
    check_bandwidth,
    check_fabric,
    check_network,
    check_ports,
    check_sharedfs,
    check_ssh,
    check_system,
)
from preflight.collective.explain import REACH_HINTS
from preflight.gather import FAILURE_HINTS
from tests.cluster.helpers import WITHOUT_COLLECTIVES, WITHOUT_CROSS_NODE
from tests.sim.cluster import SimCluster
from tests.sim.spec import GpuState, IbPort, Xid

FAULTY = "node-3"  # the host every fault is injected on
PEER = "node-5"  # the other end, for faults between two hosts
NAMES = [f"node-{i}" for i in range(1, 7)]
PAIRWISE_TESTS = "tests/cluster/test_pairwise.py::"
NETWORK_TESTS = "tests/faults/test_network_faults.py::"
COLLECTIVE_TESTS = "tests/cluster/test_collectives.py::"
SHAREDFS_TESTS = "tests/cluster/test_sharedfs.py::"
PAIR_CHECKS = ("iperf3_bandwidth[", "ib_write_bw[")  # one result per measured pair
SHARED = "DIR"  # the shared folder (`--expect shared_paths=["DIR"]`) in the rows below

Inject = Callable[[SimCluster, Path], list[str]]
Probes = Literal["all", "bandwidth", "reach"]  # what a row's run needs (FaultCase.probes)
LEAVE_OUT: dict[Probes, str] = {"all": "", "bandwidth": WITHOUT_COLLECTIVES,
                                "reach": WITHOUT_CROSS_NODE}  # -k, where not ""


@dataclass(frozen=True)
class FaultCase:
    id: str
    fault: str  # what went wrong, as an operator would say it
    injected: str  # how the simulated cluster does it, for real
    headline: str  # the result that names the fault
    status: str  # its status
    says: tuple[str, ...]  # fragments its message must contain
    hint: str | None  # its hint, exactly
    also: Mapping[str, str] = field(default_factory=dict)  # other bad results it causes
    blocks: str | None = None  # every other result about this node is blocked
    args: tuple[str, ...] = ()  # extra preflight arguments
    base: Mapping[str, Any] = field(default_factory=dict)  # HostSpec fields on every host
    change: Mapping[str, Any] = field(default_factory=dict)  # HostSpec fields on FAULTY
    inject: Inject | None = None  # a fault beyond the HostSpec
    covered_by: str | None = None  # proven by another test file, not by the matrix
    passes: tuple[str, ...] = ()  # results about a blocked node that still pass
    # The cross-node probes its run needs, decided from what the fault does. "all" (the
    # default), the full default run: every network fault keeps it (issue 18: at the default
    # level, on 6 hosts), and so does a fault that reaches the processes the probes start on
    # the node (a clock skew, a nofile limit, a full /tmp: iperf3 once died of one).
    # "bandwidth", without the collectives: the fault changes what the bandwidth probes alone
    # plan from (ib_ports: the rails ib_write_bw tests and their floors). "reach", the reach
    # probes alone: a node-local fault, which only changes what the node's own tools report
    # (nvidia-smi, dmesg, fi_info, libnccl's name) or adds a site check, none of it read by
    # the bandwidth probes (reachable nodes, addresses, ib_ports) or the collectives (torch
    # version; GPU count, only to choose NCCL over gloo, which this CPU torch never does;
    # NCCL_/GLOO_ env; interfaces; hostnames); or a node out of the run from the gather on
    # (SSH refused, no python), which every probe leaves out alike: host-down runs them all.
    probes: Probes = "all"

    @property
    def expected(self) -> dict[str, str]:
        """Every result that must be bad (blocked ones aside), with its status."""
        return {self.headline: self.status, **self.also}

    @property
    def pairs(self) -> str:
        """The pair schedule its run needs: the mesh when it expects pair results of the
        bandwidth probes (every pair into or out of a node), else the default ring."""
        pairwise = any(key.startswith(PAIR_CHECKS) for key in self.expected)
        return "mesh" if pairwise else "ring"

    @property
    def probe_args(self) -> tuple[str, ...]:
        """The preflight arguments that leave out the probes the row does not need."""
        return ("-k", LEAVE_OUT[self.probes]) if LEAVE_OUT[self.probes] else ()

    @property
    def left_out(self) -> tuple[str, ...]:
        """The checks its run leaves out: the names in its -k expression."""
        return tuple(word for word in LEAVE_OUT[self.probes].split()
                     if word not in ("not", "and"))

    @property
    def facts_only(self) -> bool:
        """The fault is in the gathered facts alone, so recorded facts show it too."""
        return bool(self.change) and self.inject is None and self.covered_by is None


def _pairs_with(node: str, check: str) -> dict[str, str]:
    """Every source of an all-to-all check with a pair touching `node`: all of them."""
    return {f"{check}[{a}]": "fail" for a in NAMES if any(node in (a, b) for b in NAMES
                                                           if b != a)}


PER_SOURCE = ("tcp_ports", "ssh_mesh", "path_mtu")  # all-to-all: one result per source node


def _sources_into(node: str, checks: tuple[str, ...]) -> dict[str, str]:
    """Every other node's per-source result of these all-to-all checks: fail (they fail
    their pairs into node)."""
    return {f"{check}[{other}]": "fail" for check in checks for other in NAMES if other != node}


def _directed(node: str, checks: tuple[str, ...], *, into: bool) -> dict[str, str]:
    """Every check's result for each pair into (or out of) node: fail."""
    return {f"{check}[{other}-to-{node}]" if into else f"{check}[{node}-to-{other}]": "fail"
            for check in checks for other in NAMES if other != node}


def _ports(index: int, **changes: Any) -> list[IbPort]:
    ports = [IbPort(ca=f"mlx5_{i}") for i in range(8)]
    ports[index] = IbPort(ca=f"mlx5_{index}", **changes)
    return ports


# ----- faults that need more than a HostSpec change --------------------------------------

def _stop_sshd(cluster: SimCluster, tmp: Path) -> list[str]:
    cluster.stop_sshd(FAULTY)
    return []


def _change_host_key(cluster: SimCluster, tmp: Path) -> list[str]:
    cluster.change_host_key(FAULTY)
    return []


def _drop_client_key(cluster: SimCluster, tmp: Path) -> list[str]:
    cluster.drop_client_key(FAULTY)
    return []


def _hang_nvidia_smi(cluster: SimCluster, tmp: Path) -> list[str]:
    cluster.hang(FAULTY, "nvidia-smi")
    return ["--expect", "subprobe_timeout_s=3"]


def _clock_skew(cluster: SimCluster, tmp: Path) -> list[str]:
    cluster.clock_skew(FAULTY, 30)
    return []


def _mtu(cluster: SimCluster, tmp: Path) -> list[str]:
    cluster.set_mtu(FAULTY, 1400)
    return []


def _resolve(cluster: SimCluster, tmp: Path) -> list[str]:
    # A stale /etc/hosts line: an address of the cluster's subnet that no host holds.
    cluster.resolve_differently(FAULTY, PEER, str(cluster.subnet[250]))
    return []


def _firewall(cluster: SimCluster, tmp: Path) -> list[str]:
    cluster.firewall_only(FAULTY, [22, 29500])
    return []


def _hostname_loopback(cluster: SimCluster, tmp: Path) -> list[str]:
    cluster.resolve_differently(FAULTY, FAULTY, "127.0.1.1")
    return []


def _nofile(cluster: SimCluster, tmp: Path) -> list[str]:
    cluster.nofile(FAULTY, 1024)
    return []


def _ifname(value: str) -> Inject:
    def inject(cluster: SimCluster, tmp: Path) -> list[str]:
        cluster.set_env(FAULTY, NCCL_SOCKET_IFNAME=value)
        return []

    return inject


def _one_way(cluster: SimCluster, tmp: Path) -> list[str]:
    cluster.drop_new_from(FAULTY, PEER)
    return []


def _other_subnet(cluster: SimCluster, tmp: Path) -> list[str]:
    cluster.send_from_other_subnet(FAULTY)
    return []


def _max_startups(cluster: SimCluster, tmp: Path) -> list[str]:
    cluster.sshd_option(FAULTY, "MaxStartups", "2")
    return []


def _full_tmp(cluster: SimCluster, tmp: Path) -> list[str]:
    cluster.fill_tmp(FAULTY)
    return []


def _no_python(cluster: SimCluster, tmp: Path) -> list[str]:
    from tests.cluster.test_bad_input import without_python

    without_python(cluster, FAULTY, tmp / "nopython")
    return []


SITE_CHECK = '''\
"""A site's own check with a bug: its inventory has no entry for node-3."""

RACKS = {"node-1": "r1", "node-2": "r1", "node-4": "r2", "node-5": "r2", "node-6": "r3"}


def check_rack_known(node):
    assert RACKS.get(node.name).startswith("r")


def check_site_motd(node):
    assert node.name
'''


def _site_check(cluster: SimCluster, tmp: Path) -> list[str]:
    folder = tmp / "site_checks"
    folder.mkdir()
    (folder / "check_site.py").write_text(SITE_CHECK)
    return ["--checks", str(folder)]


# ----- the matrix -----------------------------------------------------------------------

GPU_HINT = "a GPU fell off the bus or is hidden: check nvidia-smi -L, dmesg Xid 79, reseat/RMA"
IB_HINT = ("check the cable and switch port (ibstat, ibdiagnet); a port at a lower rate "
           "often means a bad cable or a port negotiated down")
NVLINK_HINT = ("a degraded NVLink: check nvidia-smi nvlink -s and the fabric manager; "
               "reset the GPUs or drain the node")
HUNG_TOOL = ("gpu_model", "gpus_idle", "ecc_uncorrected", "remapped_rows", "retired_pages",
             "clock_throttle", "version_consistent", "topology_matches_cluster")


def _node_keys(checks: tuple[str, ...], node: str) -> dict[str, str]:
    return {(c.format(n=node) if "[" in c else f"{c}[{node}]"): "error" for c in checks}


CASES: list[FaultCase] = [
    FaultCase(
        "host-down", "host down (sshd stopped)", "`cluster.stop_sshd(node-3)`",
        f"ssh_reachable[{FAULTY}]", "fail", ("connection-refused",),
        FAILURE_HINTS["connection-refused"], blocks=FAULTY, inject=_stop_sshd),
    FaultCase(
        "host-key-changed", "host key changed", "`cluster.change_host_key(node-3)`",
        f"ssh_reachable[{FAULTY}]", "fail", ("host-key-changed",),
        "if the node was reinstalled, ssh-keygen -R it and re-add the key; "
        "otherwise treat it as an attack", blocks=FAULTY, inject=_change_host_key, probes="reach"),
    FaultCase(
        "key-not-authorized", "our key not authorized", "`cluster.drop_client_key(node-3)`",
        f"ssh_reachable[{FAULTY}]", "fail", ("auth-denied",),
        "add your public key to the node's authorized_keys (ssh-copy-id)",
        blocks=FAULTY, inject=_drop_client_key, probes="reach"),
    FaultCase(
        "hung-command", "hung command (nvidia-smi never returns)",
        "`cluster.hang(node-3, \"nvidia-smi\")`, `--expect subprobe_timeout_s=3`",
        f"gpu_count[{FAULTY}]", "error", ("`nvidia_smi_q` timed out after",),
        facts.HUNG_TOOL_HINT.format(command="nvidia-smi -q", node=FAULTY),
        also=_node_keys(HUNG_TOOL, FAULTY), inject=_hang_nvidia_smi, probes="reach"),
    FaultCase(
        "clock-skew", "clock skew (+30 s)", "`cluster.clock_skew(node-3, 30)` (libfaketime)",
        f"clock_skew[{FAULTY}]", "fail", ("s from the head node (expected within 1 s)",),
        "run chrony/ntpd on every node; skewed clocks break timeouts, logs, Kerberos",
        inject=_clock_skew),
    FaultCase(
        "driver-mismatch", "driver version mismatch", "`driver_version=\"535.86.10\"`",
        f"version_consistent[{FAULTY}]", "fail",
        ("driver 535.86.10, the other 5 of 6 nodes have 550.90.07",),
        "install the same NVIDIA driver on every node (mismatches break NCCL and CUDA)",
        change={"driver_version": "535.86.10"}, probes="reach"),
    FaultCase(
        "nccl-mismatch", "NCCL version mismatch", "`nccl_version=\"2.18.3\"` (libnccl.so name)",
        f"version_consistent[{FAULTY}]", "fail",
        ("nccl 2.18.3, the other 5 of 6 nodes have 2.21.5",),
        "use one NCCL build on every node: ranks with different NCCL versions hang",
        change={"nccl_version": "2.18.3"}, probes="reach"),
    FaultCase(
        "gpu-missing", "GPU missing (7 of 8)", "`gpus=7` (hostfile still says slots=8)",
        f"gpu_count[{FAULTY}]", "fail", ("GPUs visible: 7, expected 8",), GPU_HINT,
        change={"gpus": 7}, probes="reach"),
    FaultCase(
        "nvlink-degraded", "NVLink degraded (one GPU pair over PCIe)", "`topo={(2, 5): \"SYS\"}`",
        f"topology_matches_cluster[{FAULTY}]", "fail", ("GPU2-GPU5 SYS (others NV18)",),
        NVLINK_HINT, change={"topo": {(2, 5): "SYS"}}, probes="reach"),
    FaultCase(
        "ecc-uncorrected", "uncorrected ECC errors",
        "`gpu_overrides={4: GpuState(ecc_uncorrected=2)}`",
        f"ecc_uncorrected[{FAULTY}]", "fail", ("GPU 4: 2 uncorrected ECC errors (expected 0)",),
        "uncorrected ECC errors corrupt results: reset the GPU, and drain the node if they "
        "come back", change={"gpu_overrides": {4: GpuState(ecc_uncorrected=2)}},
        probes="reach"),
    FaultCase(
        "remapped-rows-pending", "remapped rows pending",
        "`gpu_overrides={1: GpuState(remapped_pending=True)}`",
        f"remapped_rows[{FAULTY}]", "fail", ("GPU 1: remapped rows pending",),
        "remapped rows pending: reset the GPU (nvidia-smi -r) or drain the node; a remapping "
        "failure needs an RMA", change={"gpu_overrides": {1: GpuState(remapped_pending=True)}},
        probes="reach"),
    FaultCase(
        "xid-79", "Xid 79 in the kernel log (GPU fell off the bus)",
        "`xids=[Xid(79, \"0000:9b:00\", ...)]`",
        f"xid_errors[{FAULTY}]", "fail", ("Xid 79 on GPU 4 (0000:9b:00)",),
        "look the Xid up in NVIDIA's Xid catalog; 79/74/48/63/64 usually mean drain the node "
        "and reset or replace the GPU",
        change={"xids": [Xid(79, "0000:9b:00", "GPU has fallen off the bus.")]},
        probes="reach"),
    FaultCase(
        "ib-port-down", "IB port down", "`ib_ports`: mlx5_5 `state=\"Down\"`",
        f"ib_ports[{FAULTY}]", "fail", ("mlx5_5 port 1: Down (expected Active)",), IB_HINT,
        change={"ib_ports": _ports(5, state="Down", physical_state="Disabled", rate=10)},
        probes="bandwidth"),
    FaultCase(
        "ib-port-slow", "IB port at 200 instead of 400 Gb/s", "`ib_ports`: mlx5_5 `rate=200`",
        f"ib_ports[{FAULTY}]", "fail", ("mlx5_5 port 1: 200 Gb/s (expected 400)",), IB_HINT,
        change={"ib_ports": _ports(5, rate=200)}, probes="bandwidth"),
    FaultCase(
        "efa-short", "EFA device count short (31 of 32)",
        "`efa_count=32` on every host, 31 on node-3; `--expect efa_count=32`",
        f"efa_count[{FAULTY}]", "fail", ("31 EFA devices, expected 32",),
        "an EFA interface is missing: check the instance's network cards and the efa driver "
        "(lsmod | grep efa); stop/start the instance",
        args=("--expect", "efa_count=32"), base={"efa_count": 32}, change={"efa_count": 31},
        probes="reach"),
    FaultCase(
        "mtu-mismatch", "MTU mismatch (1400 on one host)", "`cluster.set_mtu(node-3, 1400)`",
        f"mtu_consistent[{FAULTY}]", "fail",
        ("MTU 1400 on eth0, the other 5 of 6 nodes use 1500",),
        "set the same MTU on every node (and the switch); a mismatch black-holes large packets",
        also=_pairs_with(FAULTY, "path_mtu"), inject=_mtu),
    FaultCase(
        "name-resolves-differently", "a name resolves differently on one host",
        "`cluster.resolve_differently(node-3, node-5, <unused address>)`",
        f"names_resolve[{FAULTY}]", "fail", (f"{PEER} -> ", ", others get "),
        "fix /etc/hosts or DNS on this node: ranks must agree on every address",
        also={f"tcp_ports[{FAULTY}]": "fail", f"ssh_mesh[{FAULTY}]": "fail",
              f"path_mtu[{FAULTY}]": "fail"},  # no reply even to small pings
        inject=_resolve),
    FaultCase(
        "site-check-raises", "a site check raises", "`--checks DIR` with a check that raises",
        f"rack_known[{FAULTY}]", "error",
        ("AttributeError: 'NoneType' object has no attribute 'startswith'",), None,
        inject=_site_check, probes="reach"),
    FaultCase(
        "firewall-only-ssh-and-master-port",
        "a firewall admitting only TCP 22 and 29500 (as security groups often are)",
        "`cluster.firewall_only(node-3, [22, 29500])` (stateful iptables)",
        "tcp_ports[node-1]", "fail", (f"(ephemeral) filtered to {FAULTY}",),
        check_ports.EPHEMERAL_HINT.format(low=32768, high=60999, dst=FAULTY),
        also={**_sources_into(FAULTY, ("tcp_ports",)),
              **_directed(FAULTY, ("iperf3_bandwidth", "ib_write_bw"), into=True),
              f"firewall_consistent[{FAULTY}]": "fail",  # its ruleset is the odd one
              # gloo's ranks after node-3 cannot connect to its listener on an ephemeral
              # port: they stall waiting, and the ports probe says whose fault it is
              f"torch_rendezvous[{FAULTY}]": "fail"},
        inject=_firewall),
    FaultCase(
        "hostname-on-loopback", "the node's own hostname resolves to 127.0.1.1 (Debian's default)",
        "`cluster.resolve_differently(node-3, node-3, \"127.0.1.1\")`",
        f"hostname_not_loopback[{FAULTY}]", "fail",
        (f"its hostname {FAULTY} resolves to 127.0.1.1 (loopback)",), check_system.LOOPBACK_HINT,
        inject=_hostname_loopback),
    FaultCase(
        "nofile-low", "open-files limit 1024 on one node",
        "`cluster.nofile(node-3, 1024)` (prlimit on its sshd)", f"nofile[{FAULTY}]", "fail",
        ("open-files limit 1024, expected >= ", "(5 of the other 5 nodes have "),
        check_system.NOFILE_HINT, inject=_nofile),
    FaultCase(
        "nccl-ifname-loopback", "`NCCL_SOCKET_IFNAME=lo` (loopback only)",
        "`cluster.set_env(node-3, NCCL_SOCKET_IFNAME=\"lo\")`", f"nccl_env_devices[{FAULTY}]",
        "fail", ("NCCL_SOCKET_IFNAME=lo selects only loopback (lo)",), check_fabric.ENV_HINT,
        inject=_ifname("lo")),
    FaultCase(
        "nccl-ifname-excludes-all", "`NCCL_SOCKET_IFNAME=^eth` (excludes every real interface)",
        "`cluster.set_env(node-3, NCCL_SOCKET_IFNAME=\"^eth\")`", f"nccl_env_devices[{FAULTY}]",
        "fail", ("NCCL_SOCKET_IFNAME=^eth selects only loopback (lo)",), check_fabric.ENV_HINT,
        inject=_ifname("^eth")),
    FaultCase(
        "one-way-partition", "one-way partition: node-3 drops what node-5 opens to it",
        "`cluster.drop_new_from(node-3, node-5)` (iptables conntrack NEW)",
        f"tcp_ports[{PEER}]", "fail", ("(expected open) (one-way)",),
        check_ports.DIRECTION_HINTS["one-way"].format(src=PEER, dst=FAULTY),
        also={f"ssh_mesh[{PEER}]": "fail", f"path_mtu[{PEER}]": "fail",
              **{f"{check}[{PEER}-to-{FAULTY}]": "fail" for check in (
                  "iperf3_bandwidth", "ib_write_bw")},
              # gloo's rank on node-5 cannot connect to node-3's: init stalls from node-3
              # on; node-3 drops, the others only waited
              f"torch_rendezvous[{FAULTY}]": "fail",
              f"firewall_consistent[{FAULTY}]": "fail"},  # the rule makes its ruleset odd
        inject=_one_way),
    FaultCase(
        "wrong-source-address",
        "a multi-homed node sends from a second address in another subnet (no way back)",
        "`cluster.send_from_other_subnet(node-3)` (`ip route replace ... src 198.19.255.3`)",
        f"source_address[{FAULTY}]", "fail",
        ("sends towards 5 nodes from 198.19.255.3, but the other nodes reach it at ",),
        check_network.SOURCE_HINT,
        also={**{f"{check}[{FAULTY}]": "fail" for check in PER_SOURCE},
              **_directed(FAULTY, ("iperf3_bandwidth", "ib_write_bw"), into=False),
              f"torch_rendezvous[{FAULTY}]": "fail"},  # it cannot reach MASTER_ADDR either
        inject=_other_subnet),
    FaultCase(
        "sshd-max-startups", "sshd `MaxStartups 2` (mpirun and pdsh connect in bursts)",
        "`cluster.sshd_option(node-3, \"MaxStartups\", \"2\")`", f"ssh_burst[{FAULTY}]", "fail",
        ("SSH connections opened at once were turned away: ", "opened at once from the head",
         "opened at once from 4 nodes", "sshd MaxStartups 2:30:2, MaxSessions 100"),
        check_ssh.BURST_HINT, inject=_max_startups),
    FaultCase(
        "tmp-full", "a full /tmp on one node",
        "`cluster.fill_tmp(node-3)` (a filled 4 MiB tmpfs over /tmp in its mount namespace)",
        f"disk_free[{FAULTY}]", "fail",
        (f"{FAULTY}: /tmp full (0.0 MiB free of 4.0 MiB) (expected >= 10 GiB)",),
        check_system.DISK_FULL_HINT.format(paths="/tmp"), inject=_full_tmp),
    FaultCase(
        "python-missing", "python3 missing on a node (SSH works)",
        "PATH without python3 on node-3 (`without_python`)", f"probe_ran[{FAULTY}]", "fail",
        ("probe could not run: python3 not found on the node",),
        FAILURE_HINTS["python-missing"], blocks=FAULTY,
        passes=(f"ssh_reachable[{FAULTY}]",), inject=_no_python, probes="reach"),
    # Proven by the pairwise tests; listed here so the table is complete.
    FaultCase(
        "port-filtered", "MASTER_PORT filtered (iptables DROP)",
        "`cluster.iptables(node-3, 29500, \"DROP\")`", "tcp_ports[node-1]", "fail",
        ("TCP 29500 (MASTER_PORT) filtered",),
        check_ports.HINTS["filtered"].format(src="node-1", dst=FAULTY),
        covered_by=PAIRWISE_TESTS + "test_drop_on_29500_filters_exactly_the_pairs_into_that_host"),
    FaultCase(
        "port-refused", "MASTER_PORT refused (iptables REJECT)",
        "`cluster.iptables(node-3, 29500, \"REJECT\")`", "tcp_ports[node-1]",
        "fail", ("TCP 29500 (MASTER_PORT) refused",),
        check_ports.HINTS["refused"].format(src="node-1", dst=FAULTY),
        covered_by=PAIRWISE_TESTS + "test_reject_on_29500_is_refused"),
    FaultCase(
        "slow-node", "slow node (tc tbf 500 Mbit/s)", "`cluster.shape(node-3, \"500mbit\")`",
        f"bandwidth_isolation[{FAULTY}]", "fail", (f"{FAULTY} (",), check_bandwidth.HINT,
        covered_by=PAIRWISE_TESTS + "test_shaped_host_is_the_slow_node_not_its_partners"),
    FaultCase(
        "lossy-link", "lossy link (5% of packets dropped both ways)",
        "`cluster.loss(node-3, 5)` (iptables statistic: this kernel has no netem)",
        f"bandwidth_isolation[{FAULTY}]", "fail", (f"{FAULTY} (",), check_bandwidth.HINT,
        covered_by=NETWORK_TESTS + "test_lossy_host_is_named_as_the_slow_node"),
    FaultCase(
        "host-dies-mid-run", "host dying mid-run (link down after gather)",
        "`cluster.link_down(node-3)` once the facts are gathered",
        "ssh_mesh[node-1]", "fail", ("ssh unreachable",),
        check_ssh.MESH_HINTS["unreachable"].format(src="node-1", dst=FAULTY),
        covered_by=NETWORK_TESTS + "test_host_dying_mid_run_is_named_and_the_run_completes"),
    FaultCase(
        "rendezvous-blocked", "MASTER_PORT blocked for the torch rendezvous",
        "`cluster.iptables(node-1, 29500, \"DROP\")` on the master of a 3-host torch probe",
        "torch_rendezvous[node-2]", "fail",
        ("never reached the rendezvous store", "is filtered"),
        REACH_HINTS["filtered"].format(port=29500, master="node-1", addr=""),
        covered_by=COLLECTIVE_TESTS
        + "test_master_port_dropped_names_every_rank_that_cannot_reach_it"),
    FaultCase(
        "mesh-direction", "SSH mesh broken in one direction",
        "`cluster.mesh_key_missing(node-3, node-5)`", f"ssh_mesh[{FAULTY}]", "fail",
        ("ssh auth-denied",),
        check_ssh.MESH_HINTS["auth-denied"].format(src=FAULTY, dst=PEER),
        covered_by=PAIRWISE_TESTS + "test_missing_mesh_key_fails_that_direction_only"),
    FaultCase(
        "shared-fs-shadowed", "a local directory shadows the shared filesystem on one host",
        f"`cluster.shadow_dir(node-3, {SHARED})` (a private tmpfs in node-3's mount namespace)",
        f"shared_fs_write_read[{FAULTY}]", "fail",
        (f"{SHARED}: node-1's file is not there (mount here: pfsim-local tmpfs",),
        check_sharedfs.VISIBLE_HINTS["missing"].format(path=SHARED),
        also={f"shared_fs_same_mount[{FAULTY}]": "fail"},
        covered_by=SHAREDFS_TESTS + "test_private_tmpfs_fails_write_here_read_there_by_name"),
    FaultCase(
        "shared-fs-read-only", "the shared filesystem read-only on one host",
        f"`cluster.read_only_dir(node-1, {SHARED})` (a read-only bind mount on node-1 only)",
        "shared_fs_same_mount[node-1]", "fail", (f"{SHARED} is mounted read-only",),
        check_sharedfs.MOUNT_HINT.format(path=SHARED),
        covered_by=SHAREDFS_TESTS + "test_read_only_bind_mount_fails_the_consistency_check"),
    FaultCase(
        "shared-fs-hung", "a hung shared mount (reads block in the kernel)",
        f"`cluster.dead_mount(node-3, {SHARED})` (a FUSE mount that never answers), "
        "`--expect subprobe_timeout_s=3`",
        f"shared_fs_write_read[{FAULTY}]", "fail",
        (f"reading {SHARED} did not finish within 3 s (a hung mount",),
        check_sharedfs.HUNG_HINT,
        also={f"required_paths[{FAULTY}]": "fail", f"shared_fs_same_mount[{FAULTY}]": "fail"},
        covered_by=SHAREDFS_TESTS + "test_hung_mount_ends_at_its_deadline_and_the_run_finishes"),
]

RUNNABLE = [case for case in CASES if case.covered_by is None]
