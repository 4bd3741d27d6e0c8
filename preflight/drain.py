"""`--drain` and `--undrain`: keep Slurm's jobs off the nodes a run found bad, Slurm's way.

    preflight run --slurm --drain            print the scontrol lines (dry run, the default)
    preflight run --slurm --drain=apply      run them
    preflight run --hosts 'n[1-4]' --undrain=apply   resume nodes preflight drained, now good

A drained node keeps its running job and takes no new one; its reason
("preflight: <check>: <reason>") shows in `sinfo -R`, and `--undrain` resumes only nodes
whose reason carries that prefix, so an admin's own drains are never touched. The brake:
never drain more nodes than `--max-exclude` allows (default 10% of the run's nodes, at
least one); past it the problem looks systemic and nothing is drained. Meant for a run
outside prologs: a prolog's non-zero exit already makes slurmd drain its node.
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from preflight.findings import exclude_limit
from preflight.lifecycle import RECORD
from preflight.results import RunRecord

PREFIX = "preflight:"
DRAIN_FILE = "drain.txt"
SCONTROL_TIMEOUT_S = 30.0
REASON_MAX = 120
MODES = ("dry-run", "apply")
DRAIN_LINES = pytest.StashKey[list[str]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("preflight")
    add = group.addoption
    add("--drain", nargs="?", const="dry-run", choices=MODES, default=None,
        help="drain the bad nodes in Slurm: print the scontrol lines (default), or "
             "--drain=apply to run them")
    add("--undrain", nargs="?", const="dry-run", choices=MODES, default=None,
        help="resume nodes preflight drained earlier that pass now (--undrain=apply runs it)")


@dataclass
class Plan:
    drain: dict[str, str] = field(default_factory=dict)  # node -> reason
    resume: list[str] = field(default_factory=list)
    braked: str = ""  # why nothing was drained

    def commands(self) -> list[list[str]]:
        lines = [["scontrol", "update", f"nodename={n}", "state=drain", f"reason={r}"]
                 for n, r in self.drain.items()]
        return lines + [["scontrol", "update", f"nodename={n}", "state=resume"]
                        for n in self.resume]


def nodes_to_drain(record: RunRecord) -> dict[str, str]:
    """node -> Slurm reason. The nodes RunRecord.bad_nodes() names (the nodes of gating
    `nodes`-scope findings), each with its first gating result's check and reason code."""
    gate = record.gate_statuses()
    reasons: dict[str, str] = {}
    for node in record.bad_nodes():
        first = next((r for r in record.results if r.status in gate and node in r.nodes),
                     None)
        what = f"{first.check}: {first.reason or first.status}" if first else "bad node"
        reasons[node] = f"{PREFIX} {what}"[:REASON_MAX]
    return reasons


def plan(record: RunRecord, drain: bool, undrain: bool, max_exclude: str,
         drained_now: dict[str, str]) -> Plan:
    result = Plan()
    bad = nodes_to_drain(record)
    if drain and bad:
        limit = exclude_limit(max_exclude, len(record.hosts))
        if len(bad) > limit:
            result.braked = (f"not draining {len(bad)} of {len(record.hosts)} nodes: more "
                             f"than --max-exclude allows ({limit}); the problem looks "
                             "systemic, fix the setting rather than the nodes")
        else:
            result.drain = {n: r for n, r in bad.items() if n not in drained_now}
    if undrain:
        result.resume = [n for n in record.hosts if drained_now.get(n, "").startswith(PREFIX)
                         and n not in bad]
    return result


def drained_reasons(nodes: Sequence[str]) -> dict[str, str]:
    """node -> reason of those of `nodes` Slurm has drained (or draining) now."""
    argv = ["sinfo", "--noheader", "--Node", "--states=drain", f"--nodes={','.join(nodes)}",
            "--format=%N|%E"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=SCONTROL_TIMEOUT_S,
                          stdin=subprocess.DEVNULL, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"sinfo: {proc.stderr.strip() or f'exit {proc.returncode}'}")
    found = {}
    for line in proc.stdout.splitlines():
        name, sep, reason = line.partition("|")
        if sep:
            found[name.strip()] = reason.strip()
    return found


def apply(commands: Sequence[Sequence[str]]) -> list[str]:
    """Run each scontrol line; the errors, one line each (a failing node stops no other)."""
    errors = []
    for argv in commands:
        try:
            proc = subprocess.run(list(argv), capture_output=True, text=True,
                                  timeout=SCONTROL_TIMEOUT_S, stdin=subprocess.DEVNULL,
                                  check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            errors.append(f"{shlex.join(argv)}: {exc}")
            continue
        if proc.returncode != 0:
            errors.append(f"{shlex.join(argv)}: {proc.stderr.strip() or proc.returncode}")
    return errors


def report_lines(found: Plan, mode: str, errors: Sequence[str]) -> list[str]:
    lines = [f"preflight: {found.braked}"] if found.braked else []
    commands = [shlex.join(argv) for argv in found.commands()]
    if not commands:
        return [*lines, "preflight: nothing to drain or resume"]
    if mode == "dry-run":
        lines.append("preflight: dry run (--drain=apply / --undrain=apply runs these):")
    return lines + commands + [f"preflight: failed: {e}" for e in errors]


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    option = config.option
    record = config.stash.get(RECORD, None)
    if not (option.drain or option.undrain) or record is None or \
            hasattr(config, "workerinput"):
        return
    mode = "apply" if "apply" in (option.drain, option.undrain) else "dry-run"
    lines: list[str]
    if record.partial:
        lines = ["preflight: the run was interrupted: nothing drained or resumed"]
    else:
        try:
            now = drained_reasons(record.hosts)
        except (OSError, RuntimeError, subprocess.TimeoutExpired) as exc:
            lines = [f"preflight: cannot ask Slurm which nodes are drained: {exc}"]
        else:
            found = plan(record, bool(option.drain), bool(option.undrain),
                         option.max_exclude, now)
            errors = apply(found.commands()) if mode == "apply" else []
            lines = report_lines(found, mode, errors)
    from preflight.plugin import context

    ctx = context(config)
    if ctx is not None:
        (ctx.run_dir / DRAIN_FILE).write_text("".join(line + "\n" for line in lines))
    config.stash[DRAIN_LINES] = lines


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter,
                            config: pytest.Config) -> None:
    for line in config.stash.get(DRAIN_LINES, []):
        terminalreporter.write_line(line)
