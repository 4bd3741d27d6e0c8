"""The pytest plugin: options, the node/pair parametrization, fixtures, and result capture.

Inert unless an inventory is given (--hostfile, --hosts, --slurm, --local, --from), so it
is safe to have installed (entry point pytest11) in any pytest run.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Generator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from preflight import verdict
from preflight.applies import ONLY_IF, RunSettings, not_applicable
from preflight.config import Expectations
from preflight.facts import ClusterFacts, NodeFacts
from preflight.fixtures import start_probes
from preflight.gather import NodeOutcome
from preflight.junit import regroup
from preflight.levels import run_order, selected
from preflight.lifecycle import RECORD, build_context, finish_run, gather_now
from preflight.pair_params import pair_params
from preflight.results import Result, Status
from preflight.runctx import CONTEXT, RunContext, context

pytest_plugins = [
    "preflight.fixtures",
    "preflight.live",
    "preflight.collective.fixtures",
    "preflight.nccl_tests.fixtures",
    "preflight.drain",
]

RESULT_PROPERTY = "preflight_result"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("preflight", "preflight cluster validation")
    add = group.addoption
    add("--hostfile", metavar="PATH", help="Open MPI/MPICH/plain hostfile of the nodes to check")
    add("--hosts", metavar="EXPR", help="hosts as a list or Slurm hostlist, e.g. 'node[01-16]'")
    add("--slurm", action="store_true", help="check the nodes of this Slurm allocation")
    add("--local", action="store_true", help="check this machine only (no SSH)")
    add("--from", dest="preflight_from", metavar="RUN_DIR",
        help="re-evaluate a recorded run's facts and measurements; touches no node")
    add("--profile", help="expectations profile (preflight profiles lists them)")
    add("--config", dest="preflight_config", metavar="TOML", help="preflight.toml to read")
    add("--expect", action="append", default=[], metavar="KEY=VALUE",
        help="override one expectation, e.g. --expect gpus_per_node=8")
    add("--out", dest="preflight_out", metavar="DIR",
        help="run directory (default reports/<time>); one that holds a run is refused")
    add("--overwrite", action="store_true",
        help="--out DIR may hold an earlier run: it is removed whole first")
    add("--ssh-config", metavar="PATH", help="ssh client config (default ~/.ssh/config)")
    add("--known-hosts", metavar="PATH", help="known_hosts file (default ~/.ssh/known_hosts)")
    add("--accept-new-host-keys", action="store_true",
        help="record unknown host keys (like OpenSSH accept-new); changed keys still fail")
    add("--ssh-user", metavar="USER", help="log in as USER unless ssh config says otherwise")
    add("--fanout", type=int, default=64, help="nodes contacted at once (default 64)")
    add("--remote-python", default="python3", help="python on the nodes (default python3)")
    add("--gather", dest="gather_via", choices=("ssh", "srun"), default="ssh",
        help="gather facts over SSH (default) or with one srun step (large allocations)")
    add("--bad-nodes", metavar="FILE", help="write the failing nodes here, one per line")
    add("--list-subjects", action="store_true",
        help="list every subject under its finding in the summary (preflight run -v)")
    add("--max-exclude", default="10%", metavar="N|P%",
        help="past this many nodes to exclude (default 10%% of the nodes) the run says the "
             "problem looks systemic and does not advise excluding them")
    add("--fail-on", choices=("fail", "warn"), default="fail",
        help="'warn' also fails the gate on warnings")
    add("--level", dest="preflight_level", choices=("quick", "standard", "full"),
        help="how much to check: quick (prolog: node-local, reach master and ring "
             "neighbours), standard (default: sampled pairs, ring bandwidth, torch), "
             "full (every pair, bandwidth mesh, nccl-tests)")
    add("--pairs", dest="pair_mode", metavar="MODE",
        help="bandwidth schedule: auto (default: ring, mesh at --level full), mesh, "
             "ring or sample:K")


def _active(config: pytest.Config) -> bool:
    opt = config.option
    return any(getattr(opt, name, None) for name in
               ("hostfile", "hosts", "slurm", "local", "preflight_from"))


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "reachability: runs on unreachable nodes too")
    config.addinivalue_line("markers", "active(probe): needs an active measurement")
    if not _active(config):
        return
    worker_input = getattr(config, "workerinput", None)
    global _forwarding
    _forwarding = worker_input is not None
    run_dir = worker_input.get("preflight_run_dir") if worker_input else None
    run_id = worker_input.get("preflight_run_id") if worker_input else None
    ctx = build_context(config.option, run_dir=run_dir, run_id=run_id)
    ctx.not_applicable = _not_applicable(config, ctx)  # the controller records it (xdist)
    config.stash[CONTEXT] = ctx
    _collect_checks(config)


def _collect_checks(config: pytest.Config) -> None:
    """Plain `pytest --hostfile H` collects the built-in checks (check_*.py / check_*)."""
    config.addinivalue_line("python_files", "check_*.py")
    config.addinivalue_line("python_functions", "check_*")
    if config.args_source != pytest.Config.ArgsSource.ARGS:
        config.args = [str(resources.files("preflight.checks"))]


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist: every worker shares the controller's run directory and run id (and so its
    facts and measurements)."""
    ctx = context(node.config)
    if ctx is not None:
        node.workerinput["preflight_run_dir"] = str(ctx.run_dir)
        node.workerinput["preflight_run_id"] = ctx.run_id


def pytest_sessionstart(session: pytest.Session) -> None:
    ctx = context(session.config)
    if ctx is not None and not hasattr(session.config, "workerinput"):
        gather_now(ctx, session.config)


def pytest_unconfigure(config: pytest.Config) -> None:
    ctx = context(config)
    if ctx is None:
        return
    ctx.close()
    record = config.stash.get(RECORD, None)
    xmlpath = getattr(config.option, "xmlpath", None)
    if record is not None and xmlpath and not hasattr(config, "workerinput"):
        regroup(Path(xmlpath), record)


@pytest.hookimpl(trylast=True)  # after -k and -m deselect: their probes are not wanted
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the checks above the run's level (preflight.levels.MIN_LEVEL) and those
    the run's settings rule out (preflight.applies), unless the user chose with -k; note
    which probes the selected checks need."""
    ctx = context(config)
    if ctx is None:
        return
    if not config.option.keyword:
        flags, level = _explicit_flags(config), ctx.expect.level

        def runs(item: pytest.Item) -> bool:
            name = _check_name(item)
            return selected(name, level, flags) and name not in ctx.not_applicable

        kept = [i for i in items if runs(i)]
        dropped = [i for i in items if not runs(i)]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = kept
    # Node-local checks first, then reach, bandwidth, burst, collectives: the reach probes
    # start now, in the background, and run while the node-local checks are judged (at
    # quick the burst follows them: fixtures.start_probes).
    items.sort(key=lambda item: run_order(getattr(item, "fixturenames", ())))
    ctx.wanted_probes = {f for item in items for f in getattr(item, "fixturenames", ())}
    gc.freeze()  # the items live to the end: at 1,024 nodes the collector walked 46,000 of them
    if not config.option.collectonly:
        start_probes(ctx)


def _explicit_flags(config: pytest.Config) -> frozenset[str]:
    return frozenset(f for f in ("pair_mode", "nccl_tests") if getattr(config.option, f, None))


def _not_applicable(config: pytest.Config, ctx: RunContext) -> dict[str, str]:
    """The checks of this level that the run's settings rule out, with the reason; none
    when the user chose with -k (they run, and skip with that reason)."""
    if config.option.keyword:
        return {}
    level, flags = ctx.expect.level, _explicit_flags(config)
    settings = RunSettings(ctx.expect, getattr(config.option, "launcher", None) or "ssh")
    return not_applicable((c for c in ONLY_IF if selected(c, level, flags)), settings)


def _check_name(item: pytest.Item) -> str:
    return getattr(item, "originalname", item.name).removeprefix("check_")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    ctx = context(metafunc.config)
    names = ctx.names if ctx is not None else []
    if "node_name" in metafunc.fixturenames:
        metafunc.parametrize("node_name", names, ids=names)
    if "pair_names" in metafunc.fixturenames:
        pairs = pair_params(ctx, metafunc.fixturenames, names)
        metafunc.parametrize("pair_names", pairs, ids=[f"{a}-to-{b}" for a, b in pairs])


# Fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def run_context(request: pytest.FixtureRequest) -> RunContext:
    ctx = context(request.config)
    if ctx is None:
        pytest.skip("no inventory: pass --hostfile, --hosts, --slurm or --local")
    return ctx


@pytest.fixture(scope="session")
def expect(run_context: RunContext) -> Expectations:
    return run_context.expect


@pytest.fixture(scope="session")
def cluster(run_context: RunContext) -> ClusterFacts:
    return run_context.cluster_facts()


@pytest.fixture
def node_outcome(node_name: str, cluster: ClusterFacts) -> NodeOutcome:
    return cluster.outcomes[node_name]


@pytest.fixture
def node(node_name: str, cluster: ClusterFacts) -> NodeFacts:
    return cluster.node(node_name)  # raises Blocked for an unreachable node


@pytest.fixture
def pair(pair_names: tuple[str, str], cluster: ClusterFacts) -> tuple[str, str]:
    for name in pair_names:
        cluster.node(name)  # blocked if either end is unreachable
    return pair_names


# Results ---------------------------------------------------------------------------------


def pytest_runtest_setup(item: pytest.Item) -> None:
    verdict.reset()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if context(item.config) is None or report.when == "teardown":
        return report
    if report.when == "setup" and report.passed:
        return report
    status, message = _status(call, report)
    if status is Status.WARN:
        report.outcome = "passed"
    result = _result(item, status, message, report.duration)
    report.user_properties.append((RESULT_PROPERTY, json.dumps(result.to_dict(), default=str)))
    return report


def _status(call: pytest.CallInfo[None], report: pytest.TestReport) -> tuple[Status, str]:
    if report.skipped:
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        return Status.SKIP, reason.removeprefix("Skipped: ")
    if call.excinfo is None:
        return Status.PASS, ""
    exc = call.excinfo.value
    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, verdict.Blocked):
        return Status.BLOCKED, text
    if isinstance(exc, verdict.CheckWarning):
        return Status.WARN, text
    if report.when == "call" and isinstance(exc, AssertionError):
        return Status.FAIL, text.splitlines()[0] if text else "assertion failed"
    if isinstance(exc, verdict.Unavailable):
        verdict.observe(hint=exc.hint, reason=exc.reason)
        return Status.ERROR, text
    return Status.ERROR, f"{type(exc).__name__}: {text}"


def _result(item: pytest.Item, status: Status, message: str, duration: float) -> Result:
    params = getattr(item, "callspec", None)
    values = params.params if params is not None else {}
    pair = values.get("pair_names")
    node = values.get("node_name")
    pair = pair if isinstance(pair, tuple) else None  # an empty parametrization is NOTSET
    node = node if isinstance(node, str) else None
    module = getattr(item, "module", None)
    family = (module.__name__.rsplit(".", 1)[-1] if module else "site").removeprefix("check_")
    name = _check_name(item)
    seen = verdict.current()
    return Result(
        id=item.nodeid, check=name, family=family, status=status,
        node=node, pair=pair,
        measured=seen.measured, expected=seen.expected, unit=seen.unit,
        message=message, hint=seen.hint if status is not Status.PASS else None,
        duration_s=round(duration, 3),
        reason=seen.reason if status is not Status.PASS else None,
        targets=seen.targets if status is not Status.PASS else None,
    )


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    for key, value in report.user_properties:
        if key == RESULT_PROPERTY:
            _collected.append(Result.from_dict(json.loads(str(value))))
            if not _forwarding:  # pytest keeps every report to the end: drop this copy
                report.user_properties.remove((key, value))
            break


_collected: list[Result] = []
_forwarding = False  # an xdist worker: its reports go to the controller with the result


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    ctx = context(session.config)
    if ctx is None or hasattr(session.config, "workerinput"):
        return
    ctx.results = list(_collected)
    _collected.clear()
    ctx.interrupted = exitstatus == pytest.ExitCode.INTERRUPTED
    finish_run(ctx, session.config)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    ctx = context(config)
    if ctx is None or hasattr(config, "workerinput"):
        return
    from preflight.golive.command import print_launch_line
    from preflight.lifecycle import print_summary

    print_summary(ctx, config)
    print_launch_line(ctx, config.stash.get(RECORD, None))


def pytest_report_header(config: pytest.Config) -> list[str]:
    ctx = context(config)
    if ctx is None:
        return []
    return [f"preflight: {len(ctx.nodes)} node(s), profile {ctx.expect.profile}, "
            f"run directory {ctx.run_dir}"]


__all__ = ["CONTEXT", "context"]
