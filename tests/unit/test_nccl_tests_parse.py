"""nccl-tests output parser: every corpus file, exact figures, and the layouts around them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from preflight.parsers.common import ParseError
from preflight.parsers.nccl_tests import NcclTestsRun, busbw_factor, parse
from tests.corpus import CORPUS, require_corpus

REPO = Path(__file__).resolve().parents[2]

# file: collective, ranks, avg busbw, wrong, out of bounds, NCCL version, rows, errors, max busbw
# (collective: only what the file names; most name none)
EXPECTED: dict[str, tuple[Any, ...]] = {
    "awsdoeks_t4_2node_efa_ofi_mpi_prefixed_with_nccl_info.txt":
        (None, 2, 1.15327, 0, 0, "2.12.7+cuda11.4", 31, 0, 3.15),
    "h100x8_single_node_nvls_indented_markdown_copy.txt":
        (None, 8, 448.212, 0, 0, None, 4, 0, 470.73),
    "inc_rtx3090_2node_wrong_nonzero_108_failed.txt":
        (None, 2, 3.02663, 1073741424, 108, None, 27, 0, 7.64),
    "nccltests322_tail_multinode_test_nccl_failure_unhandled_cuda_error.txt":
        (None, None, None, 0, None, None, 5, 8, 367.44),
    "nccltests5_p100x8_nccl1_very_old_format_unhandled_cuda_error.txt":
        ("all_reduce", 8, None, None, None, "1.0", 0, 1, None),
    "oci_gb300x4_single_node_allreduce_newest_format_truncated.txt":
        ("all_reduce", 4, 446.673, 0, 0, "2.28.7+cuda13.0", 2, 0, 685.27),
    "oci_gb300x4_single_node_alltoall_newest_format_truncated.txt":
        ("alltoall", 4, 381.478, 0, 0, "2.28.7+cuda13.0", 2, 0, 680.70),
    "superbench_a100x8_allgather_oldformat.txt":
        (None, 8, 58.2651, None, 0, None, 34, 0, 230.07),
    "superbench_a100x8_allreduce_oldformat.txt":
        (None, 8, 68.4048, None, 0, None, 34, 0, 235.26),
    "superbench_a100x8_alltoall_oldformat.txt":
        (None, 8, 58.6481, None, 0, None, 34, 0, 226.16),
}  # fmt: skip

# Complete tables: '# Avg bus bandwidth' is the mean of every busbw cell (SOURCES.md).
COMPLETE = [name for name, row in EXPECTED.items() if row[2] is not None and row[6] > 4]
# What each complete table measured, from SOURCES.md (the files themselves mostly do not say).
MEASURED = {
    "awsdoeks_t4_2node_efa_ofi_mpi_prefixed_with_nccl_info.txt": "all_reduce",
    "inc_rtx3090_2node_wrong_nonzero_108_failed.txt": "all_reduce",
    "superbench_a100x8_allgather_oldformat.txt": "all_gather",
    "superbench_a100x8_allreduce_oldformat.txt": "all_reduce",
    "superbench_a100x8_alltoall_oldformat.txt": "alltoall",
}


def read(name: str) -> str:
    return (require_corpus("nccl_tests") / name).read_text(encoding="utf-8")


def test_every_corpus_file_has_an_expectation() -> None:
    folder = CORPUS / "nccl_tests"
    if not folder.is_dir():
        read("absent")  # skips, or fails under CI
    assert sorted(p.name for p in folder.iterdir()) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_figures(name: str) -> None:
    run = parse(read(name))
    collective, ranks, avg, wrong, oob, version, rows, errors, peak = EXPECTED[name]
    assert run.collective == collective
    assert run.ranks == ranks
    assert run.avg_busbw_gbps == avg
    assert run.wrong == wrong
    assert run.out_of_bounds == oob
    assert run.nccl_version == version
    assert len(run.rows) == rows
    assert len(run.errors) == errors
    assert run.max_busbw_gbps == peak


@pytest.mark.parametrize("name", COMPLETE)
def test_avg_busbw_is_the_mean_of_the_parsed_cells(name: str) -> None:
    run = parse(read(name))
    cells = [cell for row in run.rows for cell in row.busbw_cells()]
    assert len(cells) == 2 * len(run.rows)
    assert run.avg_busbw_gbps is not None
    assert sum(cells) / len(cells) == pytest.approx(run.avg_busbw_gbps, abs=5e-4)


@pytest.mark.parametrize("name", COMPLETE)
def test_busbw_factor_matches_what_nccl_tests_printed(name: str) -> None:
    run = parse(read(name))
    assert run.ranks is not None
    factor = busbw_factor(run.collective or MEASURED[name], run.ranks)
    for row in run.rows:
        assert row.oop_algbw_gbps is not None and row.oop_busbw_gbps is not None
        if row.oop_algbw_gbps >= 1:
            assert row.oop_algbw_gbps * factor == pytest.approx(row.oop_busbw_gbps, abs=0.011)


def test_allreduce_row_cells() -> None:
    run = parse(read("superbench_a100x8_allreduce_oldformat.txt"))
    last = run.rows[-1].__dict__
    assert last == {
        "size_bytes": 8589934592, "count": 2147483648, "type": "float", "redop": "sum",
        "root": None, "oop_time_us": 63896.0, "oop_algbw_gbps": 134.44, "oop_busbw_gbps": 235.26,
        "oop_wrong": None, "ip_time_us": 63959.0, "ip_algbw_gbps": 134.30,
        "ip_busbw_gbps": 235.03, "ip_wrong": None,
    }  # fmt: skip


def test_old_alltoall_rows_have_an_empty_redop_cell() -> None:
    row = parse(read("superbench_a100x8_alltoall_oldformat.txt")).rows[5]
    assert (row.size_bytes, row.count, row.redop, row.root, row.oop_time_us) == (
        32, 1, None, None, 89.00,
    )  # fmt: skip


def test_wrong_counts_in_exponent_notation() -> None:
    run = parse(read("inc_rtx3090_2node_wrong_nonzero_108_failed.txt"))
    assert (run.rows[0].oop_wrong, run.rows[0].ip_wrong) == (4, 4)
    assert run.rows[18].oop_wrong == 1048580  # printed '1.04858e+06'
    assert run.rows[-1].ip_wrong == 268435000  # printed '2.68435e+08'
    assert run.failed


def test_newest_alltoall_in_place_wrong_is_not_available() -> None:
    run = parse(read("oci_gb300x4_single_node_alltoall_newest_format_truncated.txt"))
    assert [(row.redop, row.root, row.oop_wrong, row.ip_wrong) for row in run.rows] == [
        ("none", -1, 0, None),
        ("none", -1, 0, None),
    ]


def test_failure_lines_are_kept_verbatim() -> None:
    run = parse(read("nccltests322_tail_multinode_test_nccl_failure_unhandled_cuda_error.txt"))
    assert run.errors[0] == (
        "HCA-128: Test NCCL failure common.cu:1204 "
        "'unhandled cuda error (run with NCCL_DEBUG=INFO for details) / '"
    )
    assert run.errors[1] == ".. HCA-128 pid 757466: Test failure common.cu:915"
    assert run.failed
    old = parse(read("nccltests5_p100x8_nccl1_very_old_format_unhandled_cuda_error.txt"))
    assert old.errors == ("NCCL failure all_reduce.cu:95 'unhandled cuda error'",)


def test_to_dict_keys_and_json_values() -> None:
    data = parse(read("oci_gb300x4_single_node_allreduce_newest_format_truncated.txt")).to_dict()
    assert list(data) == [
        "collective", "ranks", "avg_busbw_gbps", "wrong", "out_of_bounds", "nccl_version",
        "rows", "errors", "max_busbw_gbps",
    ]  # fmt: skip
    assert data["rows"][1]["size_bytes"] == 17179869184
    assert data["rows"][1]["ip_busbw_gbps"] == 685.27


def _transformed(text: str, how: str) -> str:
    lines = text.split("\n")
    if how == "crlf_ansi":
        return "\r\n".join(
            f"\x1b[1m{line}\x1b[0m" if i < 3 else line for i, line in enumerate(lines)
        )
    if how == "srun_label":
        return "\n".join(f"0: {line}" for line in lines)
    return "\n".join(f"[1,0]<stdout>:    {line}" for line in lines)


@pytest.mark.parametrize("how", ["crlf_ansi", "srun_label", "mpi_indented"])
def test_wrapped_copies_parse_the_same(how: str) -> None:
    text = read("superbench_a100x8_allreduce_oldformat.txt")
    assert parse(_transformed(text, how)) == parse(text)


@pytest.mark.parametrize(
    "text",
    ["", "hello world\n", "\x00\x01binary", "#\n# just comments\n", "1 2 3 4 5 6 7 8 9 10 11"],
)
def test_other_text_is_a_parse_error(text: str) -> None:
    with pytest.raises(ParseError):
        parse(text)


def test_another_tools_output_is_a_parse_error() -> None:
    path = CORPUS / "ibstat" / "gpud_a100_ib200_all_active.txt"
    if not path.is_file():
        read("absent")
    with pytest.raises(ParseError):
        parse(path.read_text(encoding="utf-8"))


def test_empty_run_has_no_peak() -> None:
    run = NcclTestsRun(None, None, None, None, None, None, (), ())
    assert run.max_busbw_gbps is None
    assert not run.failed


@pytest.mark.parametrize(
    ("collective", "nranks", "factor"),
    [
        ("all_reduce", 8, 1.75),
        ("allreduce", 2, 1.0),
        ("all_reduce_perf", 1, 0.0),
        ("all_gather", 8, 0.875),
        ("reduce_scatter", 4, 0.75),
        ("alltoall", 16, 0.9375),
        ("broadcast", 8, 1.0),
        ("reduce", 8, 1.0),
    ],
)
def test_busbw_factor(collective: str, nranks: int, factor: float) -> None:
    assert busbw_factor(collective, nranks) == factor


@pytest.mark.parametrize(("collective", "nranks"), [("sendrecv", 2), ("all_reduce", 0)])
def test_busbw_factor_rejects(collective: str, nranks: int) -> None:
    with pytest.raises(ValueError):
        busbw_factor(collective, nranks)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_any_text_parses_or_raises_parse_error(text: str) -> None:
    try:
        run = parse(text)
    except ParseError:
        return
    assert isinstance(run.to_dict(), dict)


FRAGMENTS = [
    "#  Rank  0 Group  0 Pid 1 on h device  0 [0x1b] GPU",
    "#       size         count      type   redop    root     time   algbw   busbw #wrong",
    "8  2  float  sum  -1  21.33  0.00  0.00  4  20.55  0.00  0.00  N/A",
    "# Avg bus bandwidth    : 3.02663",
    "# Out of bounds values : 1 FAILED",
    "garbage 1 2 3",
    "",
]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=12))
def test_shuffled_fragments_of_real_lines(lines: list[str]) -> None:
    try:
        run = parse("\n".join(lines))
    except ParseError:
        return
    assert run.wrong in (None, *range(0, 100))


# Prefixes launchers and log collectors put before every line, alone or stacked before
# Open MPI's own: pdsh, kubectl logs --timestamps, kubectl logs --prefix, a syslog relay.
PREFIXES = {
    "pdsh": lambda i: "gpu-node07: ",
    "kubectl-timestamps-mpi": lambda i: f"2024-05-01T12:00:{i % 60:02d}.{i:09d}Z [1,0]<stdout>:",
    "kubectl-prefix-mpi": lambda i: "[pod/nccl-tests-launcher-x7k2p/mpi-launcher] [1,0]<stdout>:",
    "syslog-relay": lambda i: f"May 18 19:02:{i % 60:02d} gpu-node07 nccl-job[4242]: ",
    "pdsh-mpi-srun": lambda i: "gpu-node07: 0: [1,0]<stdout>:",
}


@pytest.mark.parametrize("how", sorted(PREFIXES))
def test_unseen_launcher_prefixes_are_recognised_and_stripped(how: str) -> None:
    text = read("superbench_a100x8_allreduce_oldformat.txt")
    prefixed = "\n".join(PREFIXES[how](i) + line for i, line in enumerate(text.splitlines()))
    assert parse(prefixed) == parse(text)


def test_prefix_of_other_ranks_lines_is_stripped_too() -> None:
    text = read("awsdoeks_t4_2node_efa_ofi_mpi_prefixed_with_nccl_info.txt")
    relayed = "\n".join(f"worker-{i % 2}: {line}" for i, line in enumerate(text.splitlines()))
    assert parse(relayed) == parse(text)


ELIDED = """\
# nThread 1 nGpus 1 minBytes 1073741824 maxBytes 1073741824 step: 2(factor) warmup iters: 5 iters: 20 agg iters: 1 validation: 1 graph: 0
#
# Using devices
#  Rank  0 Group  0 Pid  40211 on   gpu-001 device  0 [0x18] NVIDIA H100 80GB HBM3
#  Rank  1 Group  0 Pid  40212 on   gpu-001 device  1 [0x2a] NVIDIA H100 80GB HBM3
...
#  Rank 63 Group  0 Pid  51877 on   gpu-008 device  7 [0xdb] NVIDIA H100 80GB HBM3
#
#                                                              out-of-place                       in-place
#       size         count      type   redop    root     time   algbw   busbw #wrong     time   algbw   busbw #wrong
#        (B)    (elements)                               (us)  (GB/s)  (GB/s)            (us)  (GB/s)  (GB/s)
  1073741824     268435456     float     sum      -1  11321.4   94.84  186.72      0  11302.7   95.00  187.03      0
# Out of bounds values : 0 OK
# Avg bus bandwidth    : 186.875
"""  # noqa: E501


def test_rank_count_when_the_rank_listing_is_elided() -> None:
    run = parse(ELIDED)
    assert (run.ranks, run.collective, run.avg_busbw_gbps) == (64, None, 186.875)
    named = parse(ELIDED.replace("# nThread", "# Collective test starting: all_reduce_perf\n"
                                 "# nThread"))
    assert named.collective == "all_reduce"
