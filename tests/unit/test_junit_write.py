"""junit.xml written from the record: a testcase per result, grouped by node or pair."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from preflight.junit import write_junit
from preflight.results import Result, RunRecord, Status


def _record(fail_on: str = "fail") -> RunRecord:
    results = [
        Result(id="checks/check_system.py::check_memlock[n1]", check="memlock", family="system",
               status=Status.FAIL, node="n1", reason="memlock-low", hint="raise <memlock>",
               message="n1: memlock 8388608 & \x1b[31mred\x1b[0m"),
        Result(id="checks/check_bandwidth.py::check_iperf3_bandwidth[n1-to-n2]",
               check="iperf3_bandwidth", family="bandwidth", status=Status.PASS,
               pair=("n1", "n2")),
        Result(id="checks/check_ssh.py::check_ssh_reachable[n2]", check="ssh_reachable",
               family="ssh", status=Status.BLOCKED, node="n2", message="n2 unreachable"),
        Result(id="checks/check_gpu.py::check_clock_throttle[n2]", check="clock_throttle",
               family="gpu", status=Status.WARN, node="n2", message="throttled"),
        Result(id="checks/check_fabric.py::check_efa_count[n1]", check="efa_count",
               family="fabric", status=Status.SKIP, node="n1", message="no EFA"),
    ]
    return RunRecord(preflight_version="0", command=["preflight", "run"], started="t",
                     hosts=['n1', 'n2'], results=results, fail_on=fail_on)


def test_a_testcase_per_result_with_its_subject_and_status(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    write_junit(path, _record())
    suite = ET.parse(path).getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"),
            suite.get("skipped")) == ("5", "1", "1", "1")
    cases = {(c.get("classname"), c.get("name")): c for c in suite.iter("testcase")}
    assert set(cases) == {("n1", "system.memlock"), ("n1 -> n2", "bandwidth.iperf3_bandwidth"),
                          ("n2", "ssh.ssh_reachable"), ("n2", "gpu.clock_throttle"),
                          ("n1", "fabric.efa_count")}
    failure = cases[("n1", "system.memlock")].find("failure")
    assert failure is not None and failure.text == "raise <memlock>"
    assert failure.get("message") == "n1: memlock 8388608 & [31mred[0m"
    assert failure.get("type") == "memlock-low"
    assert cases[("n2", "ssh.ssh_reachable")].find("error") is not None
    assert cases[("n1", "fabric.efa_count")].find("skipped") is not None
    assert list(cases[("n2", "gpu.clock_throttle")]) == []
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["verdict"] == "NO-GO" and props["hosts"] == "n1,n2"


def test_fail_on_warn_makes_a_warning_a_failure(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    write_junit(path, _record("warn"))
    suite = ET.parse(path).getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "2"
    warned = [c for c in suite.iter("testcase") if c.get("name") == "gpu.clock_throttle"]
    assert warned[0].find("failure") is not None
