"""`nvidia-smi topo -m`: TAB-separated matrix and legends (no ANSI: stdout is not a TTY).

With tabs expanded, the healthy 8-GPU/8-NIC spec prints the corpus file
sglang30401_h100x8_nv18_8nics_nic_legend.txt.
"""

from __future__ import annotations

import sys

from . import common
from .common import Spec

CPU_AFFINITY = ["0-47,96-143", "48-95,144-191"]
LEGEND = """
Legend:

  X    = Self
  SYS  = Connection traversing PCIe as well as the SMP interconnect between NUMA nodes (e.g., QPI/UPI)
  NODE = Connection traversing PCIe as well as the interconnect between PCIe Host Bridges within a NUMA node
  PHB  = Connection traversing PCIe as well as a PCIe Host Bridge (typically the CPU)
  PXB  = Connection traversing multiple PCIe bridges (without traversing the PCIe Host Bridge)
  PIX  = Connection traversing at most a single PCIe bridge
  NV#  = Connection traversing a bonded set of # NVLinks
"""  # noqa: E501


def main(argv: list[str], spec: Spec) -> int:
    if "-m" not in argv and "--matrix" not in argv:
        sys.stdout.write("Usage: nvidia-smi topo -m\n")
        return 2
    sys.stdout.write(matrix(spec))
    return 0


def _gpu_gpu(spec: Spec, a: int, b: int) -> str:
    if a == b:
        return " X "
    overrides = {(int(x), int(y)): kind for x, y, kind in spec.get("topo", [])}
    return overrides.get((min(a, b), max(a, b)), spec["nvlink"])


def _pcie(spec: Spec, gpu_a: int, gpu_b: int) -> str:
    """GPU i sits next to NIC i (PIX); same NUMA node: NODE; across: SYS."""
    if gpu_a == gpu_b:
        return "PIX"
    same = common.numa_node(gpu_a, spec["gpus"]) == common.numa_node(gpu_b, spec["gpus"])
    return "NODE" if same else "SYS"


def matrix(spec: Spec) -> str:
    gpus, nics = spec["gpus"], spec["nics"]
    names = [f"GPU{i}" for i in range(gpus)] + [f"NIC{i}" for i in range(len(nics))]
    header = "\t" + "\t".join(names) + "\tCPU Affinity\tNUMA Affinity\tGPU NUMA ID"
    lines = [header]
    for a in range(gpus):
        cells = [_gpu_gpu(spec, a, b) for b in range(gpus)]
        cells += [_pcie(spec, a, n) for n in range(len(nics))]
        numa = common.numa_node(a, gpus)
        lines.append("\t".join([f"GPU{a}", *cells, CPU_AFFINITY[numa], str(numa), "", "N/A"]))
    for n in range(len(nics)):
        cells = [_pcie(spec, g, n) for g in range(gpus)]
        cells += [" X " if m == n else _pcie(spec, n, m) for m in range(len(nics))]
        lines.append("\t".join([f"NIC{n}", *cells]))
    text = "\n".join(lines) + "\n" + LEGEND
    if nics:
        text += "\nNIC Legend:\n\n" + "".join(f"  NIC{i}: {nic}\n" for i, nic in enumerate(nics))
    return text
