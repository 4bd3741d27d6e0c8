"""A run directory as the launch plan's one input: facts, results and measurements."""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from preflight.config import Expectations
from preflight.errors import UserError
from preflight.facts import ClusterFacts
from preflight.gather import read_facts
from preflight.results import RunRecord, load_run
from preflight.runctx import FACTS_FILE, MEASUREMENTS_DIR, read_measurements


@dataclass(frozen=True)
class RunInputs:
    cluster: ClusterFacts  # with the inventory's slots
    users: dict[str, str | None]  # login user per node, from the inventory
    record: RunRecord
    measurements: dict[str, Any]  # measurements/<name>.json by name

    @property
    def expect(self) -> Expectations:
        """The expectations the run judged against (results.json `thresholds`)."""
        known = {f.name for f in fields(Expectations)}
        return Expectations(**{k: v for k, v in self.record.thresholds.items() if k in known})


def read_run(run_dir: Path) -> RunInputs:
    """Everything `preflight launch` reads; a one-line UserError when the folder is not a
    finished run directory."""
    for name in (FACTS_FILE, "results.json"):
        if not (run_dir / name).is_file():
            raise UserError(f"{run_dir}: not a preflight run directory (no {name})")
    try:
        record = load_run(run_dir)
        inventory = json.loads((run_dir / FACTS_FILE).read_text()).get("inventory") or []
        outcomes = read_facts(run_dir / FACTS_FILE)
        measurements = read_measurements(run_dir / MEASUREMENTS_DIR)
    except (ValueError, KeyError) as exc:
        raise UserError(f"{run_dir}: unreadable run directory: {exc}") from None
    slots = {str(n["name"]): n.get("slots") for n in inventory}
    users = {str(n["name"]): n.get("user") for n in inventory}
    return RunInputs(ClusterFacts(outcomes, slots), users, record, measurements)
