"""Is a log timestamp within a window of the node's clock?"""

from __future__ import annotations

from datetime import datetime
from typing import Any


def within_hours(stamp: Any, now: Any, hours: float) -> bool:
    """True when stamp is within `hours` before now; an unknown time counts as recent
    (a kernel log without timestamps covers the current boot only)."""
    if not isinstance(now, (int, float)) or not isinstance(stamp, str):
        return True
    moment = _parse(stamp)
    if moment is None:
        return True
    return now - moment <= hours * 3600


def _parse(stamp: str) -> float | None:
    text = stamp.strip().replace(",", ".")
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None
