"""Collectives: torch.distributed across the nodes, started the way the job starts, and the
launcher (srun / mpirun) reaching every node."""

from typing import Any

import pytest

from preflight.collective import explain
from preflight.collective.settings import TorchSettings, size_label
from preflight.facts import NodeFacts
from preflight.verdict import fail, observe, skip

BUSBW_HINT = ("a slow collective: run the bandwidth checks (iperf3 pairwise, bad node vs bad "
              "link) on these nodes, and check NCCL_SOCKET_IFNAME / the IB/EFA checks")
LAUNCHER_HINTS = {
    "mpirun": "mpirun starts its daemons over ssh from here and between nodes: check the ssh "
              "mesh, that orted is on PATH for non-interactive ssh, and --mpirun-args",
    "srun": "check the node's state (sinfo -R), that it is in this allocation, and slurmd",
}


def _ran(probe: dict[str, Any], node: str | None = None) -> dict[str, Any]:
    if probe.get("skipped"):
        skip(f"torch.distributed probe not run: {probe['skipped']}")
    if node is not None and node in probe["plan"]["without_torch"]:
        skip(f"{node}: torch is not installed for the node's python (not in the probe)")
    if node is not None and node not in probe["plan"]["nodes"]:
        skip(f"{node}: not part of the torch.distributed probe")
    return probe


def check_torch_rendezvous(node: NodeFacts, torch_allreduce: dict[str, Any],
                           request: pytest.FixtureRequest) -> None:
    probe = _ran(torch_allreduce, node.name)
    ranks = explain.node_ranks(probe, node.name)
    joined = [r for r, info in ranks if info["reached"] not in (None, "import")]
    observe(len(joined), expected=len(ranks), unit="ranks joined")
    suspects = _port_suspects(request) if node.name in explain.stalled_nodes(probe) else None
    stall = explain.stall_blame(probe, node.name, suspects)
    if stall is not None and not stall[1]:  # it only waited for the node that failed
        skip(stall[0])
    failure = explain.rendezvous_failure(probe, node.name, suspects)
    if failure is not None:
        fail(failure[0], hint=failure[1], reason="rendezvous-failed")


def _port_suspects(request: pytest.FixtureRequest) -> dict[str, tuple[str, str]] | None:
    """What the TCP ports probe points at (None when it did not measure): ranks that stall
    in init only say they waited, the ports probe says whose connections fail."""
    try:
        ports: dict[str, Any] = request.getfixturevalue("ports_probe")
    except (Exception, pytest.skip.Exception):  # noqa: BLE001 - no evidence: cannot tell
        return None
    return explain.port_suspects(ports)


def check_torch_allreduce(node: NodeFacts, torch_allreduce: dict[str, Any]) -> None:
    probe = _ran(torch_allreduce, node.name)
    failure = explain.collective_failure(probe, node.name)
    if failure is not None:
        fail(failure[0], hint=failure[1], reason="allreduce-failed")
    if not all(info["done"] for _, info in explain.node_ranks(probe, node.name)):
        skip(explain.not_completed(probe))
    observe("correct", expected="sum of ranks on every rank")


def check_torch_allreduce_busbw(torch_allreduce: dict[str, Any],
                                torch_settings: TorchSettings) -> None:
    probe = _ran(torch_allreduce)
    rows = probe["sweep"]
    if not probe["ok"] or len(rows) < len(probe["sizes"]):
        skip(f"no busbw: {explain.not_completed(probe)}")
    observe({size_label(r["size_bytes"]): float(f"{r['busbw_gbps']:.3g}") for r in rows},
            unit="GB/s")
    floor, n = torch_settings.busbw_floor_gbps, probe["plan"]["world_size"]
    last = rows[-1]
    if floor is not None and n > 1 and last["busbw_gbps"] < floor:
        nodes = ", ".join(probe["plan"]["nodes"])
        fail(f"all_reduce across {n} ranks on {nodes}: busbw {last['busbw_gbps']:.3g} GB/s "
             f"at {size_label(last['size_bytes'])}, expected >= {floor:g} GB/s",
             expected=f">= {floor:g}", hint=BUSBW_HINT, reason="busbw-low")


def check_launcher_ready(node: NodeFacts, launcher_ready: dict[str, Any]) -> None:
    kind = launcher_ready["launcher"]
    entry = launcher_ready["nodes"].get(node.name)
    if entry is None:
        skip(f"{node.name}: not asked (unreachable over ssh)")
    blocked_by = ", ".join(entry.get("blocked_by") or [])
    observe(f"answered alone (the full launch failed on {blocked_by})" if blocked_by else
            "answered" if entry["answered"] else "no answer", expected="answered")
    if entry["answered"]:
        return
    command = "srun hostname" if kind == "srun" else "mpirun -N 1 --hostfile H hostname"
    if entry.get("alone"):
        fail(f"{node.name}: no answer from `{command}` across all nodes, but it answers a "
             f"launch of its own: the launch tree cannot reach it from the other nodes",
             hint=LAUNCHER_HINTS[kind], reason="launch-tree-unreachable")
    fail(f"{node.name}: did not answer `{command}`: {entry.get('detail') or 'no output'}",
         hint=LAUNCHER_HINTS[kind], reason="launcher-no-answer")
