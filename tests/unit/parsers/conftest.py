"""Corpus access and in-memory transformations shared by the parser tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.corpus import CORPUS, require_corpus

REPO = Path(__file__).resolve().parents[3]


def corpus_dir() -> Path:
    return CORPUS


def corpus_names(folder: Path) -> set[str]:
    """File names in one corpus folder."""
    return {path.name for path in folder.iterdir()}


@pytest.fixture
def corpus() -> Path:
    return require_corpus()


@pytest.fixture
def read_corpus(corpus: Path) -> Callable[[str], str]:
    def read(relative: str) -> str:
        return (corpus / relative).read_text(encoding="utf-8")

    return read


def with_crlf(text: str) -> str:
    return text.replace("\n", "\r\n")


def indented(text: str) -> str:
    """A markdown copy: every line indented by four spaces."""
    return "\n".join("    " + line for line in text.split("\n"))


def mpi_prefixed(text: str) -> str:
    """As printed through `mpirun --tag-output` for rank 0."""
    return "\n".join("[1,0]<stdout>:" + line for line in text.split("\n"))


def with_ansi(text: str) -> str:
    """Bold/colour escapes around the first lines, as a terminal capture has them."""
    lines = text.split("\n")
    lines[:3] = [f"\x1b[1;32m{line}\x1b[0m" for line in lines[:3]]
    return "\n".join(lines)


TRANSFORMS: dict[str, Callable[[str], str]] = {
    "crlf": with_crlf,
    "indented": indented,
    "mpi": mpi_prefixed,
    "ansi": with_ansi,
    "all": lambda text: mpi_prefixed(indented(with_crlf(with_ansi(text)))),
}
