"""The results model: what every check produces and what results.json stores.

results.json is the canonical artefact; HTML, JUnit and the terminal summary are views
of it. Bump SCHEMA_VERSION on any incompatible change (reports/results.schema.json).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from preflight.findings import Finding

SCHEMA_VERSION = 2


class Status(StrEnum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    ERROR = "error"
    BLOCKED = "blocked"
    SKIP = "skip"


BAD_STATUSES = frozenset({Status.FAIL, Status.ERROR, Status.BLOCKED})

# Worst first. "fail" ranks above "blocked": a measured fault is the most definite news.
SEVERITY: dict[Status, int] = {
    Status.FAIL: 5,
    Status.BLOCKED: 4,
    Status.ERROR: 3,
    Status.WARN: 2,
    Status.PASS: 1,
    Status.SKIP: 0,
}
STATUS_ORDER: tuple[Status, ...] = tuple(sorted(SEVERITY, key=SEVERITY.__getitem__, reverse=True))


def severity(status: str) -> int:
    """SEVERITY of a status given as text (a result read back, a report cell); -1 if unknown."""
    return SEVERITY[Status(status)] if status in _STATUS_TEXTS else -1


_STATUS_TEXTS = frozenset(s.value for s in Status)


@dataclass(slots=True)
class Result:
    id: str
    check: str
    family: str
    status: Status
    node: str | None = None
    pair: tuple[str, str] | None = None
    measured: Any = None
    expected: Any = None
    unit: str | None = None
    message: str = ""
    hint: str | None = None
    duration_s: float = 0.0
    reason: str | None = None
    # A per-source result of an all-to-all check: the targets its node failed to reach, by
    # reason ({"tcp-29500-filtered": ["node-3"]}).
    targets: dict[str, list[str]] | None = None
    finding: str | None = None  # the id of the finding this result belongs to

    @property
    def subject(self) -> str:
        if self.pair:
            return f"{self.pair[0]} -> {self.pair[1]}"
        return self.node or "cluster"

    @property
    def nodes(self) -> tuple[str, ...]:
        if self.pair:
            return self.pair
        return (self.node,) if self.node else ()

    def to_dict(self) -> dict[str, Any]:
        # Field by field, not dataclasses.asdict: that deep-copies every value, and a run
        # at 1,024 nodes writes ~35,000 results.
        return {
            "id": self.id, "check": self.check, "family": self.family,
            "status": self.status.value, "node": self.node,
            "pair": list(self.pair) if self.pair else None,
            "measured": self.measured, "expected": self.expected, "unit": self.unit,
            "message": self.message, "hint": self.hint, "duration_s": self.duration_s,
            "reason": self.reason, "targets": self.targets, "finding": self.finding,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Result:
        pair = data.get("pair")
        return cls(
            id=data["id"],
            check=data["check"],
            family=data["family"],
            status=Status(data["status"]),
            node=data.get("node"),
            pair=(pair[0], pair[1]) if pair else None,
            measured=data.get("measured"),
            expected=data.get("expected"),
            unit=data.get("unit"),
            message=data.get("message", ""),
            hint=data.get("hint"),
            duration_s=float(data.get("duration_s", 0.0)),
            reason=data.get("reason"),
            targets=data.get("targets"),
            finding=data.get("finding"),
        )


@dataclass
class RunRecord:
    """One run: metadata, every result, and the pairwise matrices for the report."""

    preflight_version: str
    command: list[str]
    started: str
    finished: str = ""
    duration_s: float = 0.0
    profile: str = "generic"
    hosts: list[str] = field(default_factory=list)
    thresholds: dict[str, Any] = field(default_factory=dict)
    partial: bool = False
    fail_on: str = "fail"
    results: list[Result] = field(default_factory=list)
    matrices: dict[str, Any] = field(default_factory=dict)
    launch: dict[str, Any] | None = None  # preflight.golive: the plan of a GO run
    level: str = "standard"
    phases: dict[str, float] = field(default_factory=dict)  # phase -> wall seconds
    max_exclude: str = "10%"  # --max-exclude: past it, excluding is not advised
    # Checks the run's settings ruled out, once per run: [{"check", "reason"}] (preflight.applies)
    not_applicable: list[dict[str, str]] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        counted = Counter(r.status.value for r in self.results)
        return {s.value: counted.get(s.value, 0) for s in Status}

    def gate_statuses(self) -> frozenset[Status]:
        return BAD_STATUSES | {Status.WARN} if self.fail_on == "warn" else BAD_STATUSES

    @property
    def go(self) -> bool:
        gate = self.gate_statuses()
        return not self.partial and not any(r.status in gate for r in self.results)

    def findings(self) -> list[Finding]:
        """Problems grouped by (check, reason); sets each result's `finding` id."""
        from preflight.findings import compute_findings

        suspects = self.matrices.get("suspects", {}).get("nodes", [])
        return compute_findings(self.results, self.hosts, suspects)

    def bad_nodes(self, findings: list[Finding] | None = None) -> list[str]:
        """Nodes to exclude: those of nodes-scope findings only (a problem most nodes share
        is a setting to change, not a reason to drain the cluster)."""
        from preflight.findings import nodes_to_exclude

        found = self.findings() if findings is None else findings
        bad = nodes_to_exclude(found, self.gate_statuses())
        return sorted(bad, key=_host_order(self.hosts))

    def exclude_limit(self) -> int:
        from preflight.findings import exclude_limit

        return exclude_limit(self.max_exclude, len(self.hosts))

    def to_dict(self) -> dict[str, Any]:
        data = self.header()
        tail = {"matrices": data.pop("matrices"), "launch": data.pop("launch")}
        return {**data, "results": [r.to_dict() for r in self.results], **tail}

    def header(self) -> dict[str, Any]:
        """results.json without its results (see write_record)."""
        findings = self.findings()
        bad = self.bad_nodes(findings)
        return {
            "schema_version": SCHEMA_VERSION,
            "preflight_version": self.preflight_version,
            "command": self.command,
            "started": self.started,
            "finished": self.finished,
            "duration_s": round(self.duration_s, 3),
            "profile": self.profile,
            "level": self.level,
            "phases": self.phases,
            "hosts": self.hosts,
            "thresholds": self.thresholds,
            "partial": self.partial,
            "fail_on": self.fail_on,
            "verdict": "GO" if self.go else "NO-GO",
            "counts": self.counts(),
            "bad_nodes": bad,
            "max_exclude": self.exclude_limit(),
            "exclude_advised": len(bad) <= self.exclude_limit(),
            "findings": [f.to_dict() for f in findings],
            "not_applicable": self.not_applicable,
            "matrices": self.matrices,
            "launch": self.launch,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunRecord:
        return cls(
            preflight_version=data["preflight_version"],
            command=list(data.get("command", [])),
            started=data.get("started", ""),
            finished=data.get("finished", ""),
            duration_s=float(data.get("duration_s", 0.0)),
            profile=data.get("profile", "generic"),
            hosts=list(data.get("hosts", [])),
            thresholds=dict(data.get("thresholds", {})),
            partial=bool(data.get("partial", False)),
            fail_on=data.get("fail_on", "fail"),
            max_exclude=str(data.get("max_exclude", "10%")),
            results=[Result.from_dict(r) for r in data.get("results", [])],
            matrices=dict(data.get("matrices", {})),
            launch=data.get("launch"),
            level=data.get("level", "standard"),
            phases=dict(data.get("phases", {})),
            not_applicable=list(data.get("not_applicable", [])),
        )


def results_per_node(results: Iterable[Result]) -> Counter[str]:
    """How many results each node is the subject of: its own, and a pair's as its source."""
    subjects = (r.pair[0] if r.pair else r.node for r in results)
    return Counter(subject for subject in subjects if subject is not None)


def _host_order(hosts: Iterable[str]) -> Any:
    index = {h: i for i, h in enumerate(hosts)}
    return lambda h: (index.get(h, len(index)), h)


def write_json(path: Path, data: Any) -> None:
    """Write atomically so a reader (or an interrupted run) never sees half a file."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w") as out:  # streamed: no second copy of a large record as one string
        json.dump(data, out, indent=2, sort_keys=False, default=str)
        out.write("\n")
    tmp.replace(path)


def write_record(path: Path, record: RunRecord) -> None:
    """results.json, streamed: a top-level key per line and a result per line, each in
    compact JSON by the C encoder (json.dump with indent runs the pure-Python encoder: at
    1,024 nodes that was seconds, and a dict of every result held at once)."""
    header = record.header()
    tail = {"matrices": header.pop("matrices"), "launch": header.pop("launch")}
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w") as out:
        out.write("{\n")
        for key, value in header.items():
            out.write(f"  {json.dumps(key)}: {_compact(value)},\n")
        out.write('  "results": [')
        for index, result in enumerate(record.results):
            out.write(",\n    " if index else "\n    ")
            out.write(_compact(result.to_dict()))
        out.write("\n  ],\n")
        out.write(",\n".join(f"  {json.dumps(k)}: {_compact(v)}" for k, v in tail.items()))
        out.write("\n}\n")
    tmp.replace(path)


def _compact(value: Any) -> str:
    return json.dumps(value, default=str, separators=(", ", ": "))


def load_run(run_dir: Path) -> RunRecord:
    data = json.loads((run_dir / "results.json").read_text())
    return RunRecord.from_dict(data)
