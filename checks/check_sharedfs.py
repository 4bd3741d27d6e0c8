"""The shared filesystem: one filesystem on every node, the same files, no hung mounts."""

import statistics
from typing import Any

from preflight.applies import skip_unless_applies
from preflight.checks.check_system import HUNG_HINT
from preflight.config import Expectations
from preflight.facts import ClusterFacts, NodeFacts
from preflight.measure.sharedfs import describe, mount_key, mount_of, usual_mount
from preflight.verdict import Unavailable, fail, observe

MOUNT_HINT = ("mount the same export on every node (same server, export and options, rw): "
              "compare `findmnt {path}` on this node with a good one")
VISIBLE_HINTS = {
    "missing": "this node does not see files the others write: a local directory or another "
               "export shadows the shared mount here; check `findmnt {path}` and remount",
    "different": "this node reads stale or other content: check the mount's caching options "
                 "(actimeo, lookupcache) and that it mounts the same export as the others",
    "hung": HUNG_HINT,
    "error": "reading the shared path fails here: check permissions (root_squash, uid "
             "mapping) and the mount's state with `findmnt {path}` and dmesg",
}
WRITE_HINT = ("nothing can be written to the shared path from this node: check that it is "
              "mounted rw, the permissions for this user, and free space/quota")
REASONS = {"missing": "shared-fs-not-shared", "different": "shared-fs-stale",
           "hung": "shared-fs-hung", "error": "shared-fs-read-error"}


def _shared_paths(check: str, expect: Expectations) -> list[str]:
    skip_unless_applies(check, expect)
    return expect.all_shared_paths()


def check_shared_fs_same_mount(node: NodeFacts, cluster: ClusterFacts,
                               expect: Expectations) -> None:
    paths = _shared_paths("shared_fs_same_mount", expect)
    problems: list[tuple[str, str, str]] = []  # (reason, message, path)
    for path in paths:
        mine = mount_of(node, path)
        if mine is None:
            raise Unavailable(f"{node.name}: no mount facts for {path}",
                              reason="shared-fs-unknown")
        usual, count, total = usual_mount(cluster, path, leave_out=node.name)
        if usual is not None and mount_key(mine) != usual:
            problems.append(("shared-fs-different-mount",
                             f"{path} is {describe(mine)}, the other {count} of {total} nodes "
                             f"have {_text(usual, mount_key(mine))}", path))
        elif mine.get("read_only") and _mostly_writable(cluster, path, node.name):
            problems.append(("shared-fs-read-only",
                             f"{path} is mounted read-only ({describe(mine)}), read-write on "
                             "the other nodes", path))
    observe([describe(mount_of(node, p)) for p in paths], expected="the mount the others have")
    if problems:
        reason, _, path = problems[0]
        fail(f"{node.name}: " + "; ".join(message for _, message, _ in problems),
             reason=reason, hint=MOUNT_HINT.format(path=path))


def _text(usual: tuple[str, str, str], mine: tuple[str, str, str]) -> str:
    same_filesystem = usual[:2] == mine[:2]
    return f"{usual[0]} {usual[1]}" + (f" (folder {usual[2]})" if same_filesystem else "")


def _mostly_writable(cluster: ClusterFacts, path: str, leave_out: str) -> bool:
    modes = cluster.values(lambda n: None if n.name == leave_out
                           else (mount_of(n, path) or {}).get("read_only"))
    return sum(not ro for ro in modes.values()) * 2 > len(modes)


def check_shared_fs_write_read(node: NodeFacts, expect: Expectations,
                               sharedfs_probe: dict[str, Any]) -> None:
    paths = _shared_paths("shared_fs_write_read", expect)
    measured = sharedfs_probe.get("paths") or {}
    timeout = float(sharedfs_probe.get("timeout_s") or 0)
    problems: list[tuple[str, str, str, str]] = []  # (verdict, reason, message, path)
    for path in paths:
        entry = measured.get(path)
        if entry is None:
            raise Unavailable(f"{node.name}: {path} was not measured", reason="not-measured")
        problems += _write_problems(node, path, entry, timeout)
        problems += _read_problems(node, path, entry, timeout)
    observe(len(paths) - len({p for *_, p in problems}), expected=len(paths),
            unit="shared paths seen alike")
    if problems:
        verdict, reason, _, path = problems[0]
        hint = WRITE_HINT if verdict == "write" else VISIBLE_HINTS[verdict].format(path=path)
        fail(f"{node.name}: " + "; ".join(message for _, _, message, _ in problems),
             reason=reason, hint=hint)


def _write_problems(node: NodeFacts, path: str, entry: dict[str, Any],
                    timeout: float) -> list[tuple[str, str, str, str]]:
    verdict, detail = entry.get("writes", {}).get(node.name, ["ok", ""])
    if verdict == "hung":
        return [("hung", "shared-fs-hung", f"writing to {path} did not finish within "
                 f"{timeout:g} s (a hung mount)", path)]
    if verdict != "ok":
        return [("write", "shared-fs-write-failed", f"cannot write to {path}: {detail} "
                 f"({describe(mount_of(node, path))})", path)]
    return []


def _read_problems(node: NodeFacts, path: str, entry: dict[str, Any],
                   timeout: float) -> list[tuple[str, str, str, str]]:
    writer = entry.get("writer")
    verdict, detail = entry.get("reads", {}).get(node.name, ["ok", ""])
    if writer is None or verdict == "ok":
        return []
    mount = describe(mount_of(node, path))
    messages = {
        "missing": f"{path}: {writer}'s file is not there (mount here: {mount})",
        "different": f"{path}: {writer}'s file reads differently: {detail} (mount here: "
                     f"{mount})",
        "hung": f"reading {path} did not finish within {timeout:g} s (a hung mount: {mount})",
        "error": f"{path}: reading {writer}'s file fails: {detail} (mount here: {mount})",
    }
    return [(verdict, REASONS[verdict], messages[verdict], path)]


def check_shared_fs_throughput(node: NodeFacts, expect: Expectations,
                               sharedfs_probe: dict[str, Any]) -> None:
    paths = _shared_paths("shared_fs_throughput", expect)
    measured = sharedfs_probe.get("throughput") or {}
    slow = []
    for path in paths:
        per_node = measured.get(path) or {}
        mine = per_node.get(node.name) or {"error": "not measured"}
        if mine.get("hung") or "error" in mine:
            raise Unavailable(f"{node.name}: throughput on {path} not measured: "
                              f"{mine.get('error') or 'hung'}", reason="not-measured")
        slow += _slow_directions(node.name, path, per_node, expect.shared_fs_median_fraction)
    observe({p: {k: (measured.get(p) or {}).get(node.name, {}).get(k)
                 for k in ("write_mbps", "read_mbps")} for p in paths}, unit="MB/s")
    if slow:
        fail(f"{node.name}: " + "; ".join(slow), reason="shared-fs-slow",
             hint="a slow client of the shared filesystem: check its NIC and mount options "
                  "(rsize/wsize, nconnect, lustre stripe) against a fast node")


def _slow_directions(node: str, path: str, per_node: dict[str, Any],
                     fraction: float) -> list[str]:
    slow = []
    for key, what in (("write_mbps", "write"), ("read_mbps", "read")):
        values = [v[key] for v in per_node.values() if isinstance(v.get(key), int | float)]
        if len(values) < 2:
            continue
        median = statistics.median(values)
        mine = per_node[node][key]
        if mine < fraction * median:
            slow.append(f"{path} {what} {mine:g} MB/s, expected >= {fraction * median:.0f} "
                        f"({fraction:g} x the cluster median {median:g})")
    return slow
