"""Pick the most likely root cause and say it in one paragraph.

A wave of watchdog timeouts is the symptom; the earliest connection, transport or hardware
error is the cause. Lost connections usually follow a peer's own failure, and a desync
report names the lagging rank but not why it lagged, so both rank below the hard errors.
"""

from __future__ import annotations

from collections.abc import Sequence

from preflight.diagnose.advice import describe, who
from preflight.diagnose.model import Finding, RankInfo

_TIER = {"desync": 1, "connection-closed": 2, "watchdog-timeout": 3, "socket-transport": 4}


def root_cause(findings: Sequence[Finding]) -> Finding | None:
    """The error finding of the lowest tier, earliest first (findings come in time order)."""
    errors = [(_TIER.get(f.cause, 0), index, f) for index, f in enumerate(findings) if f.is_error]
    return min(errors, key=lambda entry: entry[:2])[2] if errors else None


def summarize(
    findings: Sequence[Finding], root: Finding | None, ranks: Sequence[RankInfo], files: int
) -> str:
    if root is None:
        return _all_clear(findings, ranks, files)
    text = f"Most likely root cause: {describe(root)}"
    symptom = next((f for f in findings if f.cause == "watchdog-timeout"), None)
    if symptom is not None and symptom is not root:
        text += f" first; {who(symptom)} then timed out in {symptom.detail}"
    text += f". Next: {root.next}"
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
