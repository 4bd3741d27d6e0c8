"""A run never reports an earlier run's facts or measurements (a CI job with a fixed --out)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.cluster.helpers import explain, run_preflight

SELECT = ("-k", "probe_ran or ssh_reachable or tcp_ports")


@pytest.mark.cluster
def test_a_fixed_out_never_reports_a_stopped_host_as_reachable(
    sim_cluster: Any, tmp_path: Path
) -> None:
    cluster = sim_cluster(3)
    out = tmp_path / "ci-preflight"
    first = run_preflight(*cluster.preflight_args(), *SELECT, out=out)
    assert first.rc == 0, explain(first)
    assert not list((out / "measurements").glob(".*.lock")), "lock files outlived the run"

    cluster.stop_sshd("node-2")
    again = run_preflight(*cluster.preflight_args(), *SELECT, out=out)
    assert again.rc == 2, explain(again)
    assert again.stderr.strip().count("\n") == 0 and "--overwrite" in again.stderr
    assert first.record == again.record  # refused: the first run is left as it was

    replaced = run_preflight(*cluster.preflight_args(), *SELECT, "--overwrite", out=out)
    assert replaced.rc == 1, explain(replaced)
    reach = {r["node"]: r["status"] for r in replaced.of("ssh_reachable")}
    assert reach == {"node-1": "pass", "node-2": "fail", "node-3": "pass"}, explain(replaced)
    about_node_2 = {r["status"] for r in replaced.results
                    if "node-2" in (r["pair"] or [r["node"]])}
    assert about_node_2 and "pass" not in about_node_2, explain(replaced)
