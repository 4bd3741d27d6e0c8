"""What NCCL says it picked (NCCL_DEBUG=INFO lines): bootstrap interface, network, devices."""

from __future__ import annotations

import re
from typing import Any

_BOOTSTRAP = re.compile(r"NCCL INFO Bootstrap ?: Using (?:\[\d+\])?([^:\s]+):")
_NET_SOCKET = re.compile(r"NCCL INFO NET/Socket ?: Using (.+?)\s*$")
_NET_IB = re.compile(r"NCCL INFO NET/IB ?: Using (.+?)(?:\s*;\s*OOB\s+([^:\s]+):.*)?$")
_NETWORK = re.compile(r"NCCL INFO Using network (\S+)")
_DEVICE = re.compile(r"\[\d+\]([^\s\[]+)")


def picked(log: str) -> dict[str, Any]:
    """The interfaces and network of the first rank that said so; empty when NCCL was quiet."""
    found: dict[str, Any] = {}
    for line in log.splitlines():
        _first(found, "bootstrap", _BOOTSTRAP.search(line))
        _first(found, "network", _NETWORK.search(line))
        socket = _NET_SOCKET.search(line)
        if socket and "socket_ifnames" not in found:
            found["socket_ifnames"] = [d.split(":")[0] for d in _DEVICE.findall(socket.group(1))]
        ib = _NET_IB.search(line)
        if ib and "ib_devices" not in found:
            found["ib_devices"] = _DEVICE.findall(ib.group(1))
            if ib.group(2):
                found.setdefault("oob", ib.group(2))
    return found


def _first(found: dict[str, Any], key: str, match: re.Match[str] | None) -> None:
    if match and key not in found:
        found[key] = match.group(1)


def describe(info: dict[str, Any]) -> str:
    parts = []
    if info.get("bootstrap"):
        parts.append(f"bootstrap {info['bootstrap']}")
    if info.get("network"):
        parts.append(f"network {info['network']}")
    if info.get("ib_devices"):
        parts.append(" ".join(info["ib_devices"]))
    elif info.get("socket_ifnames"):
        parts.append("sockets on " + ",".join(info["socket_ifnames"]))
    return ", ".join(parts)
