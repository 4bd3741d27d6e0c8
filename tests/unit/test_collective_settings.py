"""Sweep sizes, launcher command lines and the local launcher's deadline."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from preflight.collective.launch import (
    mpirun_argv,
    mpirun_one_argv,
    run_local,
    write_hostfile,
)
from preflight.collective.settings import LaunchSettings, TorchSettings, parse_sizes, size_label
from preflight.inventory import Node


def test_default_sweep_is_1k_to_4m_every_4x() -> None:
    assert TorchSettings().sizes == parse_sizes("1K-4M") == (
        1024, 4096, 16384, 65536, 262144, 1 << 20, 4 << 20)
    assert [size_label(s) for s in parse_sizes("1K-4M")][::3] == ["1 KiB", "64 KiB", "4 MiB"]


def test_the_full_sweep_is_for_full_below_it_one_size_the_busbw_figure_reads() -> None:
    from preflight.levels import TORCH_SWEEP

    assert TORCH_SWEEP["full"] == (TorchSettings().sizes, 5)
    assert TORCH_SWEEP["standard"] == ((TorchSettings().sizes[-1],), 3)


@pytest.mark.parametrize(("text", "sizes"), [
    ("64K", (65536,)), ("1k,1MiB, 3000", (1024, 1 << 20, 3000)), ("8-40", (8, 32)),
    ("2G-2G", (2 << 30,)),
])
def test_sizes_as_lists_and_ranges(text: str, sizes: tuple[int, ...]) -> None:
    assert parse_sizes(text) == sizes


@pytest.mark.parametrize("text", ["", "4M-1K", "0-1K", "lots", "1T"])
def test_bad_sizes_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_sizes(text)


def test_total_deadline_covers_every_step_at_its_deadline() -> None:
    settings = TorchSettings(sizes=(1024, 4096), step_timeout_s=10, import_timeout_s=60)
    assert settings.deadlines() == {"import": 60, "rendezvous": 10, "step": 10}
    assert settings.total_deadline_s() == 60 + 10 * (2 + 3 + 2) + 15


def test_hostfile_and_mpirun_lines(tmp_path: Path) -> None:
    nodes = [Node("gpu-1", slots=8), Node("gpu-2", user="ops")]
    hostfile = write_hostfile(tmp_path / "launch" / "hostfile", nodes)
    assert hostfile.read_text() == "gpu-1 slots=8\nops@gpu-2 slots=1\n"
    settings = LaunchSettings("mpirun", mpirun_args=("--mca", "btl", "tcp,self"),
                              ssh_config="/c", known_hosts="/k")
    assert mpirun_argv(settings, hostfile, ["hostname"]) == [
        "mpirun", "-N", "1", "--hostfile", str(hostfile), "--bind-to", "none",
        "--mca", "plm_rsh_args", "-F /c -o UserKnownHostsFile=/k",
        "--mca", "btl", "tcp,self", "hostname"]
    assert mpirun_one_argv(LaunchSettings("mpirun"), nodes[1], ["hostname"]) == [
        "mpirun", "-N", "1", "--host", "ops@gpu-2", "--bind-to", "none", "hostname"]


def test_run_local_ends_a_hung_launcher_at_its_deadline() -> None:
    result = run_local([sys.executable, "-c", "import time; print('up', flush=True); "
                        "time.sleep(60)"], timeout=1)
    assert result.timed_out and result.rc is None and result.stdout == "up\n"


def test_run_local_reports_a_missing_launcher() -> None:
    result = run_local(["/nonexistent/mpirun", "hostname"], timeout=5)
    assert result.error is not None and result.error.startswith("/nonexistent/mpirun: ")
    assert result.rc is None and not result.timed_out
