"""Levels: which checks each level selects, its settings, the reach schedule, phase walls."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from preflight.config import load_config
from preflight.errors import UserError
from preflight.levels import (
    MIN_LEVEL,
    fingerprints_read,
    level_values,
    phase_walls,
    selected,
)
from preflight.schedule import reach_fanout, reach_targets

NODES = [f"node-{i:02d}" for i in range(1, 17)]


@pytest.fixture(autouse=True)
def empty_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize(("check", "quick", "standard", "full"), [
    ("gpu_count", True, True, True),
    ("tcp_ports", True, True, True),
    ("ssh_mesh", True, True, True),
    ("path_mtu", False, True, True),
    ("firewall_consistent", False, True, True),
    ("iperf3_bandwidth", False, True, True),
    ("torch_allreduce", False, True, True),
    ("multi_node", False, False, True),
])
def test_each_level_selects_its_checks(check: str, quick: bool, standard: bool,
                                       full: bool) -> None:
    assert [selected(check, level) for level in ("quick", "standard", "full")] == [
        quick, standard, full]


def test_explicit_flags_keep_their_checks_at_any_level() -> None:
    assert selected("iperf3_bandwidth", "quick", frozenset({"pair_mode"}))
    assert selected("single_node", "standard", frozenset({"nccl_tests"}))
    assert not selected("path_mtu", "quick", frozenset({"pair_mode"}))


def test_quick_gathers_only_the_fingerprint_its_checks_read() -> None:
    """The ssh client's settings feed the host-key check at every level; the firewall
    ruleset and sshd -T only the standard comparisons (or whatever -k chooses)."""
    assert fingerprints_read("quick", chosen_by_keyword=False) == ("ssh_client",)
    assert fingerprints_read("quick", chosen_by_keyword=True) == ("firewall", "sshd",
                                                                   "ssh_client")
    assert fingerprints_read("standard", chosen_by_keyword=False) == ("firewall", "sshd",
                                                                      "ssh_client")


def test_min_level_names_only_known_levels() -> None:
    assert set(MIN_LEVEL.values()) <= {"standard", "full"}


def test_level_settings_fill_only_what_was_not_given() -> None:
    assert level_values({})["pair_mode"] == "ring"
    assert level_values({"level": "quick"})["pair_mode"] == "ring"
    full = level_values({"level": "full"})
    assert (full["pair_mode"], full["iperf_seconds"], full["nccl_tests"]) == ("mesh", 10.0, True)
    assert full["shared_fs_throughput"] is True
    assert level_values({"level": "full", "shared_fs_throughput": False})[
        "shared_fs_throughput"] is False
    assert "shared_fs_throughput" not in level_values({"level": "standard"})
    given = level_values({"level": "full", "pair_mode": "ring", "iperf_seconds": 2.0,
                          "nccl_tests": False})
    assert (given["pair_mode"], given["iperf_seconds"], given["nccl_tests"]) == (
        "ring", 2.0, False)
    assert level_values({"level": "standard", "pair_mode": "auto"})["pair_mode"] == "ring"


def test_level_from_toml_and_flag(empty_cwd: Path) -> None:
    Path("preflight.toml").write_text('level = "quick"\n')
    assert load_config(None, None, {}).level == "quick"
    assert load_config(None, None, {"level": "full"}).level == "full"
    Path("preflight.toml").write_text('\nlevel = "fast"\n')
    with pytest.raises(UserError, match=r"preflight.toml:2: unknown level 'fast'"):
        load_config(None, None, {})
    Path("preflight.toml").unlink()
    with pytest.raises(UserError, match="unknown level 'slow'"):
        load_config(None, None, {"level": "slow"})


def test_quick_reaches_the_master_over_tcp_and_the_next_ring_node() -> None:
    targets = reach_targets(NODES, "quick")
    assert targets["node-05"] == ["node-01", "node-06"]
    assert targets["node-01"] == ["node-02"]
    assert targets["node-16"] == ["node-01"]
    over_ssh = reach_targets(NODES, "quick", ssh=True)
    assert over_ssh == {src: [NODES[(i + 1) % 16]] for i, src in enumerate(NODES)}
    assert reach_targets(NODES, "standard", seed=3, ssh=True) == reach_targets(
        NODES, "standard", seed=3)


def test_standard_adds_k_random_peers_each_node_a_target_as_often_as_a_source() -> None:
    base = {src: [NODES[0], NODES[(i + 1) % 16], NODES[i - 1]] for i, src in enumerate(NODES)}
    for seed in range(20):
        targets = reach_targets(NODES, "standard", peers=3, seed=seed)
        extra = {src: [d for d in dsts if d not in base[src]] for src, dsts in targets.items()}
        outs = Counter({src: len(d) for src, d in extra.items()})
        ins = Counter(d for dsts in extra.values() for d in dsts)
        assert all(len(d) <= 3 for d in extra.values())
        assert sum(outs.values()) == sum(ins.values())
        assert max(ins.values()) <= 3  # one cycle over all nodes per peer: in = out = 1
        assert all(src not in dsts for src, dsts in targets.items())
        assert all(len(set(dsts)) == len(dsts) for dsts in targets.values())
    assert reach_targets(NODES, "standard", seed=4) == reach_targets(NODES, "standard", seed=4)
    assert reach_targets(NODES, "standard", seed=4) != reach_targets(NODES, "standard", seed=5)


def test_full_and_small_clusters_take_every_pair() -> None:
    for targets in (reach_targets(NODES, "full"), reach_targets(NODES[:7], "standard")):
        names = list(targets)
        assert all(sorted(t) == sorted(set(names) - {s}) for s, t in targets.items())
    assert reach_targets(NODES[:8], "standard") != reach_targets(NODES[:8], "full")


@pytest.mark.parametrize("level", ["quick", "standard", "full"])
@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 16, 40])
@pytest.mark.parametrize("ssh", [False, True])
def test_reach_fanout_bounds_the_targets_of_any_node(n: int, level: str, ssh: bool) -> None:
    nodes = NODES[:n] if n <= 16 else [f"n{i}" for i in range(n)]
    targets = reach_targets(nodes, level, ssh=ssh)
    most = max((len(t) for t in targets.values()), default=0)
    assert reach_fanout(n, level, ssh=ssh) >= most
    if level != "standard":  # random peers may repeat a ring neighbour: fewer, never more
        assert reach_fanout(n, level, ssh=ssh) == most


def test_phase_walls_span_overlapping_probes() -> None:
    walls = phase_walls({"started": 0.0, "ended": 4.0}, {
        "ports": {"timing": {"started": 5.0, "ended": 9.0}},
        "ssh_mesh": {"timing": {"started": 5.5, "ended": 12.0}},
        "iperf3": {"timing": {"started": 12.0, "ended": 30.0}},
        "torch_allreduce": {"timing": {"started": 30.0, "ended": 40.0}},
        "ib_write_bw": {"timing": {"started": 40.0, "ended": 45.0}},
        "ssh_burst": {"timing": {"started": 41.0, "ended": 44.0}},  # alongside ib_write_bw
        "recorded": {"pairs": {}},
    })
    assert walls == {"gather": 4.0, "reach": 7.0, "bandwidth": 23.0, "burst": 3.0,
                     "collectives": 10.0}
    assert list(walls) == ["gather", "reach", "bandwidth", "burst", "collectives"]


def plan(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "preflight", "run", "--plan", *args],
                          capture_output=True, text=True, timeout=60, check=False)


def test_plan_for_1024_nodes_at_full_answers_without_contacting_a_node() -> None:
    done = plan("--hosts", "gpu-[0001-1024]", "--level", "full")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == ("preflight run --plan: 1024 node(s), level full, bandwidth schedule "
                        "mesh; no node contacted")
    assert any("every other node: up to 1023 targets per node" in line for line in lines)
    assert any("mesh: 1023 round(s) x 2 directions" in line for line in lines)
    assert any(line.strip().startswith("nccl_tests") for line in lines)


def test_plan_follows_level_and_settings() -> None:
    quick = plan("--hosts", "n[1-64]", "--level", "quick").stdout
    assert "master + next ring node: up to 2 targets per node, 2 port(s) each" in quick
    assert "next ring node: up to 1 targets per node, 4 at once" in quick
    assert "iperf3" not in quick and "path MTU" not in quick
    standard = plan("--hosts", "n[1-64]", "--expect", "sample_peers=1", "--pairs",
                    "sample:4").stdout
    assert "1 random peers: up to 4 targets per node" in standard
    assert "sample:4: 4 round(s)" in standard


def test_plan_of_a_recorded_run_is_a_usage_error(tmp_path: Path) -> None:
    done = plan("--from", str(tmp_path))
    assert done.returncode == 2
    assert done.stderr.strip().startswith("preflight: error:")


def test_a_recording_is_judged_at_its_own_level(tmp_path: Path) -> None:
    from preflight.lifecycle import recorded_level

    assert recorded_level(tmp_path) is None
    (tmp_path / "results.json").write_text('{"level": "quick"}')
    assert recorded_level(tmp_path) == "quick"


def test_node_checks_run_first_then_reach_bandwidth_burst_and_collectives() -> None:
    from preflight.levels import run_order

    fixtures = {"memlock": ("node", "expect"), "tcp_ports": ("node", "ports_probe"),
                "ssh_burst": ("node", "ssh_burst_probe"), "iperf3": ("pair", "iperf_probe"),
                "ib_write_bw": ("pair", "ib_write_bw_probe", "expect"),
                "torch": ("node", "torch_allreduce"), "nccl": ("node", "nccl_single_probe")}
    ordered = sorted(fixtures, key=lambda check: run_order(fixtures[check]))
    assert ordered == ["memlock", "tcp_ports", "iperf3", "ib_write_bw", "ssh_burst", "torch",
                       "nccl"]
