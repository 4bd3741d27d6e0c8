"""The 1,024-node report in headless Chromium: findings first, the node matrix filterable by
node name, and a page that stays under 5 MB (pairs aggregated per node above 64 nodes)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from preflight.applies import ONLY_IF, RunSettings, not_applicable
from preflight.config import Expectations
from preflight.reports.html import write_report
from preflight.reports.schema import validate_results
from preflight.results import Result, RunRecord, Status

pytestmark = pytest.mark.browser

HOSTS = [f"gpu-{i:04d}" for i in range(1, 1025)]
CHECKS = [("system", f"fact_{i}") for i in range(30)]
SLOW = "gpu-0513"  # drops TCP 29500 from every peer


def large_run() -> RunRecord:
    results = [Result(f"checks/check_{fam}.py::{check}[{h}]", check, fam, Status.PASS, h,
                      measured=1, expected=1) for fam, check in CHECKS for h in HOSTS]
    results += [Result(f"checks/check_system.py::memlock[{h}]", "memlock", "system",
                       Status.FAIL, h, measured=8388608, expected=-1, unit="bytes",
                       message=f"{h}: memlock limit 8388608 bytes, expected unlimited",
                       hint="raise memlock", reason="memlock-low") for h in HOSTS]
    ring = [(a, b) for i, a in enumerate(HOSTS) for b in (HOSTS[i - 1], HOSTS[(i + 1) % 1024])]
    for h in HOSTS:
        targets = [b for a, b in ring if a == h and b == SLOW]
        results.append(Result(f"checks/check_ports.py::tcp_ports[{h}]", "tcp_ports", "ports",
                              Status.FAIL if targets else Status.PASS, h,
                              message=f"{h}: TCP 29500 filtered to {SLOW}" if targets else "",
                              reason="tcp-29500-filtered" if targets else None,
                              targets={"tcp-29500-filtered": targets} if targets else None))
    cells = [{"src": a, "dst": b, "value": "filtered" if b == SLOW else "open",
              "status": "fail" if b == SLOW else "pass"} for a, b in ring]
    matrix = {"title": "TCP 29500", "kind": "reachability", "unit": None, "nodes": HOSTS,
              "cells": cells}
    return RunRecord("0.1.0", ["preflight", "run"], "2026-01-01T00:00:00+00:00", hosts=HOSTS,
                     results=results, matrices={"ports:29500": matrix},
                     not_applicable=[{"check": c, "reason": r} for c, r in RULED_OUT.items()])


RULED_OUT = not_applicable(ONLY_IF, RunSettings(Expectations()))


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("large")
    data = json.loads(json.dumps(large_run().to_dict()))
    validate_results(data)
    (run_dir / "results.json").write_text(json.dumps(data))
    return write_report(run_dir)


@pytest.fixture(scope="module")
def page(report: Path, browser: Any) -> Iterator[Any]:
    tab = browser.new_page(viewport={"width": 1280, "height": 900})
    tab.goto(report.as_uri())
    yield tab
    tab.close()


def test_the_1024_node_report_is_under_5_mb(report: Path) -> None:
    assert report.stat().st_size <= 5_000_000


def test_findings_are_at_the_top(page: Any) -> None:
    cards = page.locator("#findings-section details.finding")
    assert cards.count() == 2
    first = cards.nth(0)
    assert first.is_visible() and first.bounding_box()["y"] < 900
    assert "memlock" in first.inner_text() and "cluster" in first.inner_text()
    second = cards.nth(1).inner_text()
    assert "nodes" in second and SLOW in second and "exclude" in second
    matrix_y = page.locator("#node-matrix").bounding_box()["y"]
    assert first.bounding_box()["y"] < matrix_y
    # the checks no node ran: one line under the findings, each with its reason
    ruled_out = page.locator("#not-applicable")
    assert ruled_out.count() == 1 and ruled_out.is_visible()
    assert ruled_out.bounding_box()["y"] < matrix_y
    text = ruled_out.inner_text()
    assert all(f"{check} ({reason})" in text for check, reason in RULED_OUT.items()), text


def test_problem_rows_come_first_and_the_matrix_filters_by_node_name(page: Any) -> None:
    rows = page.locator("#node-matrix tbody tr")
    assert rows.count() == 1024
    page.fill("#node-search", SLOW)
    visible = page.locator("#node-matrix tbody tr:not(.filtered-out)")
    assert visible.count() == 1
    assert visible.first.get_attribute("data-node") == SLOW
    page.fill("#node-search", "")
    assert page.locator("#node-matrix tbody tr:not(.filtered-out)").count() == 1024


def test_pairs_are_aggregated_per_node(page: Any) -> None:
    summary = page.locator("#pair-summaries")
    assert summary.count() == 1 and page.locator("#heatmaps").count() == 0
    first_row = summary.locator("tbody tr").first
    assert first_row.get_attribute("data-node") == SLOW
    assert "2 / 4" in first_row.inner_text()
