"""The SSH mesh's patient retry: a source that reached nobody is not retried pair by pair."""

from __future__ import annotations

from typing import Any

import pytest

from preflight.measure import mesh

TARGETS = {"a": ["b", "c", "d", "e", "f"], "b": ["c", "d", "e", "f", "a"]}


def fake_attempt(bad_sources: set[str], calls: list[dict[str, list[str]]]) -> Any:
    def attempt(_ctx: Any, targets: dict[str, list[str]], *_: Any) -> Any:
        calls.append(targets)
        return {mesh.pair_key(src, dst): ["unreachable" if src in bad_sources else "ok", ""]
                for src, dsts in targets.items() for dst in dsts}, []
    return attempt


def test_a_source_that_fails_its_first_batch_again_keeps_its_other_verdicts(
        monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, list[str]]] = []
    monkeypatch.setattr(mesh, "_attempt", fake_attempt({"a"}, calls))
    pairs = mesh._patient_retry(None, TARGETS, {"a": TARGETS["a"], "b": ["c"]})  # type: ignore[arg-type]
    assert calls == [{"a": ["b", "c"], "b": ["c"]}]
    assert set(pairs) == {"a|b", "a|c", "b|c"}


def test_a_source_that_recovers_on_its_first_batch_has_the_rest_retried(
        monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, list[str]]] = []
    monkeypatch.setattr(mesh, "_attempt", fake_attempt(set(), calls))
    pairs = mesh._patient_retry(None, TARGETS, {"a": TARGETS["a"]})  # type: ignore[arg-type]
    assert calls == [{"a": ["b", "c"]}, {"a": ["d", "e", "f"]}]
    assert {v[0] for v in pairs.values()} == {"ok"} and len(pairs) == 5
