"""Fixtures and options for the collective probes (torch.distributed, launchers)."""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from preflight.applies import skip_unless_applies
from preflight.collective.settings import (
    LAUNCHERS,
    TorchSettings,
    launch_settings_from,
    parse_sizes,
)
from preflight.fixtures import measure_once
from preflight.levels import TORCH_SWEEP, parse_level
from preflight.runctx import RunContext


def _sizes(text: str) -> tuple[int, ...]:
    try:
        return parse_sizes(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: must be > 0")
    return value


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("preflight")
    add = group.addoption
    add("--launcher", choices=LAUNCHERS, default="ssh",
        help="how multi-node probes start: ssh (default), srun (inside a Slurm allocation, "
             "one task per node) or mpirun (Open MPI, hostfile from the inventory)")
    add("--mpirun-args", default="", metavar="ARGS",
        help="extra mpirun flags, e.g. '--mca oob_tcp_if_include 10.0.0.0/16' (--ssh-config "
             "and --known-hosts are passed to its ssh already)")
    add("--srun-args", default="", metavar="ARGS", help="extra srun flags, e.g. '--overlap'")
    add("--master-port", type=int, default=None, metavar="PORT",
        help="MASTER_PORT for the torch.distributed probe (default: expect.master_port)")
    add("--torch-sizes", type=_sizes, default=None, metavar="SIZES",
        help="all_reduce sweep: LOW-HIGH every 4x or a list (default: 1K-4M at --level full, "
             "else 4M)")
    add("--torch-iters", type=int, default=None, metavar="N",
        help="timed all_reduces per size (default: 5 at --level full, else 3)")
    add("--torch-timeout", type=_positive, default=30.0, metavar="SECONDS",
        help="deadline of each torch.distributed step (rendezvous, barrier, each size)")
    add("--torch-busbw-floor", type=_positive, default=None, metavar="GBPS",
        help="fail when the largest size's all_reduce busbw is below this (GB/s)")


@pytest.fixture(scope="session")
def torch_settings(request: pytest.FixtureRequest, run_context: RunContext) -> TorchSettings:
    opt = request.config.option
    sizes, iters = TORCH_SWEEP[parse_level(run_context.expect.level)]
    return TorchSettings(
        launch=launch_settings_from(request.config.option),
        master_port=opt.master_port or run_context.expect.master_port,
        sizes=opt.torch_sizes or sizes, iters=max(1, opt.torch_iters or iters),
        step_timeout_s=opt.torch_timeout,
        busbw_floor_gbps=opt.torch_busbw_floor or run_context.expect.torch_busbw_gbps)


@pytest.fixture(scope="session")
def torch_allreduce(run_context: RunContext, torch_settings: TorchSettings) -> dict[str, Any]:
    from preflight.collective.torch_probe import measure_torch_allreduce

    with run_context.exclusive("master_port"):  # the ports probe listens on it too
        return measure_once(run_context, "torch_allreduce",
                     lambda ctx: measure_torch_allreduce(ctx, torch_settings))


@pytest.fixture(scope="session")
def launcher_ready(run_context: RunContext, torch_settings: TorchSettings) -> dict[str, Any]:
    launch = torch_settings.launch
    skip_unless_applies("launcher_ready", run_context.expect, launch.kind)
    from preflight.collective.readiness import launcher_readiness

    return measure_once(run_context, f"launcher_{launch.kind}",
                 lambda ctx: launcher_readiness(ctx, launch))
