"""GPUs: all there, the same model, idle, healthy memory, no hardware errors."""

from typing import Any

from preflight.applies import skip_unless_applies
from preflight.config import Expectations
from preflight.facts import ClusterFacts, NodeFacts, majority_counted
from preflight.parsers.xid import HARDWARE_XIDS
from preflight.timewindow import within_hours
from preflight.verdict import Unavailable, equal, fail, observe, skip, warn

HW_THROTTLE = ("hw_slowdown", "hw_thermal_slowdown", "hw_power_brake")


def gpus_or_skip(node: NodeFacts, expect: Expectations) -> list[dict[str, Any]]:
    gpus = node.gpus
    if gpus is None:
        if expect.gpus_per_node:
            fail(f"{node.name}: nvidia-smi not found, expected {expect.gpus_per_node} GPUs",
                 measured=0, expected=expect.gpus_per_node,
                 hint="install the NVIDIA driver, or check the node's PATH",
                 reason="gpu-tools-missing")
        skip("no NVIDIA GPU tools on this node")
    return gpus


def check_gpu_count(node: NodeFacts, cluster: ClusterFacts, expect: Expectations) -> None:
    count = len(gpus_or_skip(node, expect))
    hint = "a GPU fell off the bus or is hidden: check nvidia-smi -L, dmesg Xid 79, reseat/RMA"
    if expect.gpus_per_node:
        equal(count, expect.gpus_per_node, f"{node.name}: GPUs visible", hint=hint,
              reason="gpu-missing")
        return
    # Hostfile slots are ranks, not GPUs: a node may hold more GPUs than its slots
    # (slots=1 for torchrun), never fewer.
    if node.slots and count < node.slots:
        fail(f"{node.name}: GPUs visible: {count}, expected {node.slots} (hostfile slots)",
             measured=count, expected=node.slots, hint=hint, reason="gpus-below-slots")
    common, _, total = majority_counted(cluster.counted(lambda n: len(n.gpus) if n.gpus else None))
    observe(count, expected=common, unit="GPUs")
    if common is not None and count != common:
        fail(f"{node.name}: {count} GPUs visible, the other nodes have {common}", hint=hint,
             reason="gpu-count-differs")


def check_gpu_model(node: NodeFacts, cluster: ClusterFacts, expect: Expectations) -> None:
    gpus = gpus_or_skip(node, expect)
    names = sorted({str(g.get("name")) for g in gpus})
    observe(", ".join(names), expected=expect.gpu_model)
    if len(names) > 1:
        fail(f"{node.name}: mixed GPU models on one node: {', '.join(names)}",
             hint="a job needs one GPU model; check the node's inventory",
             reason="gpu-models-mixed")
    if expect.gpu_model and names and expect.gpu_model not in names[0]:
        fail(f"{node.name}: GPU model {names[0]}, expected {expect.gpu_model}",
             hint="wrong node type in the allocation, or the wrong --profile",
             reason="gpu-model-wrong")
    models = cluster.counted(lambda n: (n.gpus or [{}])[0].get("name") if n.gpus else None)
    common, count, total = majority_counted(models)
    if names and common is not None and names[0] != common:
        fail(f"{node.name}: GPU model {names[0]}, the other {count} of {total} nodes have "
             f"{common}", expected=common, hint="mixed node types in one job run at the "
             "speed of the slowest; exclude this node or change the partition",
             reason="gpu-model-differs")


def check_gpus_idle(node: NodeFacts, expect: Expectations) -> None:
    gpus_or_skip(node, expect)
    processes = (node.nvidia_smi or {}).get("processes") or []
    busy = [f"GPU {g.get('index')}: {g.get('memory_used_mib')} MiB used"
            for g in node.gpus or []
            if (g.get("memory_used_mib") or 0) > expect.gpu_idle_memory_mib]
    observe(len(processes), expected=0, unit="processes")
    if processes or busy:
        named = [f"pid {p.get('pid')} {p.get('name')} on GPU {p.get('gpu')}" for p in processes]
        fail(f"{node.name}: GPUs not idle: {'; '.join(named + busy)}",
             hint="a stale job holds the GPUs: kill it (nvidia-smi --query-compute-apps) "
                  "or drain the node", reason="gpu-busy")


def _per_gpu(node: NodeFacts, expect: Expectations, bad: Any) -> list[str]:
    return [f"GPU {g.get('index')}: {problem}" for g in gpus_or_skip(node, expect)
            if (problem := bad(g))]


def check_ecc_uncorrected(node: NodeFacts, expect: Expectations) -> None:
    def bad(gpu: dict[str, Any]) -> str | None:
        errors = gpu.get("ecc_uncorrected_volatile")
        return f"{errors} uncorrected ECC errors" if errors else None

    problems = _per_gpu(node, expect, bad)
    observe(len(problems), expected=0, unit="GPUs with errors")
    if problems:
        fail(f"{node.name}: {'; '.join(problems)} (expected 0)",
             hint="uncorrected ECC errors corrupt results: reset the GPU, and drain the node "
                  "if they come back", reason="ecc-uncorrected")


def check_remapped_rows(node: NodeFacts, expect: Expectations) -> None:
    def bad(gpu: dict[str, Any]) -> str | None:
        rows = gpu.get("remapped_rows") or {}
        if rows.get("failure"):
            return "row remapping FAILED"
        return "remapped rows pending" if rows.get("pending") else None

    problems = _per_gpu(node, expect, bad)
    observe(len(problems), expected=0, unit="GPUs")
    if problems:
        fail(f"{node.name}: {'; '.join(problems)} (expected none)",
             hint="remapped rows pending: reset the GPU (nvidia-smi -r) or drain the node; "
                  "a remapping failure needs an RMA", reason="row-remap-pending")


def check_retired_pages(node: NodeFacts, expect: Expectations) -> None:
    problems = _per_gpu(node, expect, lambda g: "retired pages pending"
                        if g.get("retired_pages_pending") else None)
    observe(len(problems), expected=0, unit="GPUs")
    if problems:
        fail(f"{node.name}: {'; '.join(problems)}",
             hint="pending page retirement takes effect after a GPU reset or reboot",
             reason="page-retire-pending")


def check_xid_errors(node: NodeFacts, expect: Expectations) -> None:
    if node.tool_output("dmesg") is None:
        skip("no kernel log access on this node")
    now = node.clock
    recent = [e for e in node.xids if HARDWARE_XIDS.get(e.get("xid", -1))
              and within_hours(e.get("time"), now, expect.xid_window_hours)]
    observe(len(recent), expected=0, unit="hardware Xids")
    if recent:
        listed = "; ".join(f"Xid {e['xid']} on {_gpu_at(node, e.get('pci'))} "
                           f"({HARDWARE_XIDS[e['xid']]})" for e in recent[:5])
        fail(f"{node.name}: {len(recent)} hardware Xid event(s) in the last "
             f"{expect.xid_window_hours:g} h: {listed}",
             hint="look the Xid up in NVIDIA's Xid catalog; 79/74/48/63/64 usually mean "
                  "drain the node and reset or replace the GPU", reason="xid-recent")


def _pci(text: Any) -> tuple[int, ...] | None:
    """(domain, bus, device) from NVRM's '0000:9b:00' or nvidia-smi's '00000000:9B:00.0'."""
    try:
        return tuple(int(part, 16) for part in str(text).split(".")[0].split(":"))
    except ValueError:
        return None


def _gpu_at(node: NodeFacts, pci: Any) -> str:
    """'GPU 4 (0000:9b:00)' when nvidia-smi lists a GPU at NVRM's PCI address."""
    try:
        gpus = node.gpus or []
    except Unavailable:  # a hung nvidia-smi must not hide the Xid itself
        gpus = []
    wanted = _pci(pci)
    index = next((g.get("index") for g in gpus if wanted and _pci(g.get("bus_id")) == wanted),
                 None)
    return f"GPU {index} ({pci})" if index is not None else str(pci)


def check_persistence_mode(node: NodeFacts, expect: Expectations) -> None:
    skip_unless_applies("persistence_mode", expect)
    off = _per_gpu(node, expect, lambda g: "persistence mode off"
                   if g.get("persistence_mode") is False else None)
    observe(len(off), expected=0, unit="GPUs")
    if off:
        fail(f"{node.name}: {'; '.join(off)}",
             hint="enable nvidia-persistenced (or nvidia-smi -pm 1)", reason="persistence-off")


def check_clock_throttle(node: NodeFacts, expect: Expectations) -> None:
    hw = _per_gpu(node, expect, lambda g: ", ".join(
        r for r in g.get("throttle_reasons") or [] if r in HW_THROTTLE) or None)
    sw = _per_gpu(node, expect, lambda g: "sw_thermal_slowdown"
                  if "sw_thermal_slowdown" in (g.get("throttle_reasons") or []) else None)
    observe(len(hw) + len(sw), expected=0, unit="GPUs throttled")
    hint = "check cooling, power supplies and power capping; HW slowdown cuts clocks sharply"
    if hw:
        fail(f"{node.name}: hardware clock slowdown: {'; '.join(hw)}", hint=hint,
             reason="clock-slowdown-hw")
    if sw:
        warn(f"{node.name}: software thermal slowdown: {'; '.join(sw)}", hint=hint,
             reason="clock-slowdown-sw")
