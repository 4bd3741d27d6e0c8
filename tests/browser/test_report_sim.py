"""The report of a real simulated-cluster run with injected faults, read in headless Chromium.

Faults, each on its own host of a 4-host cluster: node-2 has 7 GPUs, node-3 DROPs TCP 29500
(iptables), node-4 is shaped to 500 Mbit/s (tc). The report must say NO-GO and show those
three faults, and nothing else, as failing cells of the node × family matrix.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from preflight.reports.blame import blamed
from preflight.reports.schema import validate_results
from tests.browser.conftest import ARTIFACTS
from tests.cluster.helpers import Run, explain, run_preflight

pytestmark = [pytest.mark.cluster, pytest.mark.browser]

HOSTS = ["node-1", "node-2", "node-3", "node-4"]
FAULTY_CELLS = {("node-2", "gpu"), ("node-3", "ports"), ("node-3", "fingerprints"),
                ("node-4", "bandwidth")}
BAD_STATUSES = {"fail", "error", "blocked", "warn"}


def _expected_bad() -> set[tuple[str, str]]:
    """(check, subject) of every result the three faults must fail, and of nothing else."""
    bad = {("gpu_count", "node-2"), ("bandwidth_isolation", "node-4"),
           ("firewall_consistent", "node-3")}  # the DROP rule makes its ruleset the odd one
    bad |= {("tcp_ports", src) for src in HOSTS if src != "node-3"}
    for peer in HOSTS[:3]:
        bad |= {("iperf3_bandwidth", f"{peer}->node-4"), ("iperf3_bandwidth", f"node-4->{peer}")}
    return bad


@pytest.fixture(scope="module")
def faulty_run(sim_cluster_module: Any, tmp_path_factory: pytest.TempPathFactory) -> Run:
    cluster = sim_cluster_module(4)
    cluster.update_spec("node-2", gpus=7)
    cluster.iptables("node-3", 29500, "DROP")
    cluster.shape("node-4", "500mbit")
    run = run_preflight(*cluster.preflight_args(), "--pairs", "mesh",
                        out=tmp_path_factory.mktemp("sim") / "run")
    cluster.stop()  # the report is read offline; free the CPU for the browser
    return run


@pytest.fixture(scope="module")
def problems() -> list[str]:
    """Dialogs (an injection would open one), script errors, and any non-file:// request."""
    return []


@pytest.fixture(scope="module")
def page(browser: Any, faulty_run: Run, problems: list[str]) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.on("dialog", lambda dialog: (problems.append(dialog.message), dialog.dismiss()))
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("request", lambda r: None if r.url.startswith("file://") else problems.append(r.url))
    page.goto((faulty_run.run_dir / "report.html").as_uri())
    yield page
    context.close()


def test_run_found_exactly_the_faults(faulty_run: Run) -> None:
    assert faulty_run.rc == 1, explain(faulty_run)
    found = {(check, subject) for check, subject, _ in faulty_run.bad_summary()}
    assert found == _expected_bad(), explain(faulty_run)
    assert {r["status"] for r in faulty_run.bad()} == {"fail"}
    validate_results(faulty_run.record)


def test_verdict_and_counts(page: Any, faulty_run: Run) -> None:
    assert page.inner_text("#verdict .verdict-word") == "NO-GO"
    counts = page.eval_on_selector_all(
        "#counts [data-status]", "els => els.map(e => [e.dataset.status, +e.dataset.count])"
    )
    assert dict(counts) == faulty_run.record["counts"]
    assert dict(counts)["fail"] == len(_expected_bad())


def test_matrix_fails_only_the_faulty_cells(page: Any) -> None:
    cells = page.eval_on_selector_all(
        "#node-matrix td.cell",
        "els => els.map(e => [e.dataset.node, e.dataset.family, e.dataset.status])",
    )
    by_cell = {(node, family): status for node, family, status in cells}
    assert {n for n, _ in by_cell} - {"(cluster)"} == set(HOSTS)
    assert {cell for cell, status in by_cell.items() if status in BAD_STATUSES} == FAULTY_CELLS
    assert set(by_cell.values()) <= {"pass", "skip", "fail", "none"}
    title = page.get_attribute('#node-matrix td[data-node="node-2"][data-family="gpu"]', "title")
    assert "[fail] gpu_count: node-2: GPUs visible: 7, expected 8" in title
    # The healthy end of a bad pair is not coloured by it (its one tcp_ports result, per
    # source, counts against node-3) and carries a mark naming the culprit.
    peer = page.locator('#node-matrix td[data-node="node-1"][data-family="ports"]')
    assert peer.get_attribute("data-status") == "none"
    assert peer.get_attribute("data-peer-bad") == "1"
    assert "blamed on node-3" in str(peer.get_attribute("title"))


def test_failures_fold_pairs_onto_the_blamed_node(page: Any) -> None:
    entries = page.eval_on_selector_all(
        "#failures-section .failure",
        "els => els.map(e => [e.dataset.node, e.dataset.family, +e.dataset.count])",
    )
    assert sorted(map(tuple, entries)) == [
        ("node-2", "gpu", 1), ("node-3", "fingerprints", 1), ("node-3", "ports", 3),
        ("node-4", "bandwidth", 1), ("node-4", "bandwidth", 6),
    ]
    ports = page.locator('.failure[data-node="node-3"][data-family="ports"]')
    assert "TCP 29500 (MASTER_PORT) filtered" in ports.inner_text()
    assert "firewall" in ports.locator(".hint").inner_text()
    # The exclude list (node-3 only fails pairs, so it is named as "also point at" for now).
    chips = page.eval_on_selector_all(".exclude .node-chip", "els => els.map(e => e.dataset.node)")
    assert sorted(chips) == ["node-2", "node-3", "node-4"]


def test_heatmap_marks_the_slowed_node(page: Any) -> None:
    iperf = page.locator('[data-matrix="iperf3"]')
    marked = iperf.locator("thead th.marked")
    assert [marked.nth(i).inner_text() for i in range(marked.count())] == ["node-4"]
    cells = iperf.locator("td.hcell[data-status='pass'], td.hcell[data-status='fail']")
    seen = {"fail": 0, "pass": 0}
    for i in range(cells.count()):
        cell = cells.nth(i)
        status = cell.get_attribute("data-status")
        slowed = "node-4" in (cell.get_attribute("data-src"), cell.get_attribute("data-dst"))
        assert status == ("fail" if slowed else "pass"), cell.get_attribute("title")
        outline = cell.evaluate("e => getComputedStyle(e).outlineStyle")
        assert outline == ("solid" if slowed else "none")
        if slowed:  # red: a tenth of the best pair or less
            red, green, _ = _rgb(cell.evaluate("e => getComputedStyle(e).backgroundColor"))
            assert red > green
        seen[str(status)] += 1
    assert seen["fail"] >= 1 and seen["pass"] >= 1
    port = page.locator('[data-matrix="ports:29500"]')
    assert port.locator("thead th.marked").all_inner_texts() == ["node-3"]
    for src in ("node-1", "node-2", "node-4"):
        cell = port.locator(f'td[data-src="{src}"][data-dst="node-3"]')
        assert (cell.inner_text(), cell.get_attribute("data-status")) == ("filtered", "fail")


def test_node_sections_parse_the_recorded_tool_outputs(page: Any) -> None:
    section = page.locator('details.node[data-node="node-2"]')
    section.locator("summary").click()
    gpus = section.locator("table.facts-table").first
    assert gpus.locator("tbody tr").count() == 7
    assert "NVIDIA H100 80GB HBM3" in gpus.inner_text()
    topo = section.locator("table.topo")
    assert topo.locator("thead th[scope=col]").all_inner_texts()[:7] == [
        f"GPU{i}" for i in range(7)]
    assert page.locator('details.node[data-node="node-1"]').get_attribute("data-status") == "pass"


def test_screenshot(page: Any, faulty_run: Run) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    shot = ARTIFACTS / "report-sim.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 20_000
    shutil.copyfile(faulty_run.run_dir / "report.html", ARTIFACTS / "report-sim.html")


def test_page_ran_clean(page: Any, problems: list[str]) -> None:
    page.click('#node-matrix td[data-node="node-3"][data-family="ports"] a')
    target = 'tr.result[data-node="node-1"][data-family="ports"]'
    assert page.locator(target).is_visible()
    assert problems == []


@pytest.mark.parametrize(
    ("bad_pairs", "culprits"),
    [
        ([("n1", "n3"), ("n2", "n3"), ("n4", "n3")], {"n3"}),  # n3 drops a port
        ([("n1", "n2"), ("n2", "n1")], {"n1", "n2"}),  # one bad link: both ends
        ([(a, "n3") for a in ("n1", "n2", "n4")] + [(a, "n4") for a in ("n1", "n2", "n3")],
         {"n3", "n4"}),  # two bad nodes
        ([("n1", "n4"), ("n2", "n4"), ("n3", "n4"), ("n1", "n2")], {"n4", "n1", "n2"}),
        ([], set()),
    ],
)
def test_blame_is_the_fewest_nodes_covering_the_bad_pairs(
    bad_pairs: list[tuple[str, str]], culprits: set[str]
) -> None:
    """The rule the matrix and the failure list use (the sim run above shows it end to end)."""
    assert blamed(bad_pairs) == culprits


def _rgb(css: str) -> tuple[int, ...]:
    return tuple(int(float(x)) for x in re.findall(r"[\d.]+", css)[:3])
