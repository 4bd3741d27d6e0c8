"""What to run next for each cause, and how to say a finding in one line."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Sequence

import hostlist

from preflight.diagnose.model import Finding

# Per cause: the checks that confirm or rule it out (a `-k` expression over the check modules
# and names: check_<family>.py, check_memlock, check_shm_size, ...) and what to look at by
# hand where no check covers it. _BY_DETAIL refines both for some details.
CHECKS_FOR_CAUSE: dict[str, tuple[str, str]] = {
    "connection-refused": ("ports", "is the peer's process still alive (it may have died "
        "first: read its log), and is the port open (firewall, security group)?"),
    "connection-closed": ("ports or network", "the peer's process exited or its host dropped "
        "off: read the peer's own log first; a failure there is the root."),
    "connect-failed": ("ports or network", "routing and firewalls between the hosts; "
        "NCCL_SOCKET_IFNAME must name an interface both ends can reach."),
    "store-error": ("ports or rendezvous", "MASTER_ADDR/MASTER_PORT must resolve and be "
        "reachable from every node, the rank-0 process must be up (it hosts the TCPStore), "
        "and all ranks must start within the rendezvous timeout."),
    "socket-setup": ("network", "NCCL_SOCKET_IFNAME (and NCCL_SOCKET_FAMILY) must name an "
        "interface that exists with an address on every host: `ip -br addr`."),
    "collective-mismatch": ("software", "ranks called different collectives or sizes: run "
        "with TORCH_DISTRIBUTED_DEBUG=DETAIL; NCCL_PROTO/NCCL_ALGO and the NCCL version must "
        "be the same on every rank."),
    "ib-completion-error": ("fabric", "the link between the hosts: port counters "
        "(`ibstat`, `perfquery`: symbol errors, link downed), cable and switch port; on RoCE "
        "also PFC/ECN."),
    "ib-resource-error": ("fabric or memlock", "memlock unlimited in the job and container "
        "(`ulimit -l`), nvidia-peermem loaded, NCCL_IB_HCA naming usable HCAs."),
    "ofi-error": ("efa", "`fi_info -p efa` on the host, the security group allowing all "
        "traffic to itself, the aws-ofi-nccl and EFA installer versions."),
    "socket-transport": ("fabric", "NCCL fell back to TCP: libibverbs/rdma-core in the "
        "container, /dev/infiniband mounted, NCCL_IB_HCA/NCCL_NET not excluding the HCAs."),
    "watchdog-timeout": ("ports or fabric or bandwidth", "the watchdog only reports the "
        "hang: an earlier error on another rank, or the rank a desync report "
        "(TORCH_NCCL_DESYNC_DEBUG=1) names, is the cause."),
    "desync": ("gpu", "the lagging rank's own log: did it crash, stall in data loading or "
        "take another code path?"),
    "cuda-error": ("gpu", "Xid and ECC errors for that GPU (`dmesg`, `nvidia-smi -q`)."),
    "process-crash": ("gpu or system", "the crashed rank is usually the root and the "
        "lost connections on the others its consequence: its own log and core dump, `dmesg` "
        "for OOM kills and Xid errors, a library built for another driver or CUDA."),
    "system-error": ("system", "the 'Last error' line that follows; rerun with "
        "NCCL_DEBUG=INFO for it."),
    "version-mismatch": ("software", "one NCCL and torch build on every node."),
    "unrecognized": ("", "read the evidence lines; rerun with NCCL_DEBUG=INFO "
        "(and NCCL_DEBUG_SUBSYS=INIT,NET) for NCCL's own reason."),
}  # fmt: skip

_LOCAL_IB = "gpudirect or fabric"
_BY_DETAIL: tuple[tuple[str, re.Pattern[str], str, str], ...] = (
    ("ib-completion-error", re.compile(r"IBV_WC_LOC_\w+|IBV_WC_MW_BIND"), _LOCAL_IB,
     "a local error is the host's, not the cable's (most of all on several hosts alike): "
     "PCIe ACS enabled between GPU and NIC (`lspci -vvv | grep ACSCtl`), the IOMMU on "
     "(iommu=pt), GPUDirect RDMA (nvidia-peermem or dmabuf); NCCL_NET_GDR_LEVEL=LOC "
     "confirms it if the error goes away."),
    ("ib-completion-error", re.compile(r"IBV_WC_WR_FLUSH"), "fabric",
     "flushed work requests follow an earlier error on the same connection: look for it."),
    ("ib-resource-error", re.compile(r"ibv_modify_qp"), "fabric",
     "the queue pair could not go INIT to RTR/RTS: the two HCAs may not route to each other "
     "(rails: NCCL_IB_HCA), the RoCE GID index may be wrong (NCCL_IB_GID_INDEX, "
     "`show_gids`), or RoCE/IPoIB is misconfigured."),
    ("system-error", re.compile(r"No space left|shared memory|/dev/shm"), "shm_size",
     "NCCL's shared-memory segments live in /dev/shm, which is too small: `df -h /dev/shm`; "
     "docker --shm-size or --ipc=host, a Kubernetes emptyDir with medium Memory."),
    ("cuda-error", re.compile(r"out of memory"), "gpu",
     "GPU memory ran out: another process on the GPU (`nvidia-smi`) or the job's own size."),
)  # fmt: skip
_STALLED = re.compile(r"timeout (?P<timeout>\d+) ms, ran (?P<ran>\d+) ms")
_STALL_FACTOR = 1.5
_STUCK = re.compile(r"watchdog stuck for (\d+) s")


PEER_CAUSES = frozenset(
    {"connection-refused", "connection-closed", "connect-failed", "store-error"}
)


def blames_peer(cause: str, detail: str) -> bool:
    """Whether the peer a finding names may be at fault; a local error is the host's own."""
    if cause == "ib-completion-error":
        return "IBV_WC_LOC_" not in detail
    return cause in PEER_CAUSES or cause == "collective-mismatch"


def advise(cause: str, detail: str) -> tuple[str, str]:
    """The `-k` selection and what to look at by hand, for one cause and its detail."""
    for rule_cause, pattern, selection, by_hand in _BY_DETAIL:
        if rule_cause == cause and pattern.search(detail):
            return selection, by_hand
    selection, by_hand = CHECKS_FOR_CAUSE[cause]
    if cause == "watchdog-timeout" and (stalled := watchdog_stalled(detail)):
        by_hand = f"{stalled}; {by_hand}"
    return selection, by_hand


def watchdog_stalled(detail: str) -> str | None:
    """A watchdog that ran far beyond its timeout was itself stalled: say so."""
    if stuck := _STUCK.search(detail):
        return (
            f"the watchdog itself was stuck for {stuck[1]} s: a NCCL or CUDA call hung (or a "
            "thread held the GIL inside one); py-spy dump the process, look for Xid errors"
        )
    match = _STALLED.search(detail)
    if match is None or int(match["ran"]) < _STALL_FACTOR * int(match["timeout"]):
        return None
    return (
        f"the watchdog ran {match['ran']} ms for a {match['timeout']} ms timeout, so the "
        "process itself was stalled (frozen host, swapping, a stopped process: look at that "
        "host's dmesg and OOM log)"
    )


_LISTED = 8  # more hosts than this go as a Slurm hostlist, 'gpu-[000-127]'
_HOSTNAME = re.compile(r"^[\w\-]+(?:\.[\w\-]+)*$")


def next_command(selection: str, hosts: Sequence[str]) -> str:
    """`preflight run -k SELECTION --hosts ...` over the hosts a finding names."""
    selector = selection if " " not in selection else f"'{selection}'"
    targets = _unique(hosts)
    command = f"preflight run -k {selector}" if selection else "preflight run"
    if not targets:
        return command
    listed = ",".join(targets) if len(targets) <= _LISTED else hostlist.collect_hostlist(targets)
    return f"{command} --hosts {shlex.quote(listed)}"


def peer_hosts(peers: Iterable[str]) -> list[str]:
    """Host parts of 'addr:port' peers, leaving out redacted or malformed ones ('172....')."""
    hosts = []
    for peer in peers:
        host = peer.rsplit(":", 1)[0].strip("[]")
        if _HOSTNAME.match(host) and host not in hosts:
            hosts.append(host)
    return hosts


def who(finding: Finding) -> str:
    """'rank 9 on host node-3', 'ranks 1, 3 and 6', 'host node-3' or 'a rank'."""
    ranks = _listing("rank", [str(rank) for rank in finding.ranks])
    hosts = _listing("host", list(finding.hosts))
    if ranks and hosts:
        return f"{ranks} on {hosts}"
    return ranks or hosts or "a rank"


def describe(finding: Finding) -> str:
    peers = _listing("", list(finding.peers)).strip()
    printed = peer_hosts(finding.peers)
    named = [name for name in finding.peer_hosts if name not in printed]
    peers += f" ({', '.join(named)})" if named and peers else ""
    subject = who(finding)
    if finding.cause == "watchdog-timeout":
        return f"{subject} timed out in {finding.detail}"
    if finding.cause == "desync":
        return f"{subject} fell out of step ({finding.detail})"
    if finding.cause == "unrecognized":
        return (
            f"{subject} failed with {finding.matched_lines} error line(s) no known cause explains"
        )
    if finding.cause in {"connection-closed", "connection-refused", "connect-failed"}:
        verb = {"connection-closed": "lost its connection to",
                "connection-refused": "was refused a connection by",
                "connect-failed": "could not connect to"}[finding.cause]  # fmt: skip
        target = peers or _listing("rank", [str(r) for r in finding.peer_ranks]) or "a peer"
        return f"{subject} {verb} {target} ({finding.detail})"
    where = f" with peer {peers}" if peers else ""
    blamed = _listing("rank", [str(rank) for rank in finding.peer_ranks])
    where += f", blaming {blamed}" if blamed else ""
    return f"{subject}: {finding.detail}{where}"


def _listing(noun: str, values: list[str], limit: int = 6) -> str:
    if not values:
        return ""
    plural = f"{noun}s " if noun and len(values) > 1 else f"{noun} " if noun else ""
    shown = ", ".join(values[:limit])
    more = f" and {len(values) - limit} more" if len(values) > limit else ""
    return f"{plural}{shown}{more}"


def _unique(values: Iterable[str]) -> list[str]:
    seen: list[str] = []
    for value in values:
        if value not in seen:
            seen.append(value)
    return seen
