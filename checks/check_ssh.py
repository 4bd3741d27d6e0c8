"""Can preflight reach each node, and why not."""

from typing import Any

import pytest

from preflight.fixtures import pair_entry
from preflight.gather import NodeOutcome
from preflight.verdict import Unavailable, fail, observe

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


def check_ssh_mesh(pair: tuple[str, str], mesh_probe: dict[str, Any]) -> None:
    src, dst = pair
    reason, detail = pair_entry(mesh_probe, pair)
    if reason == "error":
        raise Unavailable(f"{src} -> {dst}: ssh mesh not measured: {detail}")
    observe(reason, expected="ok")
    if reason != "ok":
        fail(f"{src} -> {dst}: ssh {reason}" + (f" ({detail})" if detail else ""),
             hint=MESH_HINTS.get(reason, "run ssh -v {dst} on {src}").format(src=src, dst=dst))
