"""The HTML report as a reader sees it: headless Chromium on the file:// report of a faulty run.

Faults in the run: node-3 has 7 GPUs (fail), node-4 is unreachable (every check blocked),
node-2 is slow with every peer in iperf3, node-1 -> node-3 TCP 29500 is filtered, and one
host is literally named `<script>alert(1)</script>`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from preflight.reports.html import write_report
from preflight.reports.schema import validate_results
from preflight.results import Result, RunRecord, Status
from tests.browser.conftest import ARTIFACTS

pytestmark = pytest.mark.browser

SCRIPT_HOST = "<script>alert(1)</script>"
HOSTS = ["node-1", "node-2", "node-3", "node-4", SCRIPT_HOST]
REACHABLE = [h for h in HOSTS if h != "node-4"]
MEASURED = ["node-1", "node-2", "node-3"]
FAMILIES = ("ssh", "system", "gpu", "infiniband")


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("run")
    results = json.loads(json.dumps(faulty_run().to_dict()))
    validate_results(results)
    (run_dir / "results.json").write_text(json.dumps(results))
    (run_dir / "facts.json").write_text(json.dumps(faulty_facts()))
    return write_report(run_dir)


@dataclass
class Seen:
    """What the page did besides rendering: dialogs (an XSS would open one), errors, loads."""

    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


@pytest.fixture
def seen() -> Seen:
    return Seen()


@pytest.fixture
def page(browser: Any, report: Path, seen: Seen) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()

    def on_dialog(dialog: Any) -> None:
        seen.dialogs.append(dialog.message)
        dialog.dismiss()

    def on_console(message: Any) -> None:
        if message.type == "error":
            seen.errors.append(message.text)

    page.on("dialog", on_dialog)
    page.on("console", on_console)
    page.on("pageerror", lambda error: seen.errors.append(str(error)))
    page.on("request", lambda request: seen.requests.append(request.url))
    page.goto(report.as_uri())
    yield page
    context.close()


def test_verdict_and_counts(page: Any) -> None:
    assert page.inner_text("#verdict .verdict-word") == "NO-GO"
    assert page.get_attribute("#verdict", "data-verdict") == "NO-GO"
    counts = page.eval_on_selector_all(
        "#counts [data-status]", "els => els.map(e => [e.dataset.status, +e.dataset.count])"
    )
    assert dict(counts) == {"fail": 6, "blocked": 4, "error": 1, "warn": 1, "pass": 15, "skip": 4}


def test_node_matrix_cells(page: Any) -> None:
    def cell(node: str, family: str) -> str:
        selector = f'#node-matrix td[data-node="{node}"][data-family="{family}"]'
        return str(page.get_attribute(selector, "data-status"))

    assert cell("node-3", "gpu") == "fail"
    assert cell("node-4", "ssh") == "blocked"
    assert cell("node-1", "gpu") == "warn"
    assert cell(SCRIPT_HOST, "gpu") == "pass"
    assert cell("node-2", "bandwidth") == "fail"
    title = page.get_attribute('#node-matrix td[data-node="node-3"][data-family="gpu"]', "title")
    assert "[fail] gpu_count: 7 GPUs visible, expected 8" in title


def test_heatmaps(page: Any) -> None:
    iperf = '[data-matrix="iperf3"] td[data-src="{}"][data-dst="{}"]'
    slow = page.locator(iperf.format("node-1", "node-2"))
    assert slow.get_attribute("data-status") == "fail"
    assert slow.inner_text() == "0.48"
    red, green, _ = _rgb(slow.evaluate("e => getComputedStyle(e).backgroundColor"))
    assert red > green  # far below the best pair
    assert slow.evaluate("e => getComputedStyle(e).outlineStyle") == "solid"
    fast = page.locator(iperf.format("node-1", "node-3"))
    assert fast.get_attribute("data-status") == "pass"
    red, green, _ = _rgb(fast.evaluate("e => getComputedStyle(e).backgroundColor"))
    assert green > red
    assert fast.evaluate("e => getComputedStyle(e).outlineStyle") == "none"
    ports = '[data-matrix="ports:29500"] td[data-src="{}"][data-dst="{}"]'
    filtered = page.locator(ports.format("node-1", "node-3"))
    assert (filtered.inner_text(), filtered.get_attribute("data-status")) == ("filtered", "fail")
    assert page.locator(ports.format("node-3", "node-1")).inner_text() == "open"
    assert "node-2" in page.inner_text("#suspects")


def test_hostile_host_renders_as_text(page: Any, seen: Seen) -> None:
    header = page.locator("#node-matrix tbody th", has_text="alert(1)")
    assert header.inner_text() == SCRIPT_HOST
    assert page.locator("script").count() == 1
    assert page.evaluate("document.querySelectorAll('img').length") == 0
    message = page.locator('tr.result[data-node="node-2"]', has_text="skew")
    assert "<img src=x onerror=alert(2)>" in message.inner_text()
    assert seen.dialogs == []
    assert seen.errors == []  # also: no CSP violation, so our own script was allowed
    assert all(url.startswith("file://") for url in seen.requests), seen.requests


def test_filters_hide_rows(page: Any) -> None:
    passing = page.locator('tr.result[data-status="pass"]')
    failing = page.locator('tr.result[data-status="fail"]')
    assert passing.first.is_visible()
    page.click('#filters input[value="pass"]')
    assert all(not row.is_visible() for row in passing.all())
    assert all(row.is_visible() for row in failing.all())
    assert page.inner_text("#shown") == "16 of 31 results shown"
    page.select_option("#node-filter", "node-3")
    visible = page.locator("tr.result:visible")
    assert visible.count() == 5  # gpu_count, 2 iperf3 pairs, 1 port pair fail; IB skip
    assert all("node-3" in row.inner_text() for row in visible.all())
    assert page.locator('.failure[data-node="node-4"]').is_hidden()


def test_matrix_jump_clears_filters(page: Any) -> None:
    page.click('#filters input[value="fail"]')
    assert page.locator('tr.result[data-status="fail"]').first.is_hidden()
    page.click('#node-matrix td[data-node="node-3"][data-family="gpu"] a')
    target = page.locator('tr.result[data-node="node-3"][data-family="gpu"]')
    assert target.is_visible()
    assert page.evaluate("location.hash") == "#" + str(target.get_attribute("id"))


def test_sort_by_subject(page: Any) -> None:
    page.click("#results thead th:nth-child(2)")
    subjects = page.eval_on_selector_all(
        "#results tbody tr td.subject", "els => els.map(e => e.textContent)"
    )
    assert subjects == sorted(subjects, key=_natural)
    assert subjects[0] == SCRIPT_HOST  # "<" sorts before letters


def test_print_layout(page: Any) -> None:
    page.emulate_media(media="print")
    assert page.locator("#filters").is_hidden()
    page.evaluate("window.dispatchEvent(new Event('beforeprint'))")
    assert page.evaluate("[...document.querySelectorAll('details')].every(d => d.open)")
    assert page.locator('details.node[data-node="node-3"] table.topo').is_visible()


def test_screenshot(page: Any) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.click('details.node[data-node="node-3"] summary')
    page.evaluate("window.scrollTo(0, 0)")  # else the sticky filter bar lands mid-page
    shot = ARTIFACTS / "report.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 20_000


def _rgb(css: str) -> tuple[int, ...]:
    return tuple(int(float(x)) for x in re.findall(r"[\d.]+", css)[:3])


def _natural(text: str) -> list[Any]:
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", text)]


# --- the faulty run ------------------------------------------------------------------------


def faulty_run() -> RunRecord:
    results = [_node_result(node, family) for node in HOSTS for family in FAMILIES]
    results.append(
        _result(
            "gpu",
            "gpu_idle_memory",
            "node-1",
            Status.WARN,
            measured=3120,
            expected=1024,
            unit="MiB",
            message="GPU 2: 3120 MiB in use before the job (python pid 4411)",
            hint="a stale process holds GPU memory: see nvidia-smi",
        )
    )
    results.append(
        _result(
            "system",
            "clock_skew",
            "node-2",
            Status.PASS,
            message="skew 0.01 s <img src=x onerror=alert(2)>",
        )
    )
    results.append(
        _result(
            "software",
            "nccl_version",
            "node-2",
            Status.ERROR,
            message="could not parse NCCL version from 'libnccl.so.2 => not found'",
            hint="is NCCL installed where torch looks? ldconfig -p | grep nccl",
        )
    )
    results += _bandwidth_results() + _port_results()
    return RunRecord(
        preflight_version="0.1.0",
        command=["preflight", "run", "--hostfile", "hosts.txt", "--profile", "dgx-h100"],
        started="2025-05-01T10:00:00+00:00",
        finished="2025-05-01T10:01:12+00:00",
        duration_s=72.4,
        profile="dgx-h100",
        hosts=HOSTS,
        thresholds={"gpus_per_node": 8, "nic_gbps": 25.0, "ports": [22, 29500]},
        results=results,
        matrices={
            "iperf3": _iperf_matrix(),
            "ports:29500": _ports_matrix(),
            "suspects": {
                "nodes": ["node-2"],
                "links": [["node-1", "node-3"]],
                "notes": [
                    "node-2 is slow with every peer: its NIC or a shaped link, not the fabric"
                ],
            },
        },
    )


def _result(family: str, check: str, node: str | None, status: Status, **kw: Any) -> Result:
    pair = kw.get("pair")
    label = f"{pair[0]}-{pair[1]}" if pair else node
    return Result(
        f"checks/check_{family}.py::{check}[{label}]",
        check,
        family,
        status,
        node,
        duration_s=0.05,
        **kw,
    )


def _node_result(node: str, family: str) -> Result:
    check = {
        "ssh": "ssh_reachable",
        "system": "shm_size",
        "gpu": "gpu_count",
        "infiniband": "ib_ports_active",
    }[family]
    if node == "node-4":
        return _result(
            family,
            check,
            node,
            Status.BLOCKED,
            message="node-4 unreachable: connection refused on 198.18.0.14:22",
            hint="is sshd running? systemctl status ssh",
        )
    if family == "infiniband":
        return _result(family, check, node, Status.SKIP, message="no InfiniBand device")
    if (node, family) == ("node-3", "gpu"):
        return _result(
            family,
            check,
            node,
            Status.FAIL,
            measured=7,
            expected=8,
            unit="GPUs",
            message="7 GPUs visible, expected 8",
            hint="a GPU fell off the bus: check dmesg for Xid 79, reseat or RMA",
        )
    if family == "gpu":
        return _result(
            family,
            check,
            node,
            Status.PASS,
            measured=8,
            expected=8,
            unit="GPUs",
            message="8 GPUs visible",
        )
    return _result(family, check, node, Status.PASS)


def _gbps(src: str, dst: str) -> float:
    return 0.48 if "node-2" in (src, dst) else round(23.9 + MEASURED.index(src) * 0.1, 2)


def _pairs() -> list[tuple[str, str]]:
    return [(a, b) for a in MEASURED for b in MEASURED if a != b]


def _bandwidth_results() -> list[Result]:
    return [
        _result(
            "bandwidth",
            "iperf3",
            None,
            Status.FAIL if "node-2" in pair else Status.PASS,
            pair=pair,
            measured=_gbps(*pair),
            expected=22.5,
            unit="Gbit/s",
            message=f"{_gbps(*pair)} Gbit/s (floor 22.5)",
            hint="check the NIC and any tc shaping" if "node-2" in pair else None,
        )
        for pair in _pairs()
    ]


def _iperf_matrix() -> dict[str, Any]:
    cells = [
        {
            "src": a,
            "dst": b,
            "value": _gbps(a, b),
            "status": "fail" if "node-2" in (a, b) else "pass",
        }
        for a, b in _pairs()
    ]
    return {
        "title": "iperf3 TCP throughput",
        "kind": "bandwidth",
        "unit": "Gbit/s",
        "nodes": [*MEASURED, "node-4"],
        "cells": cells,
    }


def _port_results() -> list[Result]:
    return [
        _result(
            "ports",
            "tcp_29500",
            None,
            Status.FAIL,
            pair=("node-1", "node-3"),
            measured="filtered",
            expected="open",
            message="TCP 29500 timed out (MASTER_PORT)",
            hint="check the security group / ufw / iptables on node-3",
        ),
        _result(
            "ports",
            "tcp_29500",
            None,
            Status.PASS,
            pair=("node-3", "node-1"),
            measured="open",
            expected="open",
        ),
    ]


def _ports_matrix() -> dict[str, Any]:
    cells = [
        {
            "src": a,
            "dst": b,
            "value": "filtered" if (a, b) == ("node-1", "node-3") else "open",
            "status": "fail" if (a, b) == ("node-1", "node-3") else "pass",
        }
        for a, b in _pairs()
    ]
    return {
        "title": "TCP 29500 (MASTER_PORT)",
        "kind": "reachability",
        "unit": None,
        "nodes": MEASURED,
        "cells": cells,
    }


def faulty_facts() -> dict[str, Any]:
    nodes: dict[str, Any] = {name: _facts(name) for name in REACHABLE}
    nodes["node-4"] = {
        "ok": False,
        "facts": {},
        "error": {"kind": "connect", "detail": "connection refused"},
    }
    return {"schema_version": 1, "nodes": nodes}


def _facts(name: str) -> dict[str, Any]:
    gpu_count = 7 if name == "node-3" else 8
    gpus = [
        {
            "index": i,
            "name": "NVIDIA H100 80GB HBM3",
            "memory_used_mib": 3120 if (name, i) == ("node-1", 2) else 0,
            "memory_total_mib": 81559,
            "ecc_uncorrected_volatile": 0,
            "persistence_mode": True,
        }
        for i in range(gpu_count)
    ]
    labels = [f"GPU{i}" for i in range(gpu_count)] + ["NIC0", "NIC1"]
    links = {a: {b: _link(a, b) for b in labels if b != a} for a in labels}
    return {
        "ok": True,
        "error": None,
        "facts": {
            "hostname": name,
            "os": "Ubuntu 22.04.4 LTS",
            "kernel": "5.15.0-1051-nvidia",
            "versions": {
                "driver": "550.90.07",
                "cuda": "12.4",
                "nccl": "2.21.5",
                "torch": "2.3.1",
                "python": "3.11.9",
            },
            "env": {"HF_TOKEN": "[redacted]"},
            "interfaces": [
                {
                    "name": "eth0",
                    "mtu": 9000,
                    "state": "UP",
                    "speed_mbps": 25000,
                    "addresses": [f"198.18.0.{10 + REACHABLE.index(name)}/24"],
                }
            ],
            "gpus": gpus,
            "topo": {
                "gpus": gpu_count,
                "nics": 2,
                "links": links,
                "nic_names": {"NIC0": "mlx5_0", "NIC1": "mlx5_1"},
            },
            "ib_ports": [
                {
                    "ca": f"mlx5_{i}",
                    "port": 1,
                    "state": "Active",
                    "physical_state": "LinkUp",
                    "rate_gbps": 400,
                    "link_layer": "InfiniBand",
                }
                for i in range(2)
            ],
        },
    }


def _link(a: str, b: str) -> str:
    if a.startswith("GPU") and b.startswith("GPU"):
        return "NV18"
    gpu = a if a.startswith("GPU") else b
    nic = b if gpu == a else a
    if not gpu.startswith("GPU"):
        return "SYS"
    near = int(gpu[3:]) // 4 == int(nic[3:])
    return "PIX" if near else "SYS"
