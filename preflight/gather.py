"""Gather: the gather script (preflight/probe/remote.py) once per node, one round trip
each, bounded fan-out → facts.json. ("probe" alone means an active measurement between
nodes; the script's package, `ProbeOptions` and the `probe-*` reason codes keep the older
name.)"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any

from preflight.connections import Connections
from preflight.fanout import DeadlineExceeded, fan_out
from preflight.levels import FINGERPRINT_CHECKS
from preflight.results import write_json
from preflight.transport.base import CommandResult, ConnectError, FailureKind

FACTS_SCHEMA_VERSION = 1
PROBE_SOURCE = resources.files("preflight.probe").joinpath("remote.py").read_bytes()


class GatherFailure(StrEnum):
    """Why gathering got no facts from a node, besides SSH's own (`FailureKind`)."""

    PYTHON_MISSING = "python-missing"
    PROBE_TIMEOUT = "probe-timeout"
    PROBE_FAILED = "probe-failed"
    PROBE_TRUNCATED = "probe-truncated"  # srun: its output stopped half-way
    GATHER_DEADLINE = "gather-deadline"
    SRUN_MISSING = "srun-missing"
    NO_ANSWER = "no-answer"  # srun started nothing on the node
    INTERNAL_ERROR = "internal-error"
    UNKNOWN = "unknown"

    @property
    def hint(self) -> str:
        return GATHER_HINTS[self]


GATHER_HINTS = {
    GatherFailure.PYTHON_MISSING: "install python3 on the node, or point --remote-python at one",
    GatherFailure.PROBE_TIMEOUT: "a tool on the node hangs (often nvidia-smi): check the driver "
                                 "and dmesg",
    GatherFailure.PROBE_FAILED: "run the probe by hand: preflight parse or python3 - on the node",
    GatherFailure.PROBE_TRUNCATED: "its output stopped half-way: look for an OOM kill or a "
                                   "restarted slurmd on the node (dmesg, slurmd log)",
    GatherFailure.GATHER_DEADLINE: "the node answered too slowly: check its load and network",
    GatherFailure.SRUN_MISSING: "run inside a Slurm allocation (salloc, sbatch), or give "
                                "--hostfile/--hosts",
    GatherFailure.NO_ANSWER: "check the node's state (sinfo -n NODE) and its slurmd",
    GatherFailure.INTERNAL_ERROR: "a preflight bug: report it with the run's facts.json",
    GatherFailure.UNKNOWN: "check the node and your ssh config",
}
# The node was reached (by SSH or srun), but the gather script could not run there.
SCRIPT_FAILURES = frozenset({GatherFailure.PYTHON_MISSING, GatherFailure.PROBE_TIMEOUT,
                             GatherFailure.PROBE_FAILED, GatherFailure.PROBE_TRUNCATED})
FAILURE_HINTS: dict[str, str] = {kind.value: kind.hint for kind in (*FailureKind, *GatherFailure)}


@dataclass
class NodeError:
    kind: str  # a FailureKind (SSH) or a GatherFailure; its plain value once read back
    detail: str

    @property
    def reached(self) -> bool:
        """The node was reached; the gather script could not run there."""
        return self.kind in SCRIPT_FAILURES

    @property
    def hint(self) -> str:
        return FAILURE_HINTS.get(self.kind, GatherFailure.UNKNOWN.hint)

    def blocked_text(self, node: str) -> str:
        """Why the node's checks are blocked: 'unreachable' only when SSH could not reach it."""
        what = "probe could not run" if self.reached else "unreachable"
        return f"{node}: {what} ({self.kind}): {self.detail}"


@dataclass
class NodeOutcome:
    """What gathering learned about one node: its facts, or why there are none."""

    name: str
    facts: dict[str, Any] | None = None
    error: NodeError | None = None
    gather_s: float = 0.0
    clock_offset_s: float | None = None
    probe_stderr: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None and self.facts is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "error": None if self.error is None else vars(self.error),
            "facts": self.facts,
            "gather_s": round(self.gather_s, 3),
            "clock_offset_s": self.clock_offset_s,
        }

    @classmethod
    def from_dict(cls, name: str, data: dict[str, Any]) -> NodeOutcome:
        error = data.get("error")
        return cls(
            name=name,
            facts=data.get("facts"),
            error=NodeError(error["kind"], error["detail"]) if error else None,
            gather_s=float(data.get("gather_s", 0.0)),
            clock_offset_s=data.get("clock_offset_s"),
        )


@dataclass(frozen=True)
class ProbeOptions:
    resolve: Sequence[str] = ()
    paths: Sequence[str] = ()
    shared_paths: Sequence[str] = ()  # stat only in an abandoned child: a dead mount hangs
    disk_paths: Sequence[str] = ("/", "/tmp")
    subprobe_timeout_s: float = 20.0
    fingerprints: Sequence[str] = tuple(FINGERPRINT_CHECKS)  # those the run reads

    def argument(self) -> str:
        return json.dumps({
            "resolve": list(self.resolve),
            "paths": list(self.paths),
            "shared_paths": list(self.shared_paths),
            "disk_paths": list(self.disk_paths),
            "timeout": self.subprobe_timeout_s,
            "fingerprints": list(self.fingerprints),
        })


def gather_node(
    name: str, connections: Connections, options: ProbeOptions, remote_python: str
) -> NodeOutcome:
    started = time.monotonic()
    try:
        transport = connections.get(name)
        result = transport.run(
            [remote_python, "-S", "-", options.argument()],
            timeout=options.subprobe_timeout_s + 15,
            stdin=PROBE_SOURCE,
        )
    except ConnectError as exc:
        return NodeOutcome(name, error=NodeError(exc.kind, exc.detail),
                           gather_s=time.monotonic() - started)
    received_at = time.time()
    outcome = interpret(name, result, remote_python)
    outcome.gather_s = time.monotonic() - started
    if outcome.facts is not None and isinstance(outcome.facts.get("time"), (int, float)):
        outcome.clock_offset_s = round(float(outcome.facts["time"]) - received_at, 3)
    return outcome


def interpret(name: str, result: CommandResult, remote_python: str) -> NodeOutcome:
    """Turn the gather script's raw result into facts, or into the reason there are none."""
    stderr = result.stderr.decode("utf-8", errors="replace").strip()
    if result.timed_out:
        return NodeOutcome(name, error=NodeError(
            GatherFailure.PROBE_TIMEOUT,
            f"the probe did not finish within {result.duration_s:.0f} s"))
    if result.rc == 127 or (result.rc != 0 and "No such file" in stderr and not result.stdout):
        return NodeOutcome(name, error=NodeError(
            GatherFailure.PYTHON_MISSING,
            f"{remote_python} not found on the node ({_first_line(stderr)})"))
    try:
        facts = json.loads(result.stdout.decode("utf-8", errors="replace"))
    except ValueError:
        return NodeOutcome(name, error=NodeError(
            GatherFailure.PROBE_FAILED,
            f"probe exit {result.rc}, no JSON: {_first_line(stderr or result.text())[:200]}"))
    if not isinstance(facts, dict):
        return NodeOutcome(name, error=NodeError(GatherFailure.PROBE_FAILED,
                                                 "probe output is not an object"))
    return NodeOutcome(name, facts=facts, probe_stderr=stderr[:2000])


def _first_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1].strip() if lines else "no output"


def gather(
    names: Sequence[str],
    connections: Connections,
    options: ProbeOptions,
    *,
    remote_python: str = "python3",
    fanout: int = 64,
    deadline_s: float = 120.0,
    on_done: Callable[[str, NodeOutcome | Exception], None] | None = None,
) -> dict[str, NodeOutcome]:
    outcomes = fan_out(
        names,
        lambda name: gather_node(name, connections, options, remote_python),
        max_workers=fanout,
        deadline_s=deadline_s,
        on_done=on_done,
    )
    return {name: _settle(name, outcome) for name, outcome in outcomes.items()}


def _settle(name: str, outcome: NodeOutcome | Exception) -> NodeOutcome:
    if isinstance(outcome, NodeOutcome):
        return outcome
    kind = (GatherFailure.GATHER_DEADLINE if isinstance(outcome, DeadlineExceeded)
            else GatherFailure.INTERNAL_ERROR)
    return NodeOutcome(name, error=NodeError(kind, f"{type(outcome).__name__}: {outcome}"))


def write_facts(path: Path, outcomes: dict[str, NodeOutcome],
                inventory: list[dict[str, Any]] | None = None, run_id: str | None = None,
                ) -> None:
    """facts.json; the inventory (slots, user) lets `check --from` judge as the run did."""
    write_json(path, {
        "schema_version": FACTS_SCHEMA_VERSION,
        "run_id": run_id,
        "gathered": datetime.now(UTC).isoformat(timespec="seconds"),
        "inventory": inventory or [],
        "nodes": {name: outcome.to_dict() for name, outcome in outcomes.items()},
    })


NODES_LINE = '  "nodes": {'


def read_facts_header(path: Path) -> dict[str, Any]:
    """facts.json without its nodes (run id, time, inventory). write_facts puts them
    first, so only those lines are read: the nodes are ~140 MB at 1,024 nodes."""
    head: list[str] = []
    with path.open() as lines:
        for line in lines:
            if line.rstrip("\n") == NODES_LINE:
                try:
                    data = json.loads("".join(head).rstrip().rstrip(",") + "}")
                except ValueError:
                    break
                return data if isinstance(data, dict) else {}
            head.append(line)
    data = json.loads(path.read_text())  # not as write_facts lays it out
    return {k: v for k, v in data.items() if k != "nodes"} if isinstance(data, dict) else {}


def read_facts(path: Path) -> dict[str, NodeOutcome]:
    data = json.loads(path.read_text())
    return {name: NodeOutcome.from_dict(name, node) for name, node in data["nodes"].items()}
