"""The two error kinds the CLI knows: a user error (one line, exit 2) and everything else."""


class UserError(Exception):
    """Bad input or configuration: printed as one line, exit code 2, never a traceback."""
