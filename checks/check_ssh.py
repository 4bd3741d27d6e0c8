"""Can preflight reach each node, and why not."""

from typing import Any

import pytest

from preflight.checks.check_ports import pointed
from preflight.facts import NodeFacts
from preflight.fixtures import source_entries, targets_text
from preflight.gather import NodeOutcome
from preflight.measure.burst import TURNED_AWAY
from preflight.verdict import Unavailable, against, fail, observe, skip, warn


@pytest.mark.reachability
def check_ssh_reachable(node_outcome: NodeOutcome) -> None:
    error = node_outcome.error
    if error is not None and not error.reached:
        fail(f"{node_outcome.name}: {error.kind}: {error.detail}",
             measured=error.kind, expected="ssh session", hint=error.hint, reason=error.kind)
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
    "dropped": "sshd on {dst} closed {src}'s connection before the SSH handshake, also when "
               "tried alone: its MaxStartups is full (see ssh_burst), or a TCP wrapper or "
               "sshd Match rule turns {src} away",
}


def check_ssh_mesh(node: NodeFacts, mesh_probe: dict[str, Any]) -> None:
    """One result per source node: the peers it cannot ssh into, by reason; where packets
    are lost, the end the rest of the mesh points at."""
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
        hint = MESH_HINTS.get(reason, "run ssh -v {dst} on {src}").format(
            src=src, dst=targets_text(bad[reason]))
        note = ""
        if reason == "unreachable":  # whose packets are lost: the rest of the mesh says
            pointed_hint, note, side = pointed(mesh_probe, "mesh", lambda e: e[0] == "ok",
                                               src, sorted(bad[reason])[0], [reason])
            if not side.startswith("port-"):
                hint = pointed_hint
        fail(f"{src}: ssh {listed}{note}", measured=sorted(bad), expected="ok", hint=hint,
             reason=reason)
    if errors:
        raise Unavailable(f"{src}: ssh mesh not measured to {targets_text(errors)}: "
                          f"{entries[errors[0]][1]}", reason="mesh-not-measured")


BURST_HINT = ("raise MaxStartups (e.g. 100:30:200) and MaxSessions in the node's sshd_config "
              "and reload sshd: mpirun, pdsh and srun-less launchers open many SSH "
              "connections to a node at once")


def check_ssh_burst(node: NodeFacts, ssh_burst_probe: dict[str, Any]) -> None:
    """Both bursts into the node: BURST connections from the head, and the mesh's sources
    at once (its ring predecessors, a few connections each, held together)."""
    entry = ssh_burst_probe.get("nodes", {}).get(node.name)
    peers = {src: answers for src, answers in (entry or {}).get("peers", {}).items()
             if isinstance(answers, list)}
    if entry is None or ("skipped" in entry and not peers):
        skip((entry or {}).get("skipped", f"{node.name}: no burst tested"))
    if "error" in entry and not peers:
        raise Unavailable(f"{node.name}: ssh burst not tested: {entry['error']}",
                          reason="not-measured")
    head = list(entry.get("answers", []))
    from_peers = [a for answers in peers.values() for a in answers]
    # A connect that failed, or a banner slow to come on a loaded node, is the reach checks'
    # finding; sshd's limits drop connections it accepted (reset, closed, said why).
    head_away = [a for a in head if a in TURNED_AWAY]
    peers_away = [a for a in from_peers if a in TURNED_AWAY]
    observe(len(head) + len(from_peers) - len(head_away) - len(peers_away),
            expected=len(head) + len(from_peers), unit="connections not turned away")
    parts = []
    if head_away:
        parts.append(f"{len(head_away)} of {len(head)} opened at once from the head "
                     f"({_counts(head_away)})")
    if peers_away:
        turned = sorted(src for src, answers in peers.items()
                        if any(a in TURNED_AWAY for a in answers))
        parts.append(f"{len(peers_away)} of {len(from_peers)} opened at once from "
                     f"{len(peers)} nodes ({_counts(peers_away)}; from {targets_text(turned)})")
    if parts:
        fail(f"{node.name}: SSH connections opened at once were turned away: "
             f"{'; '.join(parts)} (expected none): sshd {_limits(entry.get('sshd'))}",
             measured=len(head_away) + len(peers_away), expected=0, hint=BURST_HINT,
             reason="sshd-burst")


def _counts(answers: list[str]) -> str:
    return ", ".join(f"{answers.count(k)} {k}" for k in sorted(set(answers)))


def _limits(settings: Any) -> str:
    if not isinstance(settings, dict) or "error" in settings or not settings:
        why = settings.get("error") if isinstance(settings, dict) else None
        return f"MaxStartups/MaxSessions too low (sshd -T not readable{': ' + why if why else ''})"
    return (f"MaxStartups {settings.get('maxstartups', '?')}, "
            f"MaxSessions {settings.get('maxsessions', '?')}")


def check_ssh_host_key_checking(node: NodeFacts, mesh_probe: dict[str, Any]) -> None:
    """The mesh uses each node's own ssh config, as mpirun does; where that config accepts
    any host key, the mesh passes but a spoofed node would too: a warning, once per node."""
    policies = mesh_probe.get("host_key_policies")
    if policies is None:
        skip("the ssh mesh was recorded without the nodes' host-key settings")
    if node.name not in policies:
        skip(f"{node.name} has no other node to ssh to")
    policy = policies[node.name]
    if policy is None:
        raise Unavailable(f"{node.name}: `ssh -G` gave no client settings",
                          reason="ssh-config-unread")
    strict, known = policy["strict_host_key_checking"], policy["known_hosts"]
    observe(strict, expected="host keys checked")
    if strict == "false" or (strict == "accept-new" and known == "/dev/null"):
        warn(f"{node.name}: its ssh client accepts any host key (StrictHostKeyChecking "
             f"{strict}, UserKnownHostsFile {known or '?'})", measured=strict,
             expected="yes or accept-new with a kept known_hosts",
             hint="set StrictHostKeyChecking yes (or accept-new) for the cluster's names in "
                  "the node's /etc/ssh/ssh_config or ~/.ssh/config, and distribute known_hosts",
             reason="host-key-checking-off")
