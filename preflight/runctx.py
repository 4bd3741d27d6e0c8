"""The state of one run, shared by the plugin's hooks and fixtures.

Facts are gathered once (by the controller before tests start) and measurements once
per run: a file lock in the run directory makes xdist workers wait for the first one
instead of measuring again, and `check --from RUN_DIR` reads the recorded files.
Everything recorded carries the run's id: a live run never takes another run's facts or
measurements for its own (the controller gives its id to the xdist workers it starts).
"""

from __future__ import annotations

import fcntl
import json
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from preflight.config import Expectations
from preflight.connections import Connections
from preflight.facts import ClusterFacts
from preflight.gather import NodeOutcome, read_facts, read_facts_header
from preflight.inventory import Node
from preflight.live import measuring
from preflight.results import Result, write_json
from preflight.transport.base import Transport
from preflight.verdict import Unavailable

FACTS_FILE = "facts.json"
MEASUREMENTS_DIR = "measurements"
RUN_ID_KEY = "run_id"


def new_run_id() -> str:
    return uuid.uuid4().hex


@dataclass
class RunContext:
    nodes: list[Node]
    expect: Expectations
    run_dir: Path
    transport_factory: Callable[[str], Transport]
    offline: bool = False  # re-evaluating a recorded run: never touch the cluster
    recorded_from: Path | None = None
    remote_python: str = "python3"
    fanout: int = 64
    gather_via: str = "ssh"  # or "srun": one Slurm step instead of one SSH session per node
    command: list[str] = field(default_factory=list)
    started_wall: str = ""
    started_mono: float = field(default_factory=time.monotonic)
    run_id: str = field(default_factory=new_run_id)
    results: list[Result] = field(default_factory=list)
    interrupted: bool = False
    seed: int = 0  # of the sampled schedules: from the run directory (setup.build_context)
    gather_timing: dict[str, float] = field(default_factory=dict)
    wanted_probes: set[str] = field(default_factory=set)  # fixtures the selected checks use
    # Checks this run's settings rule out (preflight.applies): check -> reason, not collected
    not_applicable: dict[str, str] = field(default_factory=dict)
    # The reach probes started in the background (preflight.fixtures.start_reach).
    reach_runs: dict[str, Future[dict[str, Any]]] = field(default_factory=dict)
    # The sshd burst, started in the background alongside ib_write_bw (fixtures.start_burst).
    burst_run: Future[dict[str, Any]] | None = None
    _connections: Connections | None = None
    _outcomes: dict[str, NodeOutcome] | None = None
    _cluster: ClusterFacts | None = None

    @property
    def names(self) -> list[str]:
        return [n.name for n in self.nodes]

    @property
    def connections(self) -> Connections:
        if self._connections is None:
            self._connections = Connections(self.transport_factory)
        return self._connections

    def close(self) -> None:
        if self._connections is not None:
            self._connections.close_all()

    @property
    def facts_path(self) -> Path:
        return self.run_dir / FACTS_FILE

    def outcomes(self) -> dict[str, NodeOutcome]:
        if self._outcomes is None:
            if not self.facts_path.is_file():
                raise RuntimeError(f"no {FACTS_FILE} in {self.run_dir}: facts were not gathered")
            recorded_by = read_facts_header(self.facts_path).get(RUN_ID_KEY)
            if not self.offline and recorded_by != self.run_id:
                raise RuntimeError(f"{self.facts_path} was written by another run "
                                   f"({recorded_by}), not this one ({self.run_id})")
            self._outcomes = read_facts(self.facts_path)
        return self._outcomes

    def set_outcomes(self, outcomes: dict[str, NodeOutcome]) -> None:
        self._outcomes = outcomes
        self._cluster = None

    def cluster_facts(self) -> ClusterFacts:
        """Every node's facts, parsed once per process: the checks' `cluster` fixture and
        the end of the run (the launch plan) read the same parsed outputs."""
        if self._cluster is None:
            slots = {n.name: n.slots for n in self.nodes}
            self._cluster = ClusterFacts(self.outcomes(), slots)
        return self._cluster

    def measure(self, name: str, compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """compute() once per run, whichever process asks first; later asks read the file."""
        folder = self.run_dir / MEASUREMENTS_DIR
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{_safe(name)}.json"
        with _locked(folder / f".{_safe(name)}.lock"):
            if path.is_file():
                data: dict[str, Any] = json.loads(path.read_text())
                if self.offline or data.get(RUN_ID_KEY) == self.run_id:
                    return data
            if self.offline:
                raise Unavailable(f"'{name}' was not measured in the recorded run "
                                  f"{self.recorded_from or self.run_dir}")
            started = time.time()
            with measuring(name, len(self.nodes)):
                data = compute()
            data["timing"] = {"started": started, "ended": time.time()}
            write_json(path, {**data, RUN_ID_KEY: self.run_id})
            return data

    @contextmanager
    def exclusive(self, resource: str) -> Iterator[None]:
        """Hold a run-wide lock: probes that bind the same port never overlap, even under
        xdist, where they may be measured by different workers at once."""
        folder = self.run_dir / MEASUREMENTS_DIR
        folder.mkdir(parents=True, exist_ok=True)
        with _locked(folder / f".exclusive-{_safe(resource)}.lock"):
            yield

    def remove_locks(self) -> None:
        """The lock files only order this run's processes: none outlives the run."""
        for lock in (self.run_dir / MEASUREMENTS_DIR).glob(".*.lock"):
            lock.unlink(missing_ok=True)

    def measurements(self) -> dict[str, Any]:
        return read_measurements(self.run_dir / MEASUREMENTS_DIR)


def read_measurements(folder: Path) -> dict[str, Any]:
    """measurements/<name>.json of a run directory, by name."""
    if not folder.is_dir():
        return {}
    return {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


CONTEXT = pytest.StashKey["RunContext"]()


def context(config: pytest.Config) -> RunContext | None:
    """This pytest session's run, or None where preflight is inert (no inventory given)."""
    return config.stash.get(CONTEXT, None)
