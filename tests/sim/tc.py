"""Traffic control for one host's link: the qdiscs follow from the host's link conditions.

Whole-host rate -> tbf; per-peer rates -> htb with one u32 dst filter per peer
(unclassified traffic bypasses htb unshaped). Loss is not here: this kernel has no netem
(CONFIG_NET_SCH_NETEM unset), so faults.loss uses iptables' statistic match instead.
"""

from __future__ import annotations

import re

from .host import SimHost
from .shell import SimError, in_ns, sh

_RATE = re.compile(r"^(\d+(?:\.\d+)?)(bit|kbit|mbit|gbit)$")
_UNITS = {"bit": 1, "kbit": 10**3, "mbit": 10**6, "gbit": 10**9}


def rate_bps(rate: str) -> int:
    match = _RATE.match(rate.lower())
    if not match:
        raise ValueError(f"rate {rate!r}: expected like '500mbit', '10gbit', '800kbit'")
    return int(float(match.group(1)) * _UNITS[match.group(2)])


def _burst_bytes(rate: str) -> int:
    # 10 ms at the rate, and never below one 64 KiB GSO super-packet (tbf would drop it).
    return max(rate_bps(rate) // 800, 65536)


def _tbf(rate: str) -> list[str]:
    return ["tbf", "rate", rate, "burst", str(_burst_bytes(rate)), "latency", "50ms"]


def _qdisc_commands(dev: str, rate: str | None) -> list[list[str]]:
    if rate is None:
        return []
    return [["qdisc", "add", "dev", dev, "root", "handle", "1:", *_tbf(rate)]]


def _peer_commands(dev: str, peer_rates: dict[str, str]) -> list[list[str]]:
    cmds = [["qdisc", "add", "dev", dev, "root", "handle", "1:", "htb"]]
    for minor, (peer, rate) in enumerate(sorted(peer_rates.items()), start=10):
        burst = str(_burst_bytes(rate))
        cmds.append(["class", "add", "dev", dev, "parent", "1:", "classid", f"1:{minor}",
                     "htb", "rate", rate, "ceil", rate, "burst", burst, "cburst", burst])
        cmds.append(["filter", "add", "dev", dev, "protocol", "ip", "parent", "1:", "prio",
                     "1", "u32", "match", "ip", "dst", f"{peer}/32", "flowid", f"1:{minor}"])
    return cmds


def apply(host: SimHost) -> None:
    """Replace the qdiscs on the host's eth0 (egress from it) and its bridge-side veth
    (egress towards it) with what its current conditions ask for."""
    if host.peer_rates and host.rate:
        raise SimError(f"{host.name}: shape_link() cannot be combined with shape()")
    inside = (_peer_commands("eth0", host.peer_rates) if host.peer_rates
              else _qdisc_commands("eth0", host.rate))
    outside = [] if host.peer_rates else _qdisc_commands(host.veth, host.rate)
    _replace(in_ns(host.ns, ["tc"]), "eth0", inside)
    _replace(["tc"], host.veth, outside)


def _replace(tc: list[str], dev: str, commands: list[list[str]]) -> None:
    sh([*tc, "qdisc", "del", "dev", dev, "root"], check=False)  # absent root: harmless error
    for command in commands:
        sh([*tc, *command])
