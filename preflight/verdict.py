"""What a check says: fail, warn, skip or observe, with measured, expected and a hint.

Checks are plain pytest functions; these helpers carry the structured part of a verdict
(measured vs expected, unit, remediation hint) to the plugin, which stores it in the
result. A bad value fails; "could not evaluate" is an error; an unreachable node is blocked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NoReturn

import pytest


@dataclass
class Observation:
    measured: Any = None
    expected: Any = None
    unit: str | None = None
    hint: str | None = None
    # A short stable code for why a check did not pass ("memlock-low", "port-filtered"):
    # results with the same check and reason are one finding, whatever their messages say.
    reason: str | None = None
    targets: dict[str, list[str]] | None = None
    details: dict[str, Any] = field(default_factory=dict)


_current = Observation()


def reset() -> Observation:
    global _current
    _current = Observation()
    return _current


def current() -> Observation:
    return _current


class CheckFailure(AssertionError):
    """A value was evaluated and is bad."""


class CheckWarning(Exception):
    """Degraded but usable: the run still passes unless --fail-on warn."""


class Blocked(Exception):
    """The node could not be reached, so its checks could not run."""


class Unavailable(Exception):
    """A fact needed by the check is missing or unparseable: the check errors."""

    def __init__(self, message: str, hint: str | None = None,
                 reason: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint
        self.reason = reason


def observe(measured: Any = None, *, expected: Any = None, unit: str | None = None,
            hint: str | None = None, reason: str | None = None) -> None:
    """Record what was measured, also when the check passes (the report shows it)."""
    if reason is not None:
        _current.reason = reason
    if measured is not None:
        _current.measured = measured
    if expected is not None:
        _current.expected = expected
    if unit is not None:
        _current.unit = unit
    if hint is not None:
        _current.hint = hint


def against(targets: dict[str, list[str]]) -> None:
    """A per-source verdict of an all-to-all check: the other ends of the node's bad pairs,
    by reason code (findings blame the node most of them share)."""
    _current.targets = {reason: sorted(nodes) for reason, nodes in targets.items()}


def fail(message: str, *, measured: Any = None, expected: Any = None,
         unit: str | None = None, hint: str | None = None,
         reason: str | None = None) -> NoReturn:
    __tracebackhide__ = True
    observe(measured, expected=expected, unit=unit, hint=hint, reason=reason)
    raise CheckFailure(message)


def warn(message: str, *, measured: Any = None, expected: Any = None,
         unit: str | None = None, hint: str | None = None,
         reason: str | None = None) -> NoReturn:
    __tracebackhide__ = True
    observe(measured, expected=expected, unit=unit, hint=hint, reason=reason)
    raise CheckWarning(message)


def skip(reason: str) -> NoReturn:
    __tracebackhide__ = True
    pytest.skip(reason)


def at_least(measured: float, floor: float, what: str, *, unit: str = "",
             hint: str | None = None, reason: str | None = None) -> None:
    __tracebackhide__ = True
    observe(measured, expected=f">= {floor:g}", unit=unit or None, hint=hint)
    if measured < floor:
        fail(f"{what}: {measured:g}{_u(unit)}, expected >= {floor:g}{_u(unit)}",
             reason=reason)


def at_most(measured: float, ceiling: float, what: str, *, unit: str = "",
            hint: str | None = None, reason: str | None = None) -> None:
    __tracebackhide__ = True
    observe(measured, expected=f"<= {ceiling:g}", unit=unit or None, hint=hint)
    if measured > ceiling:
        fail(f"{what}: {measured:g}{_u(unit)}, expected <= {ceiling:g}{_u(unit)}",
             reason=reason)


def equal(measured: Any, expected: Any, what: str, *, unit: str = "",
          hint: str | None = None, reason: str | None = None) -> None:
    __tracebackhide__ = True
    observe(measured, expected=expected, unit=unit or None, hint=hint)
    if measured != expected:
        fail(f"{what}: {measured}{_u(unit)}, expected {expected}{_u(unit)}", reason=reason)


def _u(unit: str) -> str:
    return f" {unit}" if unit else ""
