"""Pairwise test schedules: rounds of disjoint pairs, so a node is in one test at a time.

Modes (the `--pairs` value on the command line):

- ``mesh``: every unordered pair exactly once, by the circle (round-robin) method:
  N-1 rounds for even N, N rounds for odd N (each node rests exactly once).
- ``ring``: each node with its ring neighbours (i, i+1 mod N) in input order:
  2 rounds for even N, 3 for odd N >= 3, 1 for N = 2, none for N < 2.
- ``auto`` (the default): ``mesh`` up to AUTO_MESH_MAX_NODES nodes, ``ring`` beyond, so
  a plain run on a big allocation costs O(1) rounds, not N-1.
- ``sample:K``: K rounds of seeded random perfect matchings (odd N: one node rests).
  No pair repeats until every pair has been used once (K > N-1 for even N, K > N
  for odd N); beyond that a fresh shuffle starts another full cover.

The all-to-all probes (TCP ports, SSH mesh, path MTU) are not in rounds: every source
walks its own list of targets (``reach_targets``), by level: ``quick`` the master (the
first node, over TCP only) and the next node on the ring, ``standard`` the master, both
ring neighbours and K random peers, ``full`` every other node.

A pair is ``(a, b)`` with ``a`` before ``b`` in the input order. Pairs in a round are
sorted by that order too, so the same nodes, mode and seed always give the same schedule.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from preflight.errors import UserError

Pair = tuple[str, str]
Round = list[Pair]
ModeKind = Literal["mesh", "ring", "sample"]

VALID_MODES = "auto, mesh, ring, sample:K (K a positive integer)"
AUTO_MESH_MAX_NODES = 16

_IndexPair = tuple[int, int]


class ModeError(UserError, ValueError):
    """A pair-schedule mode that does not parse: a user error (exit 2) and a ValueError."""


@dataclass(frozen=True)
class Mode:
    kind: ModeKind
    samples: int = 0  # K, only for kind == "sample"

    def __str__(self) -> str:
        return f"sample:{self.samples}" if self.kind == "sample" else self.kind


def parse_mode(text: str, nodes: int | None = None) -> Mode:
    """Parse ``auto``, ``mesh``, ``ring`` or ``sample:K``; raise ModeError naming the valid
    modes. ``auto`` becomes mesh or ring by the number of nodes (mesh when not given)."""
    cleaned = text.strip().lower()
    if cleaned == "auto":
        small = nodes is None or nodes <= AUTO_MESH_MAX_NODES
        return Mode("mesh" if small else "ring")
    if cleaned == "mesh":
        return Mode("mesh")
    if cleaned == "ring":
        return Mode("ring")
    name, sep, count = cleaned.partition(":")
    if name == "sample" and sep and count.isdigit() and int(count) > 0:
        return Mode("sample", int(count))
    raise ModeError(f"unknown pair schedule {text!r}: valid modes are {VALID_MODES}")


def rounds(nodes: Sequence[str], mode: str | Mode, seed: int = 0) -> list[Round]:
    """The rounds of disjoint pairs that `mode` tests among `nodes` (see module doc)."""
    parsed = mode if isinstance(mode, Mode) else parse_mode(mode, len(nodes))
    _reject_duplicates(nodes)
    if parsed.kind == "mesh":
        index_rounds = _mesh(len(nodes))
    elif parsed.kind == "ring":
        index_rounds = _ring(len(nodes))
    else:
        index_rounds = _sample(len(nodes), parsed.samples, seed)
    named = [_named(nodes, index_round) for index_round in index_rounds]
    for watch in schedule_watchers:
        watch(named)
    return named


# Told of each schedule made: the live display shows a probe's round out of how many.
schedule_watchers: list[Callable[[list[Round]], None]] = []


def round_count(n: int, mode: Mode) -> int:
    """How many rounds `rounds` gives for n nodes, without building them."""
    if mode.kind == "mesh":
        return _circle_round_count(n)
    if mode.kind == "ring":
        return len(_ring(n))
    return mode.samples if n >= 2 else 0


def directed(round_: Sequence[Pair]) -> list[list[Pair]]:
    """Both directions of a round's pairs as two sub-steps of (src, dst).

    Sub-step one runs every a->b at once, sub-step two every b->a, so a node is still
    in one test at a time and a direction is never measured while the reverse loads
    the same link (iperf3 runs them one after the other, not with --bidir).
    An empty round gives no sub-steps.
    """
    if not round_:
        return []
    return [[(a, b) for a, b in round_], [(b, a) for a, b in round_]]


def pack(pairs: Iterable[Pair]) -> list[Round]:
    """Greedily place pairs into rounds where each node appears at most once.

    For ad-hoc pair lists (retests); at most 2*D-1 rounds for a node degree D.
    """
    packed: list[Round] = []
    busy: list[set[str]] = []
    for a, b in pairs:
        slot = next((i for i, used in enumerate(busy) if a not in used and b not in used), None)
        if slot is None:
            packed.append([])
            busy.append(set())
            slot = len(packed) - 1
        packed[slot].append((a, b))
        busy[slot].update((a, b))
    return packed


def _reject_duplicates(nodes: Sequence[str]) -> None:
    duplicates = sorted(node for node, count in Counter(nodes).items() if count > 1)
    if duplicates:
        raise ValueError(f"duplicate nodes in pair schedule: {', '.join(duplicates)}")


def _named(nodes: Sequence[str], index_round: list[_IndexPair]) -> Round:
    ordered = sorted((i, j) if i < j else (j, i) for i, j in index_round)
    return [(nodes[i], nodes[j]) for i, j in ordered]


def _circle_round(n: int, r: int) -> list[_IndexPair]:
    """Round r of the circle method over n nodes (0 <= r < slots-1).

    Slot `slots-1` is fixed while the others rotate; for odd n it is a phantom, and
    the node facing it rests this round.
    """
    slots = n + n % 2
    turning = slots - 1
    pairs = [(turning, r)] if turning < n else []
    for step in range(1, slots // 2):
        pairs.append(((r + step) % turning, (r - step) % turning))
    return pairs


def _circle_round_count(n: int) -> int:
    return 0 if n < 2 else n + n % 2 - 1


def _mesh(n: int) -> list[list[_IndexPair]]:
    return [_circle_round(n, r) for r in range(_circle_round_count(n))]


def _ring(n: int) -> list[list[_IndexPair]]:
    if n < 2:
        return []
    if n == 2:
        return [[(0, 1)]]
    even_starts = [(i, i + 1) for i in range(0, n - 1, 2)]
    odd_starts = [(i, (i + 1) % n) for i in range(1, n, 2)]
    if n % 2 == 0:
        return [even_starts, odd_starts]
    # odd n: the two alternating sets end at (n-3, n-2) and (n-2, n-1); (n-1, 0) is left
    return [even_starts, odd_starts, [(n - 1, 0)]]


def _sample(n: int, k: int, seed: int) -> list[list[_IndexPair]]:
    """K rounds from shuffled circle schedules: no repeats until a full cover is used."""
    per_cover = _circle_round_count(n)
    if per_cover == 0:
        return []
    rng = random.Random(seed)
    chosen: list[list[_IndexPair]] = []
    while len(chosen) < k:
        order = list(range(n))
        rng.shuffle(order)
        for r in rng.sample(range(per_cover), min(per_cover, k - len(chosen))):
            chosen.append([(order[i], order[j]) for i, j in _circle_round(n, r)])
    return chosen


def reach_targets(nodes: Sequence[str], level: str, peers: int = 3,
                  seed: int = 0, ssh: bool = False) -> dict[str, list[str]]:
    """Whom each node reaches in the all-to-all probes, by level (see module doc).

    At quick each node is a source and a target once on the ring, which tests every
    sshd, ssh client and listener; `ssh` leaves the master out there (the job needs
    MASTER_PORT from every node, not N-1 handshakes at once into one sshd). The K random
    peers come from K random cycles over all nodes, so each node is a target exactly as
    often as it is a source. Where the sample would cover about every other node anyway
    (K + 3 >= N - 1), every pair is taken.
    """
    _reject_duplicates(nodes)
    n = len(nodes)
    if level == "full" or (level != "quick" and peers + 3 >= n - 1):
        return {src: staggered(nodes, src) for src in nodes}
    chosen: dict[int, dict[int, None]] = {i: {} for i in range(n)}
    for i in range(n):
        for j in _fixed_targets(i, n, level, ssh):
            if j != i:
                chosen[i][j] = None
    if level != "quick":
        rng = random.Random(seed)
        for _ in range(peers):
            order = list(range(n))
            rng.shuffle(order)
            for at, i in enumerate(order):
                j = order[(at + 1) % n]
                if j != i:
                    chosen[i][j] = None
    return {nodes[i]: [nodes[j] for j in targets] for i, targets in chosen.items()}


def _fixed_targets(i: int, n: int, level: str, ssh: bool) -> tuple[int, ...]:
    """Node i's targets before the random peers: the master, then its ring neighbours."""
    if level == "quick":
        return ((i + 1) % n,) if ssh else (0, (i + 1) % n)
    return (0, (i + 1) % n, (i - 1) % n)


def reach_fanout(n: int, level: str, peers: int = 3, ssh: bool = False) -> int:
    """The most targets one source has in reach_targets (for plans at any size, without
    building the schedule)."""
    if n < 2:
        return 0
    if level == "full" or (level != "quick" and peers + 3 >= n - 1):
        return n - 1
    if level == "quick":
        return 1 if ssh else min(n - 1, 2)
    return min(n - 1, min(n - 1, 3) + peers)


def staggered(nodes: Sequence[str], src: str) -> list[str]:
    """The other nodes, starting after `src`: at step k source i meets node i+k+1, so
    every target gets one connection per step."""
    at = list(nodes).index(src)
    return [*nodes[at + 1:], *nodes[:at]]
