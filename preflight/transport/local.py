"""Run commands on this machine, with the same deadline semantics as SSH."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import subprocess
import time
from collections.abc import Sequence

from preflight.transport.base import CommandResult


class LocalTransport:
    def __init__(self, host: str | None = None) -> None:
        self.host = host or socket.gethostname()

    def run(
        self, argv: Sequence[str], *, timeout: float, stdin: bytes | None = None
    ) -> CommandResult:
        started = time.monotonic()
        try:
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except FileNotFoundError as exc:
            return self._result(argv, 127, b"", str(exc).encode(), started)
        try:
            out, err = proc.communicate(stdin, timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            out, err = proc.communicate()
            return self._result(argv, None, out, err, started, timed_out=True)
        return self._result(argv, proc.returncode, out, err, started)

    def _result(
        self,
        argv: Sequence[str],
        rc: int | None,
        out: bytes,
        err: bytes,
        started: float,
        timed_out: bool = False,
    ) -> CommandResult:
        duration = time.monotonic() - started
        return CommandResult(self.host, tuple(argv), rc, out, err, duration, timed_out)

    def spawn(self, argv: Sequence[str], *, timeout: float) -> LocalSpawned:
        return LocalSpawned(self.host, argv, timeout)

    def close(self) -> None:
        """Nothing to close: each command is its own process."""


class LocalSpawned:
    def __init__(self, host: str, argv: Sequence[str], timeout: float) -> None:
        self.host = host
        self.argv = tuple(argv)
        self.started = time.monotonic()
        self.deadline = self.started + timeout
        bounded = ["timeout", "-k", "2", f"{timeout:g}", *self.argv]  # dies even if we do
        self.proc = subprocess.Popen(bounded, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, start_new_session=True)
        self.seen = bytearray()

    def wait_for(self, marker: bytes, timeout: float) -> bool:
        assert self.proc.stdout is not None
        until = min(self.deadline, time.monotonic() + timeout)
        fd = self.proc.stdout.fileno()
        while marker not in self.seen:
            remaining = until - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                return False
            chunk = os.read(fd, 65536)
            if not chunk:
                return False
            self.seen += chunk
        return True

    def finish(self, timeout: float) -> CommandResult:
        wait = max(0.0, min(timeout, self.deadline - time.monotonic()))
        timed_out = False
        try:
            out, err = self.proc.communicate(timeout=wait)  # closes stdin first: EOF = stop
        except subprocess.TimeoutExpired:
            timed_out = True
            self.kill()
            out, err = self.proc.communicate()
        rc = None if timed_out else self.proc.returncode
        return CommandResult(self.host, self.argv, rc, bytes(self.seen) + out, err,
                             time.monotonic() - self.started, timed_out)

    def kill(self) -> None:
        _kill_group(self.proc)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
