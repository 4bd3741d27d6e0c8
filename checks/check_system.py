"""Node system facts a training job depends on: the probe, memlock, /dev/shm, disk."""

import functools
from collections import Counter

import pytest

from preflight.applies import skip_unless_applies
from preflight.config import Expectations
from preflight.facts import ClusterFacts, NodeFacts, Space, majority_counted
from preflight.gather import NodeOutcome
from preflight.measure.sharedfs import stat_of
from preflight.verdict import Blocked, Unavailable, at_least, fail, observe, skip, warn

GIB = 1 << 30
HUNG_HINT = ("the mount does not answer: check `dmesg` (nfs: server not responding, lustre "
             "evictions), the network to the file server, then `umount -l` and remount")


@pytest.mark.reachability
def check_probe_ran(node_outcome: NodeOutcome) -> None:
    error = node_outcome.error
    if error is None:
        observe("ok", expected="facts gathered")
        return
    if not error.reached:
        raise Blocked(error.blocked_text(node_outcome.name))
    fail(f"{node_outcome.name}: probe could not run: {error.detail}", measured=error.kind,
         expected="facts gathered", hint=error.hint, reason=error.kind)


def check_memlock(node: NodeFacts, expect: Expectations) -> None:
    memlock = node.ulimits.memlock
    if memlock is None:
        skip("memlock limit not reported")
    hint = ("set memlock unlimited (limits.conf / systemd LimitMEMLOCK / "
            "slurm PropagateResourceLimits)")
    if expect.memlock_min_bytes is None:
        observe("unlimited" if memlock == -1 else memlock, expected="unlimited", unit="bytes")
        if memlock != -1:
            fail(f"{node.name}: memlock limit {memlock} bytes, expected unlimited "
                 "(RDMA registration fails with small limits)", hint=hint, reason="memlock-low")
        return
    if memlock != -1:
        at_least(memlock, expect.memlock_min_bytes, f"{node.name}: memlock", unit="bytes",
                 hint=hint, reason="memlock-low")


NOFILE_HINT = ("raise the open-files limit (limits.conf nofile / systemd LimitNOFILE / "
               "slurm PropagateResourceLimits): NCCL and torch open sockets and shared memory "
               "per peer")


def check_nofile(node: NodeFacts, cluster: ClusterFacts, expect: Expectations) -> None:
    nofile = node.ulimits.nofile
    if nofile is None:
        skip("open-files limit not reported")
    others = cluster.counted(lambda n: n.ulimits.nofile)
    others[nofile] -= 1  # this node's own
    found = majority_counted(others)
    common, count, total = found
    usual = f" ({count} of the other {total} nodes have {common})" if common is not None else ""
    observe("unlimited" if nofile == -1 else nofile, expected=f">= {expect.nofile_min}",
            unit="files")
    if nofile == -1:
        return
    if nofile < expect.nofile_min:
        fail(f"{node.name}: open-files limit {nofile}, expected >= {expect.nofile_min}{usual}",
             hint=NOFILE_HINT, reason="nofile-low")
    if common is not None and common != -1 and 2 * count > total and nofile < common:
        warn(f"{node.name}: open-files limit {nofile}, lower than the others{usual}",
             expected=f">= {common}", hint=NOFILE_HINT, reason="nofile-odd")


LOOPBACK_HINT = ("map the hostname to the node's cluster address in /etc/hosts (Debian's "
                 "127.0.1.1 line breaks gloo and c10d, which bind what the hostname resolves "
                 "to), or set GLOO_SOCKET_IFNAME/NCCL_SOCKET_IFNAME")


def is_loopback(address: str) -> bool:
    return address.startswith("127.") or address == "::1"


def check_hostname_not_loopback(node: NodeFacts, cluster: ClusterFacts) -> None:
    hostname, answer = node.hostname, node.hostname_resolves
    if len(cluster.names) < 2:
        skip("one node: no peer connects to what its hostname resolves to")
    if answer is None:
        skip("the node's own hostname was not resolved")
    if isinstance(answer, dict):
        fail(f"{node.name}: its hostname {hostname} does not resolve ({answer.get('error')})",
             hint=LOOPBACK_HINT, reason="hostname-unresolved")
    observe(answer, expected="a non-loopback address")
    if all(is_loopback(address) for address in answer):
        fail(f"{node.name}: its hostname {hostname} resolves to {', '.join(answer)} (loopback); "
             "gloo and torch's c10d would bind loopback and peers could not connect",
             measured=answer, expected="the node's cluster address", hint=LOOPBACK_HINT,
             reason="hostname-loopback")


def check_shm_size(node: NodeFacts, expect: Expectations) -> None:
    shm = node.shm
    if shm.total_bytes is None:
        fail(f"{node.name}: /dev/shm missing ({shm.error or 'not mounted'})",
             hint="mount a tmpfs on /dev/shm; NCCL and dataloaders use it", reason="shm-missing")
    at_least(round(shm.total_bytes / GIB, 2), expect.shm_min_bytes / GIB,
             f"{node.name}: /dev/shm size", unit="GiB",
             hint="enlarge /dev/shm (containers: --shm-size or --ipc=host)", reason="shm-small")


FULL_BYTES = 64 << 20  # less free than this: full for any writer, whatever the floor
DISK_FULL_HINT = ("free space on {paths} (du -xh --max-depth=2; old logs, cores, caches): "
                  "mpirun's session directory, Triton/compiler caches and most tools' "
                  "temporary files go to /tmp ($TMPDIR), and a job's writes there fail or hang")
DISK_LOW_HINT = "free space for checkpoints, logs and caches"


def check_disk_free(node: NodeFacts, expect: Expectations) -> None:
    low: list[Space] = []
    full: list[Space] = []
    for disk in node.disks:
        free = disk.free_bytes
        if free is not None and free < expect.disk_min_bytes:
            (full if free < FULL_BYTES else low).append(disk)
    observe([d.path for d in node.disks],
            expected=f">= {expect.disk_min_bytes / GIB:g} GiB free")
    expected = f"expected >= {expect.disk_min_bytes / GIB:g} GiB"
    if full:
        listed = ", ".join(f"{d.path} full ({_mib(d.free_bytes or 0)} free of "
                           f"{_mib(d.total_bytes or 0)})" for d in full + low)
        fail(f"{node.name}: {listed} ({expected})", measured=_mib(full[0].free_bytes or 0),
             expected=f">= {expect.disk_min_bytes / GIB:g} GiB", hint=DISK_FULL_HINT.format(
                 paths=" and ".join(d.path for d in full)), reason="disk-full")
    if low:
        listed = ", ".join(f"{d.path} {(d.free_bytes or 0) / GIB:.1f} GiB" for d in low)
        fail(f"{node.name}: low free space: {listed} ({expected})", hint=DISK_LOW_HINT,
             reason="disk-low")


def _mib(size: int) -> str:
    return f"{size / (1 << 20):.1f} MiB" if size < GIB else f"{size / GIB:.1f} GiB"


def check_clock_skew(node: NodeFacts, expect: Expectations) -> None:
    offset = node.outcome.clock_offset_s
    if offset is None:
        skip("the node's clock was not read")
    limit = expect.clock_skew_max_s
    observe(offset, expected=f"|skew| <= {limit:g}", unit="s")
    # The node read its clock before its answer travelled back, so the true skew lies in
    # [offset, offset + round trip]: a slow answer alone must not look like a late clock.
    latest = offset + max(node.outcome.gather_s, 0.0)
    if offset > limit or latest < -limit:
        fail(f"{node.name}: clock {offset:+.2f} s from the head node (expected within "
             f"{limit:g} s)",
             hint="run chrony/ntpd on every node; skewed clocks break timeouts, logs, Kerberos",
             reason="clock-skew")


def check_names_resolve(node: NodeFacts, cluster: ClusterFacts) -> None:
    answers = node.resolve
    if not answers:
        skip("no names to resolve")
    problems = []
    for name in cluster.names:
        usual = _usual_answer(cluster, name, node)
        mine = answers.get(name)
        if name == node.hostname and isinstance(mine, list) and all(
                map(is_loopback, mine)):
            continue  # hostname_not_loopback's finding
        if isinstance(mine, dict) and usual is not None:
            problems.append(f"{name} does not resolve ({mine.get('error')}); others get {usual}")
        elif isinstance(mine, list) and usual is not None and mine != usual:
            problems.append(f"{name} -> {', '.join(mine)}, others get {', '.join(usual)}")
    observe(len(problems), expected=0, unit="names differing")
    if problems:
        fail(f"{node.name}: {'; '.join(problems)}",
             hint="fix /etc/hosts or DNS on this node: ranks must agree on every address",
             reason="hosts-disagree")


def _usual_answer(cluster: ClusterFacts, name: str, asker: NodeFacts) -> list[str] | None:
    """What most of the other nodes resolve `name` to (None without a strict majority)."""
    lists, answered = _answers_seen(cluster)
    counts = Counter(lists.get(name) or {})
    mine = asker.resolve.get(name)
    if isinstance(mine, list):
        counts[tuple(mine)] -= 1
    found = majority_counted(counts)
    common, count, _ = found
    others = answered[name] - (mine is not None)
    return list(common) if common is not None and count * 2 > others else None


@functools.lru_cache(maxsize=2)
def _answers_seen(cluster: ClusterFacts) -> tuple[dict[str, Counter[tuple[str, ...]]],
                                                  Counter[str]]:
    """For each name, how many nodes resolve it to each address list, and how many answer
    at all: once per run (per node and name, every node's answer again was N^3)."""
    lists: dict[str, Counter[tuple[str, ...]]] = {}
    answered: Counter[str] = Counter()
    for node in cluster.reachable():
        for name, answer in node.resolve.items():
            if answer is None:
                continue
            answered[name] += 1
            if isinstance(answer, list):
                lists.setdefault(name, Counter())[tuple(answer)] += 1
    return lists, answered


def _error_unless_gathered(node: NodeFacts, paths: list[str]) -> None:
    """A path the gather was not asked about (a recorded run judged again with more paths
    expected) was not looked at: neither present nor missing."""
    if paths:
        raise Unavailable(f"{node.name}: {', '.join(paths)} not looked at when the facts were "
                          "gathered", reason="not-measured",
                          hint="run preflight again with these paths expected")


def check_required_paths(node: NodeFacts, expect: Expectations) -> None:
    skip_unless_applies("required_paths", expect)
    shared = expect.all_shared_paths()
    wanted = list(expect.require_paths) + shared
    found = node.paths
    _error_unless_gathered(node, [p for p in expect.require_paths if p not in found] +
                          [p for p in shared if p not in node.shared_mounts])
    stats = {p: stat_of(node, p) for p in shared}
    missing = [p for p in expect.require_paths if not (found.get(p) or {}).get("exists")]
    missing += [p for p in shared if stats[p].get("exists") is False]
    hung = [p for p in shared if stats[p].get("timed_out")]
    broken = [f"{p} ({stats[p]['error']})" for p in shared
              if stats[p].get("exists") is None and stats[p].get("error")]
    observe(len(wanted) - len(missing) - len(hung) - len(broken), expected=len(wanted),
            unit="paths present")
    if hung:
        limit = stats[hung[0]].get("timeout_s")
        fail(f"{node.name}: {', '.join(hung)} did not answer a stat within {limit:g} s "
             "(a hung mount)", reason="shared-fs-hung", hint=HUNG_HINT)
    if missing or broken:
        fail(f"{node.name}: missing {', '.join(missing + broken)}", reason="path-missing",
             hint="install or mount these on every node (same path everywhere)")
    if expect.shared_dir and not _is_mount_point(node, expect.shared_dir):
        fail(f"{node.name}: shared directory {expect.shared_dir} exists but is not a mount "
             "point (the shared filesystem is not mounted here)", reason="shared-dir-unmounted",
             hint="mount the shared filesystem")


def _is_mount_point(node: NodeFacts, path: str) -> bool:
    entry = node.shared_mounts.get(path)
    if entry is None:  # facts recorded before shared_mounts: the old paths fact
        return bool((node.paths.get(path) or {}).get("mount", True))
    return bool(entry.get("is_mount_point"))
