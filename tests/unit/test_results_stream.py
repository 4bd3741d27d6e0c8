"""results.json is streamed a result per line; it reads back as the record's dict."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from preflight.results import Result, RunRecord, Status, load_run, write_record

SCHEMA = Path(__file__).resolve().parents[2] / "reports" / "results.schema.json"


def _record() -> RunRecord:
    results = [
        Result(id="a[n1]", check="memlock", family="system", status=Status.FAIL, node="n1",
               measured=8388608, expected="unlimited", reason="memlock-low", hint="raise"),
        Result(id="b[n1-to-n2]", check="iperf3_bandwidth", family="bandwidth",
               status=Status.PASS, pair=("n1", "n2"), measured=9.4, unit="Gbit/s"),
        Result(id="c[n2]", check="tcp_ports", family="reach", status=Status.FAIL, node="n2",
               reason="tcp-29500-filtered", targets={"tcp-29500-filtered": ["n1"]},
               message='quote " and\nnewline'),
    ]
    return RunRecord(preflight_version="0", command=["preflight", "run"], started="t",
                     hosts=["n1", "n2"], results=results)


def test_streamed_results_json_reads_back_as_the_record(tmp_path: Path) -> None:
    record = _record()
    write_record(tmp_path / "results.json", record)
    text = (tmp_path / "results.json").read_text()
    data = json.loads(text)
    assert data == json.loads(json.dumps(record.to_dict()))
    assert list(data) == list(record.to_dict())
    jsonschema.validate(data, json.loads(SCHEMA.read_text()))
    assert len(text.splitlines()) == len(data) + len(data["results"]) + 3  # braces, "],"
    back = load_run(tmp_path)
    assert [r.to_dict() for r in back.results] == [r.to_dict() for r in record.results]
    assert back.results[2].finding == data["results"][2]["finding"] is not None
