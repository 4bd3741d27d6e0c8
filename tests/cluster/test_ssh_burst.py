"""sshd under bursts: the head's burst and the mesh's sources at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cluster.helpers import explain, measurement, run_preflight

pytestmark = pytest.mark.cluster


def test_max_startups_behind_a_proxyjump_is_found_by_the_mesh_sources(
        sim_cluster, tmp_path: Path) -> None:
    """node-3 is reached through node-1, so the head cannot burst its sshd; its ring
    predecessors connecting at once still find MaxStartups 2 and name it."""
    cluster = sim_cluster(4)
    cluster.sshd_option("node-3", "MaxStartups", "2")
    jumping = tmp_path / "ssh_config"
    jumping.write_text("Host node-3\n  ProxyJump node-1\n\n" + cluster.ssh_config.read_text())
    args = cluster.preflight_args()
    args[args.index("--ssh-config") + 1] = str(jumping)
    run = run_preflight(*args, "-k", "ssh_burst", out=tmp_path / "run")
    assert run.bad_summary() == {("ssh_burst", "node-3", "fail")}, explain(run)
    (verdict,) = run.bad()
    assert verdict["reason"] == "sshd-burst"
    assert "opened at once from the head" not in verdict["message"]
    assert "opened at once from 3 nodes (" in verdict["message"]
    assert "sshd MaxStartups 2:30:2, MaxSessions" in verdict["message"]
    entry = measurement(run, "ssh_burst")["nodes"]["node-3"]
    assert entry["skipped"].startswith("behind ProxyJump node-1")
    assert sorted(entry["peers"]) == ["node-1", "node-2", "node-4"]
    healthy = [r for r in run.of("ssh_burst") if r["node"] != "node-3"]
    assert [r["status"] for r in healthy] == ["pass"] * 3, explain(run)
