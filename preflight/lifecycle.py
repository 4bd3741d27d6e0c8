"""The run's lifecycle: options into a RunContext, the gather, and the artefacts at the end."""

from __future__ import annotations

import contextlib
import gc
import json
import os
import shutil
import sys
import time
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from preflight import __version__
from preflight.config import Expectations, load_config, parse_expect_options
from preflight.console import make_console, progress
from preflight.errors import PreflightError, UserError
from preflight.facts import NodeFacts
from preflight.findings import exclude_limit
from preflight.gather import (
    NodeOutcome,
    ProbeOptions,
    gather,
    read_facts,
    read_facts_header,
    write_facts,
)
from preflight.gather_srun import gather_via_srun
from preflight.golive.command import launch_block
from preflight.inventory import (
    Node,
    from_slurm,
    local_node,
    parse_hostfile,
    parse_hosts_arg,
)
from preflight.junit import JUNIT_FILE, write_junit
from preflight.levels import fingerprints_read, phase_walls
from preflight.pairjudge import JUDGED_PAIRWISE, report_view
from preflight.results import RunRecord, load_run, write_json, write_record
from preflight.runctx import FACTS_FILE, MEASUREMENTS_DIR, RunContext, new_run_id
from preflight.second_look_blame import looked_suspects
from preflight.transport.base import Transport
from preflight.transport.local import LocalTransport
from preflight.transport.ssh import SshSettings, SshTransport
from preflight.verdict import Blocked


def build_context(options: Any, *, run_dir: str | None = None,
                  run_id: str | None = None) -> RunContext:
    """The controller's context (a new run directory and run id), or an xdist worker's
    (the controller's directory and id, given as run_dir and run_id)."""
    try:
        return _build_context(options, run_dir, run_id)
    except PreflightError as exc:
        raise pytest.UsageError(str(exc)) from None


def _build_context(options: Any, run_dir: str | None, run_id: str | None) -> RunContext:
    recorded = Path(options.preflight_from) if options.preflight_from else None
    nodes = inventory_from_options(options)
    exclude_limit(getattr(options, "max_exclude", "10%"), len(nodes))  # a bad value: exit 2
    expect = load_config(options.profile, _path(options.preflight_config),
                         expectation_overrides(options))
    out = Path(run_dir) if run_dir else new_run_dir(options.preflight_out,
                                                    overwrite=options.overwrite)
    if recorded is not None and run_dir is None:
        copy_recording(recorded, out)
    return RunContext(
        run_id=run_id or new_run_id(),
        nodes=nodes, expect=expect, run_dir=out,
        transport_factory=transport_factory(options),
        offline=recorded is not None,
        recorded_from=recorded,
        remote_python=options.remote_python,
        fanout=max(1, int(options.fanout)),
        gather_via=options.gather_via,
        command=list(sys.argv),
        seed=_seed(recorded, out),
        started_wall=datetime.now(UTC).isoformat(timespec="seconds"),
    )


def _seed(recorded: Path | None, out: Path) -> int:
    """The sampled schedules' seed: a recording's own (so its pairs are judged again),
    else one from the run directory (the same in every xdist worker, new each run)."""
    if recorded is not None:
        try:
            ports = json.loads((recorded / MEASUREMENTS_DIR / "ports.json").read_text())
            return int(ports["schedule"]["seed"])
        except (OSError, ValueError, KeyError, TypeError):
            pass
    return zlib.crc32(str(out).encode())


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
    recorded = read_facts_header(facts).get("inventory") or []
    if recorded:
        return [Node(n["name"], n.get("slots"), n.get("user")) for n in recorded]
    return [Node(name) for name in read_facts(facts)]


def recorded_level(run_dir: Path) -> str | None:
    """The level a recorded run ran at (None: not recorded, the default applies)."""
    try:
        level = json.loads((run_dir / "results.json").read_text()).get("level")
    except (OSError, ValueError, AttributeError):
        return None
    return level if isinstance(level, str) else None


def copy_recording(source: Path, target: Path) -> None:
    shutil.copy2(source / FACTS_FILE, target / FACTS_FILE)
    measurements = source / MEASUREMENTS_DIR
    if measurements.is_dir():
        shutil.copytree(measurements, target / MEASUREMENTS_DIR, dirs_exist_ok=True)


def expectation_overrides(options: Any) -> dict[str, Any]:
    overrides = parse_expect_options(options.expect or [])
    if getattr(options, "pair_mode", None):
        overrides["pair_mode"] = options.pair_mode
    if getattr(options, "preflight_level", None):
        overrides["level"] = options.preflight_level
    elif getattr(options, "preflight_from", None):  # judge a recording at its own level
        overrides["level"] = recorded_level(Path(options.preflight_from))
    return overrides


# What a run writes at the top of its directory: one of them there means a run lives there.
RUN_MARKERS = (FACTS_FILE, MEASUREMENTS_DIR, "results.json", "report.html", "junit.xml")


def new_run_dir(requested: str | None, *, overwrite: bool = False) -> Path:
    """A directory no earlier run wrote into: `--out DIR` holding a run is refused (a
    one-line error, exit 2) unless `overwrite`, which removes that run whole first."""
    if requested:
        path = Path(requested)
        held = [m for m in RUN_MARKERS if (path / m).exists()]
        if held and not overwrite:
            raise UserError(f"--out {path}: holds an earlier run ({', '.join(held)}); pass "
                            "--overwrite to replace it, or give a new directory")
        if held:
            shutil.rmtree(path)
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
    if settings.accept_new_host_keys and settings.known_hosts is not None:
        _create_known_hosts(settings.known_hosts)
    for path in (settings.ssh_config, settings.known_hosts):
        if path is not None and not path.is_file():
            raise UserError(f"{path}: no such file")

    def connect(host: str) -> Transport:
        return SshTransport(host, settings)

    return connect


def _create_known_hosts(path: Path) -> None:
    """Under accept-new a missing known_hosts file is created empty, as OpenSSH does."""
    if path.exists():
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
    except OSError as exc:
        raise UserError(f"cannot create {path}: {exc.strerror}") from None


# Gather ------------------------------------------------------------------------------


def gather_now(ctx: RunContext, config: pytest.Config) -> dict[str, NodeOutcome]:
    if ctx.offline:  # check --from: the recording's facts, copied into this run directory
        ctx.set_outcomes(read_facts(ctx.facts_path))
        gc.freeze()
        return ctx.outcomes()
    started = time.time()
    try:
        return _gather(ctx, fingerprints_read(ctx.expect.level, bool(config.option.keyword)))
    finally:
        ctx.gather_timing = {"started": started, "ended": time.time()}
        gc.freeze()  # the facts live to the end: no collection walks them again


def _gather(ctx: RunContext, fingerprints: tuple[str, ...]) -> dict[str, NodeOutcome]:
    expect = ctx.expect
    options = ProbeOptions(
        resolve=ctx.names, paths=expect.require_paths,
        shared_paths=expect.all_shared_paths(),
        disk_paths=expect.disk_paths, subprobe_timeout_s=expect.subprobe_timeout_s,
        fingerprints=fingerprints,
    )
    if ctx.gather_via == "srun":
        outcomes = gather_via_srun(ctx.names, options, remote_python=ctx.remote_python,
                                   timeout=expect.command_timeout_s + expect.subprobe_timeout_s)
        write_facts(ctx.facts_path, outcomes, _inventory(ctx), ctx.run_id)
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
    write_facts(ctx.facts_path, outcomes, _inventory(ctx), ctx.run_id)
    ctx.set_outcomes(outcomes)
    return outcomes


def _inventory(ctx: RunContext) -> list[dict[str, Any]]:
    return [{"name": n.name, "slots": n.slots, "user": n.user} for n in ctx.nodes]


# Finish ------------------------------------------------------------------------------


def finish_run(ctx: RunContext, config: pytest.Config) -> RunRecord:
    measurements = ctx.measurements()
    record = RunRecord(
        preflight_version=__version__, command=ctx.command, started=ctx.started_wall,
        finished=datetime.now(UTC).isoformat(timespec="seconds"),
        duration_s=time.monotonic() - ctx.started_mono, profile=ctx.expect.profile,
        level=ctx.expect.level,
        phases=phase_walls(ctx.gather_timing, measurements),
        hosts=ctx.names, thresholds=ctx.expect.to_dict(), partial=ctx.interrupted,
        fail_on=config.option.fail_on, results=ctx.results,
        max_exclude=config.option.max_exclude,
        not_applicable=[{"check": check, "reason": reason}
                        for check, reason in ctx.not_applicable.items()],
        matrices=collect_matrices(measurements, ctx.expect),
    )
    if ctx.facts_path.is_file():
        users = {n.name: n.user for n in ctx.nodes}
        record.launch = launch_block(ctx.cluster_facts(), users, record, measurements)
    write_record(ctx.run_dir / "results.json", record)
    write_json(ctx.run_dir / "measurements.json", measurements)
    ctx.remove_locks()
    _write_bad_nodes(config.option.bad_nodes, record)
    write_junit(ctx.run_dir / JUNIT_FILE, record)
    _write_html(ctx, record)
    config.stash[RECORD] = record
    return record


RECORD = pytest.StashKey[RunRecord]()


def collect_matrices(measurements: dict[str, Any], expect: Expectations) -> dict[str, Any]:
    """Each measurement may carry report matrices under "matrices" and suspects; a pairwise
    bandwidth recording's are judged here, under the run's expectations."""
    matrices: dict[str, Any] = {}
    for name, data in measurements.items():
        if name in JUDGED_PAIRWISE:
            data = {**data, **report_view(name, data, expect)}
        matrices.update(data.get("matrices", {}))
        # bandwidth isolation's suspects (judged: present even when none), and the nodes a
        # reach probe's second look blamed
        looked = looked_suspects(data)
        for suspects in (data.get("suspects"), looked if any(looked.values()) else None):
            if suspects:
                _merge_suspects(matrices.setdefault(
                    "suspects", {"nodes": [], "links": [], "notes": []}), suspects)
    return matrices


def _merge_suspects(merged: dict[str, list[Any]], suspects: dict[str, Any]) -> None:
    for key in ("nodes", "links", "notes"):
        merged[key].extend(x for x in suspects.get(key, []) if x not in merged[key])


def _write_bad_nodes(path: str | None, record: RunRecord) -> None:
    if path:
        text = "".join(f"{name}\n" for name in record.bad_nodes())
        Path(path).write_text(text)


def _write_html(ctx: RunContext, record: RunRecord) -> None:
    try:
        from preflight.reports.html import write_report
        from preflight.reports.nodes import parsed_records
    except ImportError:
        return
    facts = None
    if ctx.facts_path.is_file():
        facts = {"nodes": _report_nodes(ctx, parsed_records)}
    write_report(ctx.run_dir, run=record, facts=facts)


def _report_nodes(ctx: RunContext,
                  parsed_records: Callable[[NodeFacts], dict[str, Any]]) -> dict[str, Any]:
    """Each node's outcome, with its GPUs, topology, IB ports and versions as the checks
    parsed them (not parsed twice; the raw nvidia-smi text is not kept once parsed)."""
    cluster = ctx.cluster_facts()
    nodes: dict[str, Any] = {}
    for name, outcome in ctx.outcomes().items():
        entry = outcome.to_dict()
        if outcome.ok:
            with contextlib.suppress(Blocked):  # the report says why
                entry["parsed"] = parsed_records(cluster.node(name))
        nodes[name] = entry
    return nodes


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
    if ctx.recorded_from is not None:
        console.print(f"judged the recorded run {ctx.recorded_from} "
                      f"(facts gathered {_gathered(ctx.facts_path)}); no node was contacted",
                      markup=False, soft_wrap=True)
    console.print(f"run directory: {ctx.run_dir}", markup=False, soft_wrap=True)


def _gathered(facts_path: Path) -> str:
    return str(read_facts_header(facts_path).get("gathered") or "at an unrecorded time")
