"""A pool of one transport per node, opened on first use, reused, and always closed."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable

from preflight.transport.base import ConnectError, Transport


class Connections:
    def __init__(self, factory: Callable[[str], Transport]) -> None:
        self._factory = factory
        self._open: dict[str, Transport] = {}
        self._failed: dict[str, ConnectError] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, host: str) -> Transport:
        """The node's transport; a node that failed to connect fails again at once."""
        with self._guard:
            lock = self._locks.setdefault(host, threading.Lock())
        with lock:
            if host in self._failed:
                raise self._failed[host]
            if host not in self._open:
                try:
                    self._open[host] = self._factory(host)
                except ConnectError as exc:
                    self._failed[host] = exc
                    raise
            return self._open[host]

    def failed(self, host: str) -> ConnectError | None:
        """Why the node's last connect failed (every use of it now fails at once), or None."""
        with self._guard:
            return self._failed.get(host)

    def forget(self, host: str) -> None:
        """Drop a node's connection (e.g. it died mid-run) so the next use reconnects."""
        with self._guard:
            transport = self._open.pop(host, None)
            self._failed.pop(host, None)
        if transport is not None:
            transport.close()

    def close_all(self) -> None:
        with self._guard:
            transports = list(self._open.values())
            self._open.clear()
        for transport in transports:
            with contextlib.suppress(Exception):  # closing is best effort
                transport.close()

    def __enter__(self) -> Connections:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close_all()
