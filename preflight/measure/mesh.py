"""SSH mesh: can every node ssh to the others by their hostfile names, as mpirun does?

Which others: the run level's reach schedule (the next node on the ring at quick; the
master, ring neighbours and K random peers at standard; every node at full). At full,
source i walks the others starting at node i+1, a few connections at a time, so each sshd
sees a handful of handshakes at once rather than N-1: all-at-once meshes trip sshd's
MaxStartups and, on busy nodes, time out together. A pair that timed out or failed for no
SSH reason is tried once more, more patiently (longer timeout, fewer at once: an sshd that
was only busy answers then), before it is reported; a source that reached none of its
targets is tried on one batch first. A source whose whole batch ran out of its deadline
(which grows with its number of targets) is run once more with more time.
"""

from __future__ import annotations

import time
from typing import Any

from preflight.measure.base import (
    failure_text,
    pair_key,
    per_node,
    per_node_retried,
    reach_schedule,
    reachability_matrix,
    reachable,
    run_script,
    schedule_summary,
    verdict_cells,
)
from preflight.measure.second_look import second_look
from preflight.runctx import RunContext
from preflight.schedule import staggered

SSH_TIMEOUT_S = 10
PARALLEL = 4  # ssh clients at once on one source
RETRY_TIMEOUT_S = 30
RETRY_PARALLEL = 2
RETRIED = {"unreachable", "error", "dropped"}  # transient-looking: asked again before reporting

# stderr of OpenSSH → the reason; first match wins (a changed key also prints "Host key
# verification failed", so it comes first).
REASONS = (
    ("REMOTE HOST IDENTIFICATION HAS CHANGED", "host-key-changed"),
    ("Host key verification failed", "host-key-untrusted"),
    ("Permission denied", "auth-denied"),
    ("Could not resolve hostname", "unresolved"),
    ("Connection refused", "refused"),
    ("timed out", "unreachable"),
    ("No route to host", "unreachable"),
    ("Network is unreachable", "unreachable"),
    # sshd closed the connection before the SSH handshake: what it does to connections
    # beyond its MaxStartups, or a TCP wrapper / Match rule to this source
    ("kex_exchange_identification", "dropped"),
    ("Connection closed by", "dropped"),
    ("Connection reset by", "dropped"),
)


def classify(result: Any) -> tuple[str, str]:
    if not isinstance(result, dict):  # the node-side runner lost this command
        return "error", "no result for this ssh command from the node-side runner"
    stderr = str(result.get("stderr") or "")
    if result.get("rc") == 0:
        return "ok", ""
    if result.get("timed_out"):
        return "unreachable", "no answer within its deadline"
    for needle, reason in REASONS:
        if needle in stderr:
            return reason, _last_line(stderr)
    if result.get("rc") == 127:
        return "no-ssh-client", _last_line(stderr)
    return "error", _last_line(stderr) or f"exit {result.get('rc')}"


def _at(answers: Any, index: int) -> Any:
    return answers[index] if isinstance(answers, list) and index < len(answers) else None


def _last_line(text: str) -> str:
    """The most telling line: the last, unless it is OpenSSH's generic verification line."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) > 1 and lines[-1] == "Host key verification failed.":
        lines.pop()
    return lines[-1][:300] if lines else ""


def ssh_argv(target: str, timeout: float = SSH_TIMEOUT_S) -> list[str]:
    """The node's own ssh client config, as mpirun uses it: only no prompts and a deadline
    added (host-key policy stays the node's; host_key_policies reports where it is off)."""
    return ["ssh", "-o", "BatchMode=yes", "-o", f"ConnectTimeout={int(timeout) - 3}",
            "-n", target, "true"]


def host_key_policies(ctx: RunContext, names: list[str]) -> dict[str, dict[str, str] | None]:
    """Per source, its effective client settings for host keys: {"strict_host_key_checking":
    "true", "known_hosts": "..."}; None where ssh -G gave nothing. The gather already ran
    `ssh -G` toward the master on each node (its ssh_client fingerprint: the same client
    settings unless a Host block names the master alone); only a node whose gather has
    none is asked now, toward the first node it would reach: one Python start and round
    trip per node saved."""
    if len(names) < 2:
        return {}  # no node to ssh to: the check skips rather than errors
    cluster = ctx.cluster_facts()
    gathered = {src: host_key_policy(cluster.node(src).fingerprint("ssh_client"))
                for src in names}
    unread = [src for src, policy in gathered.items() if policy is None]
    return {**gathered, **asked_host_key_policies(ctx, names, unread)}


def asked_host_key_policies(ctx: RunContext, names: list[str],
                            sources: list[str]) -> dict[str, dict[str, str] | None]:
    """`ssh -G` toward the first node each of `sources` would reach, run now."""
    def from_source(src: str) -> dict[str, str] | None:
        others = staggered(names, src)
        payload = {"commands": [["ssh", "-G", others[0]]], "timeout": SSH_TIMEOUT_S,
                   "parallel": 1}
        return host_key_policy(_at(run_script(ctx, src, "runmany", payload,
                                              SSH_TIMEOUT_S + 20), 0))

    outcomes = per_node(ctx, sources, from_source, deadline_s=SSH_TIMEOUT_S + 40)
    return {src: None if isinstance(o, Exception) else o for src, o in outcomes.items()}


def host_key_policy(result: Any) -> dict[str, str] | None:
    """`ssh -G` output → the two settings that decide whether host keys are checked."""
    if not isinstance(result, dict) or result.get("rc") != 0:
        return None
    settings = dict(line.partition(" ")[::2] for line in str(result.get("stdout")).splitlines())
    return {"strict_host_key_checking": settings.get("stricthostkeychecking", "").strip(),
            "known_hosts": settings.get("userknownhostsfile", "").strip()}


def measure_mesh(ctx: RunContext) -> dict[str, Any]:
    started = time.monotonic()
    names = reachable(ctx)
    targets = reach_schedule(ctx, names, ssh=True)
    pairs, retried = _attempt(ctx, targets)
    again = {src: [dst for dst in dsts if pairs[pair_key(src, dst)][0] in RETRIED]
             for src, dsts in targets.items()}
    pairs.update(_patient_retry(ctx, targets, {src: dsts for src, dsts in again.items()
                                               if dsts}))
    dropped = [(src, dst) for src, dsts in targets.items() for dst in dsts
               if pairs[pair_key(src, dst)][0] == "dropped"]
    for one_each in one_per_target(dropped):
        pairs.update(_attempt(ctx, one_each, RETRY_TIMEOUT_S, 1)[0])
    looked = second_look(targets, pairs, lambda v: v[0] not in ("ok", "error"),
                         lambda again: _attempt(ctx, again, RETRY_TIMEOUT_S, RETRY_PARALLEL)[0])
    matrix = reachability_matrix("SSH mesh (node to node)", names, verdict_cells(pairs))
    return {"pairs": pairs, "host_key_policies": host_key_policies(ctx, names),
            "schedule": schedule_summary(ctx, targets), "retried": retried,
            "second_look": looked,
            "wall_s": round(time.monotonic() - started, 2), "matrices": {"ssh_mesh": matrix}}


def _patient_retry(ctx: RunContext, targets: dict[str, list[str]],
                   again: dict[str, list[str]]) -> dict[str, list[str]]:
    """The pairs in `again` tried once more, patiently. A source that failed toward every
    target is tried on one batch first: if that fails again its own network is the fault
    (a wrong route or source address), and its other pairs keep their first verdicts
    rather than cost one patient timeout per batch each."""
    whole = {src for src, dsts in again.items() if len(dsts) == len(targets[src])}
    first = {src: dsts[:RETRY_PARALLEL] if src in whole else dsts
             for src, dsts in again.items()}
    pairs = _attempt(ctx, first, RETRY_TIMEOUT_S, RETRY_PARALLEL)[0]
    recovered = {src for src in whole
                 if any(pairs[pair_key(src, dst)][0] not in RETRIED for dst in first[src])}
    rest = {src: again[src][RETRY_PARALLEL:] for src in recovered
            if again[src][RETRY_PARALLEL:]}
    if rest:
        pairs.update(_attempt(ctx, rest, RETRY_TIMEOUT_S, RETRY_PARALLEL)[0])
    return pairs


def one_per_target(pairs: list[tuple[str, str]]) -> list[dict[str, list[str]]]:
    """Rounds of `pairs` ({src: [dst]}) in which each node is one connection's target and
    one's source at most: the mesh's sources at once can fill a busy sshd's MaxStartups,
    a connection tried alone cannot (ssh_burst tests the limit itself)."""
    rounds: list[dict[str, list[str]]] = []
    left = list(pairs)
    while left:
        sources: set[str] = set()
        targets: set[str] = set()
        now: dict[str, list[str]] = {}
        later = []
        for src, dst in left:
            if src in sources or dst in targets:
                later.append((src, dst))
                continue
            sources.add(src)
            targets.add(dst)
            now[src] = [dst]
        rounds.append(now)
        left = later
    return rounds


def _attempt(ctx: RunContext, targets: dict[str, list[str]], timeout: float = SSH_TIMEOUT_S,
             parallel: int = PARALLEL) -> tuple[dict[str, list[str]], list[str]]:
    """One ssh from each source to each of its targets: {"src|dst": [reason, detail]},
    and the sources that were run twice for running out of time."""
    def budget(src: str) -> float:
        return timeout * -(-len(targets[src]) // parallel) + 20

    def from_source(src: str, deadline: float) -> list[Any]:
        payload = {"commands": [ssh_argv(t, timeout) for t in targets[src]],
                   "timeout": timeout, "parallel": parallel}
        answers: list[Any] = run_script(ctx, src, "runmany", payload, deadline)
        return answers

    pairs: dict[str, list[str]] = {}
    outcomes, retried = per_node_retried(ctx, list(targets), from_source, budget)
    for src, outcome in outcomes.items():
        for index, dst in enumerate(targets[src]):
            pairs[pair_key(src, dst)] = (["error", failure_text(outcome)]
                                         if isinstance(outcome, Exception)
                                         else list(classify(_at(outcome, index))))
    return pairs, retried
