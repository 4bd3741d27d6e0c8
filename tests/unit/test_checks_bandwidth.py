"""iperf3 is judged where the check runs: a recording keeps figures, retests and the plan
that chose them, and `preflight check --from RUN --expect nic_gbps=...` re-judges it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from preflight.checks import check_bandwidth
from preflight.config import Expectations
from tests.cluster.helpers import explain, run_preflight
from tests.faults.recorded import cluster_of, judge, record_run
from tests.sim.spec import HostSpec

NAMES = ["node-1", "node-2", "node-3", "node-4"]
HEALTHY_GBPS, SLOW_GBPS = 10.0, 2.0


def recorded_probe(slow: str = "node-2") -> dict[str, Any]:
    """What measure_iperf records for four nodes at 10 Gbit/s, `slow` at 2 Gbit/s, under the
    default floor (0.7 x cluster median 10): `slow` retested against node-1 and node-3."""
    def entry(src: str, dst: str) -> dict[str, Any]:
        return {"gbps": SLOW_GBPS if slow in (src, dst) else HEALTHY_GBPS, "error": None}

    partners = [n for n in NAMES if n != slow][:2]
    plan = [[slow, p] for p in partners]
    return {"tool": "iperf3", "mode": "mesh", "rounds": 3, "wall_s": 1.0, "nodes": NAMES,
            "pairs": {f"{s}|{d}": entry(s, d) for s in NAMES for d in NAMES if s != d},
            "retests": {"nodes": {f"{s}|{d}": entry(s, d) for a, b in plan
                                  for s, d in ((a, b), (b, a))}},
            "retest_plan": {"floor_gbps": 7.0, "floor_basis": "0.7 x cluster median 10 Gbit/s",
                            "nodes": plan}}


def from_file(tmp_path: Path) -> dict[str, Any]:
    path = tmp_path / "iperf3.json"
    path.write_text(json.dumps(recorded_probe()))
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def bandwidth(probe: dict[str, Any], pair: tuple[str, str],
              expect: Expectations) -> tuple[str, str, str | None]:
    return judge(check_bandwidth.check_iperf3_bandwidth, pair=pair, iperf_probe=probe,
                 expect=expect)


def isolation(probe: dict[str, Any], name: str,
              expect: Expectations) -> tuple[str, str, str | None]:
    node = cluster_of({name: {}}).node(name)
    return judge(check_bandwidth.check_bandwidth_isolation, node=node, iperf_probe=probe,
                 expect=expect)


def test_as_measured_the_slow_node_fails_and_is_blamed(tmp_path: Path) -> None:
    probe = from_file(tmp_path)
    assert bandwidth(probe, ("node-1", "node-3"), Expectations())[0] == "pass"
    status, message, _ = bandwidth(probe, ("node-1", "node-2"), Expectations())
    assert (status, message) == ("fail", "node-1 -> node-2: 2 Gbit/s, expected >= 7 (0.7 x "
                                         "cluster median 10 Gbit/s); node-2 is the slow node")
    status, message, _ = isolation(probe, "node-2", Expectations())
    assert status == "fail"
    assert message.startswith("node-2 (3/3 pairs slow, retested against 2 healthy nodes)")
    assert isolation(probe, "node-1", Expectations())[0] == "pass"


def test_a_pair_that_passed_fails_under_a_floor_above_it(tmp_path: Path) -> None:
    probe = from_file(tmp_path)
    status, message, _ = bandwidth(probe, ("node-1", "node-3"), Expectations(nic_gbps=25.0))
    assert status == "fail"
    assert message.startswith("node-1 -> node-3: 10 Gbit/s, expected >= 22.5 (0.9 x line rate "
                              "25 Gbit/s)")
    # every pair is slow now: each node is a suspect the run never retested
    assert isolation(probe, "node-1", Expectations(nic_gbps=25.0))[0] == "fail"


def test_a_pair_that_failed_passes_under_a_floor_below_it(tmp_path: Path) -> None:
    probe = from_file(tmp_path)
    lenient = Expectations(nic_gbps=2.0)  # floor 1.8 Gbit/s
    assert bandwidth(probe, ("node-1", "node-2"), lenient)[0] == "pass"
    assert bandwidth(probe, ("node-2", "node-4"), lenient)[0] == "pass"
    assert isolation(probe, "node-2", lenient)[0] == "pass"
    assert isolation(probe, "node-2", Expectations(iperf_median_fraction=0.1))[0] == "pass"


def test_a_recording_from_before_the_split_is_rejudged_too() -> None:
    """Recorded with verdicts, floors and a flat retest dict: the verdicts are ignored."""
    old = recorded_probe()
    old["pairs"] = {k: {**e, "passed": True} for k, e in old["pairs"].items()}
    old["retests"] = old["retests"]["nodes"]
    old |= {"floor_gbps": 1.0, "floor_basis": "0.1 x line rate 10 Gbit/s",
            "suspects": {"nodes": [], "links": [], "notes": []}}
    del old["tool"], old["retest_plan"], old["nodes"]
    status, message, _ = bandwidth(old, ("node-4", "node-2"), Expectations())
    assert status == "fail" and "expected >= 7 (0.7 x cluster median" in message
    assert isolation(old, "node-2", Expectations())[0] == "fail"


def test_check_from_rejudges_iperf3_under_new_expectations(tmp_path: Path) -> None:
    run_dir = record_run(tmp_path / "recorded", dict.fromkeys(NAMES, HostSpec()),
                         tmp_path / "hosts")
    (run_dir / "measurements").mkdir()
    (run_dir / "measurements" / "iperf3.json").write_text(json.dumps(recorded_probe()))
    select = ("-k", "iperf3_bandwidth or bandwidth_isolation", "--expect", "pair_mode=mesh")

    # as run (median floor) node-2's six directions fail: see the tests above
    strict = run_preflight("--from", str(run_dir), *select, "--expect", "nic_gbps=25",
                           out=tmp_path / "b", command="check", timeout=120)
    pairs = strict.of("iperf3_bandwidth")
    assert len(pairs) == 12 and {r["status"] for r in pairs} == {"fail"}, explain(strict)
    assert all("expected >= 22.5 (0.9 x line rate 25 Gbit/s)" in r["message"] for r in pairs)
    cells = strict.record["matrices"]["iperf3"]["cells"]
    assert len(cells) == 12 and {c["status"] for c in cells} == {"fail"}
    assert strict.of("bandwidth_isolation", "node-1")[0]["status"] == "fail"

    lenient = run_preflight("--from", str(run_dir), *select, "--expect", "nic_gbps=2",
                            out=tmp_path / "c", command="check", timeout=120)
    assert lenient.bad() == [] and lenient.rc == 0, explain(lenient)
    assert len(lenient.of("iperf3_bandwidth")) == 12
    assert lenient.record["matrices"]["suspects"]["nodes"] == []
