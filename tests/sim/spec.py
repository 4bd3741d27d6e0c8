"""What one simulated host looks like: GPUs, fabric, logs, and which tools misbehave.

A HostSpec is written to <hostdir>/spec.json; the stand-in tools read that file on every
call, so `SimCluster.update_spec` changes a host's hardware between two probes.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

H100 = "NVIDIA H100 80GB HBM3"
H100_MEMORY_MIB = 81559


@dataclass
class GpuProcess:
    pid: int
    name: str
    used_mib: int


@dataclass
class GpuState:
    """Per-GPU deviations from a healthy GPU (only GPUs listed in gpu_overrides differ)."""

    ecc_uncorrected: int = 0
    ecc_corrected: int = 0
    remapped_pending: bool = False
    remapped_uncorrectable: int = 0
    memory_used_mib: int = 0
    utilization: int = 0
    temperature: int = 33
    power_draw_w: float = 71.0
    persistence: bool = True
    processes: list[GpuProcess] = field(default_factory=list)
    # nvidia-smi -q "Clocks Event Reasons" keys that are Active, e.g. "HW Slowdown".
    throttle: list[str] = field(default_factory=list)


@dataclass
class IbPort:
    ca: str
    state: str = "Active"
    physical_state: str = "LinkUp"
    rate: int = 400
    link_layer: str = "InfiniBand"


@dataclass
class Xid:
    xid: int
    pci: str  # as NVRM prints it, e.g. "0000:18:00"
    msg: str


def _default_nics() -> list[str]:
    return [f"mlx5_{i}" for i in range(8)]


def _default_ports() -> list[IbPort]:
    return [IbPort(ca=nic) for nic in _default_nics()]


@dataclass
class HostSpec:
    gpus: int = 8
    gpu_model: str = H100
    memory_total_mib: int = H100_MEMORY_MIB
    driver_version: str = "550.90.07"
    cuda_version: str = "12.4"
    nccl_version: str = "2.21.5"
    nvlink: str = "NV18"
    gpu_overrides: dict[int, GpuState] = field(default_factory=dict)
    # GPU pair (low, high) -> topo -m cell replacing the NVLink one, e.g. (0, 3): "SYS".
    topo: dict[tuple[int, int], str] = field(default_factory=dict)
    nics: list[str] = field(default_factory=_default_nics)
    ib_ports: list[IbPort] = field(default_factory=_default_ports)
    efa_count: int = 0
    xids: list[Xid] = field(default_factory=list)
    kernel_log: list[str] = field(default_factory=list)
    allreduce_busbw: float = 480.0
    ib_write_bw_gbps: float = 392.5
    hang: set[str] = field(default_factory=set)
    garbage: set[str] = field(default_factory=set)
    slots: int | None = None  # hostfile slots; None means one per GPU

    @property
    def hostfile_slots(self) -> int:
        return self.gpus if self.slots is None else self.slots

    def gpu(self, index: int) -> GpuState:
        return self.gpu_overrides.get(index, GpuState())

    def replace(self, **changes: Any) -> HostSpec:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        overrides = self.gpu_overrides.items()
        data["gpu_overrides"] = {str(k): dataclasses.asdict(v) for k, v in overrides}
        data["topo"] = [[a, b, kind] for (a, b), kind in sorted(self.topo.items())]
        data["hang"] = sorted(self.hang)
        data["garbage"] = sorted(self.garbage)
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HostSpec:
        fields = dict(data)
        converters: dict[str, Any] = {
            "gpu_overrides": lambda v: {int(k): _gpu_state(g) for k, g in v.items()},
            "topo": lambda v: {(int(a), int(b)): str(kind) for a, b, kind in v},
            "ib_ports": lambda v: [IbPort(**p) for p in v],
            "xids": lambda v: [Xid(**x) for x in v],
            "hang": set,
            "garbage": set,
        }
        for key, convert in converters.items():
            if key in fields:
                fields[key] = convert(fields[key])
        return cls(**fields)

    @classmethod
    def from_json(cls, text: str) -> HostSpec:
        return cls.from_dict(json.loads(text))


def _gpu_state(data: dict[str, Any]) -> GpuState:
    fields = dict(data)
    fields["processes"] = [GpuProcess(**p) for p in data.get("processes", [])]
    return GpuState(**fields)
