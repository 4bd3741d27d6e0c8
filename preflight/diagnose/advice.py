"""What to run next for each cause, and how to say a finding in one line."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from preflight.diagnose.model import Finding

# The checks that confirm or rule out each cause: a `-k` expression over the check modules
# (checks/check_<family>.py) and check names (check_memlock, check_efa_count, ...).
CHECKS_FOR_CAUSE = {
    "connection-refused": "ports",
    "connection-closed": "ports or network",
    "connect-failed": "ports or network",
    "ib-completion-error": "fabric",
    "ib-resource-error": "fabric or memlock",
    "ofi-error": "efa",
    "socket-transport": "fabric",
    "watchdog-timeout": "ports or fabric or bandwidth",
    "desync": "gpu",
    "cuda-error": "gpu",
    "system-error": "system",
    "version-mismatch": "software",
}

_HOSTNAME = re.compile(r"^[\w\-]+(?:\.[\w\-]+)*$")


def next_command(cause: str, hosts: Sequence[str], peers: Sequence[str]) -> str:
    selection = CHECKS_FOR_CAUSE[cause]
    selector = selection if " " not in selection else f"'{selection}'"
    targets = _unique([*hosts, *peer_hosts(peers)])
    command = f"preflight run -k {selector}"
    return command + (f" --hosts {','.join(targets)}" if targets else "")


def peer_hosts(peers: Iterable[str]) -> list[str]:
    """Host parts of 'addr:port' peers, leaving out redacted or malformed ones ('172....')."""
    hosts = []
    for peer in peers:
        host = peer.rsplit(":", 1)[0].strip("[]")
        if _HOSTNAME.match(host) and host not in hosts:
            hosts.append(host)
    return hosts


def who(finding: Finding) -> str:
    """'rank 9 on host node-3', 'ranks 1, 3 and 6', 'host node-3' or 'a rank'."""
    ranks = _listing("rank", [str(rank) for rank in finding.ranks])
    hosts = _listing("host", list(finding.hosts))
    if ranks and hosts:
        return f"{ranks} on {hosts}"
    return ranks or hosts or "a rank"


def describe(finding: Finding) -> str:
    peers = _listing("", list(finding.peers)).strip()
    subject = who(finding)
    if finding.cause == "watchdog-timeout":
        return f"{subject} timed out in {finding.detail}"
    if finding.cause == "desync":
        return f"{subject} fell out of step ({finding.detail})"
    if finding.cause in {"connection-closed", "connection-refused", "connect-failed"}:
        verb = {"connection-closed": "lost its connection to",
                "connection-refused": "was refused a connection by",
                "connect-failed": "could not connect to"}[finding.cause]  # fmt: skip
        target = peers or "a peer"
        return f"{subject} {verb} {target} ({finding.detail})"
    where = f" with peer {peers}" if peers else ""
    return f"{subject}: {finding.detail}{where}"


def _listing(noun: str, values: list[str], limit: int = 6) -> str:
    if not values:
        return ""
    plural = f"{noun}s " if noun and len(values) > 1 else f"{noun} " if noun else ""
    shown = ", ".join(values[:limit])
    more = f" and {len(values) - limit} more" if len(values) > limit else ""
    return f"{plural}{shown}{more}"


def _unique(values: Iterable[str]) -> list[str]:
    seen: list[str] = []
    for value in values:
        if value not in seen:
            seen.append(value)
    return seen
