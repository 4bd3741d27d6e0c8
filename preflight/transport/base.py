"""The one small transport interface every backend implements."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from preflight.errors import PreflightError


@dataclass(frozen=True)
class CommandResult:
    host: str
    argv: tuple[str, ...]
    rc: int | None
    stdout: bytes
    stderr: bytes
    duration_s: float
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.rc == 0 and not self.timed_out

    def text(self) -> str:
        return self.stdout.decode("utf-8", errors="replace")


class FailureKind(StrEnum):
    """Why a node could not be reached; each kind has its own remediation."""

    UNREACHABLE = "unreachable"
    REFUSED = "connection-refused"
    CONNECT_TIMEOUT = "connect-timeout"
    NAME_UNKNOWN = "name-unknown"
    AUTH_DENIED = "auth-denied"
    HOST_KEY_UNKNOWN = "host-key-unknown"
    HOST_KEY_CHANGED = "host-key-changed"
    KEY_UNUSABLE = "key-unusable"
    SSH_ERROR = "ssh-error"

    @property
    def hint(self) -> str:
        return CONNECT_HINTS[self]


CONNECT_HINTS = {
    FailureKind.UNREACHABLE: "no route to the node: check its network link and address",
    FailureKind.REFUSED: "start sshd on the node, or check the port in your ssh config",
    FailureKind.CONNECT_TIMEOUT: "the node is down or a firewall drops port 22: check power "
                                 "and rules",
    FailureKind.NAME_UNKNOWN: "the name does not resolve: fix DNS, /etc/hosts or HostName in "
                              "ssh config",
    FailureKind.AUTH_DENIED: "add your public key to the node's authorized_keys (ssh-copy-id)",
    FailureKind.HOST_KEY_UNKNOWN: "verify the key, then ssh-keyscan it into known_hosts, "
                                  "or rerun with --accept-new-host-keys",
    FailureKind.HOST_KEY_CHANGED: "if the node was reinstalled, ssh-keygen -R it and re-add "
                                  "the key; otherwise treat it as an attack",
    FailureKind.KEY_UNUSABLE: "fix the IdentityFile in your ssh config (path, permissions, key "
                              "format)",
    FailureKind.SSH_ERROR: "check the node and your ssh config",
}


class ConnectError(PreflightError):
    """The node could not be reached or would not let us in."""

    def __init__(self, host: str, kind: FailureKind, detail: str) -> None:
        super().__init__(f"{host}: {kind.value}: {detail}")
        self.host = host
        self.kind = kind
        self.detail = detail


class Spawned(Protocol):
    """A command left running on a node (a listener, a server) until finish() or kill()."""

    def wait_for(self, marker: bytes, timeout: float) -> bool:
        """Read stdout until marker appears (True) or the command exits or time runs out."""
        ...

    def finish(self, timeout: float) -> CommandResult:
        """Close its stdin, wait up to timeout for it to exit (then kill it), and collect."""
        ...

    def kill(self) -> None: ...


class Transport(Protocol):
    """Runs argv on one node. The argv is quoted by the transport, never interpreted."""

    host: str

    def run(
        self, argv: Sequence[str], *, timeout: float, stdin: bytes | None = None
    ) -> CommandResult: ...

    def spawn(self, argv: Sequence[str], *, timeout: float) -> Spawned:
        """Start argv with a hard deadline of timeout seconds, without waiting for it."""
        ...

    def close(self) -> None: ...
