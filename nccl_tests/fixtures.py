"""Fixtures and options for nccl-tests runs (opt-in: --nccl-tests, or nccl_tests in config).

Without the opt-in the per-node checks are deselected and the cluster-level one skips
with how to turn them on, so a default run neither runs nor lists nccl-tests per node.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from preflight.fixtures import measure_once
from preflight.runctx import MEASUREMENTS_DIR, RunContext, context

from .settings import BINARIES, LAUNCHERS, NcclTestsSettings, from_options, parse_collectives
from .thresholds import Floor

SETTINGS = pytest.StashKey[NcclTestsSettings]()
SINGLE, MULTI = "nccl_tests_single", "nccl_tests_multi"
_PROBES = ("nccl_single_probe", "nccl_multi_probe")
OPT_IN = "nccl-tests are opt-in: pass --nccl-tests (or nccl_tests = true in [expect])"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("preflight")
    add = group.addoption
    add("--nccl-tests", action="store_true", default=False,
        help="also run nccl-tests: single-node on every node, then one multi-node job")
    add("--nccl-tests-home", metavar="DIR",
        help="nccl-tests checkout on the nodes (binaries in DIR or DIR/build)")
    add("--nccl-tests-collectives", metavar="LIST",
        help=f"comma-separated, from {', '.join(BINARIES)} (default all_reduce)")
    add("--nccl-tests-max-bytes", metavar="SIZE", help="largest message, -e (default 8G)")
    add("--nccl-tests-timeout", type=float, metavar="S",
        help="deadline of one nccl-tests run (default 300 s)")
    add("--nccl-tests-launcher", choices=LAUNCHERS,
        help="multi-node launcher run from this machine (default srun with --slurm, else "
             "mpirun; Open MPI reads OMPI_MCA_* from the environment)")


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """Settings checked once, before facts are gathered: a bad one is a usage error (exit
    2) before any node is contacted."""
    config = session.config
    ctx = context(config)
    if ctx is None:
        return
    try:
        settings = from_options(config.option, ctx.expect)
    except ValueError as exc:
        raise pytest.UsageError(f"--nccl-tests-collectives: {exc}") from None
    config.stash[SETTINGS] = _with_recording(settings, ctx)


def _with_recording(settings: NcclTestsSettings, ctx: RunContext) -> NcclTestsSettings:
    """Re-judging a recorded run (check --from) judges the nccl-tests it recorded."""
    path = ctx.run_dir / MEASUREMENTS_DIR / f"{SINGLE}.json"
    if not ctx.offline or not path.is_file():
        return settings
    recorded = json.loads(path.read_text()).get("settings", {})
    collectives = parse_collectives(recorded.get("collectives") or settings.collectives)
    return replace(settings, enabled=True, collectives=collectives)


def _settings(config: pytest.Config) -> NcclTestsSettings | None:
    return config.stash.get(SETTINGS, None)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "nccl_collective" in metafunc.fixturenames:
        settings = _settings(metafunc.config)
        collectives = list(settings.collectives) if settings else ["all_reduce"]
        metafunc.parametrize("nccl_collective", collectives, ids=collectives)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    settings = _settings(config)
    if settings is None or settings.enabled:
        return
    per_node = [item for item in items if _is_per_node_nccl(item)]
    if per_node:
        config.hook.pytest_deselected(items=per_node)
        items[:] = [item for item in items if not _is_per_node_nccl(item)]


def _is_per_node_nccl(item: pytest.Item) -> bool:
    names = getattr(item, "fixturenames", ())
    return "node_name" in names and any(probe in names for probe in _PROBES)


# Fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def nccl_tests_settings(request: pytest.FixtureRequest,
                        run_context: RunContext) -> NcclTestsSettings:
    settings = _settings(request.config)
    if settings is None or not settings.enabled:
        pytest.skip(OPT_IN)
    return settings


@pytest.fixture(scope="session")
def nccl_single_probe(run_context: RunContext,
                      nccl_tests_settings: NcclTestsSettings) -> dict[str, Any]:
    from .single import measure_single_node

    return measure_once(run_context, SINGLE,
                        lambda ctx: measure_single_node(ctx, nccl_tests_settings))


@pytest.fixture(scope="session")
def nccl_multi_probe(run_context: RunContext, nccl_tests_settings: NcclTestsSettings,
                     nccl_single_probe: dict[str, Any]) -> dict[str, Any]:
    from .multi import measure_multi_node

    return measure_once(run_context, MULTI, lambda ctx: measure_multi_node(
        ctx, nccl_tests_settings, nccl_single_probe))


@pytest.fixture(scope="session")
def nccl_single_floors(run_context: RunContext, nccl_tests_settings: NcclTestsSettings,
                       nccl_single_probe: dict[str, Any]) -> dict[str, Floor | None]:
    from .judge import single_node_floors

    return single_node_floors(nccl_single_probe, nccl_tests_settings.collectives,
                              run_context.expect)
