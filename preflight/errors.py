"""The one root of the errors preflight raises on purpose, and the user error.

The CLI prints a `PreflightError` that reaches it as one line (`preflight: error: ...`),
never a traceback, and exits with its `exit_code`; anything else is a bug and keeps its
traceback. Its children: `UserError` (bad input or configuration, here),
`ParseError` (preflight/parsers/common.py), `ConnectError` (preflight/transport/base.py),
`DeadlineExceeded` (preflight/fanout.py), `FindError` (nccl_tests/find.py) and `Refused`
(preflight/golive/plan.py). A check's own outcomes (`CheckFailure`, `Unavailable`,
`Blocked` in preflight/verdict.py) are results, not errors, and stay apart.
"""


class PreflightError(Exception):
    """An error preflight raises on purpose: one line for the user, exit `exit_code`."""

    exit_code = 2


class UserError(PreflightError):
    """Bad input or configuration: printed as one line, exit code 2, never a traceback."""
