"""Where the tests read real tool outputs: ../shared/corpus beside the repository, or
$PREFLIGHT_CORPUS. Never copied into the repository."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("PREFLIGHT_CORPUS", REPO.parent / "shared" / "corpus"))


def require_corpus(folder: str = "") -> Path:
    """The corpus (or one folder of it); absent: a skip, or a failure under CI=true, where
    a test must not turn green by skipping."""
    path = CORPUS / folder
    if not path.is_dir():
        message = f"corpus not found at {path} (set PREFLIGHT_CORPUS to its folder)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def corpus_file(folder: str, name: str) -> Path:
    """One corpus file; absent: as require_corpus (a skip, or a failure under CI=true)."""
    path = require_corpus(folder) / name
    if not path.is_file():
        message = f"corpus file {path} is missing"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path
