"""Recorded facts without a cluster: the real probe, run locally against a host's stand-ins.

    facts = probe_facts(HostSpec(gpus=7), "node-3", tmp_path)   # what the node would report
    write_facts_json(run_dir, {"node-3": facts, ...})            # then: preflight check --from

The probe (preflight/probe/remote.py) runs as `python3 -` with the host's stand-in bin dir
first on PATH, exactly as sshd's SetEnv arranges it on a simulated host. Needs no root and
no network namespace, so the checks can be judged on recorded facts in unit tests.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from preflight import verdict
from preflight.facts import ClusterFacts
from preflight.gather import PROBE_SOURCE, NodeOutcome, ProbeOptions, write_facts
from tests.sim import standins
from tests.sim.host import SYSTEM_PATH
from tests.sim.spec import HostSpec
from tests.sim.standins.render import render


def host_dir(spec: HostSpec, name: str, root: Path) -> Path:
    """<root>/<name>/ with bin/ (stand-in launchers), lib/ (libnccl) and spec.json."""
    folder = root / name
    standins.install(folder / "bin")
    standins.install_nccl_library(folder / "lib", spec.nccl_version)
    text = spec.to_json() + "\n"
    (folder / "spec.json").write_text(text)
    render(str(folder), name, text)
    return folder


def probe_facts(spec: HostSpec, name: str, root: Path, *, names: list[str] | None = None,
                env: Mapping[str, str] | None = None, timeout_s: float = 20.0) -> dict[str, Any]:
    """The facts the probe gathers on a host with `spec` (its stand-ins answer for it)."""
    folder = host_dir(spec, name, root)
    options = ProbeOptions(resolve=names or [], subprobe_timeout_s=timeout_s)
    session_env = {
        "PATH": f"{folder / 'bin'}:{os.path.dirname(sys.executable)}:{SYSTEM_PATH}",
        "LD_LIBRARY_PATH": str(folder / "lib"),
        "PREFLIGHT_SIM_HOST": name,
        "HOME": str(root),
        **(env or {}),
    }
    proc = subprocess.run([sys.executable, "-S", "-", options.argument()], input=PROBE_SOURCE,
                          capture_output=True, env=session_env, timeout=timeout_s + 30,
                          check=True)
    facts: dict[str, Any] = json.loads(proc.stdout)
    # The probe ran here, not on a host of its own: give it that host's name, resolving to
    # an address of the simulated cluster's range (this machine's may be loopback).
    facts["hostname"], facts["hostname_resolves"] = name, ["198.18.0.11"]
    return facts


def outcome(name: str, facts: dict[str, Any], *, clock_offset_s: float = -0.05,
            gather_s: float = 0.4) -> NodeOutcome:
    return NodeOutcome(name, facts=facts, gather_s=gather_s, clock_offset_s=clock_offset_s)


def cluster_of(facts_by_node: Mapping[str, dict[str, Any]],
               slots: Mapping[str, int | None] | None = None) -> ClusterFacts:
    outcomes = {name: outcome(name, facts) for name, facts in facts_by_node.items()}
    return ClusterFacts(outcomes, dict(slots or {}))


def write_facts_json(run_dir: Path, outcomes: Mapping[str, NodeOutcome],
                     slots: Mapping[str, int | None] | None = None) -> Path:
    """A run directory `preflight check --from` accepts: facts.json (with the inventory)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    inventory = [{"name": name, "slots": (slots or {}).get(name), "user": None}
                 for name in outcomes]
    path = run_dir / "facts.json"
    write_facts(path, dict(outcomes), inventory)
    return path


_probed: dict[str, dict[str, Any]] = {}


def facts_for(spec: HostSpec, root: Path, names: list[str]) -> dict[str, Any]:
    """probe_facts, once per distinct spec in this process (a copy each time)."""
    key = spec.to_json() + "|".join(names)
    if key not in _probed:
        _probed[key] = probe_facts(spec, f"host-{len(_probed)}", root, names=names)
    return copy.deepcopy(_probed[key])


def as_own_machine(name: str, facts: dict[str, Any]) -> dict[str, Any]:
    """Probed on this one machine, every host would report its identity: give it its own."""
    facts["hostname"] = name
    facts["identity"] = {"machine_id": f"{name}-machine", "boot_id": f"{name}-boot"}
    return facts


def record_run(run_dir: Path, specs: Mapping[str, HostSpec], root: Path,
               slots: int | None = 8) -> Path:
    """facts.json of a cluster whose hosts have these specs, as a run would record it (the
    hostfile giving every host `slots`, as the simulated cluster's does)."""
    names = list(specs)
    outcomes = {name: outcome(name, as_own_machine(name, facts_for(spec, root, names)))
                for name, spec in specs.items()}
    write_facts_json(run_dir, outcomes, dict.fromkeys(names, slots))
    return run_dir


def judge(check: Callable[..., None], **fixtures: Any) -> tuple[str, str, str | None]:
    """Call a check as the plugin would: (status, message, hint)."""
    verdict.reset()
    try:
        check(**fixtures)
    except verdict.CheckWarning as exc:
        return "warn", str(exc), verdict.current().hint
    except AssertionError as exc:
        return "fail", str(exc), verdict.current().hint
    except pytest.skip.Exception as exc:
        return "skip", str(exc.msg), None
    except (verdict.Unavailable, LookupError) as exc:
        return "error", str(exc), verdict.current().hint
    return "pass", "", None
