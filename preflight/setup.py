"""Turning options into a run, gathering, and writing the run's artefacts at the end."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from preflight import __version__
from preflight.config import load_config
from preflight.console import make_console, progress
from preflight.errors import UserError
from preflight.findings import exclude_limit
from preflight.gather import NodeOutcome, ProbeOptions, gather, read_facts, write_facts
from preflight.gather_srun import gather_via_srun
from preflight.inventory import (
    Node,
    from_slurm,
    local_node,
    parse_hostfile,
    parse_hosts_arg,
)
from preflight.results import RunRecord, load_run, write_json
from preflight.runctx import FACTS_FILE, MEASUREMENTS_DIR, RunContext
from preflight.transport.base import Transport
from preflight.transport.local import LocalTransport
from preflight.transport.ssh import SshSettings, SshTransport


def build_context(options: Any, *, run_dir: str | None = None) -> RunContext:
    try:
        return _build_context(options, run_dir)
    except UserError as exc:
        raise pytest.UsageError(str(exc)) from None


def _build_context(options: Any, run_dir: str | None) -> RunContext:
    recorded = Path(options.preflight_from) if options.preflight_from else None
    nodes = inventory_from_options(options)
    exclude_limit(getattr(options, "max_exclude", "10%"), len(nodes))  # a bad value: exit 2
    expect = load_config(options.profile, _path(options.preflight_config),
                         expectation_overrides(options))
    out = Path(run_dir) if run_dir else new_run_dir(options.preflight_out)
    if recorded is not None and run_dir is None:
        copy_recording(recorded, out)
    return RunContext(
        nodes=nodes, expect=expect, run_dir=out,
        transport_factory=transport_factory(options),
        offline=recorded is not None,
        recorded_from=recorded,
        remote_python=options.remote_python,
        fanout=max(1, int(options.fanout)),
        gather_via=options.gather_via,
        command=list(sys.argv),
        started_wall=datetime.now(UTC).isoformat(timespec="seconds"),
    )


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None


def inventory_from_options(options: Any) -> list[Node]:
    if options.preflight_from:
        return recorded_nodes(Path(options.preflight_from))
    if options.local:
        return [local_node()]
    if options.hostfile:
        return parse_hostfile(Path(options.hostfile))
    if options.hosts:
        return parse_hosts_arg(options.hosts)
    if options.slurm:
        return from_slurm(os.environ)
    raise UserError("no nodes: give --hostfile, --hosts, --slurm or --local")


def recorded_nodes(run_dir: Path) -> list[Node]:
    facts = run_dir / FACTS_FILE
    if not facts.is_file():
        raise UserError(f"{run_dir}: not a preflight run directory (no {FACTS_FILE})")
    recorded = json.loads(facts.read_text()).get("inventory") or []
    if recorded:
        return [Node(n["name"], n.get("slots"), n.get("user")) for n in recorded]
    return [Node(name) for name in read_facts(facts)]


def copy_recording(source: Path, target: Path) -> None:
    shutil.copy2(source / FACTS_FILE, target / FACTS_FILE)
    measurements = source / MEASUREMENTS_DIR
    if measurements.is_dir():
        shutil.copytree(measurements, target / MEASUREMENTS_DIR, dirs_exist_ok=True)


def expectation_overrides(options: Any) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    for item in options.expect or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--expect {item!r}: use KEY=VALUE, e.g. --expect gpus_per_node=8")
        overrides[key.strip()] = _literal(value.strip())
    if getattr(options, "pair_mode", None):
        overrides["pair_mode"] = options.pair_mode
    return overrides


def _literal(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def new_run_dir(requested: str | None) -> Path:
    if requested:
        path = Path(requested)
    else:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        path = Path("reports") / stamp
        suffix = 1
        while path.exists():
            suffix += 1
            path = Path("reports") / f"{stamp}-{suffix}"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create run directory {path}: {exc.strerror}") from None
    return path.resolve()


def transport_factory(options: Any) -> Any:
    if options.local:
        return lambda host: LocalTransport(host)
    settings = SshSettings(
        ssh_config=_path(options.ssh_config),
        known_hosts=_path(options.known_hosts),
        accept_new_host_keys=bool(options.accept_new_host_keys),
        user=options.ssh_user,
    )
    for path in (settings.ssh_config, settings.known_hosts):
        if path is not None and not path.is_file():
            raise UserError(f"{path}: no such file")

    def connect(host: str) -> Transport:
        return SshTransport(host, settings)

    return connect


# Gather ------------------------------------------------------------------------------


def gather_now(ctx: RunContext, config: pytest.Config) -> dict[str, NodeOutcome]:
    if ctx.facts_path.is_file():
        ctx.set_outcomes(read_facts(ctx.facts_path))
        return ctx.outcomes()
    expect = ctx.expect
    options = ProbeOptions(
        resolve=ctx.names, paths=_wanted_paths(ctx),
        disk_paths=expect.disk_paths, subprobe_timeout_s=expect.subprobe_timeout_s,
    )
    if ctx.gather_via == "srun":
        outcomes = gather_via_srun(ctx.names, options, remote_python=ctx.remote_python,
                                   timeout=expect.command_timeout_s + expect.subprobe_timeout_s)
        write_facts(ctx.facts_path, outcomes, _inventory(ctx))
        ctx.set_outcomes(outcomes)
        return outcomes
    console = make_console(stderr=True)
    pending = set(ctx.names)
    with progress(console, "gather", len(ctx.nodes)) as bar:
        def tick(name: str, outcome: object) -> None:
            pending.discard(name)
            if bar is not None:
                slowest = f"waiting for {min(pending)}" if pending else ""
                bar.update(bar.task_ids[0], advance=1, note=slowest)

        outcomes = gather(ctx.names, ctx.connections, options,
                          remote_python=ctx.remote_python, fanout=ctx.fanout,
                          deadline_s=expect.command_timeout_s + expect.subprobe_timeout_s + 60,
                          on_done=tick)
    write_facts(ctx.facts_path, outcomes, _inventory(ctx))
    ctx.set_outcomes(outcomes)
    return outcomes


def _inventory(ctx: RunContext) -> list[dict[str, Any]]:
    return [{"name": n.name, "slots": n.slots, "user": n.user} for n in ctx.nodes]


def _wanted_paths(ctx: RunContext) -> list[str]:
    paths = list(ctx.expect.require_paths)
    if ctx.expect.shared_dir:
        paths.append(ctx.expect.shared_dir)
    return paths


# Finish ------------------------------------------------------------------------------


def finish_run(ctx: RunContext, config: pytest.Config) -> RunRecord:
    record = RunRecord(
        preflight_version=__version__, command=ctx.command, started=ctx.started_wall,
        finished=datetime.now(UTC).isoformat(timespec="seconds"),
        duration_s=time.monotonic() - ctx.started_mono, profile=ctx.expect.profile,
        hosts=ctx.names, thresholds=ctx.expect.to_dict(), partial=ctx.interrupted,
        fail_on=config.option.fail_on, results=ctx.results,
        max_exclude=config.option.max_exclude,
        matrices=collect_matrices(ctx.measurements()),
    )
    write_json(ctx.run_dir / "results.json", record.to_dict())
    write_json(ctx.run_dir / "measurements.json", ctx.measurements())
    _write_bad_nodes(config.option.bad_nodes, record)
    _write_html(ctx, record)
    config.stash[RECORD] = record
    return record


RECORD = pytest.StashKey[RunRecord]()


def collect_matrices(measurements: dict[str, Any]) -> dict[str, Any]:
    """Each measurement may carry report matrices under "matrices" and suspects."""
    matrices: dict[str, Any] = {}
    for data in measurements.values():
        matrices.update(data.get("matrices", {}))
        suspects = data.get("suspects")
        if suspects:
            merged = matrices.setdefault("suspects", {"nodes": [], "links": [], "notes": []})
            for key in ("nodes", "links", "notes"):
                merged[key].extend(x for x in suspects.get(key, []) if x not in merged[key])
    return matrices


def _write_bad_nodes(path: str | None, record: RunRecord) -> None:
    if path:
        text = "".join(f"{name}\n" for name in record.bad_nodes())
        Path(path).write_text(text)


def _write_html(ctx: RunContext, record: RunRecord) -> None:
    try:
        from preflight.reports.html import write_report
    except ImportError:
        return
    facts = {"nodes": {name: o.to_dict() for name, o in ctx.outcomes().items()}} \
        if ctx.facts_path.is_file() else None
    write_report(ctx.run_dir, run=record, facts=facts)


def print_summary(ctx: RunContext, config: pytest.Config) -> None:
    record = config.stash.get(RECORD, None) or load_run(ctx.run_dir)
    console = make_console()
    try:
        from preflight.reports.terminal import render_summary
    except ImportError:
        console.print(f"{'GO' if record.go else 'NO-GO'}: {record.counts()}")
    else:
        verbose = config.option.list_subjects or config.option.verbose > 0
        render_summary(record, console, verbose=verbose)
    console.print(f"run directory: {ctx.run_dir}", markup=False, soft_wrap=True)
