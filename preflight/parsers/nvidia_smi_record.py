"""The typed record every nvidia-smi format (table, --query-gpu csv, -q) parses into.

`NvidiaSmiRecord.from_dict` rebuilds a record from `to_dict()` output or from any dict
with the same keys, so a pynvml probe can produce the same facts without text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from preflight.parsers.common import JsonRecord

Source = Literal["table", "csv", "q"]
SOURCES: tuple[Source, ...] = ("table", "csv", "q")


@dataclass(frozen=True)
class RemappedRows(JsonRecord):
    correctable: int | None = None
    uncorrectable: int | None = None
    pending: bool | None = None
    failure: bool | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> RemappedRows:
        data = data or {}
        return cls(
            correctable=data.get("correctable"),
            uncorrectable=data.get("uncorrectable"),
            pending=data.get("pending"),
            failure=data.get("failure"),
        )


@dataclass(frozen=True)
class GpuInfo(JsonRecord):
    """One GPU. `index` is nvidia-smi's index (for -q: position in the output)."""

    index: int
    name: str | None = None
    bus_id: str | None = None
    uuid: str | None = None
    serial: str | None = None
    memory_used_mib: int | None = None
    memory_total_mib: int | None = None
    utilization_pct: int | None = None
    persistence_mode: bool | None = None
    ecc_uncorrected_volatile: int | None = None
    ecc_corrected_volatile: int | None = None
    ecc_uncorrected_aggregate: int | None = None
    ecc_corrected_aggregate: int | None = None
    retired_pages_pending: bool | None = None
    remapped_rows: RemappedRows = field(default_factory=RemappedRows)
    throttle_reasons: tuple[str, ...] = ()
    temperature_c: int | None = None
    power_w: float | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GpuInfo:
        plain = {
            key: data.get(key)
            for key in cls.__dataclass_fields__
            if key not in {"index", "remapped_rows", "throttle_reasons"}
        }
        return cls(
            index=int(data["index"]),
            remapped_rows=RemappedRows.from_dict(data.get("remapped_rows")),
            throttle_reasons=tuple(data.get("throttle_reasons") or ()),
            **plain,
        )


@dataclass(frozen=True)
class GpuProcess(JsonRecord):
    gpu: int | None
    pid: int
    name: str | None
    used_mib: int | None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GpuProcess:
        return cls(
            gpu=data.get("gpu"),
            pid=int(data["pid"]),
            name=data.get("name"),
            used_mib=data.get("used_mib"),
        )


@dataclass(frozen=True)
class NvidiaSmiRecord(JsonRecord):
    source: Source
    gpus: tuple[GpuInfo, ...]
    processes: tuple[GpuProcess, ...] = ()
    driver_version: str | None = None
    cuda_version: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NvidiaSmiRecord:
        source = data.get("source")
        if source not in SOURCES:
            raise ValueError(f"unknown nvidia-smi record source {source!r}")
        return cls(
            source=source,
            gpus=tuple(GpuInfo.from_dict(gpu) for gpu in data.get("gpus") or ()),
            processes=tuple(GpuProcess.from_dict(p) for p in data.get("processes") or ()),
            driver_version=data.get("driver_version"),
            cuda_version=data.get("cuda_version"),
        )


# Names of the clock event ("throttle") reasons, keyed by how `nvidia-smi -q` prints them;
# the values are the --query-gpu field suffixes (clocks_event_reasons.<value>), except
# power brake, shortened to the name the checks use.
THROTTLE_REASON_NAMES: dict[str, str] = {
    "idle": "gpu_idle",
    "gpu idle": "gpu_idle",
    "applications clocks setting": "applications_clocks_setting",
    "sw power cap": "sw_power_cap",
    "hw slowdown": "hw_slowdown",
    "hw thermal slowdown": "hw_thermal_slowdown",
    "hw power brake slowdown": "hw_power_brake",
    "sync boost": "sync_boost",
    "sw thermal slowdown": "sw_thermal_slowdown",
    "display clock setting": "display_clock_setting",
}


def throttle_reason_name(label: str) -> str:
    """'HW Power Brake Slowdown' or 'hw_power_brake_slowdown' -> 'hw_power_brake'."""
    key = label.strip().lower().replace("_", " ")
    return THROTTLE_REASON_NAMES.get(key, "_".join(key.split()))
