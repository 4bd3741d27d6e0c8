"""Checks that apply only under some configuration, and why one does not.

ONLY_IF is the one table: a check it names applies when each of its conditions holds on
the run's settings (its expectations and launcher); the first that does not gives the
reason. Such a check would skip on every node alike, so a run does not collect it: it is
recorded once (results.json `not_applicable`), not once per node (preflight.plugin). A
check run anyway (`-k` chose it) skips with the same reason, asking this table
(`skip_unless_applies`). A check this table does not name applies to every run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from preflight.config import Expectations
from preflight.verdict import skip


@dataclass(frozen=True)
class RunSettings:
    """What a check's applicability depends on: the expectations and the launcher."""

    expect: Expectations
    launcher: str = "ssh"


Condition = tuple[Callable[[RunSettings], bool], str]  # (holds, the reason when it does not)

_SHARED_PATHS: Condition = (lambda s: bool(s.expect.all_shared_paths()),
                            "no shared_dir or shared_paths configured")

ONLY_IF: dict[str, tuple[Condition, ...]] = {
    "persistence_mode": ((lambda s: s.expect.persistence_mode,
                          "the profile does not require persistence mode"),),
    "nvlink_all_pairs": ((lambda s: s.expect.nvlink, "the profile does not expect NVLink"),),
    "gpudirect_nic": ((lambda s: s.expect.gpudirect,
                       "the profile does not expect GPUDirect RDMA"),),
    "required_paths": ((lambda s: bool(s.expect.require_paths or s.expect.all_shared_paths()),
                        "no require_paths, shared_dir or shared_paths configured"),),
    "shared_fs_same_mount": (_SHARED_PATHS,),
    "shared_fs_write_read": (_SHARED_PATHS,),
    "shared_fs_throughput": (_SHARED_PATHS, (
        lambda s: s.expect.shared_fs_throughput,
        "throughput smoke off (--expect shared_fs_throughput=true)")),
    "launcher_ready": ((lambda s: s.launcher != "ssh",
                        "launcher ssh: SSH reachability is what the ssh checks test"),),
}


def why_not(check: str, settings: RunSettings) -> str | None:
    """Why `check` (its name without check_) does not apply to this run; None if it does."""
    for holds, reason in ONLY_IF.get(check, ()):
        if not holds(settings):
            return reason
    return None


def not_applicable(checks: Iterable[str], settings: RunSettings) -> dict[str, str]:
    """check -> reason, for those of `checks` that do not apply, in the order given."""
    found = {check: why_not(check, settings) for check in dict.fromkeys(checks)}
    return {check: reason for check, reason in found.items() if reason is not None}


def skip_unless_applies(check: str, expect: Expectations, launcher: str = "ssh") -> None:
    """In a check run anyway: skip with the table's reason when it does not apply."""
    reason = why_not(check, RunSettings(expect, launcher))
    if reason is not None:
        skip(reason)
