"""sshd under a burst: mpirun and pdsh open many SSH connections to a node at once, and an
sshd whose MaxStartups is low drops the ones beyond it.

From the head, BURST TCP connections to each node's sshd are held open at once and each
must get sshd's banner; a node that resets or closes some is asked for its effective
MaxStartups/MaxSessions (`sshd -T`). Raw connections (no key exchange) keep the burst
cheap: sshd counts a connection against MaxStartups from accept until authentication.
"""

from __future__ import annotations

import socket
from typing import Any

from preflight.measure.base import failure_text, per_node, reachable, run_script
from preflight.runctx import RunContext

BURST = 10  # connections at once, as an mpirun or pdsh fan-out opens them
BANNER_WAIT_S = 5.0


def measure_ssh_burst(ctx: RunContext) -> dict[str, Any]:
    names = reachable(ctx)
    found = per_node(ctx, names, lambda name: burst_node(ctx, name),
                     deadline_s=BANNER_WAIT_S * 2 * BURST + 30)
    nodes = {name: ({"error": failure_text(answer)} if isinstance(answer, Exception)
                    else answer) for name, answer in found.items()}
    return {"burst": BURST, "nodes": nodes}


def burst_node(ctx: RunContext, name: str) -> dict[str, Any]:
    transport = ctx.connections.get(name)
    endpoint = getattr(transport, "endpoint", None)
    if endpoint is None:
        return {"skipped": "not reached over ssh"}
    if endpoint.proxy_jump:
        return {"skipped": f"behind ProxyJump {endpoint.proxy_jump}: its sshd is not reached "
                           "directly"}
    answers = open_burst(endpoint.hostname, endpoint.port, BURST, BANNER_WAIT_S)
    entry: dict[str, Any] = {"answers": answers}
    if any(answer != "ok" for answer in answers):
        try:
            entry["sshd"] = run_script(ctx, name, "sshd_settings", {}, 20)
        except Exception as exc:  # noqa: BLE001 - the settings only explain the failure
            entry["sshd"] = {"error": failure_text(exc)}
    return entry


def open_burst(host: str, port: int, count: int, wait_s: float) -> list[str]:
    """Open `count` connections, all held at once, then read each one's banner: "ok", or
    how sshd turned it away ("reset", "closed", "refused", "no-banner", "timeout")."""
    held: list[socket.socket] = []
    answers: list[str] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.settimeout(wait_s)
            try:
                sock.connect((host, port))
            except OSError as exc:
                sock.close()
                answers.append(_kind(exc))
                continue
            held.append(sock)
        answers.extend(_banner(sock) for sock in held)
    finally:
        for sock in held:
            sock.close()
    return answers


def _banner(sock: socket.socket) -> str:
    try:
        data = sock.recv(256)
    except OSError as exc:
        return _kind(exc)
    if data.startswith(b"SSH-"):
        return "ok"
    if b"MaxStartups" in data:  # OpenSSH >= 8.x says why before it closes
        return "exceeded-MaxStartups"
    return "closed" if not data else "no-banner"


def _kind(exc: OSError) -> str:
    if isinstance(exc, ConnectionResetError):
        return "reset"
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return "timeout"
    return "error"
