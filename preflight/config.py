"""Expectations a run checks against, and where they come from.

Precedence: built-in defaults < profile < preflight.toml < CLI flags. A value left None
means "not known": checks then compare nodes with each other instead of guessing.

preflight.toml (the file given with --config, else ./preflight.toml when present):

    profile = "dgx-h100"      # optional; --profile wins over it
    level = "quick"           # optional; quick | standard (default) | full; --level wins
    [expect]                  # any Expectations field except `profile`
    gpus_per_node = 8
    ports = [22, 29500]
    shared_paths = ["/fsx", "/home"]   # site settings: no profile sets them

Values are checked against the field annotations; every mistake is a one-line UserError
naming the file, line and key.
"""

from __future__ import annotations

import difflib
import re
import tomllib
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from preflight.errors import UserError, read_user_text
from preflight.levels import LEVELS, level_values
from preflight.profiles import PROFILES, Profile, profiles_table

__all__ = [
    "CONFIG_FILENAME",
    "Expectations",
    "load_config",
    "parse_expect_options",
    "profiles_table",
]

CONFIG_FILENAME = "preflight.toml"


@dataclass
class Expectations:
    profile: str = "generic"
    # GPUs
    gpus_per_node: int | None = None
    gpu_model: str | None = None  # substring matched against nvidia-smi's name
    gpu_idle_memory_mib: int = 1024  # more used than this before the job: a stale process
    persistence_mode: bool = False  # require persistence mode on
    xid_window_hours: float = 24.0
    # Topology
    nvlink: bool = False  # every GPU pair must be NV#
    nvlink_width: int | None = None  # e.g. 18 for H100 SXM (NV18)
    gpudirect: bool = False  # each GPU needs a NIC at PIX/PXB
    # Fabric
    ib_ports: int | None = None  # Active IB/RoCE ports per node
    ib_rate_gbps: float | None = None
    efa_count: int | None = None
    nic_gbps: float | None = None  # cluster interface line rate, for iperf3 floors
    cluster_interface: str | None = None  # default: the interface holding the node's address
    # System
    memlock_min_bytes: int | None = None  # None: must be unlimited
    nofile_min: int = 65536  # open files: NCCL and torch hold a descriptor per peer and buffer
    shm_min_bytes: int = 1 << 30
    disk_min_bytes: int = 10 << 30
    disk_paths: list[str] = field(default_factory=lambda: ["/", "/tmp"])
    clock_skew_max_s: float = 1.0
    shared_dir: str | None = None
    require_paths: list[str] = field(default_factory=list)
    # Shared filesystem: shared_dir and these must be the same files on every node
    shared_paths: list[str] = field(default_factory=list)
    shared_fs_throughput: bool = False  # a sequential write/read per node (burn-in)
    shared_fs_throughput_mib: int = 256
    shared_fs_median_fraction: float = 0.5  # slower than this x the median: the slow node
    # Network probes
    ports: list[int] = field(default_factory=lambda: [22, 29500])
    port_ranges: list[str] = field(default_factory=list)  # "10001-10100"
    master_port: int = 29500
    level: str = "standard"  # quick | standard | full (preflight.levels)
    pair_mode: str = "ring"  # auto (ring; mesh at level full) | mesh | ring | sample:K
    sample_peers: int = 3  # random peers per node in the standard all-to-all schedule
    iperf_streams: int = 4
    iperf_seconds: int = 3  # iperf3 -t takes whole seconds (0.5 is read as 0: forever)
    iperf_line_rate_fraction: float = 0.9
    iperf_median_fraction: float = 0.7
    ib_write_bw_fraction: float = 0.9
    # Collectives (GB/s, as nccl-tests prints busbw)
    allreduce_busbw_gbps: float | None = None  # single-node nccl-tests all_reduce floor
    internode_busbw_gbps: float | None = None
    collective_median_fraction: float = 0.7
    torch_busbw_gbps: float | None = None  # floor for the torch all_reduce sweep
    # nccl-tests (opt-in: --nccl-tests, or nccl_tests = true here)
    nccl_tests: bool = False
    nccl_tests_home: str | None = None
    nccl_tests_collectives: list[str] = field(default_factory=lambda: ["all_reduce"])
    nccl_tests_max_bytes: str = "8G"
    nccl_tests_timeout_s: float = 300.0
    # Deadlines
    connect_timeout_s: float = 10.0
    command_timeout_s: float = 60.0
    subprobe_timeout_s: float = 20.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def all_shared_paths(self) -> list[str]:
        """shared_dir and shared_paths, each once, in the order given."""
        wanted = ([self.shared_dir] if self.shared_dir else []) + self.shared_paths
        return list(dict.fromkeys(wanted))


def settable_fields() -> dict[str, Any]:
    """Expectations fields a profile, preflight.toml or a flag may set → their types."""
    hints = typing.get_type_hints(Expectations)
    return {f.name: hints[f.name] for f in fields(Expectations) if f.name != "profile"}


# ---------------------------------------------------------------- loading


def load_config(
    profile: str | None,
    config_path: Path | None,
    overrides: Mapping[str, Any],
) -> Expectations:
    """Defaults < profile < preflight.toml < overrides (CLI flags; a None value = not given)."""
    document = _read_document(config_path)
    chosen = _choose_profile(profile, document)
    values = _checked(chosen.overrides, lambda key: f"profile {chosen.name!r}")
    if document is not None:
        values.update(document.expect_values())
    given = {key: value for key, value in overrides.items() if value is not None}
    values.update(_checked(given, lambda key: "command line"))
    return Expectations(profile=chosen.name, **level_values(values))


def parse_expect_options(items: Iterable[str]) -> dict[str, Any]:
    """`--expect KEY=VALUE` flags → overrides. VALUE is read as TOML (8, 0.5, true,
    [22, 29500], "x"); anything that is not valid TOML is taken as a plain string."""
    parsed: dict[str, Any] = {}
    for item in items:
        key, equals, raw = item.partition("=")
        key = key.strip()
        if not equals or not key:
            raise UserError(f"--expect {item!r}: expected KEY=VALUE, e.g. gpus_per_node=8")
        value = _toml_value(raw.strip())
        parsed.update(_checked({key: value}, lambda k: "--expect"))
    return parsed


def _toml_value(raw: str) -> Any:
    try:
        return tomllib.loads(f"value = {raw}")["value"]
    except tomllib.TOMLDecodeError:
        return raw


def _choose_profile(profile: str | None, document: _Document | None) -> Profile:
    if profile is not None:
        return _lookup_profile(profile, "--profile")
    name = document.profile_name() if document is not None else None
    if document is not None and name is not None:
        return _lookup_profile(name, document.where((), "profile"))
    return PROFILES["generic"]


def _lookup_profile(name: str, where: str) -> Profile:
    if name in PROFILES:
        return PROFILES[name]
    close = difflib.get_close_matches(name, list(PROFILES), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise UserError(f"{where}: unknown profile {name!r}{hint}; known: {', '.join(PROFILES)}")


# ---------------------------------------------------------------- type checking


class _WrongType(Exception):
    pass


# The smallest value of the counts and durations the probes use as given: below it a
# probe would never end (iperf3 -t 0 runs until killed), never wait, or test nothing.
AT_LEAST: dict[str, float] = {
    "iperf_seconds": 1, "iperf_streams": 1, "sample_peers": 0, "master_port": 1,
    "shared_fs_throughput_mib": 1, "nccl_tests_timeout_s": 1, "connect_timeout_s": 1,
    "command_timeout_s": 1, "subprobe_timeout_s": 1,
}


def _checked(values: Mapping[str, Any], where: Callable[[str], str]) -> dict[str, Any]:
    """Validate keys and coerce values against the Expectations annotations and AT_LEAST;
    `where(key)` says where a key was set ("preflight.toml:7", "--expect")."""
    types_by_key = settable_fields()
    checked: dict[str, Any] = {}
    for key, value in values.items():
        if key not in types_by_key:
            hint = _did_you_mean(key, types_by_key)
            raise UserError(f"{where(key)}: unknown key {key!r}{hint}")
        try:
            checked[key] = _coerce(value, types_by_key[key])
        except _WrongType:
            expected = _describe(types_by_key[key])
            raise UserError(
                f"{where(key)}: {key!r} must be {expected}, got {_describe_value(value)}"
            ) from None
        least = AT_LEAST.get(key)
        if least is not None and checked[key] is not None and checked[key] < least:
            raise UserError(f"{where(key)}: {key!r} must be at least {least:g}, got {value!r}")
    return checked


def _coerce(value: Any, annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        for arm in typing.get_args(annotation):
            try:
                return _coerce(value, arm)
            except _WrongType:
                continue
        raise _WrongType
    if origin is list:
        if not isinstance(value, list):
            raise _WrongType
        (item_type,) = typing.get_args(annotation)
        return [_coerce(item, item_type) for item in value]
    return _coerce_scalar(value, annotation)


def _coerce_scalar(value: Any, annotation: Any) -> Any:
    if annotation is type(None) and value is None:
        return None
    if annotation is bool and isinstance(value, bool):
        return value
    if isinstance(value, bool):
        raise _WrongType  # bool is an int subclass: true is not 1 here
    if annotation is int and isinstance(value, int):
        return value
    if annotation is float and isinstance(value, int | float):
        return float(value)
    if annotation is str and isinstance(value, str):
        return value
    raise _WrongType


_TYPE_WORDS: dict[Any, str] = {
    int: "an integer",
    float: "a number",
    bool: "true or false",
    str: "a string",
}
_PLURALS: dict[Any, str] = {int: "integers", float: "numbers", bool: "booleans", str: "strings"}
_VALUE_WORDS: dict[type, str] = {
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    str: "a string",
    list: "an array",
    dict: "a table",
}


def _describe(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        arms = [a for a in typing.get_args(annotation) if a is not type(None)]
        return " or ".join(_describe(arm) for arm in arms)
    if origin is list:
        (item_type,) = typing.get_args(annotation)
        return f"an array of {_PLURALS[item_type]}"
    return _TYPE_WORDS[annotation]


def _describe_value(value: Any) -> str:
    return f"{_VALUE_WORDS.get(type(value), type(value).__name__)} {value!r}"


def _did_you_mean(key: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(key.replace("-", "_"), list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


# ---------------------------------------------------------------- preflight.toml


@dataclass(frozen=True)
class _Document:
    label: str  # the path as the user gave it, for messages
    text: str
    data: dict[str, Any]

    def profile_name(self) -> str | None:
        value = self.data.get("profile")
        if value is not None and not isinstance(value, str):
            raise UserError(
                f"{self.where((), 'profile')}: 'profile' must be a string, "
                f"got {_describe_value(value)}"
            )
        return value

    def where(self, table: tuple[str, ...], key: str) -> str:
        line = _line_of(self.text, (*table, key))
        return f"{self.label}:{line}" if line else self.label

    def expect_values(self) -> dict[str, Any]:
        table = self.data.get("expect", {})
        if not isinstance(table, dict):
            raise UserError(f"{self.where((), 'expect')}: 'expect' must be a table ([expect])")
        level = {"level": self.data["level"]} if "level" in self.data else {}
        values = _checked(level, lambda key: self.where((), key))
        if values and values["level"] not in LEVELS:
            raise UserError(f"{self.where((), 'level')}: unknown level {values['level']!r}: "
                            f"choose {', '.join(LEVELS)}")
        values.update(_checked(table, lambda key: self.where(("expect",), key)))
        return values


def _read_document(config_path: Path | None) -> _Document | None:
    path = config_path if config_path is not None else Path(CONFIG_FILENAME)
    if config_path is None and not path.is_file():
        return None
    text = read_user_text(path, "config file")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UserError(_toml_error(str(path), text, exc)) from None
    document = _Document(str(path), text, data)
    _check_top_level(document)
    return document


_TOML_POSITION = re.compile(r"\s*\(at (?:line (\d+), column (\d+)|end of document)\)$")


def _toml_error(label: str, text: str, exc: tomllib.TOMLDecodeError) -> str:
    message = str(exc)
    match = _TOML_POSITION.search(message)
    if match is None:
        return f"{label}: {message}"
    line = match.group(1) or str(max(1, len(text.splitlines())))
    column = f" (column {match.group(2)})" if match.group(2) else " (at end of file)"
    reason = message[: match.start()]
    return f"{label}:{line}: {reason[:1].lower()}{reason[1:]}{column}"


_TOP_LEVEL_KEYS = ("profile", "level", "expect")


def _check_top_level(document: _Document) -> None:
    for key in document.data:
        if key in _TOP_LEVEL_KEYS:
            continue
        where = document.where((), key)
        if key in settable_fields() and key != "level":
            raise UserError(f"{where}: {key!r} belongs in the [expect] table")
        hint = _did_you_mean(key, _TOP_LEVEL_KEYS) or " (expected 'profile', 'level' or [expect])"
        raise UserError(f"{where}: unknown key {key!r}{hint}")
    document.profile_name()  # checks its type early, naming its line


# TOML keys: bare (A-Za-z0-9_-) or quoted, joined by dots.
_KEY_PART = r'(?:[A-Za-z0-9_-]+|"[^"]*"|\'[^\']*\')'
_KEY_LINE = re.compile(rf"^\s*({_KEY_PART}(?:\s*\.\s*{_KEY_PART})*)\s*=")
_TABLE_LINE = re.compile(rf"^\s*\[\s*({_KEY_PART}(?:\s*\.\s*{_KEY_PART})*)\s*\]")


def _line_of(text: str, wanted: tuple[str, ...]) -> int | None:
    """1-based line where the dotted key `wanted` is assigned (or its table opens)."""
    table: tuple[str, ...] = ()
    for lineno, line in enumerate(text.splitlines(), start=1):
        header = _TABLE_LINE.match(line.replace("[[", "[", 1))
        if header:
            table = _key_path(header.group(1))
            if table == wanted:
                return lineno
            continue
        assignment = _KEY_LINE.match(line)
        if assignment and (*table, *_key_path(assignment.group(1))) == wanted:
            return lineno
    return None


def _key_path(dotted: str) -> tuple[str, ...]:
    parts = re.findall(_KEY_PART, dotted)
    return tuple(part.strip("\"'") for part in parts)
