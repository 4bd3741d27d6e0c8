"""The one root of the errors preflight raises on purpose, and the user error.

The CLI prints a `PreflightError` that reaches it as one line (`preflight: error: ...`),
never a traceback, and exits with its `exit_code`; anything else is a bug and keeps its
traceback. Its children: `UserError` (bad input or configuration, here),
`ParseError` (preflight/parsers/common.py), `ConnectError` (preflight/transport/base.py),
`DeadlineExceeded` (preflight/fanout.py), `FindError` (nccl_tests/find.py) and `Refused`
(preflight/golive/plan.py). A check's own outcomes (`CheckFailure`, `Unavailable`,
`Blocked` in preflight/verdict.py) are results, not errors, and stay apart.
"""

from __future__ import annotations

from pathlib import Path


class PreflightError(Exception):
    """An error preflight raises on purpose: one line for the user, exit `exit_code`."""

    exit_code = 2


class UserError(PreflightError):
    """Bad input or configuration: printed as one line, exit code 2, never a traceback."""


def read_user_text(path: Path, what: str) -> str:
    """A file the user named (`what`: "hostfile", "config file"), as text: a missing,
    unreadable or non-UTF-8 file is a one-line UserError naming it (and the line)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{path}: no such {what}") from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a directory, not a {what}") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read {what} ({exc.strerror})") from None
    try:
        return data.decode("utf-8-sig")  # a BOM (editors on Windows) is not part of the text
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise UserError(f"{path}:{line}: not UTF-8 text") from None
