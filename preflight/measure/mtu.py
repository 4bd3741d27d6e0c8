"""Path MTU: do full-size unfragmentable packets get through between every pair?"""

from __future__ import annotations

from typing import Any

from preflight.facts import ClusterFacts, majority
from preflight.measure.base import (
    failure_text,
    pair_key,
    per_node,
    reachability_matrix,
    reachable,
    run_script,
)
from preflight.runctx import RunContext

IP_ICMP_HEADERS = 28
PING_WAIT_S = 2


def expected_mtu(ctx: RunContext) -> int | None:
    cluster = ClusterFacts(ctx.outcomes())
    mtus = cluster.values(lambda n: (n.cluster_interface(ctx.expect) or {}).get("mtu"))
    common, _, _ = majority(mtus.values())
    if common is None and mtus:
        return int(max(mtus.values()))
    return None if common is None else int(common)


def ping_argv(target: str, mtu: int) -> list[str]:
    return ["ping", "-M", "do", "-s", str(mtu - IP_ICMP_HEADERS), "-c", "3", "-i", "0.2",
            "-W", str(PING_WAIT_S), target]


def classify(answer: dict[str, Any]) -> tuple[str, str]:
    text = f"{answer.get('stdout', '')}\n{answer.get('stderr', '')}"
    if answer.get("rc") == 0:
        return "ok", ""
    if "too long" in text or "Frag needed" in text or "mtu=" in text:
        return "mtu-too-small-here", _summary(text)
    if answer.get("rc") == 1 or "100% packet loss" in text:
        return "black-hole", "no reply to full-size packets (a smaller MTU on the path drops them)"
    if answer.get("rc") == 127:
        return "no-ping", "ping is not installed"
    return "error", _summary(text)


def _summary(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def measure_mtu(ctx: RunContext) -> dict[str, Any]:
    names = reachable(ctx)
    mtu = expected_mtu(ctx)
    if mtu is None:
        return {"mtu": None, "pairs": {}, "matrices": {}}

    def from_source(src: str) -> list[Any]:
        targets = [dst for dst in names if dst != src]
        payload = {"commands": [ping_argv(t, mtu) for t in targets],
                   "timeout": PING_WAIT_S + 5, "parallel": 32}
        answers: list[Any] = run_script(ctx, src, "runmany", payload, 60)
        return list(zip(targets, answers, strict=True))

    outcomes = per_node(ctx, names, from_source, deadline_s=90)
    pairs: dict[str, Any] = {}
    for src, outcome in outcomes.items():
        for dst in names:
            if dst == src:
                continue
            if isinstance(outcome, Exception):
                pairs[pair_key(src, dst)] = ["error", failure_text(outcome)]
        if not isinstance(outcome, Exception):
            for dst, answer in outcome:
                pairs[pair_key(src, dst)] = list(classify(answer))
    cells = [{"src": k.split("|")[0], "dst": k.split("|")[1], "value": v[0],
              "status": "pass" if v[0] == "ok" else "fail"} for k, v in pairs.items()]
    return {"mtu": mtu, "pairs": pairs,
            "matrices": {"path_mtu": reachability_matrix(f"Path MTU {mtu}", names, cells)}}
