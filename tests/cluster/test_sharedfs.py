"""Issue 22's must-shows: a shared folder every simulated host sees (they share the machine's
filesystem), and faults mounted over it in one host's own mount namespace."""

from __future__ import annotations

from pathlib import Path

import pytest

from preflight.applies import RunSettings, why_not
from preflight.checks import check_sharedfs
from preflight.config import Expectations
from tests.cluster.helpers import Run, explain, run_preflight
from tests.sim.cluster import SimCluster

pytestmark = pytest.mark.cluster

SHARED_CHECKS = ("-k", "shared_fs or required_paths")


def shared_folder(cluster: SimCluster) -> Path:
    folder = cluster.workdir / "shared"
    folder.mkdir(exist_ok=True)
    return folder


def run_shared(cluster: SimCluster, folder: Path, out: Path, *args: str) -> Run:
    return run_preflight(*cluster.preflight_args(), *SHARED_CHECKS, "--expect",
                         f'shared_paths=["{folder}"]', *args, out=out)


def bad_by_check(run: Run) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for result in run.bad():
        found.setdefault(result["check"], set()).add(result["node"])
    return found


def no_files_left(folder: Path) -> bool:
    return not any(folder.iterdir())


def test_healthy_shared_folder_passes(sim_cluster, tmp_path: Path) -> None:
    cluster = sim_cluster(3)
    folder = shared_folder(cluster)
    # Three hosts writing at once on this shared 2-core machine swing widely: the median
    # rule is loosened here as SIM_EXPECT loosens iperf3's; the unit tests judge it exactly.
    run = run_shared(cluster, folder, tmp_path / "run", "--expect", "shared_fs_throughput=true",
                     "--expect", "shared_fs_throughput_mib=16",
                     "--expect", "shared_fs_median_fraction=0.1")
    assert run.rc == 0, explain(run)
    passed = {(r["check"], r["node"]) for r in run.results if r["status"] == "pass"}
    for check in ("shared_fs_same_mount", "shared_fs_write_read", "required_paths",
                  "shared_fs_throughput"):
        assert {(check, n) for n in cluster.names} <= passed, explain(run)
    for result in run.of("shared_fs_throughput"):
        speeds = result["measured"][str(folder)]
        assert speeds["write_mbps"] > 0 and speeds["read_mbps"] > 0, result
    assert no_files_left(folder)


SHARED_FS = ("required_paths", "shared_fs_same_mount", "shared_fs_write_read",
             "shared_fs_throughput")


def test_no_shared_paths_leaves_the_checks_out_without_measuring(
        sim_cluster, tmp_path: Path) -> None:
    cluster = sim_cluster(2)
    run = run_preflight(*cluster.preflight_args(), "--level", "quick", out=tmp_path / "run")
    assert run.rc == 0, explain(run)
    assert [r for r in run.results if r["check"] in SHARED_FS] == []  # not once per node
    ruled_out = {e["check"]: e["reason"] for e in run.record["not_applicable"]}
    assert {c: ruled_out.get(c) for c in SHARED_FS} == {
        c: why_not(c, RunSettings(Expectations())) for c in SHARED_FS}
    assert not (tmp_path / "run" / "measurements" / "shared_fs.json").exists()
    # -k chooses them: they run on every node and skip, the table saying why
    chosen = run_preflight(*cluster.preflight_args(), *SHARED_CHECKS, out=tmp_path / "chosen")
    assert chosen.rc == 0 and chosen.record["not_applicable"] == [], explain(chosen)
    assert {(r["check"], r["status"], r["message"]) for r in chosen.results} == {
        (c, "skip", why_not(c, RunSettings(Expectations()))) for c in SHARED_FS}
    assert len(chosen.results) == len(SHARED_FS) * cluster.n
    assert not (tmp_path / "chosen" / "measurements" / "shared_fs.json").exists()


def test_private_tmpfs_fails_write_here_read_there_by_name(sim_cluster, tmp_path: Path) -> None:
    cluster = sim_cluster(3)
    folder = shared_folder(cluster)
    cluster.shadow_dir("node-3", folder)
    run = run_shared(cluster, folder, tmp_path / "run")
    assert run.rc == 1, explain(run)
    assert bad_by_check(run) == {"shared_fs_write_read": {"node-3"},
                                 "shared_fs_same_mount": {"node-3"}}, explain(run)
    seen = run.of("shared_fs_write_read", "node-3")[0]
    assert seen["reason"] == "shared-fs-not-shared", seen
    assert f"{folder}: node-1's file is not there (mount here: pfsim-local tmpfs" \
        in seen["message"], seen
    assert seen["hint"] == check_sharedfs.VISIBLE_HINTS["missing"].format(path=folder)
    same = run.of("shared_fs_same_mount", "node-3")[0]
    assert same["reason"] == "shared-fs-different-mount", same
    assert f"{folder} is pfsim-local tmpfs on {folder} rw, the other 2 of 2 nodes have " \
        in same["message"], same
    assert no_files_left(folder)


def test_read_only_bind_mount_fails_the_consistency_check(sim_cluster, tmp_path: Path) -> None:
    cluster = sim_cluster(3)
    folder = shared_folder(cluster)
    cluster.read_only_dir("node-1", folder)  # the first node: it must not be the writer
    run = run_shared(cluster, folder, tmp_path / "run")
    assert run.rc == 1, explain(run)
    assert bad_by_check(run) == {"shared_fs_same_mount": {"node-1"}}, explain(run)
    same = run.of("shared_fs_same_mount", "node-1")[0]
    assert same["reason"] == "shared-fs-read-only", same
    assert f"{folder} is mounted read-only" in same["message"], same
    assert same["hint"] == check_sharedfs.MOUNT_HINT.format(path=folder)
    assert no_files_left(folder)


def test_hung_mount_ends_at_its_deadline_and_the_run_finishes(
        sim_cluster, tmp_path: Path) -> None:
    cluster = sim_cluster(3)
    folder = shared_folder(cluster)
    cluster.dead_mount("node-3", folder)
    run = run_shared(cluster, folder, tmp_path / "run", "--expect", "subprobe_timeout_s=3")
    assert run.rc == 1, explain(run)
    assert bad_by_check(run) == {"shared_fs_write_read": {"node-3"},
                                 "required_paths": {"node-3"},
                                 "shared_fs_same_mount": {"node-3"}}, explain(run)
    seen = run.of("shared_fs_write_read", "node-3")[0]
    assert seen["status"] == "fail" and seen["reason"] == "shared-fs-hung", seen
    assert f"reading {folder} did not finish within 3 s (a hung mount" in seen["message"], seen
    assert seen["hint"] == check_sharedfs.HUNG_HINT
    stat = run.of("required_paths", "node-3")[0]
    assert stat["reason"] == "shared-fs-hung" and "did not answer a stat" in stat["message"]
    assert all(result["reason"] for result in run.bad()), explain(run)
    assert no_files_left(folder)
    holders = {holder.pid for holder in cluster.host("node-3").mount_holders}
    left = [(pid, cmd) for pid, cmd in cluster.processes("node-3")
            if pid not in holders and "pfsim-dead" not in cmd]
    assert left == [], left  # the probes' children blocked on the mount were killed
