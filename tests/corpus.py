"""Where the tests read real tool outputs: ../shared/corpus beside the repository, or
$PREFLIGHT_CORPUS. Never copied into the repository."""

from __future__ import annotations

import os
from pathlib import Path
from typing import NoReturn

import pytest

REPO = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("PREFLIGHT_CORPUS", REPO.parent / "shared" / "corpus"))


def require_corpus(folder: str = "") -> Path:
    """The corpus (or one folder of it); absent: a skip, or a failure under CI=true, where
    a test must not turn green by skipping."""
    path = CORPUS / folder
    if not path.is_dir():
        _missing(f"corpus not found at {path} (set PREFLIGHT_CORPUS to its folder)")
    return path


def corpus_file(folder: str, name: str) -> Path:
    """One corpus file; absent: as require_corpus (a skip, or a failure under CI=true)."""
    path = require_corpus(folder) / name
    if not path.is_file():
        _missing(f"corpus file {path} is missing")
    return path


def _missing(message: str) -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)
