"""SSH transport on paramiko: ssh_config honoured, known_hosts enforced, every command bounded.

Host keys follow OpenSSH: an unknown key is rejected unless the user asked for
accept-new (then it is recorded), and a changed key always fails.
"""

from __future__ import annotations

import contextlib
import os
import select
import shlex
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paramiko

from preflight.transport.base import CommandResult, ConnectError, FailureKind

MAX_STREAM_BYTES = 32 << 20
KILL_GRACE_S = 2.0


@dataclass(frozen=True)
class SshSettings:
    ssh_config: Path | None = None
    known_hosts: Path | None = None
    accept_new_host_keys: bool = False
    connect_timeout: float = 10.0
    user: str | None = None

    def config_path(self) -> Path:
        return self.ssh_config or Path.home() / ".ssh" / "config"

    def known_hosts_path(self) -> Path:
        return self.known_hosts or Path.home() / ".ssh" / "known_hosts"


@dataclass(frozen=True)
class Endpoint:
    hostname: str
    port: int
    user: str
    identity_files: tuple[str, ...]
    proxy_jump: str | None
    known_hosts: Path  # --known-hosts, else the config's UserKnownHostsFile, else ~/.ssh/...

    @property
    def key_name(self) -> str:
        """The name known_hosts stores this endpoint under (OpenSSH's rule)."""
        return self.hostname if self.port == 22 else f"[{self.hostname}]:{self.port}"


def resolve_endpoint(host: str, settings: SshSettings) -> Endpoint:
    config = paramiko.SSHConfig()
    path = settings.config_path()
    if path.is_file():
        config = paramiko.SSHConfig.from_path(str(path))
    entry = config.lookup(host)
    user = settings.user or entry.get("user") or _login_name()
    jump = entry.get("proxyjump")
    configured = str(entry.get("userknownhostsfile", "")).split()
    known = settings.known_hosts or (
        Path(os.path.expanduser(configured[0])) if configured else settings.known_hosts_path())
    return Endpoint(
        hostname=entry.get("hostname", host),
        port=int(entry.get("port", 22)),
        user=user,
        identity_files=tuple(os.path.expanduser(p) for p in entry.get("identityfile", [])),
        proxy_jump=None if jump in (None, "none") else jump,
        known_hosts=known,
    )


def _login_name() -> str:
    import getpass

    return getpass.getuser()


class _KnownHostsPolicy(paramiko.MissingHostKeyPolicy):
    """Reject unknown keys, or record them when accept-new was asked for."""

    _lock = threading.Lock()

    def __init__(self, host: str, known_hosts: Path, accept_new: bool) -> None:
        self.host = host
        self.known_hosts = known_hosts
        self.accept_new = accept_new

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: Any) -> None:
        fingerprint = key.fingerprint
        if not self.accept_new:
            raise ConnectError(
                self.host,
                FailureKind.HOST_KEY_UNKNOWN,
                f"host key {fingerprint} for {hostname} is not in {self.known_hosts} "
                "(verify it, then add it or rerun with --accept-new-host-keys)",
            )
        line = f"{hostname} {key.get_name()} {key.get_base64()}\n"
        with self._lock:
            self.known_hosts.parent.mkdir(parents=True, exist_ok=True)
            with self.known_hosts.open("a") as fh:
                fh.write(line)
        client.get_host_keys().add(hostname, key.get_name(), key)


class SshTransport:
    """One connection per node, opened once and reused for every command of the run."""

    def __init__(self, host: str, settings: SshSettings, _depth: int = 0) -> None:
        self.host = host
        self.settings = settings
        self.endpoint = resolve_endpoint(host, settings)
        self._jump: SshTransport | None = None
        self._spawned: list[SshSpawned] = []
        self._client = self._connect(_depth)

    def _connect(self, depth: int) -> paramiko.SSHClient:
        ep = self.endpoint
        client = paramiko.SSHClient()
        self._load_known_hosts(client)
        client.set_missing_host_key_policy(
            _KnownHostsPolicy(self.host, ep.known_hosts, self.settings.accept_new_host_keys)
        )
        sock = self._open_socket(depth)
        timeout = self.settings.connect_timeout
        try:
            client.connect(
                ep.hostname, port=ep.port, username=ep.user, sock=sock,
                key_filename=list(ep.identity_files) or None,  # type: ignore[arg-type]
                timeout=timeout,
                banner_timeout=timeout, auth_timeout=timeout, channel_timeout=timeout,
            )
        except ConnectError:
            client.close()
            raise
        except Exception as exc:
            client.close()
            unusable = None if isinstance(exc, NOT_KEY_TROUBLE) else unusable_identity(
                ep.identity_files)
            if unusable is not None:
                raise ConnectError(self.host, FailureKind.KEY_UNUSABLE, unusable) from exc
            raise _classify(self.host, exc) from exc
        return client

    def _load_known_hosts(self, client: paramiko.SSHClient) -> None:
        for system in (Path("/etc/ssh/ssh_known_hosts"),):
            if system.is_file():
                client.load_system_host_keys(str(system))
        path = self.endpoint.known_hosts
        if path.is_file():
            client.load_host_keys(str(path))

    def _open_socket(self, depth: int) -> Any:
        ep = self.endpoint
        timeout = self.settings.connect_timeout
        if ep.proxy_jump:
            if depth > 4:
                raise ConnectError(self.host, FailureKind.SSH_ERROR, "ProxyJump chain too deep")
            self._jump = SshTransport(ep.proxy_jump.split(",")[0], self.settings, depth + 1)
            jump_transport = self._jump._client.get_transport()
            assert jump_transport is not None
            try:
                return jump_transport.open_channel(
                    "direct-tcpip", (ep.hostname, ep.port), ("127.0.0.1", 0), timeout=timeout
                )
            except Exception as exc:
                raise _classify(self.host, exc) from exc
        try:
            return socket.create_connection((ep.hostname, ep.port), timeout=timeout)
        except Exception as exc:
            raise _classify(self.host, exc) from exc

    def run(
        self, argv: Sequence[str], *, timeout: float, stdin: bytes | None = None
    ) -> CommandResult:
        """Run argv with a deadline enforced on both ends: `timeout` remotely, a clock here."""
        started = time.monotonic()
        command = shlex.join(["timeout", "-k", f"{KILL_GRACE_S:g}", f"{timeout:g}", *argv])
        channel = self._open_channel()
        try:
            channel.exec_command(command)
            if stdin is not None:
                channel.sendall(stdin)
            channel.shutdown_write()
            out, err, timed_out = _drain(channel, started + timeout + KILL_GRACE_S + 1)
            rc = None if timed_out else channel.recv_exit_status()
        finally:
            channel.close()
        timed_out = timed_out or rc == 124
        duration = time.monotonic() - started
        return CommandResult(self.host, tuple(argv), rc, out, err, duration, timed_out)

    def spawn(self, argv: Sequence[str], *, timeout: float) -> SshSpawned:
        """Start argv remotely; its first output line is its pid, so kill() can reach it."""
        inner = shlex.join(["timeout", "-k", f"{KILL_GRACE_S:g}", f"{timeout:g}", *argv])
        command = f"echo pid $$; exec {inner}"
        channel = self._open_channel()
        channel.exec_command(command)
        spawned = SshSpawned(self, channel, tuple(argv), timeout)
        self._spawned.append(spawned)
        return spawned

    def _open_channel(self) -> paramiko.Channel:
        """A new session on the open connection; ConnectError when the connection is gone
        (or the node does not answer within the connect timeout: its link went down)."""
        transport = self._client.get_transport()
        if transport is None or not transport.is_active():
            raise ConnectError(self.host, FailureKind.SSH_ERROR, "connection lost")
        try:
            return transport.open_session(timeout=self.settings.connect_timeout)
        except Exception as exc:
            raise ConnectError(self.host, FailureKind.SSH_ERROR, f"open session: {exc}") from exc

    def close(self) -> None:
        """Stop whatever is still running for us on the node, then disconnect."""
        for spawned in self._spawned:
            if not spawned.channel.closed:
                spawned.kill()
        self._client.close()
        if self._jump is not None:
            self._jump.close()


class SshSpawned:
    def __init__(self, owner: SshTransport, channel: paramiko.Channel, argv: tuple[str, ...],
                 timeout: float) -> None:
        self.owner = owner
        self.channel = channel
        self.argv = argv
        self.started = time.monotonic()
        self.deadline = self.started + timeout + KILL_GRACE_S
        self.out = bytearray()
        self.pid: int | None = None

    def _read(self, until: float) -> bool:
        """Read what is there (waiting until `until`); False once the command has exited."""
        select.select([self.channel], [], [], max(0.0, until - time.monotonic()))
        while self.channel.recv_ready():
            _append(self.out, self.channel.recv(65536))
        if self.pid is None and b"\n" in self.out:
            first, _, rest = bytes(self.out).partition(b"\n")
            if first.startswith(b"pid "):
                self.pid = int(first[4:])
                self.out = bytearray(rest)
        return not (self.channel.exit_status_ready() and not self.channel.recv_ready())

    def wait_for(self, marker: bytes, timeout: float) -> bool:
        until = min(self.deadline, time.monotonic() + timeout)
        while marker not in self.out or self.pid is None:
            if not self._read(min(until, time.monotonic() + 0.2)) \
                    or time.monotonic() >= until:
                return marker in self.out
        return True

    def finish(self, timeout: float) -> CommandResult:
        self.channel.shutdown_write()
        until = min(self.deadline, time.monotonic() + timeout)
        out, err, timed_out = _drain(self.channel, until)
        _append(self.out, out)
        if timed_out:
            self.kill()
        rc = None if timed_out else self.channel.recv_exit_status()
        self.channel.close()
        if self.pid is None:
            first, _, rest = bytes(self.out).partition(b"\n")
            self.out = bytearray(rest if first.startswith(b"pid ") else self.out)
        return CommandResult(self.owner.host, self.argv, rc, bytes(self.out), err,
                             time.monotonic() - self.started, timed_out or rc == 124)

    def kill(self) -> None:
        """Stop the remote command now (timeout forwards the signal to its child)."""
        if self.pid is not None:
            with contextlib.suppress(ConnectError):
                self.owner.run(["kill", "-TERM", str(self.pid)], timeout=5)
        self.channel.close()


def _drain(channel: paramiko.Channel, deadline: float) -> tuple[bytes, bytes, bool]:
    out, err = bytearray(), bytearray()
    while True:
        while channel.recv_ready():
            _append(out, channel.recv(65536))
        while channel.recv_stderr_ready():
            _append(err, channel.recv_stderr(65536))
        if channel.exit_status_ready() and not channel.recv_ready() \
                and not channel.recv_stderr_ready() and (channel.eof_received or channel.closed):
            return bytes(out), bytes(err), False
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return bytes(out), bytes(err), True
        select.select([channel], [], [], min(remaining, 0.2))


def _append(buffer: bytearray, chunk: bytes) -> None:
    room = MAX_STREAM_BYTES - len(buffer)
    if room > 0:
        buffer += chunk[:room]


# Failures that say what they are; any other failure after the socket opened may be a key
# paramiko could not read.
NOT_KEY_TROUBLE = (paramiko.AuthenticationException, paramiko.BadHostKeyException,
                   TimeoutError, socket.timeout, ConnectionError, EOFError)


def unusable_identity(paths: Sequence[str | Path]) -> str | None:
    """Why the first IdentityFile that cannot be used cannot be, or None. Asked only once a
    connection failed: paramiko reports a bad key as an OSError (which reads as "no route")
    or a decode error that names no file."""
    for path in map(Path, paths):
        try:
            paramiko.PKey.from_path(path)
        except paramiko.PasswordRequiredException:
            continue  # encrypted: usable through an agent
        except FileNotFoundError:
            return f"IdentityFile {path} does not exist"
        except IsADirectoryError:
            return f"IdentityFile {path} is a directory"
        except PermissionError:
            return f"IdentityFile {path} cannot be read (permission denied)"
        except Exception as exc:  # noqa: BLE001 - any parse failure means the same here
            return (f"IdentityFile {path} is not a private key paramiko can read "
                    f"({type(exc).__name__})")
    return None


def _classify(host: str, exc: BaseException) -> ConnectError:
    if isinstance(exc, ConnectError):
        return exc
    if isinstance(exc, paramiko.BadHostKeyException):
        return ConnectError(
            host, FailureKind.HOST_KEY_CHANGED,
            f"host key changed: got {exc.key.fingerprint}, known_hosts has "
            f"{exc.expected_key.fingerprint} (possible man-in-the-middle, or the node was "
            "reinstalled: verify, then remove the old key with ssh-keygen -R)",
        )
    if isinstance(exc, paramiko.AuthenticationException):
        return ConnectError(host, FailureKind.AUTH_DENIED, f"authentication denied: {exc}")
    if isinstance(exc, socket.gaierror):
        return ConnectError(host, FailureKind.NAME_UNKNOWN, f"cannot resolve name: {exc}")
    if isinstance(exc, ConnectionRefusedError):
        return ConnectError(host, FailureKind.REFUSED, "connection refused (is sshd running?)")
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return ConnectError(host, FailureKind.CONNECT_TIMEOUT, "connection timed out")
    if isinstance(exc, OSError):
        return ConnectError(host, FailureKind.UNREACHABLE, exc.strerror or str(exc))
    return ConnectError(host, FailureKind.SSH_ERROR, f"{type(exc).__name__}: {exc}")
