"""The closing summary printed after a run: verdict, counts, one line per failing subject."""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Console
from rich.markup import escape

from preflight.results import Result, RunRecord, Status

from .blame import counted_against, pair_blame
from .formatting import SEVERITY, STATUS_ORDER, fmt_duration, host_key, subject

STYLES: dict[str, str] = {
    "pass": "green",
    "warn": "yellow",
    "fail": "bold red",
    "error": "magenta",
    "blocked": "bold red",
    "skip": "dim",
}


@dataclass(frozen=True)
class Line:
    status: str
    subject: str
    label: str  # "gpu_count", "gpu_count [error]", "blocked (12 checks)"
    message: str
    hint: str


def render_summary(run: RunRecord, console: Console) -> None:
    """Print the summary; every piece of remote text goes through rich.markup.escape."""
    console.print(_verdict_line(run), highlight=False, soft_wrap=True)
    lines = summary_lines(run)
    width = max((len(line.subject) for line in lines), default=0)
    for line in lines:
        console.print(_format(line, width), highlight=False, soft_wrap=True)
    bad = run.bad_nodes()
    if bad:
        nodes = ", ".join(escape(n) for n in bad)
        console.print(f"[bold]Exclude:[/bold] {nodes}", highlight=False, soft_wrap=True)
    for note in run.matrices.get("suspects", {}).get("notes", []):
        console.print(f"[dim]suspect:[/dim] {escape(str(note))}", highlight=False, soft_wrap=True)


def _verdict_line(run: RunRecord) -> str:
    verdict = "[bold green]GO[/]" if run.go else "[bold red]NO-GO[/]"
    partial = " [bold yellow](partial run)[/]" if run.partial else ""
    counts = run.counts()
    shown = [f"[{STYLES[s]}]{counts[s]} {s}[/]" for s in STATUS_ORDER if counts.get(s)] or [
        "no results"
    ]
    nodes = len(run.hosts)
    tail = f"{fmt_duration(run.duration_s)} · profile {escape(run.profile)} · {nodes} nodes"
    return f"{verdict}{partial}  {' · '.join(shown)}  [dim]({tail})[/dim]"


def summary_lines(run: RunRecord) -> list[Line]:
    """Gating results worst first, one line per subject.

    A blocked node is one line however many checks it blocked, and the bad pairs of one
    check that blame the same node(s) (reports.blame) are one line about those nodes.
    """
    gate = {s.value for s in run.gate_statuses()}
    order = host_key(run.hosts)
    blame = pair_blame(run.results)
    ranked = sorted(
        (ir for ir in enumerate(run.results) if ir[1].status.value in gate),
        key=lambda ir: (-SEVERITY[ir[1].status.value], order(ir[1].subject), ir[1].check),
    )
    lines: list[Line] = []
    blocked: dict[str, list[Result]] = {}
    pairs: dict[tuple[str, str, tuple[str, ...]], list[Result]] = {}
    for index, result in ranked:
        blamed = counted_against(result, blame.get(index))
        if result.status is Status.BLOCKED:
            blocked.setdefault(blamed[0] if blamed else subject(result), []).append(result)
        elif result.pair:
            pairs.setdefault((result.check, result.status.value, blamed), []).append(result)
        else:
            lines.append(_line(result))
    lines += [_pairs_line(key[2], group) for key, group in pairs.items()]
    lines += [_blocked_line(name, group) for name, group in blocked.items()]
    return sorted(lines, key=lambda line: -SEVERITY[line.status])


def _line(result: Result) -> Line:
    tag = "" if result.status is Status.FAIL else f" [{result.status.value}]"
    return Line(
        result.status.value, subject(result), result.check + tag, result.message, result.hint or ""
    )


def _pairs_line(blamed: tuple[str, ...], group: list[Result]) -> Line:
    first = group[0]
    if len(group) == 1:
        return _line(first)
    line = _line(first)
    who = ", ".join(blamed or first.nodes)
    return Line(line.status, who, f"{line.label} ({len(group)} pairs)", line.message, line.hint)


def _blocked_line(name: str, group: list[Result]) -> Line:
    checks = "check" if len(group) == 1 else "checks"
    first = group[0]
    label = f"blocked ({len(group)} {checks})"
    return Line(Status.BLOCKED.value, name, label, first.message, first.hint or "")


def _format(line: Line, width: int) -> str:
    hint = f" — hint: {escape(line.hint)}" if line.hint else ""
    message = f": {escape(line.message)}" if line.message else ""
    who = escape(line.subject.ljust(width))
    return f"[{STYLES[line.status]}]{who}[/]  {escape(line.label)}{message}{hint}"
