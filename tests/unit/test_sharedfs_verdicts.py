"""The shared filesystem: mount facts from mountinfo, the node-side operations (run for real
on this machine, a FIFO standing in for a dead mount), and the checks on recorded facts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from preflight.checks import check_sharedfs, check_system
from preflight.config import Expectations
from preflight.measure import sharedfs
from preflight.measure.base import script
from tests.faults.recorded import cluster_of, judge
from tests.unit.test_probe import load_probe

# The format of /proc/self/mountinfo (proc(5)); sources as NFS and FSx for Lustre print them.
MOUNTINFO = """\
22 1 252:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw
36 22 0:52 / /shared rw,relatime shared:64 - nfs4 10.0.0.5:/export/home rw,vers=4.2,hard
37 22 0:60 / /fsx rw,relatime shared:70 - lustre fs-0123.fsx.us-east-1.amazonaws.com@tcp:/abcd rw
38 36 0:61 / /shared/my\\040data rw,relatime - tmpfs tmpfs rw,size=1024k
39 36 252:1 /srv/old /shared ro,relatime - ext4 /dev/vda1 rw
"""


@pytest.fixture(scope="module")
def probe() -> Any:
    return load_probe()


def test_mountinfo_fields_and_escapes(probe: Any, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(probe, "read", lambda path, default=None: MOUNTINFO)
    table = probe.mountinfo()
    assert len(table) == 5
    fsx = probe.mount_of("/fsx/datasets/a", table)
    assert (fsx["source"], fsx["fstype"], fsx["read_only"]) == (
        "fs-0123.fsx.us-east-1.amazonaws.com@tcp:/abcd", "lustre", False)
    assert probe.mount_of("/shared/my data/x", table)["fstype"] == "tmpfs"
    assert probe.mount_of("/sharedx", table)["mount_point"] == "/"


def test_the_mount_on_top_wins(probe: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Line 39 is mounted over /shared after the NFS mount: that is what the node sees."""
    monkeypatch.setattr(probe, "read", lambda path, default=None: MOUNTINFO)
    top = probe.mount_of("/shared/ckpt", probe.mountinfo())
    assert (top["source"], top["root"], top["read_only"]) == ("/dev/vda1", "/srv/old", True)


def test_shared_mounts_stat_in_a_child(probe: Any, tmp_path: Path) -> None:
    found = probe.shared_mounts([str(tmp_path), str(tmp_path / "gone")], 5)
    here = found[str(tmp_path)]
    assert here["stat"]["exists"] is True and here["stat"]["dir"] is True
    assert here["mount"]["fs_path"].endswith(tmp_path.name)
    assert here["is_mount_point"] is False
    assert found[str(tmp_path / "gone")]["stat"]["exists"] is False


def test_a_stat_that_blocks_ends_at_its_deadline(probe: Any,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(probe, "STAT_CHILD", "import time; time.sleep(60)")
    started = time.monotonic()
    unmounted = "/preflight-no-such-mount/x"
    found = probe.shared_mounts([unmounted], 1)[unmounted]
    assert time.monotonic() - started < 10
    assert found["stat"] == {"exists": None, "timed_out": True, "timeout_s": 1}
    assert found["mount"]["mount_point"] == "/"  # mountinfo still answers


def node_op(op: dict[str, Any]) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-S", "-c", script("sharedfs"), json.dumps(op)],
                          capture_output=True, text=True, timeout=60, check=True)
    answer: dict[str, Any] = json.loads(proc.stdout)
    return answer


def test_write_read_remove_for_real(tmp_path: Path) -> None:
    where = {"dir": str(tmp_path), "name": ".preflight-sharedfs-t"}
    written = node_op({"op": "write", **where})
    assert written["size"] == 4096
    assert sharedfs.verdict_of(node_op({"op": "read", **where}), written) == ["ok", ""]
    (tmp_path / where["name"]).write_bytes(b"stale")
    assert sharedfs.verdict_of(node_op({"op": "read", **where}), written)[0] == "different"
    assert node_op({"op": "remove", **where}) == {"removed": True}
    started = time.monotonic()
    assert node_op({"op": "read", "wait_s": 0.5, **where}) == {"missing": True}
    assert time.monotonic() - started >= 0.5
    assert "EEXIST" in node_op({"op": "write", "dir": str(tmp_path), "name": "."})["error"]
    assert list(tmp_path.iterdir()) == []


def test_throughput_smoke_for_real(tmp_path: Path) -> None:
    answer = node_op({"op": "throughput", "dir": str(tmp_path), "name": "tp", "mib": 4})
    assert answer["write_mbps"] > 0 and answer["read_mbps"] > 0 and answer["mib"] == 4
    assert list(tmp_path.iterdir()) == []


def test_a_read_that_blocks_ends_at_its_deadline(tmp_path: Path) -> None:
    """A FIFO with no writer blocks open() as a dead mount blocks a read: runmany kills the
    child at its deadline and the answer says hung."""
    os.mkfifo(tmp_path / "blocked")
    op = {"op": "read", "dir": str(tmp_path), "name": "blocked"}
    command = [sys.executable, "-S", "-c", script("sharedfs"), json.dumps(op)]
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", script("runmany"),
                           json.dumps({"commands": [command], "timeout": 1})],
                          capture_output=True, text=True, timeout=30, check=True)
    assert time.monotonic() - started < 10
    answer = sharedfs.answer_of(json.loads(proc.stdout)[0])
    assert answer == {"hung": True}
    assert sharedfs.verdict_of(answer)[0] == "hung"


def test_answer_of_a_child_that_crashed() -> None:
    crashed = {"rc": 1, "timed_out": False, "stdout": "", "stderr": "Traceback\nKeyError: 'x'"}
    assert sharedfs.answer_of(crashed) == {"error": "KeyError: 'x'"}
    assert sharedfs.answer_of(None) == {"error": "no result from the node-side runner"}


# ----- checks on recorded facts ----------------------------------------------------------

PATH = "/shared"
NFS = {"mount_point": "/shared", "root": "/", "fs_path": "/", "fstype": "nfs4",
       "source": "10.0.0.5:/export/home", "options": "rw,relatime", "read_only": False}


def facts(mount: dict[str, Any] | None = None, **stat: Any) -> dict[str, Any]:
    return {"shared_mounts": {PATH: {
        "mount": NFS if mount is None else mount, "is_mount_point": True,
        "stat": {"exists": True, "dir": True, **stat}}}, "paths": {}}


EXPECT = Expectations(shared_paths=[PATH])


def same_mount(facts_by_node: dict[str, dict[str, Any]]) -> dict[str, tuple[Any, ...]]:
    cluster = cluster_of(facts_by_node)
    return {name: judge(check_sharedfs.check_shared_fs_same_mount, node=cluster.node(name),
                        cluster=cluster, expect=EXPECT) for name in facts_by_node}


def test_other_export_is_the_odd_node_out() -> None:
    other = dict(NFS, source="10.0.0.6:/export/home")
    results = same_mount({"n1": facts(), "n2": facts(other), "n3": facts(), "n4": facts()})
    assert results["n2"][:2] == ("fail", "n2: /shared is 10.0.0.6:/export/home nfs4 on /shared "
                                         "rw, the other 3 of 3 nodes have 10.0.0.5:/export/home "
                                         "nfs4")
    assert {results[n][0] for n in ("n1", "n3", "n4")} == {"pass"}


def test_read_only_where_the_others_write() -> None:
    read_only = dict(NFS, read_only=True, options="ro,relatime")
    results = same_mount({"n1": facts(read_only), "n2": facts(), "n3": facts()})
    assert results["n1"][0] == "fail" and "mounted read-only" in results["n1"][1]
    assert results["n2"][0] == results["n3"][0] == "pass"


def test_local_folder_bound_over_the_mount() -> None:
    local = dict(NFS, source="/dev/vda1", fstype="ext4", root="/srv/old", fs_path="/srv/old")
    results = same_mount({"n1": facts(), "n2": facts(), "n3": facts(local)})
    assert results["n3"][0] == "fail" and "(folder" not in results["n3"][1]
    assert "/dev/vda1 ext4 on /shared rw" in results["n3"][1]


def test_reasons_of_the_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    from preflight import verdict

    local = dict(NFS, source="tmpfs", fstype="tmpfs")
    cluster = cluster_of({"n1": facts(), "n2": facts(), "n3": facts(local)})
    judge(check_sharedfs.check_shared_fs_same_mount, node=cluster.node("n3"), cluster=cluster,
          expect=EXPECT)
    assert verdict.current().reason == "shared-fs-different-mount"


PROBE = {"timeout_s": 3.0, "paths": {PATH: {
    "writer": "n1", "file": "f", "writes": {"n1": ["ok", ""]},
    "reads": {"n2": ["missing", "the file is not there"], "n3": ["hung", "no answer"],
              "n4": ["ok", ""], "n5": ["different", "5 bytes that differ"]}}}}


@pytest.mark.parametrize(("name", "status", "says", "reason"), [
    ("n1", "pass", "", None),
    ("n4", "pass", "", None),
    ("n2", "fail", "n2: /shared: n1's file is not there (mount here: 10.0.0.5:/export/home",
     "shared-fs-not-shared"),
    ("n3", "fail", "n3: reading /shared did not finish within 3 s (a hung mount",
     "shared-fs-hung"),
    ("n5", "fail", "n5: /shared: n1's file reads differently", "shared-fs-stale"),
])
def test_write_read_verdicts(name: str, status: str, says: str, reason: str | None) -> None:
    from preflight import verdict

    cluster = cluster_of({n: facts() for n in ("n1", "n2", "n3", "n4", "n5")})
    result = judge(check_sharedfs.check_shared_fs_write_read, node=cluster.node(name),
                   expect=EXPECT, sharedfs_probe=PROBE)
    assert result[0] == status and result[1].startswith(says), result
    assert (verdict.current().reason if status != "pass" else None) == reason


def test_a_writer_that_cannot_write_fails_and_the_next_one_writes() -> None:
    probe = {"timeout_s": 3.0, "paths": {PATH: {
        "writer": "n2", "writes": {"n1": ["error", "EROFS: Read-only file system"],
                                   "n2": ["ok", ""]}, "reads": {"n1": ["ok", ""]}}}}
    cluster = cluster_of({"n1": facts(), "n2": facts()})
    status, message, hint = judge(check_sharedfs.check_shared_fs_write_read,
                                  node=cluster.node("n1"), expect=EXPECT, sharedfs_probe=probe)
    assert status == "fail" and "cannot write to /shared: EROFS" in message
    assert hint == check_sharedfs.WRITE_HINT


def test_writer_is_a_usual_writable_answering_node() -> None:
    local = dict(NFS, source="tmpfs", fstype="tmpfs")
    cluster = cluster_of({"n1": facts(local), "n2": facts(dict(NFS, read_only=True)),
                          "n3": facts(timed_out=True), "n4": facts(), "n5": facts()})
    names = ["n1", "n2", "n3", "n4", "n5"]
    assert sharedfs.writer_order(cluster, names, PATH)[:2] == ["n4", "n5"]


def test_slow_node_against_the_median() -> None:
    speeds = {"n1": 900.0, "n2": 1000.0, "n3": 100.0, "n4": 950.0}
    probe = {"throughput": {PATH: {n: {"write_mbps": v, "read_mbps": 800.0}
                                   for n, v in speeds.items()}}}
    expect = Expectations(shared_paths=[PATH], shared_fs_throughput=True)
    cluster = cluster_of({n: facts() for n in speeds})
    results = {n: judge(check_sharedfs.check_shared_fs_throughput, node=cluster.node(n),
                        expect=expect, sharedfs_probe=probe) for n in speeds}
    assert results["n3"][0] == "fail" and "/shared write 100 MB/s, expected >= 462" in \
        results["n3"][1]
    assert {results[n][0] for n in ("n1", "n2", "n4")} == {"pass"}


def test_throughput_off_by_default() -> None:
    cluster = cluster_of({"n1": facts()})
    assert judge(check_sharedfs.check_shared_fs_throughput, node=cluster.node("n1"),
                 expect=EXPECT, sharedfs_probe={})[0] == "skip"


def test_required_paths_hung_missing_and_unmounted() -> None:
    expect = Expectations(shared_dir=PATH)
    hung = facts(exists=None, timed_out=True, timeout_s=1.5)
    gone = facts(exists=False, error="ENOENT: No such file or directory")
    plain = facts()
    plain["shared_mounts"][PATH]["is_mount_point"] = False
    cluster = cluster_of({"hung": hung, "gone": gone, "plain": plain, "ok": facts()})

    def run(name: str) -> tuple[Any, ...]:
        return judge(check_system.check_required_paths, node=cluster.node(name), expect=expect)

    assert run("hung")[:2] == ("fail", "hung: /shared did not answer a stat within 1.5 s "
                                       "(a hung mount)")
    assert run("gone")[:2] == ("fail", "gone: missing /shared")
    assert run("plain")[0] == "fail" and "not a mount point" in run("plain")[1]
    assert run("ok")[0] == "pass"


def test_all_shared_paths_once_in_order() -> None:
    expect = Expectations(shared_dir="/a", shared_paths=["/b", "/a", "/c"])
    assert expect.all_shared_paths() == ["/a", "/b", "/c"]
    assert Expectations().all_shared_paths() == []
