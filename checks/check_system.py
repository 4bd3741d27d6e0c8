"""Node system facts a training job depends on: the probe, memlock, /dev/shm, disk."""

import pytest

from preflight.config import Expectations
from preflight.facts import NodeFacts
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
         expected="facts gathered", hint=PROBE_HINTS[error.kind])


def check_memlock(node: NodeFacts, expect: Expectations) -> None:
    memlock = (node.get("ulimits") or {}).get("memlock")
    if memlock is None:
        skip("memlock limit not reported")
    hint = "set memlock unlimited (limits.conf / systemd LimitMEMLOCK / slurm PropagateResourceLimits)"
    if expect.memlock_min_bytes is None:
        observe("unlimited" if memlock == -1 else memlock, expected="unlimited", unit="bytes")
        if memlock != -1:
            fail(f"{node.name}: memlock limit {memlock} bytes, expected unlimited "
                 "(RDMA registration fails with small limits)", hint=hint)
        return
    if memlock != -1:
        at_least(memlock, expect.memlock_min_bytes, f"{node.name}: memlock", unit="bytes",
                 hint=hint)


def check_shm_size(node: NodeFacts, expect: Expectations) -> None:
    shm = node.get("shm") or {}
    if "total_bytes" not in shm:
        fail(f"{node.name}: /dev/shm missing ({shm.get('error', 'not mounted')})",
             hint="mount a tmpfs on /dev/shm; NCCL and dataloaders use it")
    at_least(round(shm["total_bytes"] / GIB, 2), expect.shm_min_bytes / GIB,
             f"{node.name}: /dev/shm size", unit="GiB",
             hint="enlarge /dev/shm (containers: --shm-size or --ipc=host)")


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
             hint="free space for checkpoints, logs and caches")
