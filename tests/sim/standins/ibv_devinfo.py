"""ibv_devinfo [-d DEV]: one hca_id block per device, TAB layout of rdma-core's devinfo.c."""

from __future__ import annotations

import sys

from . import common
from .common import Spec

TYPE_CHECKING = False  # see common.py
if TYPE_CHECKING:
    from typing import Any

PORT_STATES = {"Down": "PORT_DOWN (1)", "Initializing": "PORT_INIT (2)",
               "Armed": "PORT_ARMED (3)", "Active": "PORT_ACTIVE (4)"}
VENDOR_PART = {400: 4129, 200: 4123, 100: 4125}


def main(argv: list[str], spec: Spec) -> int:
    ports = spec.get("ib_ports", [])
    device = _device(argv)
    if device is not None:
        ports = [p for p in ports if p["ca"] == device]
        if not ports:
            sys.stderr.write(f"IB device '{device}' wasn't found\n")
            return 255
    if not ports:
        sys.stdout.write("No IB devices found\n")
        return 0
    sys.stdout.write("".join(hca_block(p, i) for i, p in enumerate(ports)))
    return 0


def _device(argv: list[str]) -> str | None:
    for i, arg in enumerate(argv):
        if arg in ("-d", "--ib-dev") and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--ib-dev="):
            return arg.split("=", 1)[1]
    return None


def _colon_guid(raw: str) -> str:
    digits = raw[2:]
    return ":".join(digits[i:i + 4] for i in range(0, 16, 4))


def hca_block(port: dict[str, Any], index: int) -> str:
    infiniband = port["link_layer"] == "InfiniBand"
    node_guid = _colon_guid(common.guid("node", port["ca"]))
    return (
        f"hca_id:\t{port['ca']}\n"
        "\ttransport:\t\t\tInfiniBand (0)\n"
        "\tfw_ver:\t\t\t\t28.39.1002\n"
        f"\tnode_guid:\t\t\t{node_guid}\n"
        f"\tsys_image_guid:\t\t\t{node_guid}\n"
        "\tvendor_id:\t\t\t0x02c9\n"
        f"\tvendor_part_id:\t\t\t{VENDOR_PART.get(port['rate'], 4129)}\n"
        "\thw_ver:\t\t\t\t0x0\n"
        "\tboard_id:\t\t\tMT_0000000838\n"
        "\tphys_port_cnt:\t\t\t1\n"
        "\t\tport:\t1\n"
        f"\t\t\tstate:\t\t\t{PORT_STATES.get(port['state'], 'PORT_DOWN (1)')}\n"
        "\t\t\tmax_mtu:\t\t4096 (5)\n"
        "\t\t\tactive_mtu:\t\t4096 (5)\n"
        f"\t\t\tsm_lid:\t\t\t{1 if infiniband else 0}\n"
        f"\t\t\tport_lid:\t\t{index + 1 if infiniband else 0}\n"
        "\t\t\tport_lmc:\t\t0x00\n"
        f"\t\t\tlink_layer:\t\t{port['link_layer']}\n"
        "\n"
    )
