"""Did a check pass on the nodes a job keeps? The plan's every setting leans on one."""

from __future__ import annotations

from collections.abc import Collection

from preflight.results import RunRecord, Status


def check_state(record: RunRecord, check: str, kept: Collection[str]) -> tuple[bool, str]:
    """(passed, words): passed when the check ran on the kept nodes (or cluster-wide) and
    none of those results gates; words say which, for the printout."""
    keep = set(kept)
    mine = [r for r in record.results
            if r.check == check and (not r.nodes or keep.issuperset(r.nodes))]
    ran = [r for r in mine if r.status is not Status.SKIP]
    ruled_out = [e["reason"] for e in record.not_applicable if e["check"] == check]
    if not mine and ruled_out:
        return False, f"{check} not applicable: {ruled_out[0]}"
    if not mine:
        return False, f"{check} did not run"
    if not ran:
        return False, f"{check} skipped: {mine[0].message}".rstrip(": ")
    gate = record.gate_statuses()
    bad = [r for r in ran if r.status in gate]
    if bad:
        return False, f"{check} {bad[0].status.value} on {bad[0].subject}"
    return True, f"{check} passed"


def passed_checks(record: RunRecord, checks: Collection[str], kept: Collection[str]
                  ) -> list[str]:
    return [check for check in checks if check_state(record, check, kept)[0]]
