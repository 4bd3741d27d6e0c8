"""Settings that must be the same on every node, compared across nodes: the odd node out
is found without probing every pair (a firewall rule no sampled pair crossed, an sshd
that takes fewer connections, a client that does not check host keys)."""

import functools
from collections.abc import Callable
from typing import Any

from preflight.facts import ClusterFacts, NodeFacts, majority
from preflight.parsers.fingerprint import firewall_rules, settings
from preflight.verdict import fail, observe, skip, warn

SSHD_KEYS = ("port", "maxstartups", "maxsessions", "permitrootlogin", "pubkeyauthentication",
             "passwordauthentication", "authorizedkeysfile", "allowusers", "allowgroups",
             "denyusers", "denygroups", "maxauthtries", "logingracetime", "usedns",
             "acceptenv", "permituserenvironment")
# Path-valued settings (identityfile, userknownhostsfile, controlpath) are left out: they
# name per-node files that differ wherever homes do, without changing what ssh does.
CLIENT_KEYS = ("user", "port", "stricthostkeychecking", "batchmode", "connecttimeout",
               "proxyjump", "proxycommand", "controlmaster", "hashknownhosts",
               "identitiesonly", "pubkeyauthentication", "serveraliveinterval",
               "addressfamily")
SHOWN = 3  # differing lines named in a message


def _text(node: NodeFacts, part: str) -> str | None:
    result = node.fingerprint(part)
    if result.get("missing") or result.get("rc") != 0:
        return None  # not installed or not readable (not root): nothing to compare
    return str(result.get("stdout") or "")


def _firewall(node: NodeFacts) -> tuple[str, ...] | None:
    text = _text(node, "firewall")
    return None if text is None else tuple(firewall_rules(text))


def _sshd(node: NodeFacts) -> tuple[tuple[str, str], ...] | None:
    text = _text(node, "sshd")
    return None if text is None else tuple(settings(text, SSHD_KEYS).items())


def _client(node: NodeFacts) -> tuple[tuple[str, str], ...] | None:
    text = _text(node, "ssh_client")
    return None if text is None else tuple(settings(text, CLIENT_KEYS).items())


def _odd_one_out(node: NodeFacts, cluster: ClusterFacts, what: str,
                 read: Callable[[NodeFacts], Any], describe: Callable[[Any, Any], str],
                 hint: str, reason: str) -> None:
    mine = read(node)
    if mine is None:
        skip(f"{node.name}: {what} not readable here")
    common, count, total, split = _majority(cluster, read)
    observe(f"{len(mine)} entries", expected="the same as the majority of nodes")
    if common is None and split:  # no odd one out to name: worth a look, not a NO-GO
        warn(f"{node.name}: {what} not the same on all nodes, and no majority", hint=hint,
             reason=f"{reason}-no-majority")
    if common is not None and mine != common:
        fail(f"{node.name}: {what} not the same as on the other {count} of {total} nodes: "
             f"{describe(mine, common)}", measured=describe(mine, common),
             expected=f"the same as {count} of {total} nodes", hint=hint, reason=reason)


@functools.lru_cache(maxsize=8)
def _majority(cluster: ClusterFacts, read: Callable[[NodeFacts], Any]) -> tuple[Any, int, int,
                                                                                   bool]:
    """(common value, its count, nodes, whether they disagree), once per run and setting:
    per node this would read every node's settings again, N^2 at scale."""
    values = cluster.values(read)
    common, count, total = majority(values.values())
    return common, count, total, len(set(values.values())) > 1


def _rule_diff(mine: tuple[str, ...], common: tuple[str, ...]) -> str:
    extra = _rules_first([rule for rule in mine if rule not in common])
    missing = _rules_first([rule for rule in common if rule not in mine])
    parts = [f"only here: {_some(extra)}" if extra else "",
             f"missing here: {_some(missing)}" if missing else ""]
    return "; ".join(p for p in parts if p) or "the same rules in another order"


def _rules_first(lines: list[str]) -> list[str]:
    """Rules before the table, chain and COMMIT lines around them (those say little)."""
    def structural(line: str) -> bool:
        return line.startswith(("*", ":", "COMMIT", "table ", "chain ", "}", "type "))
    return [line for line in lines if not structural(line)] + [
        line for line in lines if structural(line)]


def _settings_diff(mine: tuple[tuple[str, str], ...], common: tuple[tuple[str, str], ...]) -> str:
    here, there = dict(mine), dict(common)
    keys = sorted(k for k in here.keys() | there.keys() if here.get(k) != there.get(k))
    return _some([f"{k} {here.get(k, '(unset)')} (others: {there.get(k, '(unset)')})"
                  for k in keys])


def _some(items: list[str]) -> str:
    more = f" (+{len(items) - SHOWN} more)" if len(items) > SHOWN else ""
    return ", ".join(repr(item) if " (others" not in item else item
                     for item in items[:SHOWN]) + more


def check_firewall_consistent(node: NodeFacts, cluster: ClusterFacts) -> None:
    _odd_one_out(node, cluster, "firewall ruleset", _firewall, _rule_diff,
                 hint=f"compare `iptables-save` (or `nft list ruleset`) on {node.name} with "
                      "a healthy node: a rule only one node has blocks what crosses it",
                 reason="firewall-differs")


def check_sshd_consistent(node: NodeFacts, cluster: ClusterFacts) -> None:
    _odd_one_out(node, cluster, "sshd settings", _sshd, _settings_diff,
                 hint=f"align {node.name}'s sshd_config with the other nodes (sshd -T shows "
                      "the effective values); mpirun and the launch need the same sshd",
                 reason="sshd-differs")


def check_ssh_client_consistent(node: NodeFacts, cluster: ClusterFacts) -> None:
    _odd_one_out(node, cluster, "ssh client settings", _client, _settings_diff,
                 hint=f"align {node.name}'s ~/.ssh/config and /etc/ssh/ssh_config with the "
                      "other nodes (ssh -G shows the effective values)",
                 reason="ssh-client-differs")
