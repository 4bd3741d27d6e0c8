"""Text cleaning and small helpers shared by every parser.

Tool output reaches the parsers through many hands: a terminal (ANSI colour and
underline codes), Windows line ends, `mpirun` rank prefixes (`[1,0]<stdout>:`),
markdown copies indented by four spaces, fenced code blocks. `clean()` removes those
wrappers and keeps everything else, tabs included, because several formats (ibstat,
topo -m, perftest) use tabs as separators or indentation.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from preflight.errors import PreflightError

ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Za-z0-9]|\x1b[=>]")
MPI_PREFIX = re.compile(r"^([ \t]*)(?:\[\d+,\d+\]<(?:stdout|stderr|stddiag)>:)+", re.MULTILINE)
MARKDOWN_FENCE = re.compile(r"^\s*```[\w-]*\s*$")
NOT_AVAILABLE = frozenset(
    {"", "n/a", "[n/a]", "na", "none", "-", "[not supported]", "not supported", "[unknown error]"}
)


class ParseError(PreflightError, ValueError):
    """The text is not the output this parser reads (empty, another tool, garbage)."""

    exit_code = 1


def clean(text: str) -> str:
    """Return `text` without terminal, transport and copy-paste wrappers."""
    text = text.lstrip("\ufeff")
    text = ANSI_ESCAPE.sub("", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = "\n".join(_dedent_spaces(text.split("\n")))
    text = MPI_PREFIX.sub(r"\1", text)
    lines = [line.rstrip(" \t") for line in text.split("\n") if not MARKDOWN_FENCE.match(line)]
    return "\n".join(_dedent_spaces(lines))


def _dedent_spaces(lines: list[str]) -> list[str]:
    """Remove the run of leading spaces (never tabs) that every non-blank line shares."""
    widths = [len(line) - len(line.lstrip(" ")) for line in lines if line.strip()]
    common = min(widths, default=0)
    if common == 0:
        return lines
    return [line[common:] if line.strip() else "" for line in lines]


def require_text(text: str, tool: str) -> str:
    """Clean `text`; raise ParseError when nothing readable is left."""
    if "\x00" in text:
        raise ParseError(f"not {tool} output: binary data")
    cleaned = clean(text)
    if not cleaned.strip():
        raise ParseError(f"not {tool} output: empty text")
    return cleaned


def first_line(text: str) -> str:
    """The first non-blank line, shortened, for error messages."""
    for line in text.splitlines():
        if line.strip():
            return line.strip()[:120]
    return ""


def is_missing(value: str | None) -> bool:
    """True for the many ways tools print 'no value' (N/A, [N/A], [Not Supported] ...)."""
    return value is None or value.strip().lower() in NOT_AVAILABLE


def leading_number(value: str | None) -> float | None:
    """The number a value starts with ('81559 MiB' -> 81559.0); None when absent."""
    if is_missing(value):
        return None
    assert value is not None
    match = re.match(r"\s*([-+]?\d+(?:\.\d+)?)", value)
    return float(match.group(1)) if match else None


def leading_int(value: str | None) -> int | None:
    """Like leading_number, as an int."""
    number = leading_number(value)
    return None if number is None else int(number)


def yes_no(value: str | None) -> bool | None:
    """Yes/Enabled/On/Active -> True, No/Disabled/Off/Not Active -> False, else None."""
    if is_missing(value):
        return None
    assert value is not None
    word = value.strip().lower()
    if word in {"yes", "enabled", "on", "active", "true", "1"}:
        return True
    if word in {"no", "disabled", "off", "not active", "false", "0"}:
        return False
    return None


def as_json(value: object) -> Any:
    """Dataclasses -> dicts, tuples -> lists, recursively: what json.dumps accepts."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: as_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [as_json(item) for item in value]
    if isinstance(value, dict):
        return {str(key): as_json(item) for key, item in value.items()}
    return value


class JsonRecord:
    """Mixin for the frozen record dataclasses: `to_dict()` gives JSON-ready keys."""

    def to_dict(self) -> dict[str, Any]:
        result = as_json(self)
        assert isinstance(result, dict)
        return result
