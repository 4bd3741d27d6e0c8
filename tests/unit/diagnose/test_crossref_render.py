"""Cross-referencing with a run directory, the rich rendering, and main_diagnose."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from rich.console import Console

from preflight.diagnose import cross_reference, diagnose, main_diagnose, render
from preflight.errors import UserError
from preflight.results import Result, RunRecord, Status, write_json

WriteLog = Callable[[str, str], Path]

LOG = (
    "node-3:4242:4300 [1] misc/socket.cc:538 NCCL WARN socketProgress: Connection closed by "
    "remote peer 10.0.0.2<35540>\n"
    "gpu-7:9:9 [0] NCCL WARN Cuda failure 'unspecified launch failure' [/bold red] [link=x]\n"
)


def _run_dir(tmp_path: Path, facts: bool = True) -> Path:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    results = [
        Result("ports::tcp[node-2]", "tcp", "ports", Status.FAIL, node="node-2", message="29500"),
        Result("ports::tcp[node-3]", "tcp", "ports", Status.PASS, node="node-3"),
        Result("mesh[node-4-gpu-7]", "mesh", "ssh", Status.ERROR, pair=("node-4", "gpu-7.cluster")),
    ]
    record = RunRecord("0.1.0", ["preflight", "run"], "2025-01-01T00:00:00", results=results)
    record.hosts = ["node-2", "node-3", "node-4", "gpu-7.cluster"]
    write_json(run_dir / "results.json", record.to_dict())
    if facts:
        nodes = {"node-2": {"facts": {"interfaces": [{"addresses": ["10.0.0.2/24"]}]}}}
        write_json(run_dir / "facts.json", {"nodes": nodes})
    return run_dir


def test_blamed_hosts_that_failed_checks(tmp_path: Path, write_log: WriteLog) -> None:
    diagnosis = diagnose([write_log("job.log", LOG)])
    found = cross_reference(diagnosis, _run_dir(tmp_path))
    assert [(c.node, c.blamed_as, c.causes) for c in found] == [
        ("gpu-7.cluster", "gpu-7", ("cuda-error",)),  # the root's host, by its short name
        ("node-2", "10.0.0.2", ("connection-closed",)),  # the peer, by its address in facts
    ]
    assert [r.id for r in found[1].results] == ["ports::tcp[node-2]"]
    assert found[1].to_dict()["results"] == [
        {"id": "ports::tcp[node-2]", "status": "fail", "message": "29500"}
    ]


def test_without_facts_only_names_match(tmp_path: Path, write_log: WriteLog) -> None:
    diagnosis = diagnose([write_log("job.log", LOG)])
    found = cross_reference(diagnosis, _run_dir(tmp_path, facts=False))
    assert [c.node for c in found] == ["gpu-7.cluster"]


def test_a_run_dir_without_results_is_a_user_error(tmp_path: Path, write_log: WriteLog) -> None:
    diagnosis = diagnose([write_log("job.log", LOG)])
    with pytest.raises(UserError, match="no results.json"):
        cross_reference(diagnosis, tmp_path)


def _console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=200, color_system=None, force_terminal=False), out


def test_render_prints_log_text_literally(write_log: WriteLog) -> None:
    console, out = _console()
    render(diagnose([write_log("job.log", LOG)]), console)
    text = out.getvalue()
    assert "Most likely root cause: rank" not in text  # no rank is known here
    assert "Most likely root cause: host gpu-7: CUDA error: unspecified launch failure" in text
    assert "[/bold red] [link=x]" in text
    assert "1. cuda-error (root cause)" in text and "2. connection-closed (consequence)" in text
    assert "next: preflight run -k gpu --hosts gpu-7" in text


def test_main_diagnose_text_and_exit_code(tmp_path: Path, write_log: WriteLog) -> None:
    console, out = _console()
    code = main_diagnose([write_log("job.log", LOG)], False, _run_dir(tmp_path), console)
    assert code == 1
    assert "Hosts the log blames that also failed checks:" in out.getvalue()
    assert "FAIL ports::tcp[node-2]: 29500" in out.getvalue()


def test_main_diagnose_json(tmp_path: Path, write_log: WriteLog) -> None:
    console, out = _console()
    code = main_diagnose([write_log("job.log", LOG)], True, _run_dir(tmp_path), console)
    data = json.loads(out.getvalue())
    assert code == 1
    assert list(data) == [
        "files",
        "ranks",
        "findings",
        "root",
        "root_cause",
        "summary",
        "socket_while_ib_expected",
        "cross_reference",
    ]
    assert data["root_cause"] == "cuda-error"
    assert data["root"] == data["findings"][0]  # the root finding itself, listed first
    assert (data["root"]["cause"], data["root"]["role"], data["root"]["hosts"]) == (
        "cuda-error", "root", ["gpu-7"],
    )  # fmt: skip
    assert data["findings"][1]["role"] == "consequence"
    assert data["findings"][1]["evidence"][0].startswith("node-3:4242:4300 [1] misc/socket.cc")
    assert data["cross_reference"][1]["node"] == "node-2"


def test_main_diagnose_on_a_healthy_log(write_log: WriteLog) -> None:
    console, out = _console()
    log = write_log("ok.log", "n:1:1 [0] NCCL INFO Using network IB\n")
    assert main_diagnose([log], False, None, console) == 0
    assert "No NCCL errors found in 1 file (1 NCCL rank seen, network IB)." in out.getvalue()
