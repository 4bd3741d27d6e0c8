"""InfiniBand/RoCE port state from `ibstat`, `ibstatus` or `ibv_devinfo` (detected).

- ibstat: `CA 'mlx5_0'` blocks, `Port 1:`, `State: Active`, `Rate: 400` (tab or space
  indented; a trailing `ibpanic: ...` stderr line is ignored);
- ibstatus: `Infiniband device 'mlx5_0' port 1 status:`, `state: 4: ACTIVE`,
  `rate: 200 Gb/sec (4X HDR)`;
- ibv_devinfo: `hca_id: mlx5_2`, `port: 1`, `state: PORT_ACTIVE (4)`. It prints no rate;
  with `-v` it prints `active_width: 4X (2)` and `active_speed: 25.0 Gbps (32)`, and the
  rate is width x lane speed (100.0 here). Without `-v`, rate and physical state are None.

State is normalised to Active/Down/Init/Armed, physical state to ibstat's words
(LinkUp, Disabled, Polling, Sleep, PortConfigurationTraining, LinkErrorRecovery, PhyTest).
`No IB devices found` (ibv_devinfo with no HCA) parses to no ports.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from preflight.parsers.common import JsonRecord, ParseError, first_line, require_text

STATES = {1: "Down", 2: "Init", 3: "Armed", 4: "Active", 5: "Active"}
STATE_WORDS = {
    "down": "Down",
    "init": "Init",
    "initializing": "Init",
    "armed": "Armed",
    "active": "Active",
    "active_defer": "Active",
}
PHYSICAL_STATES = {
    1: "Sleep",
    2: "Polling",
    3: "Disabled",
    4: "PortConfigurationTraining",
    5: "LinkUp",
    6: "LinkErrorRecovery",
    7: "PhyTest",
}
PHYSICAL_WORDS = {name.lower(): name for name in PHYSICAL_STATES.values()} | {
    "link_up": "LinkUp",
    "port_configuration trainning": "PortConfigurationTraining",
    "port_configuration training": "PortConfigurationTraining",
    "link_error_recovery": "LinkErrorRecovery",
    "phy test": "PhyTest",
}
KEY_VALUE = re.compile(r"^\s*(?P<key>[A-Za-z_][\w ]*?)\s*:\s*(?P<value>.*?)\s*$")
NUMBER_IN_PARENS = re.compile(r"\((\d+)\)")
LEADING_CODE = re.compile(r"^(\d+)\s*:\s*(.*)$")
RATE = re.compile(r"^(\d+(?:\.\d+)?)")
WIDTH = re.compile(r"^(\d+)X")
NO_DEVICES = "No IB devices found"


@dataclass(frozen=True)
class IbPort(JsonRecord):
    ca: str
    port: int
    state: str | None = None
    physical_state: str | None = None
    rate_gbps: float | None = None
    link_layer: str | None = None


@dataclass(frozen=True)
class IbstatRecord(JsonRecord):
    ports: tuple[IbPort, ...]


def parse(text: str) -> IbstatRecord:
    cleaned = require_text(text, "ibstat")
    if cleaned.strip() == NO_DEVICES:
        return IbstatRecord(ports=())
    reader = _reader_for(cleaned)
    ports = reader(cleaned.splitlines())
    if not ports:
        raise ParseError(f"no InfiniBand port in the output (first line: {first_line(cleaned)!r})")
    return IbstatRecord(ports=tuple(ports))


def _reader_for(text: str) -> Callable[[list[str]], list[IbPort]]:
    if re.search(r"^CA '", text, re.MULTILINE):
        return _read_ibstat
    if re.search(r"^Infiniband device '", text, re.MULTILINE):
        return _read_ibstatus
    if re.search(r"^hca_id:", text, re.MULTILINE):
        return _read_ibv_devinfo
    raise ParseError(f"not ibstat/ibstatus/ibv_devinfo output (first line: {first_line(text)!r})")


def state_name(value: str) -> str | None:
    """'Active', '4: ACTIVE', 'PORT_ACTIVE (4)' -> 'Active'."""
    code = _code(value)
    if code is not None and code in STATES:
        return STATES[code]
    word = LEADING_CODE.sub(r"\2", value).split("(")[0].strip().lower()
    return STATE_WORDS.get(word.removeprefix("port_"))


def physical_state_name(value: str) -> str | None:
    """'LinkUp', '5: LinkUp', 'LINK_UP (5)' -> 'LinkUp'."""
    code = _code(value)
    if code is not None and code in PHYSICAL_STATES:
        return PHYSICAL_STATES[code]
    word = LEADING_CODE.sub(r"\2", value).split("(")[0].strip().lower()
    return PHYSICAL_WORDS.get(word)


def _code(value: str) -> int | None:
    leading = LEADING_CODE.match(value.strip())
    if leading:
        return int(leading.group(1))
    trailing = NUMBER_IN_PARENS.search(value)
    return int(trailing.group(1)) if trailing else None


def _rate(value: str) -> float | None:
    match = RATE.match(value.strip())
    return float(match.group(1)) if match else None


def _read_ibstat(lines: list[str]) -> list[IbPort]:
    ports: list[IbPort] = []
    ca = None
    for line in lines:
        if line.startswith("CA '"):
            ca = line.split("'")[1]
            continue
        port = re.match(r"^\s+Port (\d+):\s*$", line)
        if port and ca is not None:
            ports.append(IbPort(ca=ca, port=int(port.group(1))))
            continue
        if ports:
            ports[-1] = _apply(ports[-1], line, IBSTAT_FIELDS)
    return ports


def _read_ibstatus(lines: list[str]) -> list[IbPort]:
    ports: list[IbPort] = []
    for line in lines:
        start = re.match(r"^Infiniband device '([^']+)' port (\d+) status:", line)
        if start:
            ports.append(IbPort(ca=start.group(1), port=int(start.group(2))))
        elif ports:
            ports[-1] = _apply(ports[-1], line, IBSTATUS_FIELDS)
    return ports


def _read_ibv_devinfo(lines: list[str]) -> list[IbPort]:
    ports: list[IbPort] = []
    ca = None
    lanes: float | None = None
    for line in lines:
        pair = KEY_VALUE.match(line)
        if pair is None:
            continue
        key, value = pair.group("key"), pair.group("value")
        if key == "hca_id":
            ca = value
        elif key == "port" and ca is not None:
            ports.append(IbPort(ca=ca, port=int(value)))
            lanes = None
        elif ports and key == "active_width":
            width = WIDTH.match(value)
            lanes = float(width.group(1)) if width else None
        elif ports and key == "active_speed":
            lane_gbps = _rate(value)
            if lane_gbps is not None and lanes is not None:
                ports[-1] = replace(ports[-1], rate_gbps=lane_gbps * lanes)
        elif ports:
            ports[-1] = _apply(ports[-1], line, DEVINFO_FIELDS)
    return ports


FieldSetters = dict[str, Callable[[IbPort, str], IbPort]]

IBSTAT_FIELDS: FieldSetters = {
    "State": lambda p, v: replace(p, state=state_name(v)),
    "Physical state": lambda p, v: replace(p, physical_state=physical_state_name(v)),
    "Rate": lambda p, v: replace(p, rate_gbps=_rate(v)),
    "Link layer": lambda p, v: replace(p, link_layer=v),
}
IBSTATUS_FIELDS: FieldSetters = {
    "state": IBSTAT_FIELDS["State"],
    "phys state": IBSTAT_FIELDS["Physical state"],
    "rate": IBSTAT_FIELDS["Rate"],
    "link_layer": IBSTAT_FIELDS["Link layer"],
}
DEVINFO_FIELDS: FieldSetters = {
    "state": IBSTAT_FIELDS["State"],
    "phys_state": IBSTAT_FIELDS["Physical state"],
    "link_layer": IBSTAT_FIELDS["Link layer"],
}


def _apply(port: IbPort, line: str, setters: FieldSetters) -> IbPort:
    pair = KEY_VALUE.match(line)
    if pair is None:
        return port
    setter = setters.get(pair.group("key"))
    return setter(port, pair.group("value")) if setter else port
