"""Node settings compared across nodes, normalised so that only what matters differs.

- A firewall ruleset from `iptables-save` or `nft list ruleset`: comments, packet and
  byte counters and rule handles removed (they differ on every node and every minute).
- `sshd -T` / `ssh -G` output ("key value" lines) as a mapping of the chosen keys.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_IPT_CHAIN_COUNTERS = re.compile(r"^(:\S+ \S+) \[\d+:\d+\]$")
_IPT_RULE_COUNTERS = re.compile(r"^\[\d+:\d+\] ")
_IPT_C_OPTION = re.compile(r" -c \d+ \d+\b")
_NFT_COUNTER = re.compile(r"\bcounter packets \d+ bytes \d+")
_NFT_HANDLE = re.compile(r"\s*# handle \d+$")


def firewall_rules(text: str) -> list[str]:
    """The ruleset's lines in order, without comments, counters or handles."""
    rules = []
    for raw in text.splitlines():
        line = _NFT_HANDLE.sub("", raw).strip()
        if not line or line.startswith("#"):
            continue
        line = _IPT_CHAIN_COUNTERS.sub(r"\1", line)
        line = _IPT_RULE_COUNTERS.sub("", line)
        line = _IPT_C_OPTION.sub("", line)
        rules.append(_NFT_COUNTER.sub("counter", line))
    return _without_empty_tables(rules)


def _without_empty_tables(rules: list[str]) -> list[str]:
    """iptables-save prints a table once anything touched it, also after its rules were
    deleted: a table with no rules and ACCEPT policies filters nothing, as no table."""
    kept: list[str] = []
    table: list[str] = []
    for line in rules:
        if line.startswith("*"):
            table = [line]
        elif table:
            table.append(line)
            if line == "COMMIT":
                body = table[1:-1]
                empty = all(rule.startswith(":") and rule.split()[1:2] in (["ACCEPT"], ["-"])
                            for rule in body)
                kept += [] if empty else table
                table = []
        else:
            kept.append(line)
    return kept + table


def settings(text: str, keys: Iterable[str]) -> dict[str, str]:
    """The `keys` of "key value" lines (sshd -T, ssh -G); a key given several times
    (identityfile, allowusers) keeps every value, in order, joined by spaces."""
    wanted = set(keys)
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        key, _, value = line.strip().partition(" ")
        if key.lower() in wanted:
            found.setdefault(key.lower(), []).append(value.strip())
    return {key: " ".join(values) for key, values in sorted(found.items())}
