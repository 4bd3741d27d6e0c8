"""`preflight diagnose`: triage NCCL/PyTorch logs after a job hung or died.

diagnose(paths) reads logs and names causes (CAUSES) with their evidence, the ranks and
hosts involved, and a preflight command that confirms each, as one incident: the root
first, then its consequences and symptoms (ROLES), each with a scope (SCOPES);
cross_reference() matches the blamed hosts with a preflight run's failed checks; render()
prints it all.
"""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console

from preflight.diagnose.analyze import diagnose
from preflight.diagnose.crossref import Corroboration, cross_reference
from preflight.diagnose.model import CAUSES, ROLES, SCOPES, Diagnosis, Finding, RankInfo
from preflight.diagnose.render import render, render_cross_reference

__all__ = [
    "CAUSES",
    "Corroboration",
    "Diagnosis",
    "Finding",
    "ROLES",
    "RankInfo",
    "SCOPES",
    "cross_reference",
    "diagnose",
    "main_diagnose",
    "render",
]


def main_diagnose(paths: list[Path], as_json: bool, run_dir: Path | None, console: Console) -> int:
    """The `preflight diagnose` command: 0 when no error finding, 1 otherwise.

    Raises UserError (exit 2) for a missing path or an unreadable run directory.
    """
    diagnosis = diagnose(paths)
    corroborations = cross_reference(diagnosis, run_dir) if run_dir is not None else None
    if as_json:
        data = diagnosis.to_dict()
        if corroborations is not None:
            data["cross_reference"] = [item.to_dict() for item in corroborations]
        console.out(json.dumps(data, indent=2), highlight=False)
    else:
        render(diagnosis, console)
        if corroborations is not None:
            render_cross_reference(corroborations, console)
    return 1 if diagnosis.has_errors else 0
