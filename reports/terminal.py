"""The closing summary: one line per finding, each hint once, the verdict, the exclude line.

It fits a screen at any cluster size: nodes are a Slurm hostlist (`gpu-[001-016,033]`) and
past MAX_FINDINGS the rest is one line; `-v` lists every subject under its finding.
"""

from __future__ import annotations

from collections.abc import Sequence

import hostlist
from rich.console import Console
from rich.markup import escape

from preflight.findings import Finding
from preflight.results import STATUS_ORDER, RunRecord

from .formatting import fmt_duration, fmt_measure, fmt_number, subject

STYLES: dict[str, str] = {
    "pass": "green",
    "warn": "yellow",
    "fail": "bold red",
    "error": "magenta",
    "blocked": "bold red",
    "skip": "dim",
}
MAX_FINDINGS = 20
MAX_HINTS = 8
MAX_NODES_TEXT = 60


def render_summary(run: RunRecord, console: Console, *, verbose: bool = False) -> None:
    """Print the summary; every piece of remote text goes through rich.markup.escape."""
    findings = run.findings()
    out = []
    shown = findings if verbose else findings[:MAX_FINDINGS]
    for finding in shown:
        out.append(finding_line(finding))
        if verbose:
            out += [f"    {escape(subject(r))}  {escape(r.check)}: {escape(r.message)}"
                    for r in run.results if r.finding == finding.id]
    if len(findings) > len(shown):
        out.append(f"[dim]… {len(findings) - len(shown)} more findings (results.json, "
                   "report.html, or -v)[/dim]")
    out += hint_lines(shown)
    if verbose and run.not_applicable:
        out.append(not_applicable_line(run))
    out.append(_verdict_line(run))
    out += exclude_lines(run, findings)
    for note in run.matrices.get("suspects", {}).get("notes", [])[:3]:
        out.append(f"[dim]suspect:[/dim] {escape(str(note))}")
    for line in out:
        console.print(line, highlight=False, soft_wrap=True)


def not_applicable_line(run: RunRecord) -> str:
    names = ", ".join(escape(entry["check"]) for entry in run.not_applicable)
    return f"[dim]not applicable to this run (run on no node; why: results.json): {names}[/dim]"


def _verdict_line(run: RunRecord) -> str:
    verdict = "[bold green]GO[/]" if run.go else "[bold red]NO-GO[/]"
    partial = " [bold yellow](partial run)[/]" if run.partial else ""
    counts = run.counts()
    shown = [f"[{STYLES[s]}]{counts[s]} {s}[/]" for s in STATUS_ORDER if counts.get(s)] or [
        "no results"
    ]
    nodes = len(run.hosts)
    tail = (f"{fmt_duration(run.duration_s)} · profile {escape(run.profile)} · {nodes} "
            f"node{'' if nodes == 1 else 's'}")
    return f"{verdict}{partial}  {' · '.join(shown)}  [dim]({tail})[/dim]"


def finding_line(finding: Finding) -> str:
    """`FAIL memlock_limit  cluster  16 nodes  node-[01-16]  8 MiB, expected >= 64 → fix-config`"""
    style = STYLES[finding.status]
    what = "pairs" if finding.scope == "links" else "nodes"
    count = f"{finding.count} {what if finding.count != 1 else what[:-1]}"
    who = node_list(finding.nodes) if finding.scope != "links" else _pairs_text(finding)
    values = _values(finding)
    return (f"[{style}]{finding.status.upper():7}[/] {escape(finding.check)} "
            f"[dim]({escape(finding.reason)})[/dim]  {finding.scope}  {count}  "
            f"{escape(who)}{values}  → {finding.action}")


def node_list(nodes: Sequence[str]) -> str:
    """A Slurm hostlist, shortened past MAX_NODES_TEXT characters."""
    if not nodes:
        return "cluster"
    try:
        text = str(hostlist.collect_hostlist(list(nodes)))
    except hostlist.BadHostlist:  # a name with [ ] or , in it: listed as it is
        text = ",".join(nodes)
    if len(text) <= MAX_NODES_TEXT:
        return text
    return text[:MAX_NODES_TEXT].rsplit(",", 1)[0] + ",…"


def _pairs_text(finding: Finding) -> str:
    shown = [f"{a}→{b}" for a, b in finding.pairs[:3]]
    more = f" +{finding.count - len(shown)}" if finding.count > len(shown) else ""
    return ", ".join(shown) + more


def _values(finding: Finding) -> str:
    measured = _value(finding.measured, finding.unit)
    expected = _value(finding.expected, finding.unit)
    if measured and expected:
        return f"  {escape(measured)}, expected {escape(expected)}"
    return f"  {escape(measured)}" if measured else ""


def _value(value: object, unit: str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, dict) and set(value) == {"min", "max"}:
        low, high = value["min"], value["max"]
        text = f"{fmt_number(low)}–{fmt_number(high)}"
        return f"{text} {unit}" if unit else text
    if isinstance(value, str):
        return value if len(value) <= 60 else value[:57] + "…"
    if isinstance(value, list):
        text = ", ".join(fmt_measure(v) for v in value[:4])
        return text + (", …" if len(value) > 4 else "")
    text = fmt_measure(value, unit)
    return text if len(text) <= 60 else text[:57] + "…"


def hint_lines(findings: Sequence[Finding]) -> list[str]:
    """Each distinct hint once, naming the checks it answers."""
    hints: dict[str, list[str]] = {}
    for finding in findings:
        if finding.hint:
            hints.setdefault(finding.hint, []).append(finding.check)
    lines = [f"  [dim]hint ({escape(', '.join(dict.fromkeys(checks)))}):[/dim] {escape(hint)}"
             for hint, checks in list(hints.items())[:MAX_HINTS]]
    return (["Hints:"] + lines) if lines else []


def exclude_lines(run: RunRecord, findings: Sequence[Finding]) -> list[str]:
    bad = run.bad_nodes(list(findings))
    if not bad:
        return []
    plural = "s" if len(bad) != 1 else ""
    line = f"[bold]Exclude:[/bold] {escape(node_list(bad))} ({len(bad)} node{plural})"
    limit = run.exclude_limit()
    if len(bad) <= limit:
        return [line]
    return [line, f"[bold yellow]{len(bad)} bad nodes is more than --max-exclude ({limit}) of "
                  f"{len(run.hosts)}: this looks systemic; excluding them is not advised[/]"]
