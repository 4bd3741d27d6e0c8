"""Which nodes a run covers: hostfiles, hostlist expressions (`--hosts`), Slurm, this machine.

Hostfile formats accepted, one host (or one hostlist expression) per line:
  Open MPI / DeepSpeed  `node1 slots=8 max_slots=16` (spaces around `=` allowed)
  MPICH / Hydra         `node1:8`
  plain                 `node1`, `alice@node1`, `node[01-16] slots=8`
`#` starts a comment (whole line or trailing); blank lines, indentation and CRLF are fine.
A host name is data, never code: it is not checked against shell syntax, only split on
whitespace, so `node1;touch /tmp/x` is a (useless) name and `node1 junk` is an error.
Every error is a UserError of one line, `FILE:LINE: what is wrong`.
"""

from __future__ import annotations

import difflib
import re
import socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import hostlist

from preflight.errors import UserError, read_user_text

SLOT_KEYS = ("slots", "max_slots", "max-slots")
_SPACES_AROUND_EQUALS = re.compile(r"\s*=\s*")


@dataclass(frozen=True)
class Node:
    """A node to check. `name` is what we connect to (ssh config resolves it) and report."""

    name: str
    slots: int | None = None
    user: str | None = None


@dataclass(frozen=True)
class _HostSpec:
    name: str
    user: str | None
    colon_slots: int | None  # from MPICH's `host:N`


# ---------------------------------------------------------------- hostfiles


def parse_hostfile(path: Path) -> list[Node]:
    """Read and parse a hostfile; every problem is a one-line UserError."""
    return parse_hostfile_text(read_user_text(path, "hostfile"), str(path))


def parse_hostfile_text(text: str, source: str) -> list[Node]:
    """Parse hostfile text; `source` names the file in error messages."""
    nodes: list[Node] = []
    first_seen: dict[str, int] = {}
    for lineno, raw in enumerate(text.splitlines(), start=1):
        where = f"{source}:{lineno}"
        for node in _parse_line(raw, where):
            if node.name in first_seen:
                raise UserError(
                    f"{where}: duplicate host {node.name!r} (also on line {first_seen[node.name]})"
                )
            first_seen[node.name] = lineno
            nodes.append(node)
    if not nodes:
        raise UserError(f"{source}: no hosts (the file is empty or holds only comments)")
    return nodes


def _parse_line(raw: str, where: str) -> list[Node]:
    content = _SPACES_AROUND_EQUALS.sub("=", raw.split("#", 1)[0]).strip()
    if not content:
        return []
    host_token, *option_tokens = content.split()
    if "=" in host_token:
        raise UserError(f"{where}: expected a host name first, got {host_token!r}")
    options = _parse_options(option_tokens, where)
    nodes = []
    for spec in _host_specs(host_token, where):
        slots = _merge_slots(spec.colon_slots, options.get("slots"), where)
        nodes.append(Node(spec.name, slots, spec.user))
    _check_max_slots(options, where)
    return nodes


def _parse_options(tokens: Sequence[str], where: str) -> dict[str, int]:
    options: dict[str, int] = {}
    for token in tokens:
        key, equals, value = token.partition("=")
        if not equals:
            raise UserError(
                f"{where}: unexpected {token!r} after the host name "
                "(expected key=value, e.g. slots=8)"
            )
        key = "max_slots" if key == "max-slots" else key
        if key not in SLOT_KEYS:
            raise UserError(f"{where}: unknown key {key!r}{_suggest(key, SLOT_KEYS)}")
        if key in options:
            raise UserError(f"{where}: {key} given twice")
        options[key] = _positive_int(value, f"{where}: {key}")
    return options


def _check_max_slots(options: Mapping[str, int], where: str) -> None:
    slots, max_slots = options.get("slots"), options.get("max_slots")
    if slots is not None and max_slots is not None and max_slots < slots:
        raise UserError(f"{where}: max_slots={max_slots} is less than slots={slots}")


def _merge_slots(colon_slots: int | None, key_slots: int | None, where: str) -> int | None:
    if colon_slots is not None and key_slots is not None:
        raise UserError(f"{where}: slots given twice (host:N and slots=N)")
    return colon_slots if colon_slots is not None else key_slots


# ---------------------------------------------------------------- host tokens


def _host_specs(token: str, where: str) -> list[_HostSpec]:
    """`[user@]expr[:N]` → one spec per host the hostlist expression names."""
    return [_split_host(item, where) for item in _expand(token, where)]


def _split_host(item: str, where: str) -> _HostSpec:
    user: str | None = None
    if "@" in item:
        user, _, item = item.partition("@")
        if not user:
            raise UserError(f"{where}: empty user name before '@'")
    name, colon_slots = _split_colon_slots(item, where)
    _check_name(name, where)
    return _HostSpec(name, user, colon_slots)


def _split_colon_slots(item: str, where: str) -> tuple[str, int | None]:
    # Exactly one ':' is MPICH's host:N; more than one is an IPv6 literal, left alone.
    if item.count(":") != 1:
        return item, None
    name, _, count = item.partition(":")
    return name, _positive_int(count, f"{where}: slot count after {name + ':'!r}")


def _check_name(name: str, where: str) -> None:
    if not name:
        raise UserError(f"{where}: empty host name")
    if "@" in name:
        raise UserError(f"{where}: host name {name!r} holds a second '@'")
    if name.startswith("-"):
        # ssh, srun and mpirun would read it as an option, not a host.
        raise UserError(f"{where}: host name {name!r} starts with '-'")


def _positive_int(value: str, what: str) -> int:
    try:
        number = int(value, 10)
    except ValueError:
        raise UserError(f"{what}: {value!r} is not an integer") from None
    if number < 1:
        raise UserError(f"{what}: {number} is less than 1")
    return number


def _suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(choices)})"


# ---------------------------------------------------------------- hostlist expressions


def expand_hostlist(expr: str) -> list[str]:
    """Expand `node[01-04],gpu-a` like Slurm; python-hostlist semantics (order kept,
    duplicates dropped, brackets as a cartesian product)."""
    try:
        return list(hostlist.expand_hostlist(expr))
    except hostlist.BadHostlist as exc:
        raise UserError(f"bad hostlist expression {expr!r}: {exc}") from None


def compress_hostlist(names: list[str]) -> str:
    """The Slurm hostlist of names, e.g. `node-[1-3,5]` (python-hostlist's collect)."""
    return str(hostlist.collect_hostlist(names))


def _expand(expr: str, where: str) -> list[str]:
    """Expansion for inventories: duplicates kept so the caller can name them."""
    try:
        names = list(hostlist.expand_hostlist(expr, allow_duplicates=True))
    except hostlist.BadHostlist as exc:
        raise UserError(f"{where}: bad hostlist expression {expr!r}: {exc}") from None
    if not names:
        raise UserError(f"{where}: no host name in {expr!r}")
    return names


def parse_hosts_arg(expr: str) -> list[Node]:
    """Nodes from `--hosts 'node[01-16],alice@gpu-a:8'`; duplicates are an error."""
    where = "--hosts"
    specs = [_split_host(item.strip(), where) for item in _expand(expr, where)]
    nodes = [Node(spec.name, spec.colon_slots, spec.user) for spec in specs]
    _reject_duplicates([node.name for node in nodes], where)
    return nodes


def _reject_duplicates(names: Sequence[str], where: str) -> None:
    seen: set[str] = set()
    for name in names:
        if any(ch.isspace() for ch in name):
            raise UserError(f"{where}: host name {name!r} contains whitespace")
        if name in seen:
            raise UserError(f"{where}: duplicate host {name!r}")
        seen.add(name)


# ---------------------------------------------------------------- Slurm and local


def from_slurm(env: Mapping[str, str]) -> list[Node]:
    """Nodes of the current Slurm allocation, from its environment variables.

    Slots come from SLURM_TASKS_PER_NODE (`2(x3),1`), else SLURM_GPUS_ON_NODE (which
    Slurm sets for the node running the script; taken as the same on every node).
    """
    where = "SLURM_JOB_NODELIST"
    nodelist = env.get("SLURM_JOB_NODELIST") or env.get("SLURM_NODELIST")
    if not nodelist:
        raise UserError(
            "not inside a Slurm allocation (SLURM_JOB_NODELIST is not set); "
            "run under salloc/sbatch, or give --hostfile or --hosts"
        )
    names = _expand(nodelist, where)
    _reject_duplicates(names, where)
    slots = _slurm_slots(env, len(names))
    return [Node(name, count) for name, count in zip(names, slots, strict=True)]


def _slurm_slots(env: Mapping[str, str], count: int) -> list[int | None]:
    tasks = env.get("SLURM_TASKS_PER_NODE")
    if tasks:
        return _slurm_tasks_per_node(tasks, count)
    gpus = env.get("SLURM_GPUS_ON_NODE")
    if gpus:
        return [_positive_int(gpus.strip(), "SLURM_GPUS_ON_NODE")] * count
    return [None] * count


def _slurm_tasks_per_node(value: str, count: int) -> list[int | None]:
    what = f"SLURM_TASKS_PER_NODE={value!r}"
    try:
        per_node = [int(n) for n in hostlist.parse_slurm_tasks_per_node(value)]
    except hostlist.BadHostlist as exc:
        raise UserError(f"{what}: {exc}") from None
    if len(per_node) != count:
        raise UserError(f"{what} covers {len(per_node)} nodes, the nodelist has {count}")
    if any(n < 1 for n in per_node):
        raise UserError(f"{what}: a node has fewer than 1 task")
    return list(per_node)


def local_node() -> Node:
    """This machine, by its real host name (the lead picks the local transport for it)."""
    return Node(socket.gethostname())


def to_json(nodes: Iterable[Node]) -> dict[str, list[dict[str, str | int | None]]]:
    """`{"hosts": [{"name": ..., "slots": N or null}, ...]}`, in inventory order."""
    return {"hosts": [{"name": node.name, "slots": node.slots} for node in nodes]}
