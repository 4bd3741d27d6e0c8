"""Can a node reach MASTER_ADDR:MASTER_PORT at all? Asked after a failed rendezvous.

The probe's own store is gone by then, so a short-lived listener (the port probe's) takes
its place on the master, and the port probe's connect script runs on each node asked about:
open (reachable), refused (a REJECT rule), filtered (dropped: a firewall), no-route.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from preflight.collective.plan import Plan
from preflight.measure.base import failure_text, per_node, run_script, spawn_script
from preflight.runctx import RunContext
from preflight.transport.base import ConnectError

CONNECT_TIMEOUT_S = 3.0
READY_TIMEOUT_S = 15.0


def master_reachability(ctx: RunContext, plan: Plan, names: Sequence[str]) -> dict[str, Any]:
    port = plan.master_port
    listener, status = _listen(ctx, plan.master, plan.master_addr, port)
    try:
        def connect(name: str) -> list[str]:
            payload = {"targets": [["master", plan.master_addr, port]],
                       "timeout": CONNECT_TIMEOUT_S}
            answer = run_script(ctx, name, "connect", payload, CONNECT_TIMEOUT_S + 20)
            return list(answer.get(f"master|{port}", ["error", "no answer"]))

        outcomes = per_node(ctx, names, connect, deadline_s=CONNECT_TIMEOUT_S + 40)
    finally:
        if listener is not None:
            status = _status(listener.finish(5).text(), port)
    verdicts = {name: (["error", failure_text(v)] if isinstance(v, Exception) else v)
                for name, v in outcomes.items()}
    return {"address": plan.master_addr, "port": port, "listener": status, "from": verdicts}


def _listen(ctx: RunContext, master: str, address: str, port: int) -> tuple[Any, str]:
    """The spawned listener (None when it could not start) and why not."""
    try:
        spawned = spawn_script(ctx, master, "listen", {"address": address, "ports": [port]},
                               READY_TIMEOUT_S + CONNECT_TIMEOUT_S + 60)
    except ConnectError as exc:  # the master is gone: the connects below still say how far
        return None, f"no listener: {failure_text(exc)}"
    if not spawned.wait_for(b"READY ", READY_TIMEOUT_S):
        spawned.finish(2)
        return None, "no listener: it did not start"
    return spawned, "unknown"


def _status(output: str, port: int) -> str:
    """The listener's word on the port: listening, or in-use (something else holds it)."""
    for line in output.splitlines():
        if line.startswith("READY "):
            try:
                return str(json.loads(line[6:]).get(str(port), "unknown"))
            except ValueError:
                break
    return "unknown"
