"""ibstat: one 'CA' block per IB/RoCE device of the spec (TAB-indented, like gpud's capture)."""

from __future__ import annotations

import os
import sys

from . import common
from .common import Spec

TYPE_CHECKING = False  # see common.py
if TYPE_CHECKING:
    from typing import Any

CA_TYPE = {400: "MT4129", 200: "MT4123", 100: "MT4125"}


def main(argv: list[str], spec: Spec) -> int:
    ports = spec.get("ib_ports", [])
    if "-l" in argv or "--list_of_cas" in argv:
        sys.stdout.write("".join(p["ca"] + "\n" for p in ports))
        return 0
    names = [a for a in argv if not a.startswith("-")]
    if names:
        wanted = [p for p in ports if p["ca"] == names[0]]
        if not wanted:
            sys.stderr.write(f"ibpanic: [{os.getpid()}] main: stat of IB device "
                             f"'{names[0]}' failed: No such file or directory\n")
            return 255
        ports = wanted
    sys.stdout.write("".join(ca_block(p, i) for i, p in enumerate(ports)))
    return 0


def ca_block(port: dict[str, Any], index: int) -> str:
    infiniband = port["link_layer"] == "InfiniBand"
    node_guid = common.guid("node", port["ca"])
    lines = [
        f"CA '{port['ca']}'",
        f"\tCA type: {CA_TYPE.get(port['rate'], 'MT4129')}",
        "\tNumber of ports: 1",
        "\tFirmware version: 28.39.1002",
        "\tHardware version: 0",
        f"\tNode GUID: {node_guid}",
        f"\tSystem image GUID: {node_guid}",
        "\tPort 1:",
        f"\t\tState: {port['state']}",
        f"\t\tPhysical state: {port['physical_state']}",
        f"\t\tRate: {port['rate']}",
        f"\t\tBase lid: {index + 1 if infiniband else 0}",
        "\t\tLMC: 0",
        f"\t\tSM lid: {1 if infiniband else 0}",
        f"\t\tCapability mask: {'0xa751e848' if infiniband else '0x00010000'}",
        f"\t\tPort GUID: {common.guid('port', port['ca'])}",
        f"\t\tLink layer: {port['link_layer']}",
    ]
    return "\n".join(lines) + "\n"
