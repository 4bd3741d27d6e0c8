"""Say the incident in one paragraph: its root, its symptom, what to run next."""

from __future__ import annotations

from collections.abc import Sequence

from preflight.diagnose.advice import describe, watchdog_stalled, who
from preflight.diagnose.model import Finding, RankInfo


def summarize(
    findings: Sequence[Finding], root: Finding | None, ranks: Sequence[RankInfo], files: int
) -> str:
    if root is None:
        return _all_clear(findings, ranks, files)
    text = f"Most likely root cause: {describe(root)}"
    if root.scope == "systemic" and len(root.hosts) > 1:
        text += f" (the same on {len(root.hosts)} hosts: a setting or driver, not one link)"
    symptom = next((f for f in findings if f.cause == "watchdog-timeout"), None)
    if symptom is not None and symptom is not root:
        text += f" first; {who(symptom)} then timed out in {symptom.detail}"
    text += f". Next: {root.next}"
    stalled = watchdog_stalled(symptom.detail) if symptom is not None else None
    text += f"; {stalled}" if stalled else ""
    others = sum(1 for f in findings if f.is_error and f not in (root, symptom))
    if others:
        text += f" ({others} more error finding{'s' if others > 1 else ''} below)"
    return text


def _all_clear(findings: Sequence[Finding], ranks: Sequence[RankInfo], files: int) -> str:
    networks = sorted({rank.network for rank in ranks if rank.network})
    seen = f"{len(ranks)} NCCL rank{'s' if len(ranks) != 1 else ''} seen"
    seen += f", network {', '.join(networks)}" if networks else ""
    text = f"No NCCL errors found in {files} file{'s' if files != 1 else ''} ({seen})."
    warnings = [describe(f) for f in findings if not f.is_error]
    return text + (f" Warning: {'; '.join(warnings)}." if warnings else "")
