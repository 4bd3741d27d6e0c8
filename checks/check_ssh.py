"""Can preflight reach each node, and why not."""

from typing import Any

import pytest

from preflight.facts import NodeFacts
from preflight.fixtures import source_entries, targets_text
from preflight.gather import NodeOutcome
from preflight.verdict import Unavailable, against, fail, observe

CONNECT_HINTS = {
    "connection-refused": "start sshd on the node, or check the port in your ssh config",
    "connect-timeout": "the node is down or a firewall drops port 22: check power and rules",
    "unreachable": "no route to the node: check its network link and address",
    "name-unknown": "the name does not resolve: fix DNS, /etc/hosts or HostName in ssh config",
    "auth-denied": "add your public key to the node's authorized_keys (ssh-copy-id)",
    "host-key-unknown": "verify the key, then ssh-keyscan it into known_hosts, "
                        "or rerun with --accept-new-host-keys",
    "host-key-changed": "if the node was reinstalled, ssh-keygen -R it and re-add the key; "
                        "otherwise treat it as an attack",
    "key-unusable": "fix the IdentityFile in your ssh config (path, permissions, key format)",
    "gather-deadline": "the node answered too slowly: check its load and network",
}
NOT_CONNECTION = {"python-missing", "probe-timeout", "probe-failed"}


@pytest.mark.reachability
def check_ssh_reachable(node_outcome: NodeOutcome) -> None:
    error = node_outcome.error
    if error is not None and error.kind not in NOT_CONNECTION:
        fail(f"{node_outcome.name}: {error.kind}: {error.detail}",
             measured=error.kind, expected="ssh session",
             hint=CONNECT_HINTS.get(error.kind, "check the node and your ssh config"),
             reason=error.kind)
    observe(round(node_outcome.gather_s, 3), expected="ssh session", unit="s")


MESH_HINTS = {
    "host-key-untrusted": "{src} does not trust {dst}'s host key: add it to {src}'s "
                          "known_hosts (ssh-keyscan) — mpirun needs this",
    "host-key-changed": "{dst}'s host key changed in {src}'s known_hosts: verify and re-add",
    "auth-denied": "{dst} does not accept {src}'s key: add {src}'s public key to "
                   "{dst}'s authorized_keys",
    "unresolved": "{src} cannot resolve {dst}: fix DNS or /etc/hosts",
    "refused": "sshd on {dst} refuses {src}: is sshd listening on the cluster address?",
    "unreachable": "{src} cannot reach {dst}:22: check firewall and routes",
    "no-ssh-client": "install openssh-client on {src}: mpirun starts remote ranks with ssh",
}


def check_ssh_mesh(node: NodeFacts, mesh_probe: dict[str, Any]) -> None:
    """One result per source node: the peers it cannot ssh into, by reason."""
    src = node.name
    entries = source_entries(mesh_probe, src)
    bad: dict[str, list[str]] = {}
    for dst, (reason, _detail) in entries.items():
        if reason not in ("ok", "error"):
            bad.setdefault(reason, []).append(dst)
    errors = [dst for dst, (reason, _) in entries.items() if reason == "error"]
    observe(len(entries) - sum(map(len, bad.values())), expected=f"{len(entries)} peers",
            unit="peers")
    if bad:
        reason = max(bad, key=lambda r: len(bad[r]))
        against(bad)
        listed = "; ".join(f"{r} to {targets_text(d)}" for r, d in sorted(bad.items()))
        hint = MESH_HINTS.get(reason, "run ssh -v {dst} on {src}")
        fail(f"{src}: ssh {listed}", measured=sorted(bad), expected="ok",
             hint=hint.format(src=src, dst=targets_text(bad[reason])), reason=reason)
    if errors:
        raise Unavailable(f"{src}: ssh mesh not measured to {targets_text(errors)}: "
                          f"{entries[errors[0]][1]}", reason="mesh-not-measured")
