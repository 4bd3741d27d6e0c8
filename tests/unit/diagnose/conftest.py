"""Corpus access for the diagnose tests, and a helper that writes small logs to tmp_path."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


def corpus_dir() -> Path:
    return Path(os.environ.get("PREFLIGHT_CORPUS", REPO.parent / "shared" / "corpus"))


def corpus_names(folder: str) -> list[str]:
    path = corpus_dir() / folder
    return sorted(p.name for p in path.iterdir()) if path.is_dir() else []


@pytest.fixture
def corpus() -> Path:
    path = corpus_dir()
    if not path.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"corpus not found at {path}; under CI=true it must be present")
        pytest.skip(f"corpus not found at {path} (set PREFLIGHT_CORPUS to its folder)")
    return path


@pytest.fixture
def write_log(tmp_path: Path) -> Callable[[str, str], Path]:
    def write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    return write
