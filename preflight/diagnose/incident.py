"""One incident from many findings: the root, its consequences, its symptoms, and scopes.

The root is the earliest local error that explains the others. A wave of watchdog timeouts
or a desync report is the symptom; a lost connection usually follows the peer's own
failure; a line that only wraps an error reported elsewhere ('Failed to execute operation
Connect', 'unhandled system error') is a consequence. Warnings explain nothing by
themselves: they are context.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from preflight.diagnose.advice import PEER_CAUSES, blames_peer, peer_hosts
from preflight.diagnose.model import Finding

SYMPTOMS = frozenset({"watchdog-timeout", "desync"})
_TIER = {
    "process-crash": 1,  # below the hard errors: an abort after one of them also crashes
    "desync": 2,
    "connection-closed": 3,
    "watchdog-timeout": 5,
    "socket-transport": 6,
    "unrecognized": 7,
}
_WRAPPER_TIER = 4
_ROLE_ORDER = {"root": 0, "consequence": 1, "symptom": 2, "context": 3}


def root_cause(findings: Sequence[Finding], wrapper_only: Sequence[bool]) -> Finding | None:
    """The error finding of the lowest tier, earliest first (findings come in time order)."""
    errors = [
        (_tier(finding, wrapped), index, finding)
        for index, (finding, wrapped) in enumerate(zip(findings, wrapper_only, strict=True))
        if finding.is_error
    ]
    return min(errors, key=lambda entry: entry[:2])[2] if errors else None


def assemble(
    findings: Sequence[Finding], wrapper_only: Sequence[bool]
) -> tuple[Finding | None, tuple[Finding, ...]]:
    """The root and every finding with its role and scope, the root first."""
    root = root_cause(findings, wrapper_only)
    placed = [
        replace(finding, role=_role(finding, finding is root), scope=scope(finding))
        for finding in findings
    ]
    ordered = sorted(enumerate(placed), key=lambda entry: (_ROLE_ORDER[entry[1].role], entry[0]))
    new_root = next((finding for finding in placed if finding.role == "root"), None)
    return new_root, tuple(finding for _, finding in ordered)


def scope(finding: Finding) -> str | None:
    """'link' (two hosts), 'node' (one host) or 'systemic' (many hosts alike); None unknown."""
    if finding.cause in SYMPTOMS or finding.cause == "unrecognized":
        return None
    hosts = list(finding.hosts)
    peers = [peer for peer in peer_hosts(finding.peers) if peer not in hosts]
    if not blames_peer(finding.cause, finding.detail):
        return "systemic" if len(hosts) > 1 else "node" if hosts else None
    if not hosts:
        return "node" if len(peers) == 1 else None
    if finding.cause in PEER_CAUSES and len(hosts) > 1 and len(set(peers)) == 1:
        return "node"  # many hosts lost the same peer: the peer is the one to look at
    if len(hosts) > 1:
        return "link" if len(hosts) == 2 and finding.cause in PEER_CAUSES else "systemic"
    return "link" if peers else "node"


def _tier(finding: Finding, wrapper_only: bool) -> int:
    if wrapper_only and finding.cause not in _TIER:
        return _WRAPPER_TIER
    return _TIER.get(finding.cause, 0)


def _role(finding: Finding, is_root: bool) -> str:
    if is_root:
        return "root"
    if not finding.is_error:
        return "context"
    return "symptom" if finding.cause in SYMPTOMS else "consequence"
