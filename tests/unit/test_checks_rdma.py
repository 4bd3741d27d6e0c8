"""ib_write_bw is judged where the check runs: a recording keeps figures and port rates,
and `preflight check --from RUN` re-judges it under another profile or --expect."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from preflight.checks import check_rdma
from preflight.config import Expectations
from tests.cluster.helpers import explain, run_preflight
from tests.faults.recorded import cluster_of, judge, record_run
from tests.sim.spec import HostSpec

NAMES = ["node-1", "node-2", "node-3"]
RAILS = [f"mlx5_{i}" for i in range(8)]


def recorded_probe(slow: str = "node-2", slow_gbps: float = 300.0) -> dict[str, Any]:
    """What measure_ib_write_bw records for three 400 Gb/s nodes, `slow` at `slow_gbps`."""
    def entry(src: str, dst: str) -> dict[str, Any]:
        gbps = slow_gbps if slow in (src, dst) else 392.5
        rails = {dev: {"peer": dev, "port_rate_gbps": 400.0, "gbps": gbps, "error": None}
                 for dev in RAILS}
        return {"gbps": gbps, "rails": rails, "untested": {}, "error": None,
                "passed": slow not in (src, dst)}

    return {"tool": "ib_write_bw", "skipped": {}, "unmeasured": {}, "bidirectional": False,
            "mode": "mesh", "rounds": 3, "wall_s": 1.0, "retests": {},
            "pairs": {f"{s}|{d}": entry(s, d) for s in NAMES for d in NAMES if s != d},
            "suspects": {"nodes": [slow], "links": [],
                         "notes": [f"{slow} (4/4 pairs slow, retested against 2 healthy "
                                   "nodes)"]},
            "matrices": {}}


def test_floors_come_from_the_expectations_of_the_check() -> None:
    probe = recorded_probe()
    strict = judge(check_rdma.check_ib_write_bw, pair=("node-1", "node-2"),
                   ib_write_bw_probe=probe, expect=Expectations())
    assert strict[:2] == ("fail", "node-1 -> node-2: 8/8 rails below 360 Gbit/s (0.9 x the "
                                  "slower port's rate): mlx5_0 300 Gbit/s, mlx5_1 300 Gbit/s, "
                                  "mlx5_2 300 Gbit/s and 5 more; node-2 is the slow node")
    assert judge(check_rdma.check_ib_write_bw, pair=("node-1", "node-2"),
                 ib_write_bw_probe=probe, expect=Expectations(ib_rate_gbps=200.0))[0] == "pass"
    assert judge(check_rdma.check_ib_write_bw, pair=("node-1", "node-3"),
                 ib_write_bw_probe=probe, expect=Expectations())[0] == "pass"


def test_isolation_blames_only_a_node_still_slow_under_these_floors() -> None:
    probe = recorded_probe()
    node = cluster_of({"node-2": {}}).node("node-2")
    assert judge(check_rdma.check_ib_write_bw_isolation, node=node, ib_write_bw_probe=probe,
                 expect=Expectations())[0] == "fail"
    assert judge(check_rdma.check_ib_write_bw_isolation, node=node, ib_write_bw_probe=probe,
                 expect=Expectations(ib_write_bw_fraction=0.7))[0] == "pass"


def test_check_from_a_recording_rejudges_under_another_profile(tmp_path: Path) -> None:
    run_dir = record_run(tmp_path / "recorded", dict.fromkeys(NAMES, HostSpec()),
                         tmp_path / "hosts")
    (run_dir / "measurements").mkdir()
    (run_dir / "measurements" / "ib_write_bw.json").write_text(json.dumps(recorded_probe()))
    as_run = run_preflight("--from", str(run_dir), "-k", "ib_write_bw", out=tmp_path / "a",
                           command="check", timeout=120)
    assert {(r["check"], r["status"]) for r in as_run.bad()} == {
        ("ib_write_bw", "fail"), ("ib_write_bw_isolation", "fail")}, explain(as_run)
    assert len(as_run.bad()) == 5 and as_run.rc == 1  # 4 directions touching node-2 + it
    rejudged = run_preflight("--from", str(run_dir), "--profile", "dgx-a100", "-k",
                             "ib_write_bw", out=tmp_path / "b", command="check", timeout=120)
    assert rejudged.bad() == [] and rejudged.rc == 0, explain(rejudged)
    assert len(rejudged.of("ib_write_bw")) == 6
