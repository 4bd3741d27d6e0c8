"""iperf3 between pairs: a one-shot server on the target's cluster address,
a client on the source. Each pair records its figure, never a verdict: the run's floors
only plan the isolation retests, and checks/check_bandwidth.py judges.
"""

from __future__ import annotations

from typing import Any

from preflight.measure.base import (
    CONNECT_TIMEOUT_S,
    ConnectFailure,
    ProbeError,
    cluster_addresses,
    connect_verdict,
    connected,
    lost_by,
    lost_nodes,
    reachable,
    run_script,
)
from preflight.measure.pairwise import PairProbe, measure_pairs
from preflight.pairjudge import Floors
from preflight.parsers import iperf3
from preflight.runctx import RunContext

IPERF_PORT = 5201
# iperf3 maps each stream's buffer from a file in $TMPDIR (default /tmp): on a node whose
# /tmp is full it dies with unrelated words ("failed to read /dev/urandom: Bad address").
# Kept in /dev/shm (checked by shm_size), the pairs measure the network and disk_free
# names the full /tmp.
OFF_TMP = ("env", "TMPDIR=/dev/shm")
IPERF_OUTPUT_MAX = 4 << 20  # iperf3 -J is one JSON document: all of it or nothing
SERVER_GRACE_S = 5.0  # for the server's last words once its client is done


def measure_iperf(ctx: RunContext) -> dict[str, Any]:
    expect = ctx.expect
    names = reachable(ctx)
    addresses = cluster_addresses(ctx, names)
    probe = PairProbe("iperf3", lambda s, d: one_test(ctx, s, d, addresses[d]),
                      Floors.of(expect).rule,
                      per_test_s=expect.iperf_seconds + 15, width=ctx.fanout,
                      lost_by=lambda error: lost_by(ctx, error))
    return measure_pairs(names, expect.pair_mode, probe, lost_nodes(ctx, names))


def one_test(ctx: RunContext, src: str, dst: str, address: str | None) -> float:
    seconds = ctx.expect.iperf_seconds
    if address is None:
        raise ProbeError(f"{dst}: no cluster address for the iperf3 server")
    server = ctx.connections.get(dst).spawn(
        [*OFF_TMP, "iperf3", "-s", "-1", "--forceflush", "-B", address, "-p", str(IPERF_PORT)],
        timeout=seconds + 30)
    client: Any = None
    try:
        if not server.wait_for(b"Server listening", 10):
            result = server.finish(2)
            raise ProbeError(f"{dst}: iperf3 server did not start: "
                             f"{_last(result.stderr) or _last(result.stdout)}")
        argv = [*OFF_TMP, "iperf3", "-c", address, "-p", str(IPERF_PORT),
                "-P", str(ctx.expect.iperf_streams), "-t", f"{seconds:g}", "-J"]
        payload = {"commands": [argv], "timeout": seconds + 20,
                   "connects": [[address, IPERF_PORT]], "connect_timeout": CONNECT_TIMEOUT_S,
                   "keep": IPERF_OUTPUT_MAX}
        client = run_script(ctx, src, "runmany", payload, seconds + 30)[0]
    finally:
        # A server whose client never connected has nothing left to report: stopped now.
        server.finish(SERVER_GRACE_S if connected(client) else 0)
    if verdict := connect_verdict(client):
        raise ConnectFailure("iperf3", verdict, IPERF_PORT, dst)
    return _gbps(str(client.get("stdout", "")), str(client.get("stderr", "")), src, dst)


def _gbps(text: str, stderr: str, src: str, dst: str) -> float:
    try:
        parsed = iperf3.parse(text).to_dict()
    except ValueError as exc:
        raise ProbeError(f"{src} -> {dst}: iperf3 failed: {_last(stderr) or exc}") from exc
    if parsed.get("error"):
        raise ProbeError(f"{src} -> {dst}: iperf3: {parsed['error']}")
    runs = parsed.get("runs") or []
    if not runs or runs[0].get("receiver_gbps") is None:
        raise ProbeError(f"{src} -> {dst}: iperf3 reported no throughput")
    return float(runs[0]["receiver_gbps"])


def _last(data: bytes | str) -> str:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""
