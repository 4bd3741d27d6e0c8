"""Shared by the stand-ins: the spec as plain data, per-GPU state, stable identifiers."""

from __future__ import annotations

import os
import time

TYPE_CHECKING = False  # not typing's: importing typing costs each stand-in start ~5 ms
if TYPE_CHECKING:
    from typing import Any

    Spec = dict[str, Any]  # the host's spec.json
else:
    Spec = dict

# PCI buses of the 8 GPUs of the H100 box in the corpus (gpud_table_550_h100x8.txt).
_BUSES = [0x19, 0x3B, 0x4C, 0x5D, 0x9B, 0xBB, 0xCB, 0xDB]

HEALTHY_GPU: dict[str, Any] = {
    "ecc_uncorrected": 0,
    "ecc_corrected": 0,
    "remapped_pending": False,
    "remapped_uncorrectable": 0,
    "memory_used_mib": 0,
    "utilization": 0,
    "temperature": 33,
    "power_draw_w": 71.0,
    "persistence": True,
    "processes": [],
    "throttle": [],
}


RENDERING_FOR: str | None = None  # the host whose outputs render.py writes, in-process


def hostname() -> str:
    import socket  # here, not at the top: most stand-ins never need it (see runner)

    return RENDERING_FOR or os.environ.get("PREFLIGHT_SIM_HOST") or socket.gethostname()


def gpu(spec: Spec, index: int) -> dict[str, Any]:
    return HEALTHY_GPU | spec.get("gpu_overrides", {}).get(str(index), {})


def bus(index: int) -> int:
    return _BUSES[index] if index < len(_BUSES) else 0xE0 + index


def bus_id(index: int) -> str:
    """nvidia-smi's 'Bus-Id', e.g. 00000000:19:00.0."""
    return f"00000000:{bus(index):02X}:00.0"


def nvrm_pci(index: int) -> str:
    """The PCI form NVRM uses in kernel messages, e.g. 0000:19:00."""
    return f"0000:{bus(index):02x}:00"


def _digest(*parts: object) -> str:
    import hashlib  # here, not at the top: only the GPU stand-ins derive ids

    return hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()


def uuid(index: int) -> str:
    d = _digest("gpu", hostname(), index)
    return f"GPU-{d[:8]}-{d[8:12]}-{d[12:16]}-{d[16:20]}-{d[20:32]}"


def serial(index: int) -> str:
    return str(int(_digest("serial", hostname(), index)[:10], 16))[:13].rjust(13, "1")


def guid(*parts: object) -> str:
    """A 64-bit GUID as ibstat prints it: 0x + 16 hex digits."""
    return "0x" + _digest("guid", hostname(), *parts)[:16]


def numa_node(index: int, count: int) -> int:
    return 0 if index < max(count, 1) / 2 else 1


def ctime() -> str:
    """The timestamp line of nvidia-smi: 'Mon Jan 20 10:18:26 2025'."""
    return time.strftime("%a %b %d %H:%M:%S %Y")


def port_for(spec: Spec, device: str) -> dict[str, Any] | None:
    return next((p for p in spec.get("ib_ports", []) if p["ca"] == device), None)
