"""The report views of results.json: JSON Schema, HTML (escaping, no network), terminal summary."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from preflight.reports.formatting import fmt_duration, fmt_value, worst
from preflight.reports.heatmap import bandwidth_colour
from preflight.reports.html import render_html, write_report
from preflight.reports.schema import load_schema, validate_results
from preflight.reports.terminal import render_summary
from preflight.results import Result, RunRecord, Status

SCRIPT = "<script>alert(1)</script>"
ESCAPED_SCRIPT = "&lt;script&gt;alert(1)&lt;/script&gt;"
HOSTS = ["node-1", "node-2", "node-3", "node-4"]


def ok(check: str, family: str, node: str) -> Result:
    return Result(f"checks/check_{family}.py::{check}[{node}]", check, family, Status.PASS, node)


def make_run(**overrides: Any) -> RunRecord:
    results = [ok("ssh_reachable", "ssh", n) for n in HOSTS[:3]]
    results += [
        ok("gpu_count", "gpu", "node-1"),
        Result(
            "checks/check_gpu.py::gpu_count[node-3]",
            "gpu_count",
            "gpu",
            Status.FAIL,
            "node-3",
            measured=7,
            expected=8,
            unit="GPUs",
            message="7 GPUs visible, expected 8",
            hint="reseat the GPU or check nvidia-smi -q for a fallen-off bus",
        ),
        Result(
            "checks/check_bandwidth.py::iperf3[node-1-node-2]",
            "iperf3",
            "bandwidth",
            Status.FAIL,
            pair=("node-1", "node-2"),
            measured=0.48,
            expected=22.5,
            unit="Gbit/s",
            message="0.48 Gbit/s, floor 22.5 Gbit/s",
        ),
        Result(
            "checks/check_gpu.py::gpu_idle_memory[node-2]",
            "gpu_idle_memory",
            "gpu",
            Status.WARN,
            "node-2",
            measured=2048,
            expected=1024,
            unit="MiB",
            message="2048 MiB in use before the job",
        ),
        Result(
            "checks/check_software.py::nccl_version[cluster]",
            "nccl_version",
            "software",
            Status.PASS,
            message="all nodes on NCCL 2.21.5",
        ),
    ]
    results += [
        Result(
            f"checks/check_{fam}.py::{check}[node-4]",
            check,
            fam,
            Status.BLOCKED,
            "node-4",
            message="node-4 unreachable: connection refused",
            hint="is sshd running?",
        )
        for fam, check in (("ssh", "ssh_reachable"), ("gpu", "gpu_count"), ("gpu", "ecc"))
    ]
    fields: dict[str, Any] = {
        "preflight_version": "0.1.0",
        "command": ["preflight", "run", "--hostfile", "hosts", "--profile", "dgx-h100"],
        "started": "2025-05-01T10:00:00+00:00",
        "finished": "2025-05-01T10:00:42+00:00",
        "duration_s": 42.25,
        "profile": "dgx-h100",
        "hosts": HOSTS,
        "thresholds": {"gpus_per_node": 8, "ports": [22, 29500]},
        "results": results,
        "matrices": {
            "iperf3": {
                "title": "iperf3 TCP",
                "kind": "bandwidth",
                "unit": "Gbit/s",
                "nodes": HOSTS[:3],
                "cells": [
                    {"src": "node-1", "dst": "node-2", "value": 0.48, "status": "fail"},
                    {"src": "node-1", "dst": "node-3", "value": 24.0, "status": "pass"},
                ],
            },
            "suspects": {"nodes": ["node-2"], "links": [], "notes": ["node-2 slow with all"]},
        },
    }
    fields.update(overrides)
    return RunRecord(**fields)


# --- JSON Schema -------------------------------------------------------------------------


def test_schema_is_draft_2020_12_and_validates_a_record() -> None:
    assert load_schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    data = json.loads(json.dumps(make_run().to_dict()))
    validate_results(data)
    assert data["verdict"] == "NO-GO"
    assert data["counts"] == {"pass": 5, "warn": 1, "fail": 2, "error": 0, "blocked": 3, "skip": 0}


def test_schema_validates_an_empty_go_run() -> None:
    run = RunRecord(preflight_version="0.1.0", command=[], started="", hosts=[])
    validate_results(run.to_dict())


@pytest.mark.parametrize(
    ("mutate", "where"),
    [
        (lambda d: d["results"][4].update(status="broken"), "$.results[4].status"),
        (lambda d: d["results"][5].update(pair=["node-1"]), "$.results[5].pair"),
        (lambda d: d.pop("verdict"), "$:"),
        (lambda d: d.update(surprise=1), "$:"),
        (lambda d: d["counts"].update(fail=-1), "$.counts.fail"),
        (lambda d: d["matrices"]["iperf3"].update(kind="heat"), "$.matrices.iperf3.kind"),
        (lambda d: d["matrices"]["suspects"].update(nodes="node-2"), "$.matrices.suspects.nodes"),
        (lambda d: d["not_applicable"].append({"check": "gpudirect_nic"}),
         "$.not_applicable[0]"),
    ],
)
def test_schema_names_the_path_of_a_problem(mutate: Any, where: str) -> None:
    data = make_run().to_dict()
    mutate(data)
    with pytest.raises(ValueError, match=re.escape(f"results.json invalid at {where}")):
        validate_results(data)


# --- HTML --------------------------------------------------------------------------------


def test_html_has_no_external_reference() -> None:
    html = render_html(make_run(), facts(HOSTS))
    assert "://" not in html
    assert "http:" not in html.lower() and "https:" not in html.lower()
    assert not re.search(r"""\b(src|href)\s*=\s*["']?\s*(//|[a-z]+:)""", html, re.IGNORECASE)
    assert "<link" not in html
    assert "@import" not in html
    assert "url(" not in html
    assert html.count("<script") == 1  # our own, inline, carrying the CSP nonce


def test_html_verdict_counts_and_meta() -> None:
    html = render_html(make_run(), None)
    assert re.search(r'id="verdict"[^>]*data-verdict="NO-GO"', html)
    assert 'data-status="fail" data-count="2"' in html
    assert 'data-status="blocked" data-count="3"' in html
    assert "<dt>Duration</dt><dd>42.25 s</dd>" in html
    assert "preflight run --hostfile hosts --profile dgx-h100" in html
    assert "facts.json was not found" in html


def test_html_partial_and_go() -> None:
    passing = [r for r in make_run().results if r.status is Status.PASS]
    go = render_html(make_run(results=passing, matrices={}), None)
    assert 'data-verdict="GO"' in go
    assert 'id="partial"' not in go
    partial = render_html(make_run(results=passing, matrices={}, partial=True), None)
    assert 'data-verdict="NO-GO"' in partial
    assert 'id="partial"' in partial


def test_html_node_matrix_worst_status_wins() -> None:
    html = render_html(make_run(), None)
    cells = dict(re.findall(r'data-node="(node-\d)" data-family="gpu" data-status="(\w+)"', html))
    assert cells == {"node-1": "pass", "node-2": "warn", "node-3": "fail", "node-4": "blocked"}
    # A pair result shows on both nodes; a cluster-wide result gets its own row.
    assert re.search(r'data-node="node-2" data-family="bandwidth" data-status="fail"', html)
    assert re.search(r'data-node="\(cluster\)" data-family="software" data-status="pass"', html)


def test_html_heatmap_cells() -> None:
    html = render_html(make_run(), None)
    slow = re.search(r'<td [^>]*data-src="node-1" data-dst="node-2"[^>]*>([^<]*)</td>', html)
    assert slow is not None
    assert 'data-status="fail"' in slow.group(0)
    assert "background: hsl(2, 70%, 80%)" in slow.group(0)  # 0.48 / 24 of the best pair
    assert slow.group(1) == "0.48"
    fast = re.search(r'<td [^>]*data-src="node-1" data-dst="node-3"[^>]*>', html)
    assert fast is not None and "hsl(120, 70%, 80%)" in fast.group(0)


def test_script_hostname_and_message_are_escaped() -> None:
    hosts = [*HOSTS, SCRIPT]
    attack = '"><img src=x onerror=alert(2)>' + SCRIPT
    results = [
        *make_run().results,
        Result(
            "x",
            "gpu_count",
            "gpu",
            Status.FAIL,
            SCRIPT,
            message=attack,
            hint=SCRIPT,
            unit=SCRIPT,
            measured=SCRIPT,
        ),
    ]
    html = render_html(make_run(hosts=hosts, results=results), facts(hosts))
    assert SCRIPT not in html
    assert "<img" not in html
    assert html.count("<script") == 1
    assert ESCAPED_SCRIPT in html
    assert "&#34;&gt;&lt;img src=x onerror=alert(2)&gt;" in html  # also inside title="..."
    assert f'data-node="{ESCAPED_SCRIPT}"' in html


def test_env_values_never_printed() -> None:
    gathered = facts(HOSTS)
    gathered["nodes"]["node-1"]["facts"]["env"] = {"HF_TOKEN": "hf_secret_value", "PATH": "/x"}
    html = render_html(make_run(), gathered)
    assert "hf_secret_value" not in html
    assert "HF_TOKEN" not in html


def test_html_node_sections_from_facts() -> None:
    html = render_html(make_run(), facts(HOSTS))
    assert html.count('<details id="node-') == 4
    assert "NVIDIA H100 80GB HBM3" in html
    assert '<td class="link-nv">NV18</td>' in html
    assert '<td class="link-pci-near">PIX</td>' in html
    assert "NIC0 = mlx5_0" in html
    assert "connection refused" in html  # node-4's gather error


def test_large_mesh_lists_no_passing_pairs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("preflight.reports.view.PASSING_PAIRS_LISTED_MAX", 0)
    passing = Result("p", "iperf3", "bandwidth", Status.PASS, pair=("node-1", "node-3"))
    run = make_run(results=[*make_run().results, passing])
    html = render_html(run, None)
    assert html.count('<tr id="r') == len(run.results) - 1
    assert "1 passing pair results are not listed" in html
    assert 'data-node="node-1" data-peer="node-2"' in html  # failing pairs stay listed


def test_write_report_reads_the_run_directory(tmp_path: Path) -> None:
    (tmp_path / "results.json").write_text(json.dumps(make_run().to_dict()))
    path = write_report(tmp_path)
    assert path == tmp_path / "report.html"
    assert 'data-verdict="NO-GO"' in path.read_text()
    assert "facts.json was not found" in path.read_text()
    (tmp_path / "facts.json").write_text(json.dumps(facts(HOSTS)))
    assert "NV18" in write_report(tmp_path).read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "facts.json",
        "report.html",
        "results.json",
    ]


def test_render_is_deterministic_but_for_the_nonce() -> None:
    first, second = (render_html(make_run(), facts(HOSTS)) for _ in range(2))
    nonces = [re.findall(r"nonce-?=?[\"']?([\w-]{24})", html) for html in (first, second)]
    assert len(set(nonces[0])) == 1 and len(nonces[0]) == 2  # CSP meta and our <script>
    assert nonces[0] != nonces[1]
    assert first.replace(nonces[0][0], "N") == second.replace(nonces[1][0], "N")


# --- terminal summary ----------------------------------------------------------------------


def summary(run: RunRecord) -> str:
    out = io.StringIO()
    render_summary(run, Console(file=out, width=100, color_system=None, force_terminal=False))
    return out.getvalue()


def test_terminal_summary_is_one_line_per_finding() -> None:
    lines = summary(make_run()).splitlines()
    assert lines[0] == ("FAIL    gpu_count (gpu-count-fail)  nodes  1 node  node-3  7 GPUs, "
                        "expected 8 GPUs  → exclude")
    assert lines[2].startswith("BLOCKED blocked (node-unreachable)  nodes  1 node  node-4")
    verdict = lines.index(
        "NO-GO  2 fail · 3 blocked · 1 warn · 5 pass  (42.25 s · profile dgx-h100 · 4 nodes)")
    assert lines[verdict + 1] == "Exclude: node-[2-4] (3 nodes)"
    assert "  hint (gpu_count): reseat the GPU or check nvidia-smi -q for a fallen-off bus" in lines
    assert "Exclude: node-[2-4] (3 nodes)" in lines
    assert any("looks systemic" in line for line in lines)


def test_terminal_summary_verbose_lists_every_subject() -> None:
    out = io.StringIO()
    render_summary(make_run(), Console(file=out, width=100, color_system=None,
                                       force_terminal=False), verbose=True)
    assert "    node-4  ecc: node-4 unreachable: connection refused" in out.getvalue()


def test_terminal_summary_fits_a_screen_at_1024_nodes() -> None:
    hosts = [f"gpu-{i:04d}" for i in range(1, 1025)]
    results = [Result(f"m[{h}]", "memlock", "system", Status.FAIL, h, measured=8,
                      expected=">= 64", unit="MiB", reason="memlock-low", hint="raise it")
               for h in hosts]
    results += [Result(f"c{i}[{h}]", f"check_{i}", "gpu", Status.FAIL, h, reason="bad",
                       hint=f"hint {i}") for i, h in enumerate(hosts[100:140])]
    text = summary(make_run(results=results, hosts=hosts, matrices={}))
    lines = text.splitlines()
    assert len(lines) <= 40, text
    assert "cluster  1024 nodes  gpu-[0001-1024]" in lines[0]
    assert "Exclude: gpu-[0101-0140] (40 nodes)" in lines
    assert not any("looks systemic" in line for line in lines)


RULED_OUT = [{"check": "persistence_mode",
              "reason": "the profile does not require persistence mode"},
             {"check": f"[red]{SCRIPT}[/red]", "reason": SCRIPT}]


def test_not_applicable_checks_are_said_once_in_each_view() -> None:
    run = make_run(not_applicable=RULED_OUT)
    data = json.loads(json.dumps(run.to_dict()))
    validate_results(data)
    assert data["not_applicable"] == RULED_OUT
    assert RunRecord.from_dict(data).not_applicable == RULED_OUT
    html = render_html(run, facts(HOSTS))
    line = re.findall(r'<p id="not-applicable"[^>]*>(.*?)</p>', html)
    assert len(line) == 1 and "<b>persistence_mode</b> (the profile does not require " \
        "persistence mode)" in line[0]
    assert SCRIPT not in html and f"<b>[red]{ESCAPED_SCRIPT}[/red]</b> ({ESCAPED_SCRIPT})" \
        in line[0]
    assert "not applicable" not in summary(run)  # the default summary: not a line of it
    out = io.StringIO()
    render_summary(run, Console(file=out, width=400, color_system=None, force_terminal=False),
                   verbose=True)
    said = [text for text in out.getvalue().splitlines() if "not applicable" in text]
    assert said == ["not applicable to this run (run on no node; why: results.json): "
                    f"persistence_mode, [red]{SCRIPT}[/red]"]


def test_a_record_written_before_not_applicable_reads_as_none() -> None:
    data = make_run().to_dict()
    data.pop("not_applicable")
    validate_results(data)
    assert RunRecord.from_dict(data).not_applicable == []
    assert 'id="not-applicable"' not in render_html(RunRecord.from_dict(data), None)


def test_terminal_summary_warn_gate_and_markup_escaped() -> None:
    warn = Result(
        "w", "clock", "system", Status.WARN, "[bold]n1[/bold]", message="skew [red]0.8 s[/red]"
    )
    text = summary(make_run(results=[warn], matrices={}, fail_on="warn", hosts=["x"]))
    assert "WARN    clock (clock-warn)  cluster  1 node  [bold]n1[/bold]" in text
    assert "\nNO-GO  1 warn" in text
    assert "\nGO  1 warn" in summary(make_run(results=[warn], matrices={}))


# --- formatting helpers --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        (7, "GPUs", "7 GPUs"),
        (0.48, "Gbit/s", "0.48 Gbit/s"),
        (23.94567, None, "23.95"),
        (412.34, "Gbit/s", "412.3 Gbit/s"),
        (0.0004, None, "0"),
        (True, None, "yes"),
        (None, "GPUs", "—"),
        ([22, 29500], None, "22, 29500"),
        ({"b": 1, "a": 2}, None, '{"a": 2, "b": 1}'),
    ],
)
def test_fmt_value(value: Any, unit: str | None, text: str) -> None:
    assert fmt_value(value, unit) == text


def test_fmt_duration_and_worst() -> None:
    durations = [fmt_duration(s) for s in (0.05, 3.04, 59.5, 75, 3725)]
    assert durations == ["0.05 s", "3.04 s", "59.5 s", "1 min 15 s", "1 h 2 min"]
    assert worst(["pass", "warn", "blocked", "skip"]) == "blocked"
    assert worst(["fail", "blocked"]) == "fail"
    assert worst([]) is None
    assert bandwidth_colour(0, 10) == "hsl(0, 70%, 80%)"
    assert bandwidth_colour(7.5, 10) == "hsl(90, 70%, 80%)"


# --- fixtures --------------------------------------------------------------------------------


def facts(hosts: list[str]) -> dict[str, Any]:
    nodes: dict[str, Any] = {name: _node_facts(name) for name in hosts if name != "node-4"}
    if "node-4" in hosts:
        error = {"kind": "connect", "detail": "connection refused"}
        nodes["node-4"] = {"ok": False, "error": error, "facts": {}}
    return {"schema_version": 1, "nodes": nodes}


def _node_facts(name: str) -> dict[str, Any]:
    gpu = {
        "index": 0,
        "name": "NVIDIA H100 80GB HBM3",
        "memory_used_mib": 0,
        "memory_total_mib": 81559,
        "ecc_uncorrected_volatile": 0,
        "persistence_mode": True,
    }
    return {
        "ok": True,
        "error": None,
        "facts": {
            "hostname": name,
            "os": "Ubuntu 22.04",
            "kernel": "5.15.0",
            "versions": {"driver": "550.90.07", "cuda": "12.4", "nccl": "2.21.5"},
            "interfaces": [
                {
                    "name": "eth0",
                    "mtu": 9001,
                    "state": "UP",
                    "speed_mbps": 100000,
                    "addresses": ["198.18.0.1/24"],
                }
            ],
            "gpus": [gpu, {**gpu, "index": 1}],
            "topo": {
                "gpus": 2,
                "nics": 1,
                "nic_names": {"NIC0": "mlx5_0"},
                "links": {"GPU0": {"GPU1": "NV18", "NIC0": "PIX"}, "GPU1": {"NIC0": "SYS"}},
            },
            "ib_ports": [
                {
                    "ca": "mlx5_0",
                    "port": 1,
                    "state": "Active",
                    "physical_state": "LinkUp",
                    "rate_gbps": 400,
                    "link_layer": "InfiniBand",
                }
            ],
        },
    }
