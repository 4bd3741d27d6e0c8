"""What `preflight diagnose` reports: the ranks it saw, its findings, and a summary."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CAUSES: tuple[str, ...] = (
    "connection-refused",
    "connection-closed",
    "connect-failed",
    "store-error",
    "socket-setup",
    "collective-mismatch",
    "ib-completion-error",
    "ib-resource-error",
    "ofi-error",
    "socket-transport",
    "watchdog-timeout",
    "desync",
    "cuda-error",
    "process-crash",
    "system-error",
    "version-mismatch",
    "unrecognized",
)

# A finding's part in the incident: the root explains the others; consequences follow from
# it (wrappers, remote errors, aborted communicators); symptoms are the timeouts it causes;
# context is a warning that explains nothing by itself.
ROLES: tuple[str, ...] = ("root", "consequence", "symptom", "context")
# Where the cause lives: between two hosts, on one host, or on many hosts alike.
SCOPES: tuple[str, ...] = ("link", "node", "systemic")

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class RankInfo:
    """One NCCL process/device as seen in the logs; fields the logs did not show are None."""

    rank: int | None
    host: str | None
    pid: int | None
    device: int | None
    nccl_version: str | None
    bootstrap_interface: str | None
    bootstrap_address: str | None
    network: str | None  # "IB", "Socket", "AWS Libfabric", "IBext", ...
    transports: tuple[str, ...]  # "P2P", "SHM", "NET/IB", "NET/IB/GDRDMA", ...
    source: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "host": self.host,
            "pid": self.pid,
            "device": self.device,
            "nccl_version": self.nccl_version,
            "bootstrap_interface": self.bootstrap_interface,
            "bootstrap_address": self.bootstrap_address,
            "network": self.network,
            "transports": list(self.transports),
            "source": self.source,
        }


@dataclass(frozen=True)
class Finding:
    cause: str  # one of CAUSES
    severity: str  # ERROR or WARNING
    detail: str  # one line, e.g. "IB completion error 12 (IBV_WC_RETRY_EXC_ERR), vendor err 129"
    evidence: tuple[str, ...]  # original log lines (the first MAX_EVIDENCE of them)
    matched_lines: int  # how many log lines showed this finding
    peers: tuple[str, ...]  # remote endpoints named, "10.0.0.2:45763"
    ranks: tuple[int, ...]
    hosts: tuple[str, ...]
    time: str | None  # ISO 8601 time of the first line that had one; None where no year
    next: str  # a command that confirms or rules out the cause
    advice: str = ""  # what to look at by hand
    role: str = "consequence"  # one of ROLES
    scope: str | None = None  # one of SCOPES, None where the log does not say
    peer_ranks: tuple[int, ...] = ()  # ranks the text blames ('crash on rank 0')
    peer_hosts: tuple[str, ...] = ()  # the peers' hosts, by name where NCCL's own lines tell
    time_printed: str | None = None  # the first timestamp as the log printed it

    @property
    def is_error(self) -> bool:
        return self.severity == ERROR

    def to_dict(self) -> dict[str, Any]:
        return {
            "cause": self.cause,
            "severity": self.severity,
            "detail": self.detail,
            "evidence": list(self.evidence),
            "matched_lines": self.matched_lines,
            "peers": list(self.peers),
            "ranks": list(self.ranks),
            "hosts": list(self.hosts),
            "time": self.time,
            "time_printed": self.time_printed,
            "role": self.role,
            "scope": self.scope,
            "peer_ranks": list(self.peer_ranks),
            "peer_hosts": list(self.peer_hosts),
            "next": self.next,
            "advice": self.advice,
        }


@dataclass(frozen=True)
class Diagnosis:
    files: tuple[str, ...]
    ranks: tuple[RankInfo, ...]
    findings: tuple[Finding, ...]  # the root first, then by role, then in time order
    root: Finding | None  # the most likely root cause among the error findings
    summary: str
    socket_while_ib_expected: bool | None

    @property
    def has_errors(self) -> bool:
        return any(finding.is_error for finding in self.findings)

    def to_dict(self) -> dict[str, Any]:
        return {
            "files": list(self.files),
            "ranks": [rank.to_dict() for rank in self.ranks],
            "findings": [finding.to_dict() for finding in self.findings],
            "root": self.root.to_dict() if self.root else None,
            "root_cause": self.root.cause if self.root else None,
            "summary": self.summary,
            "socket_while_ib_expected": self.socket_while_ib_expected,
        }
