"""`nvidia-smi -q [-d SECTIONS] [-i N]`: the layout of gpud_q_full_535_h100x8.txt."""

from __future__ import annotations

import sys
from typing import Any

from . import common
from .common import Spec

# A section is (title, entries); an entry is (key, value) or a nested section.
Entry = tuple[str, str] | tuple[str, list[Any]]

# -d names -> the top-level sections they show
DISPLAY = {
    "MEMORY": ["FB Memory Usage", "BAR1 Memory Usage", "Conf Compute Protected Memory Usage"],
    "UTILIZATION": ["Utilization"],
    "ECC": ["ECC Mode", "ECC Errors"],
    "TEMPERATURE": ["Temperature"],
    "POWER": ["GPU Power Readings", "Module Power Readings"],
    "CLOCK": ["Clocks", "Applications Clocks", "Default Applications Clocks", "Max Clocks"],
    "COMPUTE": ["Compute Mode"],
    "PIDS": ["Processes"],
    "PERFORMANCE": ["Performance State", "Clocks Event Reasons"],
    "PAGE_RETIREMENT": ["Retired Pages"],
    "ROW_REMAPPER": ["Remapped Rows"],
}

EVENT_REASONS = [
    ("Idle", 1), ("Applications Clocks Setting", 1), ("SW Power Cap", 1), ("HW Slowdown", 1),
    ("HW Thermal Slowdown", 2), ("HW Power Brake Slowdown", 2), ("Sync Boost", 1),
    ("SW Thermal Slowdown", 1), ("Display Clock Setting", 1),
]


def main(argv: list[str], spec: Spec) -> int:
    sections = _option(argv, "-d", "--display")
    wanted = None
    if sections:
        wanted = [s for name in sections.upper().split(",") for s in DISPLAY.get(name, [])]
    only = _option(argv, "-i", "--id")
    indexes = [int(only)] if only is not None else list(range(spec["gpus"]))
    out = ["", "==============NVSMI LOG==============", ""]
    out += [_kv(0, "Timestamp", common.ctime()), _kv(0, "Driver Version", spec["driver_version"]),
            _kv(0, "CUDA Version", spec["cuda_version"]), "",
            _kv(0, "Attached GPUs", str(spec["gpus"]))]
    blocks = ["\n".join(_gpu_block(spec, i, wanted)) for i in indexes]
    sys.stdout.write("\n".join(out) + "\n" + "\n\n".join(blocks) + "\n\n")
    return 0


def _option(argv: list[str], short: str, long: str) -> str | None:
    for i, arg in enumerate(argv):
        if arg in (short, long) and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(long + "="):
            return arg.split("=", 1)[1]
    return None


def _kv(level: int, key: str, value: str) -> str:
    return ("    " * level + key).ljust(42) + ": " + value


def _render(entries: list[Any], level: int) -> list[str]:
    lines = []
    for key, value in entries:
        if isinstance(value, list):
            lines.append("    " * level + key)
            lines += _render(value, level + 1)
        else:
            lines.append(_kv(level, key, value))
    return lines


def _gpu_block(spec: Spec, i: int, wanted: list[str] | None) -> list[str]:
    entries = _entries(spec, i)
    if wanted is not None:
        entries = [e for e in entries if e[0] in wanted]
    return [f"GPU {common.bus_id(i)}", *_render(entries, 1)]


def _entries(spec: Spec, i: int) -> list[Any]:
    g = common.gpu(spec, i)
    return [
        *_identity(spec, i, g),
        ("Fan Speed", "N/A"),
        ("Performance State", "P0"),
        ("Clocks Event Reasons", _event_reasons(g)),
        ("Sparse Operation Mode", "Disabled"),
        *_memory(spec, g),
        ("Compute Mode", "Default"),
        ("Utilization", [("Gpu", f"{g['utilization']} %"), ("Memory", "0 %"),
                         ("Encoder", "0 %"), ("Decoder", "0 %"), ("JPEG", "0 %"),
                         ("OFA", "0 %")]),
        ("Encoder Stats", _stats()),
        ("FBC Stats", _stats()),
        ("ECC Mode", [("Current", "Enabled"), ("Pending", "Enabled")]),
        ("ECC Errors", _ecc(g)),
        ("Retired Pages", [("Single Bit ECC", "N/A"), ("Double Bit ECC", "N/A"),
                           ("Pending Page Blacklist", "N/A")]),
        ("Remapped Rows", _remapped_rows(g)),
        ("Temperature", _temperature(g)),
        ("GPU Power Readings", _power(f"{g['power_draw_w']:.2f} W", "700.00 W", "200.00 W")),
        ("Module Power Readings", _power("N/A", "N/A", "N/A")),
        *_clocks(),
        ("Voltage", [("Graphics", "665.000 mV")]),
        ("Fabric", [("State", "Completed"), ("Status", "Success")]),
        _processes(g),
    ]


def _identity(spec: Spec, i: int, g: dict[str, Any]) -> list[Any]:
    bus = common.bus(i)
    return [
        ("Product Name", spec["gpu_model"]),
        ("Product Brand", "NVIDIA"),
        ("Product Architecture", "Hopper" if "H100" in spec["gpu_model"] else "Ampere"),
        ("Display Mode", "Disabled"),
        ("Display Active", "Disabled"),
        ("Persistence Mode", "Enabled" if g["persistence"] else "Disabled"),
        ("Addressing Mode", "None"),
        ("MIG Mode", [("Current", "Disabled"), ("Pending", "Disabled")]),
        ("Accounting Mode", "Disabled"),
        ("Accounting Mode Buffer Size", "4000"),
        ("Driver Model", [("Current", "N/A"), ("Pending", "N/A")]),
        ("Serial Number", common.serial(i)),
        ("GPU UUID", common.uuid(i)),
        ("Minor Number", str(i)),
        ("VBIOS Version", "96.00.74.00.01"),
        ("MultiGPU Board", "No"),
        ("Board ID", f"0x{bus:02x}00"),
        ("Board Part Number", "692-2G520-0200-000"),
        ("GPU Part Number", "2330-885-A1"),
        ("FRU Part Number", "N/A"),
        ("Module ID", str(i + 1)),
        ("Inforom Version", [("Image Version", "G520.0200.00.05"), ("OEM Object", "2.1"),
                             ("ECC Object", "7.16"), ("Power Management Object", "N/A")]),
        ("Inforom BBX Object Flush", [("Latest Timestamp", "2024/06/20 21:24:53.799"),
                                      ("Latest Duration", "88355 us")]),
        ("GPU Operation Mode", [("Current", "N/A"), ("Pending", "N/A")]),
        ("GSP Firmware Version", spec["driver_version"]),
        ("GPU Virtualization Mode", [("Virtualization Mode", "Pass-Through"),
                                     ("Host VGPU Mode", "N/A")]),
        ("GPU Reset Status", [("Reset Required", "No"),
                              ("Drain and Reset Recommended", "No")]),
        ("IBMNPU", [("Relaxed Ordering Mode", "N/A")]),
        ("PCI", _pci(i, bus)),
    ]


def _pci(i: int, bus: int) -> list[Any]:
    return [
        ("Bus", f"0x{bus:02X}"), ("Device", "0x00"), ("Domain", "0x0000"),
        ("Device Id", "0x233010DE"), ("Bus Id", common.bus_id(i)),
        ("Sub System Id", "0x16C110DE"),
        ("GPU Link Info", [
            ("PCIe Generation", [("Max", "5"), ("Current", "5"), ("Device Current", "5"),
                                 ("Device Max", "5"), ("Host Max", "N/A")]),
            ("Link Width", [("Max", "16x"), ("Current", "16x")]),
        ]),
        ("Bridge Chip", [("Type", "N/A"), ("Firmware", "N/A")]),
        ("Replays Since Reset", "0"), ("Replay Number Rollovers", "0"),
        ("Tx Throughput", "632 KB/s"), ("Rx Throughput", "531 KB/s"),
        ("Atomic Caps Inbound", "N/A"), ("Atomic Caps Outbound", "N/A"),
    ]


def _event_reasons(g: dict[str, Any]) -> list[Any]:
    throttled = set(g["throttle"])
    idle = not throttled and g["utilization"] == 0
    entries = []
    for name, depth in EVENT_REASONS:
        active = (name in throttled) or (name == "Idle" and idle)
        entries.append(("    " * (depth - 1) + name, "Active" if active else "Not Active"))
    return entries


def _memory(spec: Spec, g: dict[str, Any]) -> list[Any]:
    total, reserved, used = spec["memory_total_mib"], 551, g["memory_used_mib"]
    return [
        ("FB Memory Usage", [("Total", f"{total} MiB"), ("Reserved", f"{reserved} MiB"),
                             ("Used", f"{used} MiB"),
                             ("Free", f"{total - reserved - used} MiB")]),
        ("BAR1 Memory Usage", [("Total", "131072 MiB"), ("Used", "1 MiB"),
                               ("Free", "131071 MiB")]),
        ("Conf Compute Protected Memory Usage", [("Total", "0 MiB"), ("Used", "0 MiB"),
                                                 ("Free", "0 MiB")]),
    ]


def _stats() -> list[Any]:
    return [("Active Sessions", "0"), ("Average FPS", "0"), ("Average Latency", "0")]


def _ecc(g: dict[str, Any]) -> list[Any]:
    def counts(aggregate: bool) -> list[Any]:
        rows = [("SRAM Correctable", "0"), ("SRAM Uncorrectable Parity", "0"),
                ("SRAM Uncorrectable SEC-DED", "0"),
                ("DRAM Correctable", str(g["ecc_corrected"])),
                ("DRAM Uncorrectable", str(g["ecc_uncorrected"]))]
        return rows + [("SRAM Threshold Exceeded", "No")] if aggregate else rows

    sources = [("SRAM L2", "0"), ("SRAM SM", "0"), ("SRAM Microcontroller", "0"),
               ("SRAM PCIE", "0"), ("SRAM Other", "0")]
    return [("Volatile", counts(False)), ("Aggregate", counts(True)),
            ("Aggregate Uncorrectable SRAM Sources", sources)]


def _remapped_rows(g: dict[str, Any]) -> list[Any]:
    return [
        ("Correctable Error", "0"),
        ("Uncorrectable Error", str(g["remapped_uncorrectable"])),
        ("Pending", "Yes" if g["remapped_pending"] else "No"),
        ("Remapping Failure Occurred", "No"),
        ("Bank Remap Availability Histogram", [
            ("Max", "2560 bank(s)"), ("High", "0 bank(s)"), ("Partial", "0 bank(s)"),
            ("Low", "0 bank(s)"), ("None", "0 bank(s)"),
        ]),
    ]


def _temperature(g: dict[str, Any]) -> list[Any]:
    return [
        ("GPU Current Temp", f"{g['temperature']} C"), ("GPU T.Limit Temp", "50 C"),
        ("GPU Shutdown T.Limit Temp", "-8 C"), ("GPU Slowdown T.Limit Temp", "-2 C"),
        ("GPU Max Operating T.Limit Temp", "0 C"), ("GPU Target Temperature", "N/A"),
        ("Memory Current Temp", f"{g['temperature'] + 8} C"),
        ("Memory Max Operating T.Limit Temp", "0 C"),
    ]


def _power(draw: str, limit: str, minimum: str) -> list[Any]:
    return [("Power Draw", draw), ("Current Power Limit", limit),
            ("Requested Power Limit", limit), ("Default Power Limit", limit),
            ("Min Power Limit", minimum), ("Max Power Limit", limit)]


def _clocks() -> list[Any]:
    return [
        ("Clocks", [("Graphics", "345 MHz"), ("SM", "345 MHz"), ("Memory", "2619 MHz"),
                    ("Video", "765 MHz")]),
        ("Applications Clocks", [("Graphics", "1980 MHz"), ("Memory", "2619 MHz")]),
        ("Default Applications Clocks", [("Graphics", "1980 MHz"), ("Memory", "2619 MHz")]),
        ("Deferred Clocks", [("Memory", "N/A")]),
        ("Max Clocks", [("Graphics", "1980 MHz"), ("SM", "1980 MHz"), ("Memory", "2619 MHz"),
                        ("Video", "1545 MHz")]),
        ("Max Customer Boost Clocks", [("Graphics", "1980 MHz")]),
        ("Clock Policy", [("Auto Boost", "N/A"), ("Auto Boost Default", "N/A")]),
    ]


def _processes(g: dict[str, Any]) -> Entry:
    if not g["processes"]:
        return ("Processes", "None")
    blocks: list[Any] = []
    for p in g["processes"]:
        blocks += [("GPU instance ID", "N/A"), ("Compute instance ID", "N/A"),
                   ("Process ID", str(p["pid"])), ("    Type", "C"), ("    Name", p["name"]),
                   ("    Used GPU Memory", f"{p['used_mib']} MiB")]
    return ("Processes", blocks)
