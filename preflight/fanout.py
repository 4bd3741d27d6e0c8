"""Bounded, deadline-bound parallel work over nodes: one bad node never stops the others."""

from __future__ import annotations

import concurrent.futures as cf
from collections.abc import Callable, Iterable
from typing import TypeVar

from preflight.errors import PreflightError

T = TypeVar("T")
K = TypeVar("K")

# Told of each batch fan_out starts: the live display names the round a probe is in.
batch_watchers: list[Callable[[list[object]], None]] = []


class DeadlineExceeded(PreflightError):
    """The work for this key did not finish before the overall deadline."""


def fan_out(
    keys: Iterable[K],
    work: Callable[[K], T],
    *,
    max_workers: int,
    deadline_s: float,
    on_done: Callable[[K, T | Exception], None] | None = None,
) -> dict[K, T | Exception]:
    """Run work(key) for every key, at most max_workers at once, and return key → outcome.

    An exception raised by work is the outcome for that key. Keys still running at the
    deadline get DeadlineExceeded; their threads are abandoned (each transport call has its
    own deadline, so they end on their own shortly after).
    """
    ordered = list(keys)
    for watch in batch_watchers:
        watch(list(ordered))
    outcomes: dict[K, T | Exception] = {}
    if not ordered:
        return outcomes
    pool = cf.ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(ordered))))
    futures = {pool.submit(work, key): key for key in ordered}
    try:
        for future in cf.as_completed(futures, timeout=deadline_s):
            key = futures[future]
            outcome: T | Exception = _outcome(future)
            outcomes[key] = outcome
            if on_done is not None:
                on_done(key, outcome)
    except cf.TimeoutError:
        for future, key in futures.items():
            if key not in outcomes:
                future.cancel()
                outcomes[key] = DeadlineExceeded(f"no answer within {deadline_s:g} s")
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return {key: outcomes[key] for key in ordered}


def _outcome(future: cf.Future[T]) -> T | Exception:
    error = future.exception()
    if error is None:
        value: T = future.result()
        return value
    if isinstance(error, Exception):
        return error
    raise error
