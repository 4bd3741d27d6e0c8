"""The nccl-tests command line, and what is kept of one run for the measurement file."""

from __future__ import annotations

from typing import Any

from preflight.transport.base import CommandResult

HEAD_BYTES = 64 << 10  # the preamble: devices, NCCL version, column header
TAIL_BYTES = 192 << 10  # the table and its end (NCCL_DEBUG=INFO can print megabytes)


def perf_argv(binary: str, gpus: int, max_bytes: str, per_op_timeout_s: int | None) -> list[str]:
    """`-b 8 -e MAX -f 2 -g GPUS`: the sweep from 8 B doubling to MAX on GPUS devices per
    process; -T (nccl-tests' own per-collective timeout) where the binary has it."""
    argv = [binary, "-b", "8", "-e", max_bytes, "-f", "2", "-g", str(gpus)]
    if per_op_timeout_s is not None:
        argv += ["-T", str(per_op_timeout_s)]
    return argv


def run_record(result: CommandResult, timeout_s: float) -> dict[str, Any]:
    return {
        "argv": list(result.argv),
        "rc": result.rc,
        "timed_out": result.timed_out,
        "timeout_s": timeout_s,
        "duration_s": round(result.duration_s, 3),
        "output": _cap(result.stdout),
        "stderr": _cap(result.stderr[-TAIL_BYTES:]),
    }


def _cap(data: bytes) -> str:
    if len(data) > HEAD_BYTES + TAIL_BYTES:
        data = data[:HEAD_BYTES] + b"\n" + data[-TAIL_BYTES:]
    return data.decode("utf-8", errors="replace")
