"""Words for the torch probe's verdicts: who failed, at which step, why, and what to do.

Pure functions over the recorded measurement, so `check --from RUN_DIR` says the same.
"""

from __future__ import annotations

from typing import Any

from preflight.blame import directions
from preflight.collective import nccl_info
from preflight.collective.progress import RENDEZVOUS_STEPS

STEP_WORDS = {
    "launch": "did not start",
    "import": "could not import torch",
    "store": "never reached the rendezvous store",
    "init": "reached the store but init_process_group failed",
    "barrier": "failed at the first barrier",
    "correctness": "failed the all_reduce correctness step",
    "sweep": "failed during the all_reduce size sweep",
    "done": "failed while shutting down the process group",
}
REACH_HINTS = {
    "filtered": "a firewall drops TCP {port} to {master}: open it for the cluster subnet "
                "(iptables/ufw/security group), or choose another --master-port",
    "refused": "{master} refuses TCP {port}: a REJECT rule, or the port is reserved",
    "no-route": "no route to MASTER_ADDR {addr}: check routes and the cluster subnet",
    "unresolved": "MASTER_ADDR does not resolve on the node: fix DNS or /etc/hosts",
    "open": "MASTER_ADDR:{port} answers: check the interface the backend uses and that "
            "{master} was not overloaded (or raise --torch-timeout)",
}
STEP_HINTS = {
    "launch": "check --remote-python and that the launcher can start commands on the node",
    "import": "install the same torch build as the other nodes for --remote-python",
    "init": "the ranks could not connect to each other: check the interface "
            "(NCCL_SOCKET_IFNAME/GLOO_SOCKET_IFNAME) and firewalls between the nodes",
    "barrier": "a rank hung or died in its first collective: check the node's GPUs and NICs",
    "correctness": "wrong or missing data in all_reduce: check the node's GPUs, NICs and "
                   "NCCL version",
    "sweep": "the node stopped mid-run: check its kernel log (OOM killer, Xid), GPUs and NICs",
    "done": "destroy_process_group hung: check the node's NCCL version and NICs",
}


def node_ranks(probe: dict[str, Any], node: str) -> list[tuple[int, dict[str, Any]]]:
    entry = probe["plan"]["nodes"].get(node) or {}
    return [(rank, probe["ranks"][str(rank)]) for rank in entry.get("ranks", [])]


def culprit_nodes(probe: dict[str, Any]) -> list[str]:
    return sorted({probe["ranks"][str(r)]["node"] for r in probe.get("culprits", [])})


def rank_words(rank: int, info: dict[str, Any], node_run: dict[str, Any]) -> str:
    """'rank 2 never reached the rendezvous store: <error>' (or how it ended)."""
    step = info["stopped_at"]
    failure = info.get("failure") or {}
    what = f"rank {rank} {STEP_WORDS.get(step, 'failed at ' + step)}"
    if step == "sweep" and failure.get("size_bytes"):
        what += f" ({failure['size_bytes']} bytes)"
    if failure:
        return f"{what}: {str(failure.get('error') or 'no error text').rstrip('.')}"
    return f"{what}: {ended_words(node_run)}"


def ended_words(node_run: dict[str, Any]) -> str:
    """How a rank that printed no error ended: launch error, killed, deadline."""
    if node_run.get("error"):
        return str(node_run["error"])
    if node_run.get("timed_out"):
        return "still running at the probe's deadline (killed)"
    rc = node_run.get("rc")
    if rc == -1:  # ssh reports an exit signal, not a status
        return "the process was killed by a signal, without an error"
    if isinstance(rc, int) and rc > 128:
        return f"the process was killed (exit {rc}, signal {rc - 128}), without an error"
    tail = str(node_run.get("stderr_tail") or "").strip().splitlines()
    return f"the process ended (exit {rc}) without an error" + (f": {tail[-1]}" if tail else "")


def interface_words(probe: dict[str, Any], node: str) -> str:
    entry = probe["plan"]["nodes"].get(node) or {}
    var = "NCCL_SOCKET_IFNAME" if probe["plan"]["backend"] == "nccl" else "GLOO_SOCKET_IFNAME"
    words = f"interface {entry.get('ifname') or 'unknown'} ({var}, {entry.get('ifname_source')})"
    picked = nccl_info.describe((probe["nodes"].get(node) or {}).get("nccl") or {})
    return f"{words}; NCCL picked {picked}" if picked else words


def reach_words(probe: dict[str, Any], node: str) -> tuple[str, str | None]:
    """' ; from node-2 MASTER_ADDR:29500 is filtered (...)' and the hint for that verdict."""
    reach = probe.get("master_reachable") or {}
    verdict = (reach.get("from") or {}).get(node)
    if not verdict:
        return "", None
    plan = probe["plan"]
    kind, detail = str(verdict[0]), str(verdict[1]) if len(verdict) > 1 else ""
    words = f"from {node}, MASTER_ADDR {reach['address']}:{reach['port']} is {kind} ({detail})"
    if reach.get("listener") == "in-use":
        words += f"; TCP {reach['port']} on {plan['master']} is held by another process"
    hint = REACH_HINTS.get(kind)
    return words, hint.format(port=reach["port"], master=plan["master"],
                              addr=reach["address"]) if hint else None


STALL_HINT = ("gloo and NCCL ranks connect to each other's listeners on ephemeral ports: "
              "fix what the TCP ports check finds {where} {node} ({why}; see tcp_ports) and "
              "init completes")
CLOSED = ("filtered", "refused", "no-route")


def stalled_nodes(probe: dict[str, Any]) -> list[str]:
    """Nodes whose culprit ranks timed out in init_process_group without an error: they
    waited for a peer's connection, which says nothing of whose connection failed."""
    return sorted({info["node"] for info in probe["ranks"].values()
                   if info["culprit"] and info["stopped_at"] == "init"
                   and (info.get("failure") or {}).get("timed_out")})


def port_suspects(ports_probe: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """node -> ("into"/"out of", why) for every node the TCP ports probe's failing pairs
    point at: the destination that drops (all inbound, or one-way), or the source whose
    every connection out fails."""
    pairs = ports_probe.get("pairs") or {}

    def passed(entry: Any) -> bool:
        return not (isinstance(entry, dict)
                    and any(v[0] in CLOSED for v in entry.values() if v))

    sides = directions(pairs, "torch-any-port", passed)
    suspects: dict[str, tuple[str, str]] = {}
    for key, entry in pairs.items():
        if passed(entry):
            continue
        src, _, dst = key.partition("|")
        side = sides.blame(src, dst)
        if side == "source":
            suspects[src] = ("out of", "every connection out of it fails")
        elif side == "one-way":
            suspects.setdefault(dst, ("into", f"one-way: it drops what {src} opens to it"))
        elif side == "both-ways":
            for a, b in ((src, dst), (dst, src)):
                suspects.setdefault(a, ("between", f"only with {b}, both ways"))
        else:
            suspects.setdefault(dst, ("into", "the failing pairs point at its inbound side"))
    return suspects


def stall_blame(probe: dict[str, Any], node: str,
                suspects: dict[str, tuple[str, str]] | None) -> tuple[str, str] | None:
    """For a node that only waited in init: (skip message, "") when the ports probe points
    at other stalled nodes instead; (note, hint) when it points at this one; None when it
    cannot tell (no ports measurement, or it points at none of the stalled nodes)."""
    stalled = stalled_nodes(probe)
    if node not in stalled or not suspects:
        return None
    blamed = [n for n in stalled if n in suspects]
    if not blamed:
        return None
    if node not in blamed:
        return (f"{node}: its ranks timed out in init waiting for their peers' connections; "
                f"the TCP ports check points at {', '.join(blamed)} (see torch_rendezvous "
                f"of {'that node' if len(blamed) == 1 else 'those nodes'})"), ""
    where, why = suspects[node]
    return (f"the TCP ports check finds connections {where} {node} failing ({why})",
            STALL_HINT.format(where=where, node=node, why=why))


def rendezvous_failure(probe: dict[str, Any], node: str,
                       suspects: dict[str, tuple[str, str]] | None = None
                       ) -> tuple[str, str] | None:
    """(message, hint) when the node's ranks failed to join; None when they joined.
    `suspects` (port_suspects) tells a node that stalled in init from one it waited on."""
    stuck = [(r, i) for r, i in node_ranks(probe, node)
             if i["culprit"] and i["stopped_at"] in RENDEZVOUS_STEPS]
    if not stuck:
        return None
    plan, run = probe["plan"], probe["nodes"].get(node) or {}
    ranks = "; ".join(rank_words(r, i, run) for r, i in stuck)
    parts = [f"{node}: {ranks}",
             f"MASTER_ADDR {plan['master_addr']}:{plan['master_port']} is on {plan['master']}"]
    reach, hint = reach_words(probe, node)
    if reach:
        parts.append(reach)
    everyone = len(probe["culprits"]) == plan["world_size"]
    if node == plan["master"] and everyone and stuck[0][1]["stopped_at"] == "store":
        parts.append(f"no rank of any node reached the store on {plan['master']}")
    stall = stall_blame(probe, node, suspects)
    if stall is not None:
        parts.append(stall[0])
        hint = stall[1]
    elif node in stalled_nodes(probe):
        parts.append("every stalled rank only waited for its peers, so which node failed "
                     "to connect cannot be told from torch alone: see tcp_ports (ephemeral "
                     "ports, one-way) for the node that drops")
    parts.append(interface_words(probe, node))
    return "; ".join(parts), hint or STEP_HINTS.get(stuck[0][1]["stopped_at"], "")


def collective_failure(probe: dict[str, Any], node: str) -> tuple[str, str] | None:
    """(message, hint) when the node's ranks failed after joining or summed wrong."""
    run = probe["nodes"].get(node) or {}
    failed = [(r, i) for r, i in node_ranks(probe, node)
              if i["culprit"] and i["stopped_at"] not in RENDEZVOUS_STEPS]
    if failed:
        words = "; ".join(rank_words(r, i, run) for r, i in failed)
        return f"{node}: {words}", STEP_HINTS.get(failed[0][1]["stopped_at"], "")
    wrong = [(r, i["correctness"]) for r, i in node_ranks(probe, node)
             if (i.get("correctness") or {}).get("wrong")]
    if wrong:
        words = "; ".join(f"rank {r}: all_reduce sum {c['sum']:g}, expected {c['expected']:g} "
                          f"({c['wrong']} of 1024 elements wrong)" for r, c in wrong)
        return f"{node}: {words}", STEP_HINTS["correctness"]
    return None


def not_completed(probe: dict[str, Any]) -> str:
    nodes = culprit_nodes(probe)
    stopped = {probe["ranks"][str(r)]["stopped_at"] for r in probe.get("culprits", [])}
    return (f"the collective did not complete: {', '.join(nodes) or 'no node'} failed at "
            f"{'/'.join(sorted(stopped)) or 'an unknown step'} (see torch_rendezvous and "
            "torch_allreduce of those nodes)")
