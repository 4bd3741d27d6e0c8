"""Run commands on this machine, with the same deadline semantics as SSH."""

from __future__ import annotations

import os
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

    def close(self) -> None:
        """Nothing to close: each command is its own process."""


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
