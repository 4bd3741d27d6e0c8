"""Cross-reference a diagnosis with a preflight run: did the hosts the log blames fail a check?"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from preflight.diagnose.advice import blames_peer
from preflight.diagnose.model import Diagnosis
from preflight.errors import UserError
from preflight.results import BAD_STATUSES, Result, RunRecord, load_run


@dataclass(frozen=True)
class Corroboration:
    """A node the log blames that also has failing results in the run."""

    node: str
    blamed_as: str  # the name or address the log used for it
    causes: tuple[str, ...]  # the findings that blame it
    results: tuple[Result, ...]  # its fail/error/blocked results

    def to_dict(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "blamed_as": self.blamed_as,
            "causes": list(self.causes),
            "results": [
                {"id": r.id, "status": r.status.value, "message": r.message} for r in self.results
            ],
        }


def cross_reference(diagnosis: Diagnosis, run_dir: Path) -> list[Corroboration]:
    """Nodes blamed by error findings (as host, or as a peer that may be at fault) that
    failed a check in run_dir."""
    run = _load(run_dir)
    names = _node_names(run, run_dir / "facts.json")
    blamed: dict[str, tuple[str, list[str]]] = {}
    for finding in diagnosis.findings:
        if not finding.is_error:
            continue
        peers = finding.peer_hosts if blames_peer(finding.cause, finding.detail) else ()
        for ident in [*finding.hosts, *peers]:
            node = names.get(ident) or names.get(ident.split(".")[0])
            if node is None:
                continue
            entry = blamed.setdefault(node, (ident, []))
            if finding.cause not in entry[1]:
                entry[1].append(finding.cause)
    corroborations = []
    for node, (ident, causes) in blamed.items():
        bad = tuple(r for r in run.results if node in r.nodes and r.status in BAD_STATUSES)
        if bad:
            corroborations.append(Corroboration(node, ident, tuple(causes), bad))
    return corroborations


def _load(run_dir: Path) -> RunRecord:
    try:
        return load_run(run_dir)
    except FileNotFoundError as exc:
        raise UserError(f"diagnose --run: no results.json in {run_dir}") from exc
    except (ValueError, KeyError) as exc:
        raise UserError(f"diagnose --run: unreadable results.json in {run_dir}: {exc}") from exc


def _node_names(run: RunRecord, facts_path: Path) -> dict[str, str]:
    """Every name or address a node may appear under in a log -> the node's inventory name."""
    nodes = set(run.hosts) | {node for r in run.results for node in r.nodes}
    names = {node: node for node in nodes}
    names.update({node.split(".")[0]: node for node in nodes})
    for node, entry in _facts_nodes(facts_path).items():
        for alias in _aliases(entry):
            names.setdefault(alias, node)
    return names


def _facts_nodes(path: Path) -> dict[str, dict[str, Any]]:
    if not path.is_file():
        return {}
    try:
        nodes = json.loads(path.read_text()).get("nodes", {})
    except (ValueError, AttributeError):
        return {}
    return {name: node for name, node in nodes.items() if isinstance(node, dict)}


def _aliases(entry: dict[str, Any]) -> list[str]:
    """The node's address, its hostname, and every interface address, from facts.json."""
    facts = entry.get("facts") or {}
    aliases = [str(value) for value in (entry.get("address"), facts.get("hostname")) if value]
    for interface in facts.get("interfaces") or []:
        for address in interface.get("addresses") or []:
            aliases.append(str(address).split("/")[0])
    return aliases
