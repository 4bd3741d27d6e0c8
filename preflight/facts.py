"""Read-only views of gathered facts, as checks see them.

Raw tool outputs are parsed on first use. A tool that is absent gives None (the check
skips: not applicable); a tool that timed out, failed or printed something unparseable
raises Unavailable (the check errors: could not evaluate).
"""

from __future__ import annotations

import shlex
from collections import Counter
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any, TypeVar

from preflight.config import Expectations
from preflight.gather import GatherFailure, NodeError, NodeOutcome
from preflight.verdict import Blocked, Unavailable

HUNG_TOOL_HINT = ("run `{command}` on {node}: a GPU or fabric tool that hangs usually means a "
                  "stuck driver (look for Xid in dmesg; reset the GPU or reboot); "
                  "--expect subprobe_timeout_s=S allows it longer")
FAILED_TOOL_HINT = "run `{command}` on {node} to see the whole error"

T = TypeVar("T", bound=Hashable)
V = TypeVar("V")
# What a name resolves to on a node: its addresses, or {"error": ...} when it does not.
Resolved = list[str] | dict[str, Any]


@dataclass(frozen=True)
class Ulimits:
    """The gather script's soft limits; -1 is unlimited, None not reported."""

    memlock: int | None  # bytes
    nofile: int | None


@dataclass(frozen=True)
class Space:
    """A filesystem's size (statvfs), or why it could not be read."""

    path: str
    total_bytes: int | None = None
    free_bytes: int | None = None
    error: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any], path: str = "") -> Space:
        return cls(str(data.get("path") or path), data.get("total_bytes"),
                   data.get("free_bytes"), data.get("error"))


class NodeFacts:
    def __init__(self, outcome: NodeOutcome, slots: int | None = None) -> None:
        self.slots = slots
        if outcome.facts is None:
            error = outcome.error or NodeError(GatherFailure.UNKNOWN, "no facts")
            raise Blocked(error.blocked_text(outcome.name))
        self.name = outcome.name
        self.outcome = outcome
        self.raw: dict[str, Any] = outcome.facts

    def get(self, key: str, default: Any = None) -> Any:
        """A raw fact by name; prefer the typed accessors below."""
        return self.raw.get(key, default)

    @property
    def hostname(self) -> str | None:
        return self.raw.get("hostname")

    @property
    def hostname_resolves(self) -> Resolved | None:
        """What the node's own hostname resolves to there (None: not asked)."""
        return self.raw.get("hostname_resolves")

    @property
    def resolve(self) -> dict[str, Resolved]:
        """What each name asked for (the hostfile's) resolves to on this node."""
        return dict(self.raw.get("resolve") or {})

    @property
    def ulimits(self) -> Ulimits:
        found = self.raw.get("ulimits") or {}
        return Ulimits(memlock=found.get("memlock"), nofile=found.get("nofile"))

    @property
    def shm(self) -> Space:
        return Space.from_dict(self.raw.get("shm") or {}, "/dev/shm")

    @property
    def disks(self) -> list[Space]:
        return [Space.from_dict(disk) for disk in self.raw.get("disks") or []]

    @property
    def env(self) -> dict[str, str]:
        """The node's NCCL_*, GLOO_* ... environment (secrets redacted by the script)."""
        return {str(k): str(v) for k, v in (self.raw.get("env") or {}).items()}

    @property
    def clock(self) -> float | None:
        """The node's clock (epoch seconds) when the gather script ended."""
        return self.raw.get("time")

    @property
    def identity(self) -> dict[str, str | None]:
        """machine-id, boot_id and hostname: the same machine listed twice shares them."""
        found = self.raw.get("identity") or {}
        return {"machine_id": found.get("machine_id"), "boot_id": found.get("boot_id"),
                "hostname": self.hostname}

    @property
    def interfaces(self) -> list[dict[str, Any]]:
        return list(self.raw.get("interfaces") or [])

    @property
    def paths(self) -> dict[str, dict[str, Any]]:
        """Each required path: {"exists", "mount", ...}."""
        return dict(self.raw.get("paths") or {})

    @property
    def shared_mounts(self) -> dict[str, dict[str, Any]]:
        """Each shared path, stat'ed in an abandoned child: {"is_mount_point", ...}."""
        return dict(self.raw.get("shared_mounts") or {})

    @property
    def source_addresses(self) -> dict[str, Any]:
        """The source address the node sends from to its peers ({"others": ...})."""
        return dict((self.raw.get("network") or {}).get("sources") or {})

    def fingerprint(self, part: str) -> dict[str, Any]:
        """One raw fingerprint (firewall, sshd, ssh_client) as the gather script ran it."""
        return dict((self.raw.get("fingerprint") or {}).get(part) or {})

    def tool_output(self, tool: str) -> str | None:
        """A tool's stdout; None when the tool is not installed on the node."""
        result = (self.raw.get("tools") or {}).get(tool)
        if not result or result.get("missing"):
            return None
        if "parsed" in result:
            raise RuntimeError(f"{self.name}: `{tool}` text was dropped once parsed: read "
                               "the parsed record (NodeFacts caches it)")
        argv = result.get("argv")
        command = shlex.join(map(str, argv)) if isinstance(argv, list) and argv else tool
        if result.get("timed_out"):
            raise Unavailable(
                f"{self.name}: `{tool}` timed out after {result.get('duration_s')} s"
                " (hung driver or tool?)",
                hint=HUNG_TOOL_HINT.format(command=command, node=self.name))
        if result.get("rc") not in (0, None):
            stderr = (result.get("stderr") or "").strip().splitlines()
            reason = stderr[-1] if stderr else f"exit {result.get('rc')}"
            raise Unavailable(f"{self.name}: `{tool}` failed: {reason[:200]}",
                              hint=FAILED_TOOL_HINT.format(command=command, node=self.name))
        return str(result.get("stdout") or "")

    def _parsed(self, tool: str, parse: Callable[[str], Any]) -> dict[str, Any] | None:
        text = self.tool_output(tool)
        if text is None:
            return None
        try:
            record: dict[str, Any] = parse(text).to_dict()
        except ValueError as exc:
            raise Unavailable(f"{self.name}: cannot parse `{tool}` output: {exc}") from exc
        return record

    @cached_property
    def nvidia_smi(self) -> dict[str, Any] | None:
        """GPUs from pynvml where it works on the node, else from `nvidia-smi -q`."""
        from preflight.parsers import nvidia_smi

        nvml = self.raw.get("pynvml")
        if isinstance(nvml, dict) and "gpus" in nvml:
            return {"source": "pynvml", "gpus": nvml["gpus"], "processes": [],
                    "driver_version": nvml.get("driver_version"), "cuda_version": None}
        result = (self.raw.get("tools") or {}).get("nvidia_smi_q")
        if isinstance(result, dict) and "parsed" in result:
            return dict(result["parsed"])  # parsed by another view of the same facts
        parsed = self._parsed("nvidia_smi_q", nvidia_smi.parse)
        if isinstance(result, dict) and parsed is not None:
            self._keep_parsed_only(result, parsed)
        return parsed

    @staticmethod
    def _keep_parsed_only(result: dict[str, Any], parsed: dict[str, Any]) -> None:
        """A parsed tool's text is not kept, its record is, in the facts (a probe's own
        ClusterFacts over the same outcomes finds it): `nvidia-smi -q` is ~75 KB a node
        against ~14 KB parsed, 75 MB at 1,024 nodes. facts.json keeps the text."""
        result["stdout"] = None
        result["parsed"] = parsed

    @property
    def gpus(self) -> list[dict[str, Any]] | None:
        smi = self.nvidia_smi
        return None if smi is None else list(smi.get("gpus") or [])

    @cached_property
    def topo(self) -> dict[str, Any] | None:
        from preflight.parsers import topo

        return self._parsed("topo", topo.parse)

    @cached_property
    def ib_ports(self) -> list[dict[str, Any]] | None:
        from preflight.parsers import ibstat

        parsed = self._parsed("ibstat", ibstat.parse)
        if parsed is None:
            parsed = self._parsed("ibv_devinfo", ibstat.parse)
        return None if parsed is None else list(parsed.get("ports") or [])

    @cached_property
    def efa_providers(self) -> list[dict[str, Any]] | None:
        from preflight.parsers import fi_info

        result = (self.raw.get("tools") or {}).get("fi_info") or {}
        said = f"{result.get('stdout', '')}{result.get('stderr', '')}"
        if not result.get("missing") and "No data available" in said:
            return []  # fi_info -p efa on a node without EFA devices: -61 (ENODATA)
        text = self.tool_output("fi_info")
        if text is None:
            return None
        parsed = self._parsed("fi_info", fi_info.parse)
        return None if parsed is None else list(parsed.get("providers") or [])

    @cached_property
    def xids(self) -> list[dict[str, Any]]:
        from preflight.parsers import xid

        text = self.tool_output("dmesg")
        return [] if not text else list(xid.events(text).to_dict().get("events") or [])

    @property
    def versions(self) -> dict[str, Any]:
        """Versions that are known; a hung or broken nvidia-smi leaves driver/cuda out."""
        found = {}
        for component in ("kernel", "python", "nccl", "torch", "driver", "cuda"):
            try:
                found[component] = self.version(component)
            except Unavailable:
                continue
        return found

    def version(self, component: str) -> Any:
        """One version; raises Unavailable when its source (nvidia-smi) could not be read."""
        if component in ("kernel", "python"):
            return self.raw.get(component)
        probed = (self.raw.get("versions") or {}).get(component)
        if component not in ("driver", "cuda"):
            return probed
        smi = self.nvidia_smi
        key = "driver_version" if component == "driver" else "cuda_version"
        return (smi or {}).get(key) or (probed if component == "driver" else None)

    def interface_with(self, address: str) -> dict[str, Any] | None:
        for iface in self.interfaces:
            if address in (iface.get("addresses") or []):
                return dict(iface)
        return None

    def cluster_interface(self, expect: Expectations) -> dict[str, Any] | None:
        """The named cluster interface, else the first up interface with an IPv4 address."""
        interfaces = [i for i in self.interfaces if i.get("name") != "lo"]
        if expect.cluster_interface:
            return next((i for i in interfaces if i.get("name") == expect.cluster_interface),
                        None)
        for iface in interfaces:
            if iface.get("state") in ("up", "unknown") and any(
                    "." in a for a in iface.get("addresses") or []):
                return dict(iface)
        return None


class ClusterFacts:
    """Every node's outcome, for checks that compare a node with the others."""

    def __init__(self, outcomes: dict[str, NodeOutcome],
                 slots: dict[str, int | None] | None = None) -> None:
        self.outcomes = outcomes
        self.names = list(outcomes)
        self.slots = slots or {}
        self._nodes = {name: NodeFacts(o, self.slots.get(name))
                       for name, o in outcomes.items() if o.ok}
        self._values: dict[Hashable, dict[str, Any]] = {}
        self._counts: dict[Hashable, Counter[Any]] = {}

    def reachable(self) -> list[NodeFacts]:
        return list(self._nodes.values())

    def node(self, name: str) -> NodeFacts:
        """The node's facts (parsed once per run); Blocked when it was unreachable."""
        if name in self._nodes:
            return self._nodes[name]
        return NodeFacts(self.outcomes[name], self.slots.get(name))

    def resolved_address(self, name: str) -> str | None:
        """The address most other nodes resolve `name` to (None on a tie or no answer)."""
        common, _, _ = majority_counted(Counter(self._first_answers.get(name) or {}))
        return common

    @cached_property
    def _first_answers(self) -> dict[str, Counter[str]]:
        """For each name asked, how many other nodes resolve it to each first address:
        counted once (per node, every node's answers again: N^2 reads)."""
        counts: dict[str, Counter[str]] = {}
        for node in self.reachable():
            for name, answer in node.resolve.items():
                first = _first(answer)
                if first is not None and name != node.name:
                    counts.setdefault(name, Counter())[first] += 1
        return counts

    def counted(self, read: Callable[[NodeFacts], V | None]) -> Counter[V]:
        """How many reachable nodes give each value of read(node), kept per reader as
        values() is: per-node checks ask for the majority once per node."""
        key = _reader_key(read)
        if key is None:
            return Counter(self._read_all(read).values())
        if key not in self._counts:
            self._counts[key] = Counter(self.values(read).values())
        return Counter(self._counts[key])

    def values(self, read: Callable[[NodeFacts], V | None]) -> dict[str, V]:
        """read(node) for every reachable node where it gives a value.

        Per-node checks compare their node with all the others, so each asks for the same
        values once per node: N² reads at 1,024 nodes. Facts do not change during a run,
        so the answer is kept per reader (its code and the values it captured)."""
        key = _reader_key(read)
        if key is None:
            return self._read_all(read)
        if key not in self._values:
            self._values[key] = self._read_all(read)
        return dict(self._values[key])

    def _read_all(self, read: Callable[[NodeFacts], V | None]) -> dict[str, V]:
        found: dict[str, V] = {}
        for node in self.reachable():
            try:
                value = read(node)
            except Unavailable:
                continue
            if value is not None:
                found[node.name] = value
        return found


def _reader_key(read: Callable[..., Any]) -> Hashable | None:
    """What makes two readers the same: one code object with the same captured values (a
    lambda is made anew on each call); None when it cannot be told (then nothing is kept)."""
    code = getattr(read, "__code__", None)
    if code is None or getattr(read, "__defaults__", None):
        return None
    cells = getattr(read, "__closure__", None) or ()
    return (code, tuple(_Same(cell.cell_contents) for cell in cells))


class _Same:
    """A captured value as part of a key: equal by value where it hashes, else by identity
    (the key holds the object, so its id is not reused while the key lives)."""

    __slots__ = ("value", "_hash")

    def __init__(self, value: Any) -> None:
        self.value = value
        try:
            self._hash = hash(value)
        except TypeError:
            self._hash = id(value)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _Same):
            return NotImplemented
        if self.value is other.value:
            return True
        try:
            return hash(self.value) == hash(other.value) and bool(self.value == other.value)
        except TypeError:
            return False


def _first(answer: Any) -> str | None:
    return str(answer[0]) if isinstance(answer, list) and answer else None


def majority(values: Iterable[T]) -> tuple[T | None, int, int]:
    """The most common value, its count and the total; None on a tie for first place."""
    return majority_counted(Counter(values))


def majority_counted(counts: Counter[T]) -> tuple[T | None, int, int]:
    """majority() of values already counted (values with no positive count left out)."""
    counted = [(value, n) for value, n in counts.most_common() if n > 0]
    total = sum(n for _, n in counted)
    if not counted:
        return None, 0, 0
    if len(counted) > 1 and counted[0][1] == counted[1][1]:
        return None, counted[0][1], total
    return counted[0][0], counted[0][1], total


def usual_among_others(counts: Counter[T] | None, own: Iterable[T]) -> T | None:
    """The value a strict majority of the other nodes show: `counts` is every node's tally
    (counted once per run), less this node's `own` values."""
    others = Counter(counts or {})
    others.subtract(own)
    total = sum(n for n in others.values() if n > 0)
    if not total:
        return None
    usual, count = others.most_common(1)[0]
    return usual if count * 2 > total else None

