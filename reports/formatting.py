"""Small text helpers shared by the HTML report and the terminal summary."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from typing import Any

from preflight.results import Result, severity

# Families in the order a reader walks a cluster: reach it, then the box, then the fabric.
FAMILY_ORDER: tuple[str, ...] = (
    "ssh",
    "system",
    "software",
    "fingerprints",
    "gpu",
    "topology",
    "network",
    "infiniband",
    "efa",
    "ports",
    "bandwidth",
    "collectives",
)


def worst(statuses: Iterable[str]) -> str | None:
    """The most severe status among `statuses`, or None when there are none."""
    return max(statuses, key=severity, default=None)


def family_key(family: str) -> tuple[int, str]:
    known = FAMILY_ORDER.index(family) if family in FAMILY_ORDER else len(FAMILY_ORDER)
    return (known, family)


def host_key(hosts: Sequence[str]) -> Any:
    """Sort key: inventory order first, anything unknown after it, alphabetically."""
    index = {h: i for i, h in enumerate(hosts)}
    return lambda h: (index.get(h, len(index)), h)


def all_nodes(hosts: Sequence[str], results: Iterable[Result]) -> list[str]:
    """The inventory plus any node a result names that the inventory lacks."""
    seen = dict.fromkeys(hosts)
    for result in results:
        seen.update(dict.fromkeys(result.nodes))
    return sorted(seen, key=host_key(hosts))


def fmt_number(value: float) -> str:
    if isinstance(value, bool) or not math.isfinite(value):
        return str(value)
    if float(value).is_integer():
        return str(int(value))
    magnitude = abs(value)
    digits = 1 if magnitude >= 100 else 2 if magnitude >= 1 else 3
    return f"{value:.{digits}f}".rstrip("0").rstrip(".")


def fmt_value(value: Any, unit: str | None = None) -> str:
    """A measured or expected value as a reader wants it: `7 GPUs`, `23.9 Gbit/s`, `a, b`."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        text = "yes" if value else "no"
    elif isinstance(value, int | float):
        text = fmt_number(value)
    elif isinstance(value, str):
        text = value
    elif isinstance(value, list | tuple) and all(not isinstance(v, dict | list) for v in value):
        text = ", ".join(fmt_value(v) for v in value)
    else:
        text = json.dumps(value, sort_keys=True, default=str)
    return f"{text} {unit}" if unit else text


def fmt_measure(value: Any, unit: str | None = None) -> str:
    """A result's measured/expected value; a flat mapping reads `29500: filtered`.

    The unit follows a mapping of numbers (`1 MiB: 0.05, 4 MiB: 0.06 GB/s`), not of words.
    """
    if isinstance(value, dict) and value and all(_flat(v) for v in value.values()):
        text = ", ".join(f"{k}: {fmt_value(v)}" for k, v in value.items())
        numbers = all(isinstance(v, int | float) for v in value.values())
        return f"{text} {unit}" if unit and numbers else text
    return fmt_value(value, unit)


def _flat(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def fmt_duration(seconds: float) -> str:
    if seconds < 60:
        return f"{fmt_number(seconds)} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def subject(result: Result) -> str:
    """Who a result is about, with an arrow for pairs (reads better than '->')."""
    if result.pair:
        return f"{result.pair[0]} → {result.pair[1]}"
    return result.node or "cluster"
