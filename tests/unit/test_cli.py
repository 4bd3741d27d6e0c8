"""Exit codes and one-line errors of the CLI, without a cluster."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def preflight(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "preflight", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=120)


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


@pytest.mark.parametrize(("content", "needle"), [
    (None, "no such"),
    ("# only a comment\n\n", "no hosts"),
    ("node-1\nnode-2\nnode-1\n", "duplicate"),
    ("node-1 slots=abc\n", "slots"),
    ("node-1 junk here\n", ":1:"),
])
def test_bad_hostfile_is_exit_2_with_one_line(tmp_path: Path, content: str | None,
                                              needle: str) -> None:
    hostfile = tmp_path / "hosts"
    if content is not None:
        hostfile.write_text(content)
    proc = preflight("run", "--hostfile", str(hostfile), cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert needle in one_line_error(proc).lower()


def test_unknown_profile_is_exit_2(tmp_path: Path) -> None:
    proc = preflight("run", "--local", "--profile", "dgx-z900", cwd=tmp_path)
    assert proc.returncode == 2
    assert "dgx-z900" in one_line_error(proc)


def test_local_run_writes_a_run_directory(tmp_path: Path) -> None:
    proc = preflight("run", "--out", "out", "--expect", "memlock_min_bytes=1",
                     "--expect", "disk_min_bytes=1", "--expect", "shm_min_bytes=1",
                     "--expect", "nofile_min=1024", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for name in ("results.json", "facts.json", "junit.xml"):
        assert (tmp_path / "out" / name).is_file()


def test_inventory_json(tmp_path: Path) -> None:
    proc = preflight("inventory", "--hosts", "gpu[01-03]", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    import json

    assert json.loads(proc.stdout) == {"hosts": [
        {"name": "gpu01", "slots": None}, {"name": "gpu02", "slots": None},
        {"name": "gpu03", "slots": None}]}


def test_unknown_command(tmp_path: Path) -> None:
    proc = preflight("frobnicate", cwd=tmp_path)
    assert proc.returncode == 2
    one_line_error(proc)


def test_inventory_inside_a_slurm_allocation(tmp_path: Path) -> None:
    import json
    import os

    env = {**os.environ, "SLURM_JOB_NODELIST": "gpu-[07-08],cpu1",
           "SLURM_TASKS_PER_NODE": "8(x2),1"}
    proc = subprocess.run([sys.executable, "-m", "preflight", "inventory", "--slurm", "--json"],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["hosts"] == [
        {"name": "gpu-07", "slots": 8}, {"name": "gpu-08", "slots": 8},
        {"name": "cpu1", "slots": 1}]


def test_inventory_outside_slurm_is_a_usage_error(tmp_path: Path) -> None:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM")}
    proc = subprocess.run([sys.executable, "-m", "preflight", "inventory", "--slurm"],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60)
    assert proc.returncode == 2
    one_line_error(proc)


def test_parse_prints_json_or_one_line(tmp_path: Path) -> None:
    garbage = tmp_path / "junk.txt"
    garbage.write_text("hello\nworld\n")
    proc = preflight("parse", "ibstat", str(garbage), cwd=tmp_path)
    assert proc.returncode == 1 and proc.stdout == ""
    assert "not ibstat output" in one_line_error(proc)


@pytest.mark.parametrize("content", ["", "<html><body>Xid 79</body></html>\n",
                                     "\tGPU0\tGPU1\nGPU0\t X \tNV18\nGPU1\tNV18\t X \n"])
def test_parse_xid_refuses_text_that_is_not_a_kernel_log(tmp_path: Path, content: str) -> None:
    saved = tmp_path / "saved.txt"
    saved.write_text(content)
    proc = preflight("parse", "xid", str(saved), cwd=tmp_path)
    assert proc.returncode == 1 and proc.stdout == ""
    assert "not a kernel log" in one_line_error(proc)


@pytest.mark.parametrize(("item", "key", "value"), [
    ("gpu_model='H100'", "gpu_model", "H100"),
    ('gpu_model="H100 80GB HBM3"', "gpu_model", "H100 80GB HBM3"),
    ("gpu_model=H100 80GB", "gpu_model", "H100 80GB"),
    ("ports=[22, 29500]", "ports", [22, 29500]),
    ("gpus_per_node=8", "gpus_per_node", 8),
])
def test_expect_flag_is_read_by_the_one_parser(tmp_path: Path, item: str, key: str,
                                               value: object) -> None:
    import json

    proc = preflight("run", "--local", "--out", "out", "--expect", item, "-k", "probe_ran",
                     cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    thresholds = json.loads((tmp_path / "out" / "results.json").read_text())["thresholds"]
    assert thresholds[key] == value


@pytest.mark.parametrize(("item", "error"), [
    ("iperf_seconds=0.5", "'iperf_seconds' must be an integer, got a number 0.5"),
    ("iperf_seconds=0", "'iperf_seconds' must be at least 1, got 0"),
    ("sample_peers=-1", "'sample_peers' must be at least 0, got -1"),
    ("command_timeout_s=0", "'command_timeout_s' must be at least 1, got 0"),
])
def test_a_count_or_duration_below_its_least_is_refused(tmp_path: Path, item: str,
                                                        error: str) -> None:
    """iperf3 reads -t 0.5 as 0 and then runs until killed: refused before any node."""
    proc = preflight("run", "--plan", "--hosts", "a,b", "--expect", item, cwd=tmp_path)
    assert proc.returncode == 2 and one_line_error(proc).endswith(f": --expect: {error}")


def test_bad_expect_flag_is_exit_2_with_one_line(tmp_path: Path) -> None:
    proc = preflight("run", "--local", "--expect", "gpus_per_node=eight", cwd=tmp_path)
    assert proc.returncode == 2
    assert one_line_error(proc) == (
        "ERROR: --expect: 'gpus_per_node' must be an integer, got a string 'eight'")


def test_run_help_lists_preflight_options_in_groups_then_pytest() -> None:
    proc = subprocess.run([sys.executable, "-m", "preflight", "run", "--help"],
                          capture_output=True, text=True, timeout=60)
    lines = proc.stdout.splitlines()
    assert proc.returncode == 0 and lines[0].startswith("usage: preflight run")
    titles = [line for line in lines if line and not line.startswith(" ")][1:-1]
    assert titles[:7] == ["targets:", "expectations:", "SSH:", "pairs and bandwidth:",
                          "collectives:", "nccl-tests:", "output:"]
    assert "--max-exclude" in proc.stdout and "--hostfile" in lines[3]
    assert lines[-1].startswith("Any pytest option works") and len(lines) < 120


def test_probes_start_only_for_the_checks_k_keeps(tmp_path: Path) -> None:
    """-k deselects after collection: the reach probes the deselected checks would have
    read (ports, SSH mesh, path MTU) are not run."""
    proc = preflight("run", "--local", "--out", "out", "-k", "probe_ran", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    measured = sorted(p.name for p in (tmp_path / "out").glob("measurements/*.json"))
    assert measured == [], measured
