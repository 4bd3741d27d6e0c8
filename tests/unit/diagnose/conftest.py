"""Corpus access for the diagnose tests, and a helper that writes small logs to tmp_path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.corpus import CORPUS, require_corpus

REPO = Path(__file__).resolve().parents[3]


def corpus_dir() -> Path:
    return CORPUS


def corpus_names(folder: str) -> list[str]:
    path = corpus_dir() / folder
    return sorted(p.name for p in path.iterdir()) if path.is_dir() else []


@pytest.fixture
def corpus() -> Path:
    return require_corpus()


@pytest.fixture
def write_log(tmp_path: Path) -> Callable[[str, str], Path]:
    def write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    return write
