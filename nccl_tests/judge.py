"""Verdicts on recorded nccl-tests runs: pure functions of the measurement and the floor.

A run that could not give a result (binary missing, killed at its deadline, output that is
not nccl-tests') is an error; a run that gave a bad result (NCCL/CUDA failure, #wrong,
out-of-bounds values, a non-zero exit, busbw under the floor) fails.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from preflight.parsers.common import ParseError
from preflight.parsers.nccl_tests import NcclTestsRun, parse
from preflight.results import Status

from .settings import BINARIES
from .thresholds import Floor, Plateau, plateau, single_node_floor

MISSING_HINT = ("build nccl-tests (make MPI=1) on every node and point preflight at it: "
                "NCCL_TESTS_HOME on the node, or --nccl-tests-home")
HANG_HINT = ("a hung collective: check `nvidia-smi` for a stuck GPU or Xid, that every rank "
             "can reach the others (ports, NCCL_SOCKET_IFNAME, NCCL_IB_HCA), and rerun with "
             "NCCL_DEBUG=INFO")
FAILURE_HINT = ("rerun with NCCL_DEBUG=INFO on that node; check the driver/NCCL versions, "
                "GPU health (Xids, ECC) and the NCCL_* environment")
WRONG_HINT = ("wrong results mean corrupted data: drain the node, run `dcgmi diag -r 3`, "
              "check Xids, ECC and NVLink errors (`nvidia-smi nvlink -e`)")
SLOW_HINT = ("check NVLink (`nvidia-smi nvlink -s`, topology), NIC ports and GPUDirect RDMA "
             "(NCCL_DEBUG=INFO shows P2P/NVLS and NET/IB/GDRDMA), GPU clocks, and NCCL_* "
             "env left set (NCCL_P2P_DISABLE, NCCL_IB_DISABLE)")
_NCCL_TESTS_TIMEOUT = re.compile(r"Test timeout \((\d+)s\)")


@dataclass(frozen=True)
class Verdict:
    status: Status
    message: str
    measured: float | None = None
    expected: str | None = None
    hint: str | None = None
    unit: str = "GB/s"
    reason: str | None = None  # a short stable code (findings group on it)


def parsed(record: dict[str, Any]) -> NcclTestsRun | None:
    """The run's table, None when its output is not nccl-tests output."""
    try:
        return parse(record.get("output") or "")
    except ParseError:
        return None


def large_busbw(record: dict[str, Any]) -> Plateau | None:
    """The plateau of a clean run with at least 2 ranks (what the median rule compares)."""
    run = parsed(record) if _finished(record) else None
    if run is None or run.failed or (run.ranks or 0) < 2 or record.get("rc") != 0:
        return None
    return plateau(run)


def _finished(record: dict[str, Any]) -> bool:
    return not record.get("missing") and not record.get("timed_out")


def judge(subject: str, collective: str, record: dict[str, Any],
          floor: Floor | None) -> Verdict:
    binary = BINARIES[collective]
    if record.get("missing"):
        return Verdict(Status.ERROR, f"{subject}: {binary} not found (looked in --nccl-tests-home, "
                       "$NCCL_TESTS_HOME, PATH, /opt/nccl-tests/build)", hint=MISSING_HINT,
                       reason="nccl-tests-missing")
    if record.get("timed_out"):
        return Verdict(Status.ERROR, f"{subject}: {binary} did not finish within "
                       f"{record.get('timeout_s', 0):g} s and was killed", hint=HANG_HINT,
                       reason="nccl-tests-timeout")
    output = record.get("output") or ""
    if match := _NCCL_TESTS_TIMEOUT.search(output):
        return Verdict(Status.ERROR, f"{subject}: {collective} hung: nccl-tests aborted it after "
                       f"{match.group(1)} s (-T)", hint=HANG_HINT, reason="nccl-tests-hung")
    run = parsed(record)
    if run is None:
        return Verdict(Status.ERROR, f"{subject}: {binary} printed no nccl-tests results "
                       f"(rc {record.get('rc')}): {_last_line(record)}", hint=FAILURE_HINT,
                       reason="nccl-tests-no-results")
    return _judge_table(subject, collective, record, run, floor)


def _judge_table(subject: str, collective: str, record: dict[str, Any], run: NcclTestsRun,
                 floor: Floor | None) -> Verdict:
    if run.errors:
        return Verdict(Status.FAIL, f"{subject}: {collective} failed: {run.errors[0][:200]}",
                       hint=FAILURE_HINT, reason="nccl-tests-failed")
    if run.wrong or run.out_of_bounds:
        return Verdict(Status.FAIL, f"{subject}: {collective} returned wrong data: "
                       f"{run.wrong or 0} wrong values (#wrong), {run.out_of_bounds or 0} "
                       "out of bounds (expected 0)", measured=float(run.wrong or 0),
                       expected="0", unit="wrong values", hint=WRONG_HINT,
                       reason="nccl-tests-wrong-data")
    if record.get("rc") != 0:
        return Verdict(Status.FAIL, f"{subject}: {BINARIES[collective]} exited with rc "
                       f"{record.get('rc')} after its table: {_last_line(record)}",
                       hint=FAILURE_HINT, reason="nccl-tests-exit")
    best = plateau(run)
    if best is None:
        return Verdict(Status.ERROR, f"{subject}: {collective} printed no result rows",
                       hint=FAILURE_HINT, reason="nccl-tests-no-rows")
    return _judge_busbw(subject, collective, run, best, floor)


def _judge_busbw(subject: str, collective: str, run: NcclTestsRun, best: Plateau,
                 floor: Floor | None) -> Verdict:
    ranks = run.ranks or 0
    measured = round(best.gbps, 2)
    if ranks < 2:
        return Verdict(Status.PASS, f"{subject}: {collective} on {ranks or 'one'} rank: correct; "
                       "busbw is 0 by definition with one GPU", measured=measured)
    what = f"{collective} busbw {best.gbps:.4g} GB/s at {best.size_text} ({ranks} ranks)"
    if floor is None:
        return Verdict(Status.PASS, f"{subject}: {what}; no floor known", measured=measured)
    expected = f">= {floor.gbps:.4g}"
    if best.gbps < floor.gbps:
        return Verdict(Status.FAIL, f"{subject}: {what}, expected >= {floor.gbps:.4g} GB/s "
                       f"({floor.basis})", measured=measured, expected=expected,
                       hint=SLOW_HINT, reason="busbw-low")
    return Verdict(Status.PASS, f"{subject}: {what}", measured=measured, expected=expected)


def _last_line(record: dict[str, Any]) -> str:
    for key in ("stderr", "output"):
        lines = [line.strip() for line in (record.get(key) or "").splitlines() if line.strip()]
        if lines:
            return lines[-1][:200]
    return "no output"


# The whole measurement ------------------------------------------------------------------


def single_node_floors(single: dict[str, Any], collectives: Iterable[str],
                       expect: Any) -> dict[str, Floor | None]:
    floors: dict[str, Floor | None] = {}
    for collective in collectives:
        peers = [best.gbps for entry in single.get("nodes", {}).values()
                 if (record := (entry.get("runs") or {}).get(collective)) is not None
                 and (best := large_busbw(record)) is not None]
        floors[collective] = single_node_floor(collective, expect, peers)
    return floors


def single_node_verdict(single: dict[str, Any], node: str, collective: str,
                        floor: Floor | None) -> Verdict:
    entry = single.get("nodes", {}).get(node)
    if entry is None:
        return Verdict(Status.ERROR, f"{node}: nccl-tests were not run there (unreachable when "
                       "they started?)", reason="nccl-tests-not-run")
    if entry.get("error"):
        return Verdict(Status.ERROR, str(entry["error"]), hint=FAILURE_HINT,
                       reason="nccl-tests-error")
    if entry.get("skipped"):
        return Verdict(Status.SKIP, str(entry["skipped"]))
    record = (entry.get("runs") or {}).get(collective)
    if record is None:
        return Verdict(Status.ERROR, f"{node}: {collective} was not run",
                       reason="nccl-tests-not-run")
    return judge(node, collective, record, floor)


def multi_node_verdict(multi: dict[str, Any], single: dict[str, Any], collective: str,
                       floor: Floor | None, single_floor: Floor | None) -> Verdict:
    record = multi.get("runs", {}).get(collective) or {"error": f"{collective} was not run"}
    left_out = record.get("left_out") or {}
    if record.get("skipped"):
        return Verdict(Status.SKIP, f"{record['skipped']}{_left_out_text(left_out)}")
    if record.get("error"):
        return Verdict(Status.ERROR, f"multi-node {collective}: {record['error']}",
                       hint=FAILURE_HINT, reason="nccl-tests-error")
    subject = f"{len(record['nodes'])} nodes via {record.get('launcher', multi.get('launcher'))}"
    verdict = judge(subject, collective, record, floor)
    if verdict.status in (Status.FAIL, Status.ERROR):
        blamed = suspects(single, collective, single_floor, record["nodes"])
        named = f"; single-node trouble on {', '.join(blamed)}" if blamed else \
            "; every node passed alone: suspect the network between them"
        return replace(verdict, message=verdict.message + named + _left_out_text(left_out))
    if verdict.status is Status.PASS and left_out:
        return replace(verdict, status=Status.WARN, hint="see those nodes' single_node results",
                       reason="nodes-left-out",
                       message=f"{verdict.message}; not every node took part"
                       f"{_left_out_text(left_out)}")
    return verdict


def suspects(single: dict[str, Any], collective: str, floor: Floor | None,
             nodes: Iterable[str]) -> list[str]:
    """The nodes whose own single-node run of the collective did not pass."""
    fine = (Status.PASS, Status.SKIP)
    return [name for name in nodes
            if single_node_verdict(single, name, collective, floor).status not in fine]


def _left_out_text(left_out: dict[str, str]) -> str:
    if not left_out:
        return ""
    shown = [f"{name} ({why})" for name, why in sorted(left_out.items())[:5]]
    more = f" and {len(left_out) - 5} more" if len(left_out) > 5 else ""
    return f"; left out: {', '.join(shown)}{more}"
