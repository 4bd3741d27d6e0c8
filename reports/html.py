"""The self-contained HTML report: one file, no network, everything escaped."""

from __future__ import annotations

import json
import secrets
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from preflight.results import SCHEMA_VERSION, STATUS_ORDER, RunRecord, Status, load_run

from .formatting import fmt_duration, fmt_value
from .heatmap import heatmaps, suspects
from .large import AGGREGATE_ABOVE, finding_cards, pair_summaries, problem_nodes
from .nodes import node_sections
from .view import (
    failures,
    families,
    listed_rows,
    node_filter_options,
    node_matrix,
    pair_suspects,
    result_rows,
)

TEMPLATE = "report.html.j2"
REPORT_NAME = "report.html"


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("preflight.reports", ""),
        autoescape=True,  # every template, whatever its name: remote text is hostile
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["value"] = fmt_value
    return env


def render_html(run: RunRecord, facts: dict[str, Any] | None) -> str:
    """The report for `run` (and its facts, when gathered) as one HTML document."""
    return "".join(_pieces(run, facts))


def _pieces(run: RunRecord, facts: dict[str, Any] | None) -> Iterator[str]:
    return _environment().get_template(TEMPLATE).generate(**_context(run, facts))


def write_report(run_dir: Path, *, run: RunRecord | None = None,
                 facts: dict[str, Any] | None = None) -> Path:
    """Write report.html in `run_dir` from results.json and facts.json there, or from the
    record and facts a run already holds (at 1,024 nodes facts.json is ~90 MB: reading it
    a second time was the head's peak memory)."""
    run = run if run is not None else load_run(run_dir)
    facts_path = run_dir / "facts.json"
    if facts is None and facts_path.exists():
        facts = json.loads(facts_path.read_text())
    target = run_dir / REPORT_NAME
    tmp = target.with_suffix(".html.tmp")
    # Streamed: at 64 nodes the page is ~15 MB, and rendering it to one string first
    # was the head's peak memory.
    with tmp.open("w", encoding="utf-8") as out:
        out.writelines(_pieces(run, facts))
    tmp.replace(target)
    return target


def _context(run: RunRecord, facts: dict[str, Any] | None) -> dict[str, Any]:
    findings = run.findings()
    rows = result_rows(run)
    large = len(run.hosts) > AGGREGATE_ABOVE
    listed, unlisted = listed_rows(rows, problems_only=large)
    # Above AGGREGATE_ABOVE: facts of the outliers and link ends; the rest are in facts.json
    named = problem_nodes(f for f in findings if f.scope != "cluster") if large else None
    sections = node_sections(run, facts, only=named)
    counts = run.counts()
    bad_nodes = run.bad_nodes(findings)
    return {
        "run": run,
        "verdict": "GO" if run.go else "NO-GO",
        "counts": [(status, counts.get(status, 0)) for status in STATUS_ORDER],
        "statuses": [s.value for s in Status],
        "duration": fmt_duration(run.duration_s),
        "command": shlex.join(display_command(run.command)),
        "thresholds": sorted(run.thresholds.items()),
        "families": families(run),
        "matrix": node_matrix(run, rows),
        "findings": finding_cards(findings),
        "large": large,
        "failures": [] if large else failures(rows),
        "rows": listed,
        "unlisted_pairs": unlisted,
        "heatmaps": [] if large else heatmaps(run.matrices, run.hosts),
        "pair_summaries": pair_summaries(run.matrices) if large else [],
        "suspects": suspects(run.matrices),
        "pair_blame": pair_suspects(run, rows),
        "bad_nodes": bad_nodes,
        "exclude_advised": len(bad_nodes) <= run.exclude_limit(),
        "nodes": node_filter_options(run),
        "sections": sections,
        "facts_given": facts is not None,
        "nonce": _nonce(),
        "schema_version": SCHEMA_VERSION,
    }


def display_command(argv: list[str]) -> list[str]:
    """The command as the user typed it: `python -m preflight` records argv[0] as a path."""
    if argv and Path(argv[0]).name in ("__main__.py", "preflight"):
        return ["preflight", *argv[1:]]
    return argv


def _nonce() -> str:
    """CSP nonce for our own script: should escaping ever fail, an injected <script> lacks it.

    Random per render; remote text cannot guess it (a content hash would cost seconds on a
    large mesh).
    """
    return secrets.token_urlsafe(18)
