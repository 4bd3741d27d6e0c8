"""Line normalisation over every prefix family: what is stripped, what is kept.

The corpus families (Open MPI, srun -l, torchrun '[rankN]:', glog, NCCL's own prefix,
nccl-tests' 'host: ') are read from ../shared/corpus; the families the corpus lacks are
built here in the formats the tools print: Kubernetes RFC 3339 timestamps (one or two, as
`kubectl logs --timestamps` over a collector adds them), pdsh/DeepSpeed 'host: ',
torchrun '[default0]:' (role and local rank), markdown quoting, masked pids ('XXXX').
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from preflight.diagnose.lines import read_lines
from preflight.parsers.nccl_lines import iso_time, normalize

NCCL_WARN = "NCCL WARN NET/IB : Got completion from peer 10.0.0.5<1234> with error 12"


@pytest.mark.parametrize(
    ("text", "host", "pid", "device", "rank"),
    [
        (f"node-1:123:456 [2] {NCCL_WARN}", "node-1", 123, 2, None),
        (f"[1,3]<stdout>:node-1:123:456 [2] {NCCL_WARN}", "node-1", 123, 2, 3),
        (f"  5: node-1:123:456 [2] {NCCL_WARN}", "node-1", 123, 2, 5),  # srun -l, padded
        (f"[rank7]:node-1:123:456 [2] {NCCL_WARN}", "node-1", 123, 2, 7),
        (f"node-1:XXXX:XXXX [2] {NCCL_WARN}", "node-1", None, 2, None),  # masked pid
        (f"> node-1:123:456 [2] {NCCL_WARN}", "node-1", 123, 2, None),  # markdown quote
        (f"> > [1,3]<stderr>:node-1:123:456 [2] {NCCL_WARN}", "node-1", 123, 2, 3),
        (f"worker-3: node-1:123:456 [2] {NCCL_WARN}", "node-1", 123, 2, None),  # pdsh
        (f"worker-3: [rank9]: {NCCL_WARN}", "worker-3", None, None, 9),  # pdsh host kept
        (
            f"2025-11-24T11:20:21.123456789Z 2025-11-24T11:20:21.120Z gpu-9:XXXX:XXXX [3] "
            f"{NCCL_WARN}",
            "gpu-9", None, 3, None,
        ),  # two Kubernetes timestamps
        (
            f"2025-11-24T11:20:21.1Z worker-0: [default0]:gpu-9:12:13 [0] {NCCL_WARN}",
            "gpu-9", 12, 0, None,
        ),  # k8s, pdsh, torchrun role prefix: the local rank is not the global rank
    ],
)  # fmt: skip
def test_prefix_families(
    text: str, host: str | None, pid: int | None, device: int | None, rank: int | None
) -> None:
    line = normalize(text)
    assert line.body == NCCL_WARN
    assert (line.host, line.pid, line.device, line.rank) == (host, pid, device, rank)


def test_torchrun_role_prefix_keeps_the_local_rank() -> None:
    line = normalize("[default3]:[rank11]:[E1229 16:47:25.333 ProcessGroupNCCL.cpp:1] boom")
    assert (line.local_rank, line.rank, line.time_printed) == (3, 11, "1229 16:47:25.333")


def test_words_with_colons_are_not_hosts() -> None:
    words = ("RuntimeError: NCCL error", "ncclInternalError: x", "master_node: y", "GPU0: z")
    for text in (*words, "Epoch3: loss 1.0", "rank7: w"):
        assert normalize(text).host is None
        assert normalize(text).body == text


@pytest.mark.parametrize(
    ("text", "iso", "printed"),
    [
        ("E1229 16:47:25.333 x", None, "1229 16:47:25.333"),  # glog: no year printed
        ("[E1229 16:47:25.333456789 ProcessGroupNCCL.cpp:1] x", None, "1229 16:47:25.333456789"),
        ("2025-11-24 11:20:21,250 - INFO - x", "2025-11-24T11:20:21.250000", None),
        ("[2025-11-24 11:20:21] x", "2025-11-24T11:20:21", "2025-11-24 11:20:21"),
        ("2025-11-24T11:20:21.5Z x", "2025-11-24T11:20:21.500000+00:00", None),
        ("2025-11-24T11:20:21+02:00 x", "2025-11-24T11:20:21+02:00", None),
        ("2025-13-45 99:00:00 x", None, None),  # not a date: left alone, never half-parsed
        ("E1340 16:47:25 x", None, None),
    ],
)
def test_times_in_every_format(text: str, iso: str | None, printed: str | None) -> None:
    line = normalize(text)
    assert line.time == iso
    if printed is not None:
        assert line.time_printed == printed
    if line.time_key is None:
        assert line.body == text


def test_iso_time_keeps_the_printed_digits() -> None:
    assert iso_time(2026, 1, 2, "01:02:03,25") == "2026-01-02T01:02:03.250000"
    assert iso_time(2026, 1, 2, "01:02:03.999999999", "Z") == "2026-01-02T01:02:03.999999Z"
    assert iso_time(0, 1, 2, "01:02:03") is None


@given(st.text(max_size=200))
@settings(max_examples=300, deadline=None)
def test_the_body_is_always_what_the_line_ends_with(text: str) -> None:
    """Normalising only strips prefixes: it never invents or reorders text."""
    assert text.strip().endswith(normalize(text).body)


def test_ranks_named_in_the_text() -> None:
    setup = (
        "[W1229 16:47:25.333 ProcessGroupNCCL.cpp:1] [14] is setting up NCCL communicator and "
        "retrieving ncclUniqueId from [0] via c10d key-value store by key '0'"
    )
    assert normalize(setup).rank == 14
    assert normalize("[PG 0 (default_pg) Rank 6] Watchdog caught").rank == 6


def test_corpus_lines_keep_their_attribution(corpus: Path) -> None:
    """Every NCCL-prefixed corpus line keeps host, pid and device after normalisation."""
    seen = 0
    for path in sorted((corpus / "nccl_logs").iterdir()):
        for line in read_lines(path):
            if line.nccl:
                seen += 1
                assert line.host and line.device is not None
                assert not line.body.startswith(line.host)
    assert seen > 100


def test_launchers_name_the_failed_process_in_the_text() -> None:
    mpirun = normalize(
        "mpirun noticed that process rank 3 with PID 4711 on node gpu-3 exited on signal 11"
    )
    assert (mpirun.host, mpirun.rank) == ("gpu-3", 3)
    srun = normalize("srun: error: gpu-4: task 7: Exited with exit code 1")
    assert (srun.host, srun.rank) == ("gpu-4", 7)
