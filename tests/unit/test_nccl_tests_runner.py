"""nccl-tests runner: finding binaries, command lines, launchers, thresholds and verdicts."""

from __future__ import annotations

import stat
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from preflight.collective import launch as collective_launch
from preflight.collective.settings import LaunchSettings
from preflight.config import Expectations
from preflight.gather import NodeOutcome
from preflight.inventory import Node
from preflight.nccl_tests import judge, launch, multi, single
from preflight.nccl_tests.command import perf_argv, run_record
from preflight.nccl_tests.find import find_argv, parse_found
from preflight.nccl_tests.settings import from_options, parse_collectives
from preflight.nccl_tests.thresholds import (
    Floor,
    compute_nic_gbps,
    internode_floor,
    plateau,
    single_node_floor,
)
from preflight.parsers.nccl_tests import parse
from preflight.results import Status
from preflight.runctx import RunContext
from preflight.transport.base import CommandResult
from tests.corpus import corpus_file

REPO = Path(__file__).resolve().parents[2]
ROW = "{size:>12}  {count:>12}  float  sum  -1  100.0  {alg:.2f}  {bus:.2f}  {wrong}  " \
      "100.0  {alg:.2f}  {bus:.2f}  {wrong}"


def corpus(name: str) -> str:
    path = corpus_file("nccl_tests", name)
    return path.read_text()


def table(busbw: float, *, ranks: int = 8, wrong: int = 0, oob: str = "0 OK",
          sizes: Sequence[int] = (1 << 20, 1 << 30, 1 << 33)) -> str:
    """The current nccl-tests layout with one busbw for every size."""
    head = ["# nThread 1 nGpus 8 minBytes 8 maxBytes 8589934592 step: 2(factor)", "#",
            *[f"#  Rank {r:2d} Group  0 Pid 1 on node device {r} [0x1b] NVIDIA H100"
              for r in range(ranks)],
            "#       size         count      type   redop    root     time   algbw   busbw "
            "#wrong     time   algbw   busbw #wrong"]
    rows = [ROW.format(size=s, count=s // 4, alg=busbw / 1.75, bus=busbw, wrong=wrong)
            for s in sizes]
    return "\n".join([*head, *rows, f"# Out of bounds values : {oob}",
                      f"# Avg bus bandwidth    : {busbw:g}", "#"]) + "\n"


def record(output: str, rc: int | None = 0, **extra: Any) -> dict[str, Any]:
    return {"rc": rc, "timed_out": False, "timeout_s": 60.0, "output": output, "stderr": "",
            **extra}


# Command lines and finding ------------------------------------------------------------


def test_perf_argv_sweeps_from_8_bytes_with_all_gpus() -> None:
    assert perf_argv("/x/all_reduce_perf", 8, "8G", None) == [
        "/x/all_reduce_perf", "-b", "8", "-e", "8G", "-f", "2", "-g", "8"]
    assert perf_argv("all_reduce_perf", 4, "1G", 30)[-2:] == ["-T", "30"]


def test_parse_found_reads_paths_and_the_timeout_flag() -> None:
    text = ("all_reduce_perf\tPATH\t/opt/bin/all_reduce_perf\nalltoall_perf\t\t\n"
            "timeout-flag\tyes\n")
    found = parse_found(text, ["all_reduce_perf", "alltoall_perf"])
    assert found.paths == {"all_reduce_perf": "/opt/bin/all_reduce_perf", "alltoall_perf": None}
    assert found.via == {"all_reduce_perf": "PATH"}
    assert found.timeout_flag is True


def _tool(folder: Path, name: str, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def _find(home: str | None, env: dict[str, str], binaries: list[str]) -> str:
    argv = find_argv(home, binaries)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30,
                          env={"PATH": "/usr/bin:/bin", **env})
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_finder_prefers_home_then_nccl_tests_home_then_path(tmp_path: Path) -> None:
    usage = 'echo "[-T,--timeout <time in seconds>]"'
    home = _tool(tmp_path / "home" / "build", "all_reduce_perf", usage)
    env_home = _tool(tmp_path / "envhome", "all_reduce_perf", "true")
    on_path = _tool(tmp_path / "bin", "all_gather_perf", "true")
    env = {"NCCL_TESTS_HOME": str(tmp_path / "envhome"), "PATH": f"{tmp_path / 'bin'}:/bin"}
    wanted = ["all_reduce_perf", "all_gather_perf", "alltoall_perf"]
    found = parse_found(_find(str(tmp_path / "home"), env, wanted), wanted)
    assert found.paths == {"all_reduce_perf": str(home), "all_gather_perf": str(on_path),
                           "alltoall_perf": None}
    assert found.via == {"all_reduce_perf": "home", "all_gather_perf": "PATH"}
    assert found.timeout_flag is True
    without_home = parse_found(_find(None, env, wanted), wanted)
    assert without_home.paths["all_reduce_perf"] == str(env_home)
    assert without_home.via["all_reduce_perf"] == "NCCL_TESTS_HOME"
    assert without_home.timeout_flag is False  # its usage does not name -T


def test_finder_gives_up_on_a_hung_help_and_still_reports_the_path(tmp_path: Path) -> None:
    hung = _tool(tmp_path / "bin", "all_reduce_perf", "sleep 60")
    text = _find(None, {"PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin"}, ["all_reduce_perf"])
    found = parse_found(text, ["all_reduce_perf"])
    assert found.paths == {"all_reduce_perf": str(hung)} and found.timeout_flag is False


def test_run_record_keeps_head_and_tail_of_huge_output() -> None:
    out = b"HEAD\n" + b"x" * (400 << 10) + b"\nTAIL\n"
    kept = run_record(CommandResult("n", ("a",), 0, out, b"", 1.23456), 60)
    assert kept["output"].startswith("HEAD\n") and kept["output"].endswith("TAIL\n")
    assert len(kept["output"]) < 300 << 10
    assert kept["duration_s"] == 1.235 and kept["timeout_s"] == 60


# Settings ---------------------------------------------------------------------------------


def _options(**given: Any) -> SimpleNamespace:
    names = ("nccl_tests", "nccl_tests_home", "nccl_tests_collectives", "nccl_tests_max_bytes",
             "nccl_tests_timeout", "nccl_tests_launcher", "launcher", "slurm", "gather_via",
             "ssh_config", "known_hosts", "mpirun_args", "srun_args")
    return SimpleNamespace(**dict.fromkeys(names) | given)


def test_flags_win_over_config_and_defaults() -> None:
    expect = SimpleNamespace(nccl_tests=True, nccl_tests_home="/cfg", nccl_tests_timeout_s=90)
    settings = from_options(_options(nccl_tests_home="/flag"), expect)
    assert settings.enabled and settings.home == "/flag" and settings.timeout_s == 90
    assert settings.collectives == ("all_reduce",) and settings.max_bytes == "8G"
    assert from_options(_options(), Expectations()).enabled is False


def test_collectives_and_launcher_choice() -> None:
    assert parse_collectives("all_reduce, alltoall_perf,all_reduce") == ("all_reduce", "alltoall")
    with pytest.raises(ValueError, match="unknown collective.*bcast"):
        parse_collectives("bcast")
    assert from_options(_options(), Expectations()).launcher == "mpirun"
    assert from_options(_options(slurm=True), Expectations()).launcher == "srun"
    assert from_options(_options(launcher="ssh", slurm=True), Expectations()).launcher == "srun"
    assert from_options(_options(launcher="mpirun", slurm=True), Expectations()).launcher \
        == "mpirun"
    assert from_options(_options(nccl_tests_launcher="srun", launcher="mpirun"),
                        Expectations()).launcher == "srun"


# Launchers --------------------------------------------------------------------------------


def test_mpirun_args_reach_nccl_tests_through_the_one_launcher(tmp_path: Path) -> None:
    settings = from_options(_options(mpirun_args="--mca btl_tcp_if_include eth0",
                                     ssh_config="/c", known_hosts="/k"), Expectations())
    hostfile = collective_launch.write_hostfile(tmp_path / "h", [Node("gpu-1", slots=8),
                                                                 Node("gpu-2", user="ops")])
    assert hostfile.read_text() == "gpu-1 slots=8\nops@gpu-2 slots=1\n"
    argv = collective_launch.mpirun_argv(
        settings.launch, hostfile, ["all_reduce_perf", "-g", "8"], np=2, timeout_s=299.5,
        export=launch.nccl_variables({"NCCL_IB_HCA": "mlx5", "PATH": "/bin",
                                      "NCCL_DEBUG": "INFO"}))
    assert argv == ["mpirun", "-np", "2", "-N", "1", "--hostfile", str(hostfile),
                    "--timeout", "300", "-x", "NCCL_DEBUG", "-x", "NCCL_IB_HCA",
                    "--bind-to", "none", "--mca", "plm_rsh_args", "-F /c -o UserKnownHostsFile=/k",
                    "--mca", "btl_tcp_if_include", "eth0", "all_reduce_perf", "-g", "8"]


def _gone(pid: int) -> bool:
    """Dead or a zombie; a process closes its files a moment before it turns zombie."""
    for _ in range(50):
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False


def test_a_hung_launcher_is_stopped_with_its_whole_group() -> None:
    result = collective_launch.run_local(["sh", "-c", "sleep 300 & echo $!; wait"], timeout=1.0)
    assert result.timed_out and result.rc is None
    assert _gone(int(result.stdout.split()[0]))


def test_a_group_deaf_to_sigterm_gets_sigkill(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(collective_launch, "TERM_GRACE_S", 0.5)
    script = "trap '' TERM; sleep 300 & echo $!; wait"  # the sleep inherits the ignored TERM
    result = collective_launch.run_local(["sh", "-c", script], timeout=1.0)
    assert result.timed_out and result.rc is None
    assert _gone(int(result.stdout.split()[0]))


def test_a_missing_launcher_is_an_answer_not_a_crash(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no mpirun, no srun
    for launcher in ("mpirun", "srun"):
        result = launch.launch(LaunchSettings(), launcher, [Node("a")], ["true"], 5.0)
        assert result.rc == 127 and launcher.encode() in result.stderr


def test_sigterm_reaches_the_launcher_first(tmp_path: Path) -> None:
    mark = tmp_path / "term"
    script = f"trap 'echo term > {mark}; exit 3' TERM; sleep 300 & wait"
    result = collective_launch.run_local(["sh", "-c", script], timeout=1.0)
    assert result.timed_out and mark.read_text() == "term\n"


# Thresholds -------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "gbps", "size"), [
    # the best cell at >= 1 GiB, not the best cell overall (3.15 at 256 MiB)
    ("awsdoeks_t4_2node_efa_ofi_mpi_prefixed_with_nccl_info.txt", 3.12, 1 << 30),
    ("superbench_a100x8_allreduce_oldformat.txt", 235.26, 1 << 33),
    ("h100x8_single_node_nvls_indented_markdown_copy.txt", 470.73, 1 << 31),
    # the sweep stopped at 512 MiB: the largest size run
    ("inc_rtx3090_2node_wrong_nonzero_108_failed.txt", 7.41, 1 << 29),
])
def test_plateau_is_the_large_message_busbw(name: str, gbps: float, size: int) -> None:
    best = plateau(parse(corpus(name)))
    assert best is not None and (best.gbps, best.size_bytes) == (gbps, size)


def test_no_rows_no_plateau() -> None:
    run = parse(corpus("nccltests5_p100x8_nccl1_very_old_format_unhandled_cuda_error.txt"))
    assert plateau(run) is None


def test_single_node_floor_profile_then_median() -> None:
    h100 = Expectations(profile="dgx-h100", allreduce_busbw_gbps=400.0)
    assert single_node_floor("all_reduce", h100, [480, 100]) == Floor(400.0,
                                                                     "profile dgx-h100 floor")
    generic = Expectations()
    floor = single_node_floor("all_reduce", generic, [480.0, 470.0, 100.0])
    assert floor == Floor(0.7 * 470.0, "0.7 x cluster median 470 GB/s")
    assert single_node_floor("alltoall", h100, [200.0, 100.0]) == Floor(
        105.0, "0.7 x cluster median 150 GB/s")
    assert single_node_floor("all_reduce", generic, [480.0]) is None


def test_internode_floor_from_config_or_from_the_nics() -> None:
    configured = Expectations(internode_busbw_gbps=350.0)
    assert internode_floor("alltoall", configured, {}) == Floor(
        350.0, "internode_busbw_gbps from the config")
    derived = internode_floor("all_reduce", Expectations(), {"a": 3200.0, "b": 1600.0})
    assert derived is not None and derived.gbps == pytest.approx(0.85 * 4 * 46)
    assert "1600 Gb/s of compute NICs on b, the fewest" in derived.basis
    assert internode_floor("all_gather", Expectations(), {"a": 3200.0}) is None
    assert internode_floor("all_reduce", Expectations(), {"a": 3200.0, "b": 0.0}) is None


def test_nic_gbps_counts_active_ports_at_the_top_rate() -> None:
    ports = ([{"state": "Active", "rate_gbps": 400.0}] * 7
             + [{"state": "Down", "rate_gbps": 400.0}]
             + [{"state": "Active", "rate_gbps": 100.0}] * 4)  # storage ports
    assert compute_nic_gbps(ports, Expectations()) == 2800.0
    assert compute_nic_gbps(ports, Expectations(ib_ports=8, ib_rate_gbps=400.0)) == 3200.0
    assert compute_nic_gbps(None, Expectations()) is None


# Verdicts ---------------------------------------------------------------------------------

FLOOR = Floor(400.0, "profile dgx-h100 floor")


def test_a_good_run_passes_with_its_busbw() -> None:
    verdict = judge.judge("node-1", "all_reduce", record(table(470.0)), FLOOR)
    assert (verdict.status, verdict.measured, verdict.expected) == ("pass", 470.0, ">= 400")
    assert verdict.status is Status.PASS  # one status vocabulary: results.Status


def test_a_slow_run_fails_naming_node_measured_and_floor() -> None:
    verdict = judge.judge("node-3", "all_reduce", record(table(100.0)), FLOOR)
    assert verdict.status == "fail" and verdict.hint == judge.SLOW_HINT
    assert verdict.message == ("node-3: all_reduce busbw 100 GB/s at 1 GiB (8 ranks), "
                               "expected >= 400 GB/s (profile dgx-h100 floor)")


def test_wrong_values_fail_whatever_the_busbw() -> None:
    verdict = judge.judge("node-2", "all_reduce", record(corpus(
        "inc_rtx3090_2node_wrong_nonzero_108_failed.txt"), rc=1), None)
    assert verdict.status == "fail" and verdict.hint == judge.WRONG_HINT
    assert "1073741424 wrong values (#wrong), 108 out of bounds (expected 0)" in verdict.message
    oob_only = judge.judge("n", "all_reduce", record(table(470.0, oob="3 FAILED")), None)
    assert oob_only.status == "fail" and "3 out of bounds" in oob_only.message


def test_failures_errors_and_hangs() -> None:
    failed = judge.judge("n", "all_reduce", record(corpus(
        "nccltests322_tail_multinode_test_nccl_failure_unhandled_cuda_error.txt"), rc=1), None)
    assert failed.status == "fail" and failed.message.startswith("n: all_reduce failed: ")
    missing = judge.judge("n", "alltoall", {"missing": True}, None)
    assert missing.status == "error" and "alltoall_perf not found" in missing.message
    hung = judge.judge("n", "all_reduce", {**record(""), "timed_out": True, "timeout_s": 8},
                       None)
    assert hung.status == "error" and "did not finish within 8 s" in hung.message
    own_timeout = judge.judge("n", "all_reduce", record(
        table(1.0) + "n: Test timeout (30s) common.cu:412\n", rc=1), None)
    assert own_timeout.status == "error" and "aborted it after 30 s (-T)" in own_timeout.message
    garbage = judge.judge("n", "all_reduce", record("invalid option 'T'\nUSAGE: ...", rc=0),
                          None)
    assert garbage.status == "error" and "printed no nccl-tests results (rc 0)" in garbage.message
    exit_code = judge.judge("n", "all_reduce", record(table(470.0), rc=1), None)
    assert exit_code.status == "fail" and "exited with rc 1" in exit_code.message


def test_one_gpu_passes_on_correctness_alone() -> None:
    verdict = judge.judge("n", "all_reduce", record(table(0.0, ranks=1)), FLOOR)
    assert verdict.status == "pass" and "0 by definition" in verdict.message


def _single(**nodes: dict[str, Any]) -> dict[str, Any]:
    return {"nodes": nodes}


def _ran(busbw: float, **extra: Any) -> dict[str, Any]:
    found = {"paths": {"all_reduce_perf": "/opt/all_reduce_perf"},
             "via": {"all_reduce_perf": "home"}, "timeout_flag": True}
    return {"gpus": 8, "found": found, "runs": {"all_reduce": record(table(busbw), **extra)}}


def test_median_floor_names_the_slow_node() -> None:
    measured = _single(a=_ran(480.0), b=_ran(470.0), c=_ran(100.0),
                       d={"error": "d: looking for nccl-tests failed: timed out"})
    floors = judge.single_node_floors(measured, ["all_reduce"], Expectations())
    assert floors["all_reduce"] == Floor(0.7 * 470.0, "0.7 x cluster median 470 GB/s")
    statuses = {n: judge.single_node_verdict(measured, n, "all_reduce", floors["all_reduce"])
                .status for n in "abcd"}
    assert statuses == {"a": "pass", "b": "pass", "c": "fail", "d": "error"}
    assert judge.suspects(measured, "all_reduce", floors["all_reduce"], "abcd") == ["c", "d"]


def _multi(busbw: float, nodes: list[str], left_out: dict[str, str]) -> dict[str, Any]:
    run = {**record(table(busbw, ranks=8 * len(nodes))), "nodes": nodes,
           "launcher": "mpirun", "left_out": left_out}
    return {"launcher": "mpirun", "runs": {"all_reduce": run}}


def test_multi_node_failure_names_the_nodes_that_failed_alone() -> None:
    single_runs = _single(a=_ran(480.0), b=_ran(100.0))
    verdict = judge.multi_node_verdict(_multi(90.0, ["a", "b"], {}), single_runs,
                                       "all_reduce", Floor(300.0, "x"), Floor(330.0, "y"))
    assert verdict.status == "fail"
    assert verdict.message.startswith("2 nodes via mpirun: all_reduce busbw 90 GB/s")
    assert verdict.message.endswith("; single-node trouble on b")
    healthy_alone = judge.multi_node_verdict(_multi(90.0, ["a", "b"], {}),
                                             _single(a=_ran(480.0), b=_ran(480.0)),
                                             "all_reduce", Floor(300.0, "x"), None)
    assert healthy_alone.message.endswith("suspect the network between them")


def test_multi_node_without_every_node_warns_and_names_who_was_left_out() -> None:
    verdict = judge.multi_node_verdict(
        _multi(400.0, ["a", "b"], {"c": "its single-node run did not finish"}),
        _single(a=_ran(480.0), b=_ran(480.0)), "all_reduce", None, None)
    assert verdict.status == "warn"
    assert verdict.message.endswith("left out: c (its single-node run did not finish)")
    skipped = judge.multi_node_verdict(
        {"runs": {"all_reduce": {"skipped": "1 node(s) could run all_reduce_perf: a "
                                 "multi-node run needs 2", "left_out": {}}}},
        {}, "all_reduce", None, None)
    assert skipped.status == "skip"


# Measuring ---------------------------------------------------------------------------------


class FakeTransport:
    """Answers the finder and the perf runs the way a node would."""

    def __init__(self, host: str, outputs: dict[str, tuple[int | None, str]]) -> None:
        self.host = host
        self.outputs = outputs
        self.calls: list[list[str]] = []

    def run(self, argv: Sequence[str], *, timeout: float,
            stdin: bytes | None = None) -> CommandResult:
        self.calls.append(list(argv))
        if argv[0] == "sh":
            text = "all_reduce_perf\tPATH\t/usr/bin/all_reduce_perf\ntimeout-flag\tno\n"
            return CommandResult(self.host, tuple(argv), 0, text.encode(), b"", 0.1)
        rc, out = self.outputs[self.host]
        return CommandResult(self.host, tuple(argv), rc, out.encode(), b"", 0.5,
                             timed_out=rc is None)

    def spawn(self, argv: Sequence[str], *, timeout: float) -> Any:
        raise NotImplementedError

    def close(self) -> None:
        pass


def _context(tmp_path: Path, gpus: dict[str, int | None],
             outputs: dict[str, tuple[int | None, str]]) -> tuple[RunContext, dict[str, Any]]:
    transports: dict[str, FakeTransport] = {}

    def factory(host: str) -> FakeTransport:
        return transports.setdefault(host, FakeTransport(host, outputs))

    ctx = RunContext(nodes=[Node(n) for n in gpus], expect=Expectations(), run_dir=tmp_path,
                     transport_factory=factory)
    facts = {n: {"pynvml": {"gpus": [{"index": i} for i in range(count)]}} if count is not None
             else {} for n, count in gpus.items()}
    ctx.set_outcomes({n: NodeOutcome(n, facts=f) for n, f in facts.items()})
    return ctx, transports


def test_single_node_runs_every_node_with_its_own_gpu_count(tmp_path: Path) -> None:
    ctx, transports = _context(tmp_path, {"a": 8, "b": 4, "c": 0, "d": None},
                               {"a": (0, table(480.0)), "b": (None, "")})
    settings = from_options(_options(nccl_tests=True, nccl_tests_timeout=30.0), ctx.expect)
    measured = single.measure_single_node(ctx, settings)
    nodes = measured["nodes"]
    assert transports["a"].calls[1] == ["/usr/bin/all_reduce_perf", "-b", "8", "-e", "8G",
                                        "-f", "2", "-g", "8"]  # no -T: usage lacks it
    assert transports["b"].calls[1][-2:] == ["-g", "4"]
    assert nodes["a"]["runs"]["all_reduce"]["rc"] == 0
    assert nodes["b"]["runs"]["all_reduce"]["timed_out"] is True
    assert nodes["c"] == {"skipped": "c: no GPUs (nvidia-smi lists none)"}
    assert nodes["d"] == {"skipped": "d: no GPUs (nvidia-smi not found)"}
    assert "c" not in transports and "d" not in transports
    assert multi.participants(nodes, "all_reduce") == (["a"], {
        "b": "its single-node run did not finish", "c": "c: no GPUs (nvidia-smi lists none)",
        "d": "d: no GPUs (nvidia-smi not found)"})


def test_multi_node_needs_two_nodes_and_one_binary_path(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    ctx, _ = _context(tmp_path, {"a": 8, "b": 8}, {})
    settings = from_options(_options(nccl_tests=True), ctx.expect)
    launched: list[tuple[str, list[str], list[str]]] = []

    def fake_launch(_: LaunchSettings, kind: str, nodes: list[Node], perf: list[str],
                    timeout: float) -> CommandResult:
        launched.append((kind, [n.name for n in nodes], perf))
        return CommandResult("launcher", ("mpirun",), 0, table(400.0, ranks=16).encode(), b"",
                             1.0)

    monkeypatch.setattr(multi, "launch", fake_launch)
    both = _single(a=_ran(480.0), b={**_ran(480.0), "gpus": 4})
    result = multi.measure_multi_node(ctx, settings, both)["runs"]["all_reduce"]
    assert launched == [("mpirun", ["a", "b"], ["/opt/all_reduce_perf", "-b", "8", "-e", "8G",
                                                "-f", "2", "-g", "4", "-T", "150"])]
    assert result["nodes"] == ["a", "b"] and result["gpus_per_node"] == 4
    assert result["timed_out"] is False
    apart = _single(a=_ran(480.0), b=_ran(480.0))
    apart["nodes"]["b"]["found"] = {"paths": {"all_reduce_perf": "/other/all_reduce_perf"},
                                    "via": {"all_reduce_perf": "home"}, "timeout_flag": True}
    error = multi.measure_multi_node(ctx, settings, apart)["runs"]["all_reduce"]["error"]
    assert error.startswith("all_reduce_perf is at different paths on the nodes (a /opt/")
    alone = multi.measure_multi_node(ctx, settings, _single(a=_ran(480.0)))
    assert alone["runs"]["all_reduce"]["skipped"].startswith("1 node(s) could run")


def test_each_node_finding_it_on_path_runs_the_bare_name() -> None:
    found = {n: {"paths": {"all_reduce_perf": f"/h/{n}/bin/all_reduce_perf"},
                 "via": {"all_reduce_perf": "PATH"}} for n in "ab"}
    assert multi.common_binary(found, "all_reduce_perf") == "all_reduce_perf"


def test_mpirun_time_limit_counts_as_timed_out(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    ctx, _ = _context(tmp_path, {"a": 8, "b": 8}, {})
    said = (b"The user-provided time limit for job execution has been reached:\n"
            b"  Timeout: 8 seconds\n")
    monkeypatch.setattr(multi, "launch", lambda *a, **k: CommandResult(
        "launcher", ("mpirun",), 110, b"", said, 8.2))
    settings = from_options(_options(nccl_tests=True), ctx.expect)
    both = _single(a=_ran(480.0), b=_ran(480.0))
    run = multi.measure_multi_node(ctx, settings, both)["runs"]["all_reduce"]
    assert run["timed_out"] is True and run["rc"] == 110
