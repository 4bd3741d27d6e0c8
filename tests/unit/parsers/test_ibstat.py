"""ibstat / ibstatus / ibv_devinfo: corpus ports, normalisation, inline -v and Down cases."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from preflight.parsers import ParseError
from preflight.parsers.ibstat import parse, physical_state_name, state_name

from .conftest import TRANSFORMS, corpus_names

Reader = Callable[[str], str]
FOLDER = "ibstat"

# (ports, Counter of (state, physical_state, rate_gbps, link_layer))
EXPECTED: dict[str, tuple[int, Counter[Any]]] = {
    "gpud_h100_roce400_all_active.txt": (
        12,
        Counter(
            {("Active", "LinkUp", 400.0, "Ethernet"): 8, ("Active", "LinkUp", 100.0, "Ethernet"): 4}
        ),
    ),
    "gpud_a100_ib200_all_active.txt": (
        9,
        Counter(
            {
                ("Active", "LinkUp", 200.0, "InfiniBand"): 8,
                ("Active", "LinkUp", 200.0, "Ethernet"): 1,
            }
        ),
    ),
    "gpud_azure_a100_ib200_ibpanic_tail.txt": (
        8,
        Counter({("Active", "LinkUp", 200.0, "InfiniBand"): 8}),
    ),
    "gpud_azure_a100_ibstatus_not_ibstat.txt": (
        9,
        Counter(
            {
                ("Active", "LinkUp", 200.0, "InfiniBand"): 8,
                ("Active", "LinkUp", 40.0, "Ethernet"): 1,
            }
        ),
    ),
    "deepep38_ibv_devinfo_cx7_port_active_roce_block.txt": (
        1,
        Counter({("Active", None, None, "Ethernet"): 1}),
    ),
}


def test_every_corpus_file_is_covered(corpus: Path) -> None:
    assert set(corpus_names(corpus / FOLDER)) <= set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_key_figures(read_corpus: Reader, name: str) -> None:
    ports = parse(read_corpus(f"{FOLDER}/{name}")).to_dict()["ports"]
    count, kinds = EXPECTED[name]
    assert len(ports) == count
    summary = Counter(
        (p["state"], p["physical_state"], p["rate_gbps"], p["link_layer"]) for p in ports
    )
    assert summary == kinds
    assert all(p["port"] == 1 for p in ports)


@pytest.mark.parametrize("transform", sorted(TRANSFORMS))
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_wrapped_copies_parse_the_same(read_corpus: Reader, name: str, transform: str) -> None:
    text = read_corpus(f"{FOLDER}/{name}")
    assert parse(TRANSFORMS[transform](text)) == parse(text)


def test_which_hca_is_which(read_corpus: Reader) -> None:
    a100 = parse(read_corpus(f"{FOLDER}/gpud_a100_ib200_all_active.txt")).ports
    assert [(p.ca, p.link_layer) for p in a100][:2] == [
        ("mlx5_0", "Ethernet"),
        ("mlx5_1", "InfiniBand"),
    ]
    roce = parse(read_corpus(f"{FOLDER}/gpud_h100_roce400_all_active.txt")).ports
    assert sorted(p.ca for p in roce if p.rate_gbps == 100.0) == [
        "mlx5_1",
        "mlx5_2",
        "mlx5_7",
        "mlx5_8",
    ]
    devinfo = parse(read_corpus(f"{FOLDER}/deepep38_ibv_devinfo_cx7_port_active_roce_block.txt"))
    assert devinfo.ports[0].ca == "mlx5_2"


def test_port_down_in_ibstat(read_corpus: Reader) -> None:
    text = read_corpus(f"{FOLDER}/gpud_azure_a100_ib200_ibpanic_tail.txt")
    head, sep, tail = text.partition("CA 'mlx5_3'")
    tail = tail.replace("State: Active", "State: Down", 1)
    tail = tail.replace("Physical state: LinkUp", "Physical state: Disabled", 1)
    tail = tail.replace("Rate: 200", "Rate: 10", 1)
    ports = parse(head + sep + tail).ports
    down = [p for p in ports if p.state != "Active"]
    assert [(p.ca, p.state, p.physical_state, p.rate_gbps) for p in down] == [
        ("mlx5_3", "Down", "Disabled", 10.0)
    ]


# `ibv_devinfo -v` layout (rdma-core libibverbs/examples/devinfo.c), trimmed to the ports.
DEVINFO_VERBOSE = """\
hca_id:\tmlx5_0
\ttransport:\t\t\tInfiniBand (0)
\tfw_ver:\t\t\t\t20.31.1014
\tnode_guid:\t\t\t0c42:a103:0097:e9f4
\tvendor_part_id:\t\t\t4123
\tphys_port_cnt:\t\t\t1
\t\tport:\t1
\t\t\tstate:\t\t\tPORT_ACTIVE (4)
\t\t\tmax_mtu:\t\t4096 (5)
\t\t\tactive_mtu:\t\t4096 (5)
\t\t\tsm_lid:\t\t\t1
\t\t\tport_lid:\t\t12
\t\t\tport_lmc:\t\t0x00
\t\t\tlink_layer:\t\tInfiniBand
\t\t\tmax_msg_sz:\t\t0x40000000
\t\t\tactive_width:\t\t4X (2)
\t\t\tactive_speed:\t\t50.0 Gbps (64)
\t\t\tphys_state:\t\tLINK_UP (5)
\t\t\tGID[  0]:\t\tfe80:0000:0000:0000:0c42:a103:0097:e9f4

hca_id:\tmlx5_1
\ttransport:\t\t\tInfiniBand (0)
\tphys_port_cnt:\t\t\t1
\t\tport:\t1
\t\t\tstate:\t\t\tPORT_DOWN (1)
\t\t\tlink_layer:\t\tInfiniBand
\t\t\tactive_width:\t\t4X (2)
\t\t\tactive_speed:\t\t2.5 Gbps (1)
\t\t\tphys_state:\t\tDISABLED (3)

"""


def test_ibv_devinfo_verbose_gives_rate_from_width_and_speed() -> None:
    ports = parse(DEVINFO_VERBOSE).to_dict()["ports"]
    assert ports == [
        {
            "ca": "mlx5_0",
            "port": 1,
            "state": "Active",
            "physical_state": "LinkUp",
            "rate_gbps": 200.0,
            "link_layer": "InfiniBand",
        },
        {
            "ca": "mlx5_1",
            "port": 1,
            "state": "Down",
            "physical_state": "Disabled",
            "rate_gbps": 10.0,
            "link_layer": "InfiniBand",
        },
    ]


@pytest.mark.parametrize(
    ("raw", "state"),
    [
        ("Active", "Active"),
        ("4: ACTIVE", "Active"),
        ("PORT_ACTIVE (4)", "Active"),
        ("Down", "Down"),
        ("1: DOWN", "Down"),
        ("PORT_DOWN (1)", "Down"),
        ("Initializing", "Init"),
        ("2: INIT", "Init"),
        ("PORT_ARMED (3)", "Armed"),
    ],
)
def test_state_normalisation(raw: str, state: str) -> None:
    assert state_name(raw) == state


@pytest.mark.parametrize(
    ("raw", "physical"),
    [
        ("LinkUp", "LinkUp"),
        ("5: LinkUp", "LinkUp"),
        ("LINK_UP (5)", "LinkUp"),
        ("Polling", "Polling"),
        ("2: Polling", "Polling"),
        ("DISABLED (3)", "Disabled"),
        ("PORT_CONFIGURATION TRAINNING (4)", "PortConfigurationTraining"),
    ],
)
def test_physical_state_normalisation(raw: str, physical: str) -> None:
    assert physical_state_name(raw) == physical


def test_no_devices() -> None:
    assert parse("No IB devices found\n").ports == ()


@pytest.mark.parametrize(
    "text",
    ["", "ibpanic: [1400444] main: stat of IB device 'mlx5_8' failed\n", "CA 'mlx5_0'\n", "x\n"],
)
def test_not_ibstat_output(text: str) -> None:
    with pytest.raises(ParseError):
        parse(text)


def test_other_tools_output_is_rejected(read_corpus: Reader) -> None:
    with pytest.raises(ParseError):
        parse(read_corpus("efa/libfabric5689_fi_info_p_efa_legacy_fabric_name_rxd.txt"))
