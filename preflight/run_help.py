"""`preflight run --help`: preflight's own options in groups, then one line about pytest's.

The options are read from the plugins' pytest_addoption hooks (one registry), recorded by
a stand-in parser, so a new option shows up here without being listed twice.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from typing import Any

GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("targets", ("--hostfile", "--hosts", "--slurm", "--local", "--from", "--checks")),
    ("expectations", ("--profile", "--config", "--expect", "--fail-on", "--level")),
    ("SSH", ("--ssh-", "--known-hosts", "--accept-new-host-keys", "--fanout",
             "--remote-python", "--gather")),
    ("pairs and bandwidth", ("--pairs",)),
    ("collectives", ("--launcher", "--mpirun-args", "--srun-args", "--master-port",
                     "--torch-")),
    ("nccl-tests", ("--nccl-tests",)),
    ("output", ("--out", "--bad-nodes", "--max-exclude", "--list-subjects", "--drain")),
)
USAGE = "usage: preflight run [TARGET] [options] [pytest options]"
CHECKS_OPTION = ("--checks", "DIR", "also run the check_*.py files in DIR (site checks)")
PYTEST_LINE = ("Any pytest option works as well (-k EXPR, -m MARK, -n N, -x, ...): "
               "see `pytest --help`.")


class _Recorder:
    """Enough of pytest.Parser (and its OptionGroup) for the addoption hooks."""

    def __init__(self) -> None:
        self.options: list[tuple[str, str, str]] = []

    def getgroup(self, *args: Any, **kwargs: Any) -> _Recorder:
        return self

    def addoption(self, *names: str, **kwargs: Any) -> None:
        long = next((n for n in names if n.startswith("--")), names[0])
        metavar = kwargs.get("metavar") or ("" if kwargs.get("action") else "VALUE")
        if kwargs.get("choices") and not kwargs.get("metavar"):
            metavar = "|".join(map(str, kwargs["choices"]))
        self.options.append((long, str(metavar), str(kwargs.get("help", "")).replace("%%", "%")))

    def addini(self, *args: Any, **kwargs: Any) -> None:
        pass


def _hooks() -> list[Callable[[Any], None]]:
    from preflight import plugin
    from preflight.collective import fixtures as collective
    from preflight.nccl_tests import fixtures as nccl_tests

    return [plugin.pytest_addoption, collective.pytest_addoption, nccl_tests.pytest_addoption]


def group_of(option: str) -> str:
    for title, prefixes in GROUPS:
        if any(option == p or (p.endswith("-") and option.startswith(p)) or
               option.startswith(p + "-") for p in prefixes):
            return title
    return "other"


def run_help(width: int = 100) -> str:
    recorder = _Recorder()
    for hook in _hooks():
        hook(recorder)
    grouped: dict[str, list[tuple[str, str, str]]] = {t: [] for t, _ in GROUPS}
    grouped["other"] = []
    for option in [*recorder.options, CHECKS_OPTION]:
        grouped[group_of(option[0])].append(option)
    lines = [USAGE, ""]
    for title, options in grouped.items():
        if options:
            lines.append(f"{title}:")
            lines += [_line(*option, width=width) for option in options]
            lines.append("")
    lines.append(PYTEST_LINE)
    return "\n".join(lines)


def _line(name: str, metavar: str, text: str, *, width: int) -> str:
    head = f"  {name} {metavar}".rstrip()
    body = textwrap.wrap(text, width - 30) or [""]
    first = f"{head:<29} {body[0]}" if len(head) < 29 else f"{head}\n{'':29} {body[0]}"
    return "\n".join([first, *(f"{'':29} {rest}" for rest in body[1:])])
