"""The one place a rich Console is built: injectable file, width and colour for tests."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


def make_console(file: IO[str] | None = None, *, width: int | None = None,
                 color: bool | None = None, stderr: bool = False) -> Console:
    stream = file or (sys.stderr if stderr else sys.stdout)
    no_color = bool(os.environ.get("NO_COLOR")) if color is None else not color
    return Console(file=stream, width=width, no_color=no_color,
                   color_system=None if no_color else "auto", highlight=False,
                   soft_wrap=False)


@contextmanager
def progress(console: Console, description: str, total: int) -> Iterator[Progress | None]:
    """A live progress bar on a terminal; nothing at all when output is not a TTY."""
    if not console.is_terminal:
        yield None
        return
    bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[note]}"), TimeElapsedColumn(),
                   console=console, transient=True)
    with bar:
        bar.add_task(description, total=total, note="")
        yield bar


def write_line(text: str, *, err: bool = True) -> None:
    """A plain line for the CLI's one-line errors (no markup interpretation)."""
    stream = sys.stderr if err else sys.stdout
    stream.write(text + "\n")
    stream.flush()
