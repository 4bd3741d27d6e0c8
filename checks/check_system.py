"""Node system facts a training job depends on: the probe, memlock, /dev/shm, disk."""

import pytest

from preflight.config import Expectations
from preflight.facts import ClusterFacts, NodeFacts, majority
from preflight.gather import NodeOutcome
from preflight.verdict import Blocked, at_least, fail, observe, skip

GIB = 1 << 30
PROBE_HINTS = {
    "python-missing": "install python3 on the node, or point --remote-python at one",
    "probe-timeout": "a tool on the node hangs (often nvidia-smi): check the driver and dmesg",
    "probe-failed": "run the probe by hand: preflight parse or python3 - on the node",
}


@pytest.mark.reachability
def check_probe_ran(node_outcome: NodeOutcome) -> None:
    error = node_outcome.error
    if error is None:
        observe("ok", expected="facts gathered")
        return
    if error.kind not in PROBE_HINTS:
        raise Blocked(f"{node_outcome.name}: unreachable ({error.kind})")
    fail(f"{node_outcome.name}: {error.detail}", measured=error.kind,
         expected="facts gathered", hint=PROBE_HINTS[error.kind], reason=error.kind)


def check_memlock(node: NodeFacts, expect: Expectations) -> None:
    memlock = (node.get("ulimits") or {}).get("memlock")
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


def check_shm_size(node: NodeFacts, expect: Expectations) -> None:
    shm = node.get("shm") or {}
    if "total_bytes" not in shm:
        fail(f"{node.name}: /dev/shm missing ({shm.get('error', 'not mounted')})",
             hint="mount a tmpfs on /dev/shm; NCCL and dataloaders use it", reason="shm-missing")
    at_least(round(shm["total_bytes"] / GIB, 2), expect.shm_min_bytes / GIB,
             f"{node.name}: /dev/shm size", unit="GiB",
             hint="enlarge /dev/shm (containers: --shm-size or --ipc=host)", reason="shm-small")


def check_disk_free(node: NodeFacts, expect: Expectations) -> None:
    low = []
    for disk in node.get("disks") or []:
        free = disk.get("free_bytes")
        if free is not None and free < expect.disk_min_bytes:
            low.append(f"{disk['path']} {free / GIB:.1f} GiB")
    observe([d.get("path") for d in node.get("disks") or []],
            expected=f">= {expect.disk_min_bytes / GIB:g} GiB free")
    if low:
        fail(f"{node.name}: low free space: {', '.join(low)} "
             f"(expected >= {expect.disk_min_bytes / GIB:g} GiB)",
             hint="free space for checkpoints, logs and caches", reason="disk-low")


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
    answers = node.get("resolve") or {}
    if not answers:
        skip("no names to resolve")
    problems = []
    for name in cluster.names:
        usual = _usual_answer(cluster, name, node.name)
        mine = answers.get(name)
        if isinstance(mine, dict) and usual is not None:
            problems.append(f"{name} does not resolve ({mine.get('error')}); others get {usual}")
        elif isinstance(mine, list) and usual is not None and mine != usual:
            problems.append(f"{name} -> {', '.join(mine)}, others get {', '.join(usual)}")
    observe(len(problems), expected=0, unit="names differing")
    if problems:
        fail(f"{node.name}: {'; '.join(problems)}",
             hint="fix /etc/hosts or DNS on this node: ranks must agree on every address",
             reason="hosts-disagree")


def _usual_answer(cluster: ClusterFacts, name: str, asker: str) -> list[str] | None:
    answers = cluster.values(lambda n: n.get("resolve", {}).get(name) if n.name != asker else None)
    lists = [tuple(a) for a in answers.values() if isinstance(a, list)]
    common, count, total = majority(lists)
    return list(common) if common is not None and count * 2 > len(answers) else None


def check_required_paths(node: NodeFacts, expect: Expectations) -> None:
    wanted = list(expect.require_paths) + ([expect.shared_dir] if expect.shared_dir else [])
    if not wanted:
        skip("no require_paths or shared_dir configured")
    found = node.get("paths") or {}
    missing = [p for p in wanted if not (found.get(p) or {}).get("exists")]
    unmounted = [p for p in [expect.shared_dir] if p and (found.get(p) or {}).get("exists")
                 and not (found.get(p) or {}).get("mount")]
    observe(len(wanted) - len(missing), expected=len(wanted), unit="paths present")
    if missing:
        fail(f"{node.name}: missing {', '.join(missing)}",
             hint="install or mount these on every node (same path everywhere)",
             reason="path-missing")
    if unmounted:
        fail(f"{node.name}: shared directory {unmounted[0]} exists but is not a mount point "
             "(the shared filesystem is not mounted here)", hint="mount the shared filesystem",
             reason="shared-dir-unmounted")
