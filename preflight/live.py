"""`preflight run`'s live display: no pytest progress character per result (35,000 of them at
1,024 nodes), a rich progress line for the checks instead (on a terminal; gather and the
probes have theirs). `pytest --hostfile` (the plugin alone) keeps pytest's own output."""

from __future__ import annotations

import pytest
from rich.progress import Progress

from preflight.console import make_console, progress


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("preflight").addoption(
        "--live-display", action="store_true",
        help="a live line per phase instead of pytest's progress characters (preflight run)")


def _live(config: pytest.Config) -> bool:
    return bool(getattr(config.option, "live_display", False))


@pytest.hookimpl(tryfirst=True)
def pytest_report_teststatus(report: pytest.TestReport,
                             config: pytest.Config) -> tuple[str, str, str] | None:
    """The same counts for pytest's closing line, but no character per result."""
    if not _live(config):
        return None
    if report.when != "call":
        if report.failed:
            return "error", "", ""
        return ("skipped", "", "") if report.skipped else ("", "", "")
    return report.outcome, "", ""


class _Checks:
    """The checks' progress line while pytest runs them."""

    def __init__(self, total: int) -> None:
        self._manager = progress(make_console(stderr=True), "checks", total)
        self.bar: Progress | None = self._manager.__enter__()

    def advance(self, nodeid: str) -> None:
        if self.bar is not None:
            self.bar.update(self.bar.task_ids[0], advance=1,
                            note=nodeid.rsplit("::", 1)[-1][:40])

    def close(self) -> None:
        self._manager.__exit__(None, None, None)


_checks: _Checks | None = None


def pytest_collection_finish(session: pytest.Session) -> None:
    global _checks
    config = session.config
    if _live(config) and not hasattr(config, "workerinput"):
        _checks = _Checks(len(session.items))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "teardown" and _checks is not None:
        _checks.advance(report.nodeid)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    global _checks
    if _checks is not None:
        _checks.close()
        _checks = None
