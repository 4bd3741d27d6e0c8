"""`nvidia-smi --query-gpu=F,... --format=csv[,noheader][,nounits]` and --query-compute-apps.

Header names, units and value spellings follow exporter_query_gpu_csv_h100_allfields_masked.txt.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from . import common
from .common import Spec

Getter = Callable[[Spec, int, dict[str, Any]], object]

_EVENT_FIELDS = {
    "gpu_idle": "Idle", "applications_clocks_setting": "Applications Clocks Setting",
    "sw_power_cap": "SW Power Cap", "hw_slowdown": "HW Slowdown",
    "hw_thermal_slowdown": "HW Thermal Slowdown",
    "hw_power_brake_slowdown": "HW Power Brake Slowdown",
    "sw_thermal_slowdown": "SW Thermal Slowdown", "sync_boost": "Sync Boost",
}


def _enabled(flag: bool) -> str:
    return "Enabled" if flag else "Disabled"


def _event(name: str) -> Getter:
    def get(spec: Spec, i: int, g: dict[str, Any]) -> str:
        if name == "Idle":
            active = not g["throttle"] and g["utilization"] == 0
        else:
            active = name in g["throttle"]
        return "Active" if active else "Not Active"
    return get


# field -> (unit, getter)
GPU_FIELDS: dict[str, tuple[str, Getter]] = {
    "timestamp": ("", lambda s, i, g: common.ctime()),
    "driver_version": ("", lambda s, i, g: s["driver_version"]),
    "count": ("", lambda s, i, g: s["gpus"]),
    "index": ("", lambda s, i, g: i),
    "name": ("", lambda s, i, g: s["gpu_model"]),
    "serial": ("", lambda s, i, g: common.serial(i)),
    "uuid": ("", lambda s, i, g: common.uuid(i)),
    "pci.bus_id": ("", lambda s, i, g: common.bus_id(i)),
    "pci.bus": ("", lambda s, i, g: f"0x{common.bus(i):02X}"),
    "pci.domain": ("", lambda s, i, g: "0x0000"),
    "pci.device_id": ("", lambda s, i, g: "0x233010DE"),
    "pcie.link.gen.current": ("", lambda s, i, g: 5),
    "pcie.link.gen.max": ("", lambda s, i, g: 5),
    "pcie.link.width.current": ("", lambda s, i, g: 16),
    "pcie.link.width.max": ("", lambda s, i, g: 16),
    "persistence_mode": ("", lambda s, i, g: _enabled(g["persistence"])),
    "compute_mode": ("", lambda s, i, g: "Default"),
    "compute_cap": ("", lambda s, i, g: "9.0" if "H100" in s["gpu_model"] else "8.0"),
    "pstate": ("", lambda s, i, g: "P0"),
    "fan.speed": ("%", lambda s, i, g: "[N/A]"),
    "memory.total": ("MiB", lambda s, i, g: s["memory_total_mib"]),
    "memory.reserved": ("MiB", lambda s, i, g: 551),
    "memory.used": ("MiB", lambda s, i, g: g["memory_used_mib"]),
    "memory.free": ("MiB", lambda s, i, g: s["memory_total_mib"] - 551 - g["memory_used_mib"]),
    "utilization.gpu": ("%", lambda s, i, g: g["utilization"]),
    "utilization.memory": ("%", lambda s, i, g: 0),
    "ecc.mode.current": ("", lambda s, i, g: "Enabled"),
    "ecc.mode.pending": ("", lambda s, i, g: "Enabled"),
    "ecc.errors.corrected.volatile.total": ("", lambda s, i, g: g["ecc_corrected"]),
    "ecc.errors.corrected.aggregate.total": ("", lambda s, i, g: g["ecc_corrected"]),
    "ecc.errors.uncorrected.volatile.total": ("", lambda s, i, g: g["ecc_uncorrected"]),
    "ecc.errors.uncorrected.aggregate.total": ("", lambda s, i, g: g["ecc_uncorrected"]),
    "ecc.errors.uncorrected.volatile.dram": ("", lambda s, i, g: g["ecc_uncorrected"]),
    "ecc.errors.uncorrected.aggregate.dram": ("", lambda s, i, g: g["ecc_uncorrected"]),
    "retired_pages.single_bit_ecc.count": ("", lambda s, i, g: "[N/A]"),
    "retired_pages.double_bit.count": ("", lambda s, i, g: "[N/A]"),
    "retired_pages.pending": ("", lambda s, i, g: "[N/A]"),
    "remapped_rows.correctable": ("", lambda s, i, g: 0),
    "remapped_rows.uncorrectable": ("", lambda s, i, g: g["remapped_uncorrectable"]),
    "remapped_rows.pending": ("", lambda s, i, g: "Yes" if g["remapped_pending"] else "No"),
    "remapped_rows.failure": ("", lambda s, i, g: "No"),
    "temperature.gpu": ("", lambda s, i, g: g["temperature"]),
    "temperature.memory": ("", lambda s, i, g: g["temperature"] + 8),
    "power.draw": ("W", lambda s, i, g: f"{g['power_draw_w']:.2f}"),
    "power.limit": ("W", lambda s, i, g: "700.00"),
    "enforced.power.limit": ("W", lambda s, i, g: "700.00"),
    "clocks.current.graphics": ("MHz", lambda s, i, g: 345),
    "clocks.current.sm": ("MHz", lambda s, i, g: 345),
    "clocks.current.memory": ("MHz", lambda s, i, g: 2619),
    "clocks.max.graphics": ("MHz", lambda s, i, g: 1980),
    "clocks.max.sm": ("MHz", lambda s, i, g: 1980),
    "clocks.max.memory": ("MHz", lambda s, i, g: 2619),
    "mig.mode.current": ("", lambda s, i, g: "Disabled"),
    "fabric.state": ("", lambda s, i, g: "Completed"),
    "fabric.status": ("", lambda s, i, g: "Success"),
    "vbios_version": ("", lambda s, i, g: "96.00.74.00.01"),
    **{f"clocks_event_reasons.{k}": ("", _event(v)) for k, v in _EVENT_FIELDS.items()},
    **{f"clocks_throttle_reasons.{k}": ("", _event(v)) for k, v in _EVENT_FIELDS.items()},
}
ALIASES = {"gpu_name": "name", "gpu_uuid": "uuid", "gpu_bus_id": "pci.bus_id",
           "gpu_serial": "serial", "clocks.gr": "clocks.current.graphics",
           "clocks.sm": "clocks.current.sm", "clocks.mem": "clocks.current.memory"}

APP_FIELDS: dict[str, tuple[str, str, Callable[[Spec, int, dict[str, Any]], object]]] = {
    # field -> (header, unit, getter(spec, gpu index, process))
    "pid": ("pid", "", lambda s, i, p: p["pid"]),
    "process_name": ("process_name", "", lambda s, i, p: p["name"]),
    "name": ("process_name", "", lambda s, i, p: p["name"]),
    "used_memory": ("used_gpu_memory", "MiB", lambda s, i, p: p["used_mib"]),
    "used_gpu_memory": ("used_gpu_memory", "MiB", lambda s, i, p: p["used_mib"]),
    "gpu_uuid": ("gpu_uuid", "", lambda s, i, p: common.uuid(i)),
    "gpu_bus_id": ("gpu_bus_id", "", lambda s, i, p: common.bus_id(i)),
    "gpu_name": ("gpu_name", "", lambda s, i, p: s["gpu_model"]),
}


def _value(argv: list[str], flag: str) -> str | None:
    for i, arg in enumerate(argv):
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
        if arg == flag and i + 1 < len(argv):
            return argv[i + 1]
    return None


def _cell(value: object, unit: str, nounits: bool) -> str:
    text = str(value)
    if unit and not nounits and not text.startswith("["):
        return f"{text} {unit}"
    return text


def main(argv: list[str], spec: Spec) -> int:
    fmt = (_value(argv, "--format") or "").split(",")
    if "csv" not in fmt:
        sys.stdout.write('"--format" option must be specified with "--query-*" options\n')
        return 2
    noheader, nounits = "noheader" in fmt, "nounits" in fmt
    only = _value(argv, "-i") or _value(argv, "--id")
    indexes = [int(only)] if only is not None else list(range(spec["gpus"]))
    apps = _value(argv, "--query-compute-apps")
    if apps is not None:
        return _apps(spec, apps.split(","), indexes, noheader, nounits)
    return _gpus(spec, (_value(argv, "--query-gpu") or "").split(","), indexes, noheader,
                 nounits)


def _gpus(spec: Spec, fields: list[str], indexes: list[int], noheader: bool,
          nounits: bool) -> int:
    fields = [ALIASES.get(f.strip(), f.strip()) for f in fields]
    for field in fields:
        if field not in GPU_FIELDS:
            sys.stdout.write(f'Field "{field}" is not a valid field to query.\n\n')
            return 2
    lines = []
    if not noheader:
        lines.append(", ".join(_header(f, GPU_FIELDS[f][0], nounits) for f in fields))
    for i in indexes:
        g = common.gpu(spec, i)
        cells = [_cell(GPU_FIELDS[f][1](spec, i, g), GPU_FIELDS[f][0], nounits) for f in fields]
        lines.append(", ".join(cells))
    sys.stdout.write("".join(line + "\n" for line in lines))
    return 0


def _header(name: str, unit: str, nounits: bool) -> str:
    return f"{name} [{unit}]" if unit and not nounits else name


def _apps(spec: Spec, fields: list[str], indexes: list[int], noheader: bool,
          nounits: bool) -> int:
    fields = [f.strip() for f in fields]
    for field in fields:
        if field not in APP_FIELDS:
            sys.stdout.write(f'Field "{field}" is not a valid field to query.\n\n')
            return 2
    lines = []
    if not noheader:
        lines.append(", ".join(_header(APP_FIELDS[f][0], APP_FIELDS[f][1], nounits)
                               for f in fields))
    for i in indexes:
        for proc in common.gpu(spec, i)["processes"]:
            lines.append(", ".join(_cell(APP_FIELDS[f][2](spec, i, proc), APP_FIELDS[f][1],
                                         nounits) for f in fields))
    sys.stdout.write("".join(line + "\n" for line in lines))
    return 0
