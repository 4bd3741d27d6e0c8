"""Shared filesystem: is each shared path the same files on every node?

Write here, read there: for each path one node writes a small file of random bytes
(fsync'ed), every other node reads it back and compares its checksum, then the writer
removes it. The writer is a node whose mount (source, type, root) is the one most nodes
have, read-write and answering: a node with a local directory shadowing the mount must be
the one that fails, not everyone who reads after it. Every operation is a child on the
node with its own deadline (remote/runmany.py runs remote/sharedfs.py), abandoned when a
dead mount blocks it in the kernel, so a hung mount ends as "hung" and the run goes on.

With expect.shared_fs_throughput each node also writes and reads back
shared_fs_throughput_mib MiB; the checks judge that against the cluster median.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Sequence
from typing import Any

from preflight.facts import ClusterFacts, NodeFacts, majority
from preflight.measure.base import failure_text, per_node, reachable, run_script, script
from preflight.runctx import RunContext

WRITERS_TRIED = 3  # a writer that cannot write is reported; the next one is tried
READ_WAIT_MAX_S = 5.0  # a reader waits this long (at most) for the file to appear
THROUGHPUT_FLOOR_MBPS = 10.0  # the throughput deadline allows this rate each way
RUNNER_SLACK_S = 20.0  # ssh and python start-up around the per-operation deadlines
FILE_PREFIX = ".preflight-sharedfs-"

MountKey = tuple[str, str, str]


def mount_of(node: NodeFacts, path: str) -> dict[str, Any] | None:
    """The mount the node's probe found under `path` (mountinfo), or None."""
    entry = node.shared_mounts.get(path) or {}
    mount = entry.get("mount")
    return mount if isinstance(mount, dict) else None


def stat_of(node: NodeFacts, path: str) -> dict[str, Any]:
    entry = node.shared_mounts.get(path) or {}
    stat = entry.get("stat")
    return stat if isinstance(stat, dict) else {}


def mount_key(mount: dict[str, Any]) -> MountKey:
    """What makes a shared path the same files on two nodes: the filesystem's source, its
    type and the folder of it the path shows (bind mounts and subdirectory exports)."""
    return (str(mount.get("source")), str(mount.get("fstype")),
            str(mount.get("fs_path", mount.get("root"))))


def describe(mount: dict[str, Any] | None) -> str:
    if mount is None:
        return "mount unknown"
    folder = mount.get("fs_path", mount.get("root"))
    within = f" (folder {folder})" if folder != mount.get("root") else ""
    mode = "ro" if mount.get("read_only") else "rw"
    return (f"{mount.get('source')} {mount.get('fstype')}{within} on "
            f"{mount.get('mount_point')} {mode}")


def usual_mount(cluster: ClusterFacts, path: str,
                leave_out: str | None = None) -> tuple[MountKey | None, int, int]:
    """The mount most nodes have under `path` (None on a tie), its count and the total."""
    keys = cluster.values(lambda n: None if n.name == leave_out
                          else _key_or_none(mount_of(n, path)))
    return majority(keys.values())


def _key_or_none(mount: dict[str, Any] | None) -> MountKey | None:
    return None if mount is None else mount_key(mount)


def writer_order(cluster: ClusterFacts, names: Sequence[str], path: str) -> list[str]:
    """Nodes on the usual mount, read-write and answering come first."""
    usual, _, _ = usual_mount(cluster, path)

    def rank(name: str) -> int:
        node = cluster.node(name)
        mount = mount_of(node, path)
        good = [mount is not None and (usual is None or mount_key(mount) == usual),
                not (mount or {}).get("read_only"), not stat_of(node, path).get("timed_out")]
        return sum(not ok for ok in good)

    return sorted(names, key=lambda name: (rank(name), names.index(name)))


def measure_shared_fs(ctx: RunContext) -> dict[str, Any]:
    started = time.monotonic()
    names = reachable(ctx)
    cluster = ClusterFacts(ctx.outcomes())
    token = secrets.token_hex(8)
    timeout = ctx.expect.subprobe_timeout_s
    paths = {path: write_here_read_there(ctx, cluster, names, path, f"{token}-{i}", timeout)
             for i, path in enumerate(ctx.expect.all_shared_paths())}
    result: dict[str, Any] = {"paths": paths, "timeout_s": timeout}
    if ctx.expect.shared_fs_throughput and paths:
        result["throughput"] = measure_throughput(ctx, names, list(paths), token)
    result["wall_s"] = round(time.monotonic() - started, 2)
    return result


def write_here_read_there(ctx: RunContext, cluster: ClusterFacts, names: list[str], path: str,
                          tag: str, timeout: float) -> dict[str, Any]:
    """{"writer", "writes": {node: [verdict, detail]}, "reads": {node: [verdict, detail]}}."""
    entry: dict[str, Any] = {"file": FILE_PREFIX + tag, "writer": None, "writes": {},
                             "reads": {}}
    attempts: list[str] = []
    written: dict[str, Any] = {}
    for attempt, writer in enumerate(writer_order(cluster, names, path)[:WRITERS_TRIED]):
        name = f"{FILE_PREFIX}{tag}-{attempt}"
        attempts.append(name)
        try:
            written = run_op(ctx, writer, {"op": "write", "dir": path, "name": name}, timeout)
        except Exception as exc:  # noqa: BLE001 - this writer's verdict; the next one tries
            written = {"error": failure_text(exc)}
        entry["writes"][writer] = verdict_of(written)
        if "sha256" in written:
            entry.update(writer=writer, file=name)
            break
    if entry["writer"] is None:
        return entry
    try:
        entry["reads"] = read_everywhere(ctx, names, entry, written, path, timeout)
    finally:
        entry["removed"] = remove(ctx, entry["writer"], path, attempts, timeout)
    return entry


def read_everywhere(ctx: RunContext, names: list[str], entry: dict[str, Any],
                    written: dict[str, Any], path: str, timeout: float) -> dict[str, Any]:
    op = {"op": "read", "dir": path, "name": entry["file"],
          "wait_s": min(READ_WAIT_MAX_S, timeout / 2)}
    readers = [name for name in names if name != entry["writer"]]
    outcomes = per_node(ctx, readers, lambda node: run_op(ctx, node, op, timeout),
                        deadline_s=timeout + 2 * RUNNER_SLACK_S)
    return {node: (["error", failure_text(answer)] if isinstance(answer, Exception)
                   else verdict_of(answer, written)) for node, answer in outcomes.items()}


def remove(ctx: RunContext, writer: str, path: str, names: list[str], timeout: float) -> bool:
    """The writer removes the file (and any a failed writer may have left): True when the
    written one is gone."""
    ops = [{"op": "remove", "dir": path, "name": name} for name in names]
    try:
        answers = run_ops(ctx, writer, ops, timeout)
    except Exception:  # noqa: BLE001 - the verdicts stand; the report says what is left
        return False
    return bool(answers[-1].get("removed"))


def verdict_of(answer: dict[str, Any], written: dict[str, Any] | None = None) -> list[str]:
    """[verdict, detail]: ok, missing, different, hung or error."""
    if answer.get("hung"):
        return ["hung", "no answer within the deadline"]
    if "error" in answer:
        return ["error", str(answer["error"])]
    if answer.get("missing"):
        return ["missing", "the file is not there"]
    if written is not None and answer.get("sha256") != written.get("sha256"):
        return ["different", f"{answer.get('size')} bytes that differ from the "
                             f"{written.get('size')} written"]
    return ["ok", ""]


def measure_throughput(ctx: RunContext, names: list[str], paths: list[str],
                       token: str) -> dict[str, dict[str, Any]]:
    """{path: {node: {"write_mbps", "read_mbps"} | {"error"} | {"hung"}}}."""
    mib = ctx.expect.shared_fs_throughput_mib
    timeout = ctx.expect.subprobe_timeout_s + 2 * mib * 1.048576 / THROUGHPUT_FLOOR_MBPS

    def smoke(node: str) -> list[dict[str, Any]]:
        ops = [{"op": "throughput", "dir": path, "name": f"{FILE_PREFIX}{token}-tp-{i}-"
                f"{names.index(node)}", "mib": mib} for i, path in enumerate(paths)]
        return run_ops(ctx, node, ops, timeout, parallel=1)

    outcomes = per_node(ctx, names, smoke,
                        deadline_s=timeout * len(paths) + 2 * RUNNER_SLACK_S)
    found: dict[str, dict[str, Any]] = {path: {} for path in paths}
    for node, answers in outcomes.items():
        for i, path in enumerate(paths):
            found[path][node] = ({"error": failure_text(answers)}
                                 if isinstance(answers, Exception) else answers[i])
    return found


def run_op(ctx: RunContext, node: str, op: dict[str, Any], timeout: float) -> dict[str, Any]:
    return run_ops(ctx, node, [op], timeout)[0]


def run_ops(ctx: RunContext, node: str, ops: list[dict[str, Any]], timeout: float,
            parallel: int | None = None) -> list[dict[str, Any]]:
    """Each op a child on the node under its own deadline; an answer per op."""
    source = script("sharedfs")
    commands = [[ctx.remote_python, "-S", "-c", source, json.dumps(op)] for op in ops]
    payload = {"commands": commands, "timeout": timeout, "parallel": parallel or len(ops)}
    rounds = -(-len(ops) // (parallel or len(ops)))
    answers = run_script(ctx, node, "runmany", payload, timeout * rounds + RUNNER_SLACK_S)
    return [answer_of(answers[i] if isinstance(answers, list) and i < len(answers) else None)
            for i in range(len(ops))]


def answer_of(result: Any) -> dict[str, Any]:
    """The sharedfs.py answer from runmany's record of its run."""
    if not isinstance(result, dict):
        return {"error": "no result from the node-side runner"}
    if result.get("timed_out"):
        return {"hung": True}
    try:
        answer = json.loads(result.get("stdout") or "")
    except ValueError:
        lines = str(result.get("stderr") or "").strip().splitlines()
        return {"error": lines[-1][:300] if lines else f"exit {result.get('rc')}"}
    return answer if isinstance(answer, dict) else {"error": "not a JSON object"}
