"""`preflight run`'s live display: no pytest progress character per result (35,000 of them at
1,024 nodes), a rich progress line for the checks instead, and one for each probe while it
measures, with its round ("iperf3 round 2/3"), on a terminal; gather has its own.
`pytest --hostfile` (the plugin alone) keeps pytest's own output."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from rich.progress import Progress

from preflight import fanout, schedule
from preflight.console import make_console, progress

Pair = tuple[str, str]


class ProbeLine:
    """What the live line says while a probe measures: its name, and for a scheduled pair
    probe the round whose pairs run now, or that it retests pairs it has run before.

    Fed by the probe's schedule (schedule.rounds) and each batch of work it fans out."""

    def __init__(self, name: str, nodes: int) -> None:
        self.name = name
        self.nodes = nodes
        self.rounds = 0
        self.round = 0
        self.pairs = 0
        self.retest = False
        self._round_of: dict[Pair, int] = {}
        self._seen: set[object] = set()

    def scheduled(self, rounds: list[list[Pair]]) -> None:
        self._round_of = {p: index for index, round_ in enumerate(rounds, 1)
                          for a, b in round_ for p in ((a, b), (b, a))}
        self.rounds, self.round, self.retest = len(rounds), 0, False
        self._seen.clear()

    def batch(self, keys: list[object]) -> None:
        if not self.rounds or not keys:
            return
        first = keys[0]
        index = self._round_of.get(first) if isinstance(first, tuple) else None
        self.pairs = len(keys)
        self.retest = index is None or first in self._seen
        if not self.retest and index is not None:
            self.round = index
        self._seen.update(keys)

    def text(self) -> str:
        if self.retest:
            return f"measure: {self.name} retest ({self.pairs} pairs)"
        if self.round:
            return (f"measure: {self.name} round {self.round}/{self.rounds} "
                    f"({self.pairs} pairs)")
        return f"measure: {self.name} across {self.nodes} nodes"


@contextmanager
def watch_probe(name: str, nodes: int,
                on_change: Callable[[ProbeLine], None] | None = None) -> Iterator[ProbeLine]:
    """A ProbeLine following the schedules and batches made while the probe runs."""
    line = ProbeLine(name, nodes)

    def scheduled(rounds: list[list[Pair]]) -> None:
        line.scheduled(rounds)

    def batch(keys: list[object]) -> None:
        line.batch(keys)
        if on_change is not None:
            on_change(line)

    schedule.schedule_watchers.append(scheduled)
    fanout.batch_watchers.append(batch)
    try:
        yield line
    finally:
        schedule.schedule_watchers.remove(scheduled)
        fanout.batch_watchers.remove(batch)


@contextmanager
def measuring(name: str, nodes: int) -> Iterator[None]:
    """A live status line on a terminal while an active probe runs; nothing otherwise."""
    console = make_console(stderr=True)
    if not console.is_terminal:
        yield
        return
    line = ProbeLine(name, nodes)
    with console.status(line.text()) as status, \
            watch_probe(name, nodes, lambda now: status.update(now.text())):
        yield


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
        global _reporter, _quiet
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        _quiet = quiet_categories(str(getattr(config.option, "reportchars", "") or ""))
        _reporter = reporter if _quiet else None


@pytest.hookimpl(trylast=True)
def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "teardown" and _checks is not None:
        _checks.advance(report.nodeid)
    if _reporter is not None:
        _forget_quiet_reports(_reporter, _quiet)


def quiet_categories(reportchars: str) -> list[str]:
    """The report categories that -r (these characters) does not ask for."""
    return [category for category, asked_by in QUIET_CATEGORIES.items()
            if not set(reportchars) & set(asked_by)]


def _forget_quiet_reports(reporter: Any, categories: list[str]) -> None:
    """pytest's terminal keeps every report to the end (three per check: 138,000 at 1,024
    nodes) to print what -r asks for; under the live display (-qq: no closing counts) the
    reports -r did not ask for are let go as they come (13,000 skips at 1,024 nodes)."""
    for category in categories:
        reporter.stats.pop(category, None)


# pytest's report categories, and the -r characters that ask for them
QUIET_CATEGORIES = {"": "pPA", "passed": "pPA", "skipped": "sSaA"}
_reporter: Any = None
_quiet: list[str] = []


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    global _checks
    global _reporter
    _reporter = None
    if _checks is not None:
        _checks.close()
        _checks = None
