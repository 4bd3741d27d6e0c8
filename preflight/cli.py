"""`preflight`: a thin CLI over the pytest plugin, plus parse, diagnose, report, profiles.

Two error kinds: a user error is one line on stderr and exit 2; anything else is a bug
and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from preflight.console import make_console, write_line
from preflight.errors import PreflightError, UserError

if TYPE_CHECKING:
    import pytest

    from preflight.results import RunRecord

INVENTORY_FLAGS = ("--hostfile", "--hosts", "--slurm", "--local", "--from")
USAGE_EXIT = 2
INTERRUPTED_EXIT = 130


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        return dispatch(args)
    except PreflightError as exc:
        write_line(f"preflight: error: {exc}")
        return exc.exit_code
    except KeyboardInterrupt:
        write_line("preflight: interrupted")
        return INTERRUPTED_EXIT


def dispatch(args: list[str]) -> int:
    if not args or args[0] in ("-h", "--help"):
        write_line(HELP, err=False)
        return 0 if args else USAGE_EXIT
    if args[0] in ("--version", "-V"):
        from preflight import __version__

        write_line(f"preflight {__version__}", err=False)
        return 0
    command, rest = args[0], args[1:]
    handler = COMMANDS.get(command)
    if handler is None:
        raise UserError(f"unknown command {command!r} (try: {', '.join(COMMANDS)})")
    return handler(rest)


# run / check ------------------------------------------------------------------------


def cmd_run(args: list[str]) -> int:
    if "-h" in args or "--help" in args:
        from preflight.run_help import run_help

        write_line(run_help(), err=False)
        return 0
    extra_dirs, args = _take_option(args, "--checks")
    if not any(_has_flag(args, flag) for flag in INVENTORY_FLAGS):
        args = ["--local", *args]
    if "--plan" in args:
        return print_plan([a for a in args if a != "--plan"])
    return run_pytest(args, extra_dirs)


def print_plan(args: list[str]) -> int:
    """`run --plan`: the run's probes, schedules and estimated walls; touches no node."""
    from preflight.config import load_config
    from preflight.lifecycle import expectation_overrides, inventory_from_options
    from preflight.runplan import render

    parser = _parser("run --plan", "print what a run would do, without contacting a node")
    _add_inventory_args(parser)
    for flag in ("--level", "--pairs", "--profile", "--config"):
        parser.add_argument(flag)
    parser.add_argument("--expect", action="append", default=[])
    parser.add_argument("--fanout", type=int, default=64)
    options, _ignored = parser.parse_known_args(args)
    if _has_flag(args, "--from"):
        raise UserError("--plan plans a run on nodes; it cannot plan --from RUN_DIR")
    options.preflight_from = None
    options.pair_mode, options.preflight_level = options.pairs, options.level
    nodes = inventory_from_options(options)
    expect = load_config(options.profile, Path(options.config) if options.config else None,
                         expectation_overrides(options))
    for line in render(len(nodes), expect, max(1, options.fanout)):
        write_line(line, err=False)
    return 0


def cmd_check(args: list[str]) -> int:
    if not _has_flag(args, "--from"):
        raise UserError("check needs --from RUN_DIR (a directory written by preflight run)")
    run_dir = Path(_option_value(args, "--from") or "")
    if not (run_dir / "facts.json").is_file():
        raise UserError(f"{run_dir}: not a preflight run directory (no facts.json)")
    return cmd_run(args)


# A run started from an xdist worker is not a worker; and a CI job's PYTEST_ADDOPTS is meant
# for its own test suite, not for preflight's checks (options for those go on the command line).
FOREIGN_PYTEST_ENV = ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT",
                      "PYTEST_XDIST_TESTRUNUID", "PYTEST_ADDOPTS")


def run_pytest(args: list[str], extra_dirs: list[str]) -> int:
    import pytest

    from preflight.lifecycle import new_run_dir

    for folder in extra_dirs:
        if not Path(folder).is_dir():
            raise UserError(f"--checks {folder}: no such directory")
    out = _option_value(args, "--out")
    run_dir = new_run_dir(out, overwrite=_has_flag(args, "--overwrite"))
    if out is None:
        args = [*args, "--out", str(run_dir)]
    checks_dir = str(resources.files("preflight.checks"))
    if any(a in ("-v", "--verbose") for a in args):  # every subject, not pytest's lines
        args = [a for a in args if a not in ("-v", "--verbose")] + ["--list-subjects"]
    pytest_args = [
        checks_dir, *extra_dirs, "-c", str(resources.files("preflight").joinpath("run.ini")),
        "--rootdir", checks_dir, "-qq", "--tb=no", "-rN", "--no-header", "--live-display",
        *args,
    ]
    # Only our plugin (and xdist for -n) is loaded: every other pytest plugin installed
    # beside preflight would cost its import on every run (hypothesis's alone is seconds).
    # A user's own plugin still loads with -p NAME.
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    pytest_args[:0] = ["-p", "preflight.plugin", *_xdist_plugin(args)]
    for name in FOREIGN_PYTEST_ENV:
        os.environ.pop(name, None)
    finished = _FinishedRun()
    code = int(pytest.main(pytest_args, plugins=[finished]))
    return _exit_code(code, finished.record)


def _xdist_plugin(args: list[str]) -> list[str]:
    wants = any(_has_flag(args, f) for f in ("-n", "--numprocesses", "--dist")) or any(
        a.startswith("-n") and a[2:].isdigit() for a in args)
    return ["-p", "xdist.plugin"] if wants and importlib.util.find_spec("xdist") else []


class _FinishedRun:
    """A pytest plugin that keeps the run's record, written at the session's end, in memory
    for the exit code (instead of reading results.json back)."""

    record: RunRecord | None = None

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        from preflight.lifecycle import RECORD

        self.record = config.stash.get(RECORD, None)


def _exit_code(pytest_code: int, record: RunRecord | None) -> int:
    if pytest_code in (3, 4):  # internal error / usage error: pytest printed why
        return USAGE_EXIT if pytest_code == 4 else 3
    if pytest_code == 5:
        write_line("preflight: error: no check selected (check -k / -m expressions)")
        return USAGE_EXIT
    if record is None:  # the run never finished (pytest stopped it first)
        return USAGE_EXIT if pytest_code else 1
    if record.partial:
        return INTERRUPTED_EXIT
    return 0 if record.go else 1


def _has_flag(args: list[str], flag: str) -> bool:
    return any(a == flag or a.startswith(flag + "=") for a in args)


def _option_value(args: list[str], flag: str) -> str | None:
    for i, arg in enumerate(args):
        if arg == flag and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    return None


def _take_option(args: list[str], flag: str) -> tuple[list[str], list[str]]:
    """Remove every `flag VALUE` / `flag=VALUE` from args; return (values, remaining)."""
    values: list[str] = []
    remaining: list[str] = []
    it = iter(args)
    for arg in it:
        if arg == flag:
            value = next(it, None)
            if value is None:
                raise UserError(f"{flag} needs a value")
            values.append(value)
        elif arg.startswith(flag + "="):
            values.append(arg.split("=", 1)[1])
        else:
            remaining.append(arg)
    return values, remaining


# inventory / profiles ----------------------------------------------------------------


def cmd_inventory(args: list[str]) -> int:
    from preflight.inventory import to_json
    from preflight.lifecycle import inventory_from_options

    parser = _parser("inventory", "print the nodes a run would contact")
    _add_inventory_args(parser)
    parser.add_argument("--json", action="store_true", help="print JSON")
    options = _parse(parser, args)
    options.preflight_from = None
    nodes = inventory_from_options(options)
    if options.json:
        write_line(json.dumps(to_json(nodes), indent=2), err=False)
    else:
        for node in nodes:
            write_line(f"{node.name}\tslots={node.slots if node.slots else '-'}", err=False)
    return 0


def _add_inventory_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--hostfile")
    group.add_argument("--hosts")
    group.add_argument("--slurm", action="store_true")
    group.add_argument("--local", action="store_true")


def cmd_profiles(args: list[str]) -> int:
    from rich.table import Table

    from preflight.profiles import profiles_table

    parser = _parser("profiles", "list the built-in expectation profiles")
    parser.add_argument("--json", action="store_true")
    options = _parse(parser, args)
    rows = profiles_table()
    if options.json:
        write_line(json.dumps(rows, indent=2, default=str), err=False)
        return 0
    table = Table("profile", "description", "key numbers")
    for row in rows:
        numbers = ", ".join(f"{k}={v}" for k, v in row.items()
                            if k not in ("name", "description") and v is not None)
        table.add_row(str(row.get("name")), str(row.get("description", "")), numbers)
    make_console().print(table)
    return 0


# parse / diagnose / report -------------------------------------------------------------


def cmd_parse(args: list[str]) -> int:
    from preflight.parsers import KINDS as kinds

    parser = _parser("parse", "print what preflight reads from a saved tool output")
    parser.add_argument("kind", choices=sorted(kinds))
    parser.add_argument("file")
    options = _parse(parser, args)
    text = _read_text(Path(options.file))
    try:
        record = kinds[options.kind](text).to_dict()
    except ValueError as exc:
        write_line(f"preflight: {options.file}: not {options.kind} output: {exc}")
        return 1
    write_line(json.dumps(record, indent=2, default=str), err=False)
    return 0


def _read_text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8", errors="replace")
    except OSError as exc:
        raise UserError(f"{path}: {exc.strerror or exc}") from None


def cmd_diagnose(args: list[str]) -> int:
    from preflight.diagnose import main_diagnose

    parser = _parser("diagnose", "name the cause of an NCCL timeout from a job's logs")
    parser.add_argument("paths", nargs="+", help="log files or directories")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--run", help="a preflight run directory to cross-reference")
    options = _parse(parser, args)
    paths = [Path(p) for p in options.paths]
    for path in paths:
        if not path.exists():
            raise UserError(f"{path}: no such file or directory")
    run_dir = Path(options.run) if options.run else None
    if run_dir is not None and not (run_dir / "results.json").is_file():
        raise UserError(f"{run_dir}: not a preflight run directory (no results.json)")
    return main_diagnose(paths, options.json, run_dir, make_console())


def cmd_report(args: list[str]) -> int:
    from preflight.reports.html import write_report

    parser = _parser("report", "re-render report.html from a run directory")
    parser.add_argument("run_dir")
    options = _parse(parser, args)
    run_dir = Path(options.run_dir)
    if not (run_dir / "results.json").is_file():
        raise UserError(f"{run_dir}: not a preflight run directory (no results.json)")
    path = write_report(run_dir)
    write_line(str(path), err=False)
    return 0


def cmd_launch(args: list[str]) -> int:
    from preflight.golive.command import main_launch
    from preflight.golive.printers import LAUNCHERS

    parser = _parser("launch", "print the launch lines and NCCL settings a GO run proved")
    parser.add_argument("run_dir")
    parser.add_argument("--launcher", choices=LAUNCHERS, default="torchrun")
    parser.add_argument("--exclude-bad", action="store_true",
                        help="on NO-GO, launch on the nodes that passed when that is enough")
    parser.add_argument("--rdzv", action="store_true",
                        help="torchrun: c10d rendezvous instead of --node-rank/--master-addr")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--script", nargs=argparse.REMAINDER, metavar="CMD",
                        help="the training command (default: train.py); everything after it")
    options = _parse(parser, args)
    return main_launch(Path(options.run_dir), options.launcher, options.script or None,
                       exclude_bad=options.exclude_bad, rdzv=options.rdzv,
                       as_json=options.json)


# helpers -----------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UserError(f"{self.prog}: {message}")


def _parser(name: str, description: str) -> argparse.ArgumentParser:
    return _Parser(prog=f"preflight {name}", description=description)


def _parse(parser: argparse.ArgumentParser, args: list[str]) -> argparse.Namespace:
    try:
        return parser.parse_args(args)
    except SystemExit as exc:  # --help
        raise SystemExit(0) from exc


COMMANDS = {
    "run": cmd_run,
    "check": cmd_check,
    "inventory": cmd_inventory,
    "profiles": cmd_profiles,
    "parse": cmd_parse,
    "diagnose": cmd_diagnose,
    "report": cmd_report,
    "launch": cmd_launch,
}

HELP = """usage: preflight COMMAND [options]

  run        check the cluster (no hostfile: this machine) and write a run directory
             --hostfile H | --hosts 'node[01-16]' | --slurm | --local
             --profile P  --config preflight.toml  --expect KEY=VALUE  --out DIR [--overwrite]
             --ssh-config F  --known-hosts F  --accept-new-host-keys  --fanout N
             --level quick|standard|full  --plan (print the schedule, contact nothing)
             --pairs mesh|ring|sample:K  --bad-nodes FILE  --fail-on fail|warn
             --checks DIR (site checks)  and any pytest option: -k EXPR, -m, -n N, -x
  check      re-evaluate a recorded run: check --from RUN_DIR [--profile P ...]
  inventory  print the nodes a run would contact (--json)
  profiles   list the built-in profiles
  parse      parse a saved tool output: parse KIND FILE
  diagnose   name the cause of an NCCL failure: diagnose LOG... [--json] [--run RUN_DIR]
  report     re-render report.html: report RUN_DIR
  launch     after GO, print the job's launch lines and NCCL env: launch RUN_DIR
             --launcher torchrun|mpirun|srun|deepspeed|fabric [--exclude-bad] [--rdzv]
             [--json] [--script CMD...]

exit codes: 0 go, 1 a check failed, errored or was blocked, 2 usage or configuration error"""


if __name__ == "__main__":
    sys.exit(main())
