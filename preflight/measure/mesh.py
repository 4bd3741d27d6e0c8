"""SSH mesh: can every node ssh to every other node by its hostfile name, as mpirun does?"""

from __future__ import annotations

import time
from typing import Any

from preflight.measure.base import (
    failure_text,
    pair_key,
    per_node,
    reachability_matrix,
    reachable,
    run_script,
    verdict_cells,
)
from preflight.runctx import RunContext

SSH_TIMEOUT_S = 8
PARALLEL = 32  # ssh clients at once on one source

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
)


def classify(result: dict[str, Any]) -> tuple[str, str]:
    stderr = str(result.get("stderr") or "")
    if result.get("rc") == 0:
        return "ok", ""
    if result.get("timed_out"):
        return "unreachable", f"no answer within {SSH_TIMEOUT_S} s"
    for needle, reason in REASONS:
        if needle in stderr:
            return reason, _last_line(stderr)
    if result.get("rc") == 127:
        return "no-ssh-client", _last_line(stderr)
    return "error", _last_line(stderr) or f"exit {result.get('rc')}"


def _last_line(text: str) -> str:
    """The most telling line: the last, unless it is OpenSSH's generic verification line."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) > 1 and lines[-1] == "Host key verification failed.":
        lines.pop()
    return lines[-1][:300] if lines else ""


def ssh_argv(target: str) -> list[str]:
    return ["ssh", "-o", "BatchMode=yes", "-o", f"ConnectTimeout={SSH_TIMEOUT_S - 3}",
            "-o", "StrictHostKeyChecking=yes", "-n", target, "true"]


def measure_mesh(ctx: RunContext) -> dict[str, Any]:
    started = time.monotonic()
    names = reachable(ctx)
    budget = SSH_TIMEOUT_S * -(-max(len(names) - 1, 1) // PARALLEL) + 20

    def from_source(src: str) -> list[Any]:
        targets = [dst for dst in names if dst != src]
        payload = {"commands": [ssh_argv(t) for t in targets], "timeout": SSH_TIMEOUT_S,
                   "parallel": PARALLEL}
        answers: list[Any] = run_script(ctx, src, "runmany", payload, budget)
        return list(zip(targets, answers, strict=True))

    outcomes = per_node(ctx, names, from_source, deadline_s=budget + 20)
    pairs: dict[str, Any] = {}
    for src, outcome in outcomes.items():
        if isinstance(outcome, Exception):
            for dst in names:
                if dst != src:
                    pairs[pair_key(src, dst)] = ["error", failure_text(outcome)]
            continue
        for dst, answer in outcome:
            pairs[pair_key(src, dst)] = list(classify(answer))
    matrix = reachability_matrix("SSH mesh (node to node)", names, verdict_cells(pairs))
    return {"pairs": pairs, "wall_s": round(time.monotonic() - started, 2),
            "matrices": {"ssh_mesh": matrix}}
