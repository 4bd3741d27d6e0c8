"""Per-rank facts from NCCL's init lines: bootstrap interface, network, transports, version."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from preflight.diagnose.lines import LogLine, ProcessKey
from preflight.diagnose.model import RankInfo

_BOOTSTRAP = re.compile(r"Bootstrap ?: Using (?:\[\d+\])?(?P<iface>[^:\s]+):(?P<addr>\S+?)<\d+>")
# The addresses a host's NCCL listens on, which other hosts' errors name as the peer.
_OWN_ADDRESS = re.compile(
    r"(?:Bootstrap ?: Using|NET/Socket ?: Using|OOB) (?:\[\d+\])?[^:\s]+:(?P<addr>[\w.:%\-]+?)<\d+>"
)
_NETWORK = re.compile(r"\bUsing network (?P<net>\S.*?)\s*$")
_VERSION = re.compile(r"NCCL version (?P<version>\d[\w.+\-]*)")
_VIA = re.compile(r"\bChannel .* via (?P<via>\S.*?)\s*$")
_NET_VIA = re.compile(r"^NET/(?P<name>.+?)/\d+")
_COMM_RANK = re.compile(r"\brank (?P<rank>\d+) n[Rr]anks \d+")
_RANK_TABLE = re.compile(
    r"^#\s*Rank\s+(?P<rank>\d+)(?:\s+Group\s+\d+)?(?:\s+Pid\s+(?P<pid>\d+))?"
    r"\s+on\s+(?P<host>\S+)\s+device\s+(?P<dev>\d+)"
)
_IB_DEVICES = re.compile(r"NET/IB ?: Using \[\d+\]")
SOCKET_HINTS = (
    "NET/IB : No device found",
    "Failed to open libibverbs",
    "NCCL_IB_DISABLE set by environment to 1",
    "NCCL_NET set by environment to Socket",
)


@dataclass
class _Process:
    host: str
    pid: int | None
    device: int | None
    source: str
    rank: int | None = None
    version: LogLine | None = None
    version_text: str | None = None
    bootstrap: tuple[str, str] | None = None
    network: str | None = None
    transports: list[str] = field(default_factory=list)
    socket_line: LogLine | None = None

    @property
    def uses_socket(self) -> bool:
        return self.network == "Socket" or "NET/Socket" in self.transports


class RankCollector:
    def __init__(self) -> None:
        self._processes: dict[ProcessKey, _Process] = {}
        self._file_version: dict[str, tuple[str, LogLine]] = {}
        self.file_hosts: dict[str, set[str]] = {}
        self.ib_devices_seen = False
        self.socket_hints: list[LogLine] = []
        self._address_hosts: dict[str, set[str]] = {}

    def feed(self, line: LogLine) -> None:
        if line.host is not None:
            self.file_hosts.setdefault(line.source, set()).add(line.host)
        if line.body.startswith("#") and (match := _RANK_TABLE.match(line.body)):
            key = (match["host"], _int(match["pid"]), int(match["dev"]))
            self._process(key, line.source).rank = int(match["rank"])
            self.file_hosts.setdefault(line.source, set()).add(match["host"])
        elif line.process is not None:
            self._feed_nccl(self._process(line.process, line.source), line)
        elif line.source not in self._file_version and (version := _version(line.body)):
            self._file_version[line.source] = (version, line)

    def rank_of(self, key: ProcessKey) -> int | None:
        process = self._processes.get(key)
        return process.rank if process else None

    def host_of_address(self, address: str) -> str | None:
        """The host whose NCCL listens on address ('10.0.0.4'), where exactly one does."""
        hosts = self._address_hosts.get(address, set())
        return next(iter(hosts)) if len(hosts) == 1 else None

    def host_of_rank(self, rank: int) -> str | None:
        hosts = {p.host for p in self._processes.values() if p.rank == rank}
        return hosts.pop() if len(hosts) == 1 else None

    def processes(self) -> list[_Process]:
        return sorted(self._processes.values(), key=_process_order)

    def version_of(self, process: _Process) -> tuple[str, LogLine] | None:
        if process.version_text and process.version:
            return process.version_text, process.version
        return self._file_version.get(process.source)

    def file_versions(self) -> dict[str, tuple[str, LogLine]]:
        return dict(self._file_version)

    def rank_infos(self) -> tuple[RankInfo, ...]:
        return tuple(self._info(process) for process in self.processes())

    def _info(self, process: _Process) -> RankInfo:
        version = self.version_of(process)
        iface, addr = process.bootstrap or (None, None)
        return RankInfo(
            rank=process.rank,
            host=process.host,
            pid=process.pid,
            device=process.device,
            nccl_version=version[0] if version else None,
            bootstrap_interface=iface,
            bootstrap_address=addr,
            network=process.network,
            transports=tuple(process.transports),
            source=process.source,
        )

    def _process(self, key: ProcessKey, source: str) -> _Process:
        if key not in self._processes:
            self._processes[key] = _Process(key[0], key[1], key[2], source)
        return self._processes[key]

    def _feed_nccl(self, process: _Process, line: LogLine) -> None:
        body = line.body
        if line.rank is not None and process.rank is None:
            process.rank = line.rank
        if "Using" in body and (address := _OWN_ADDRESS.search(body)):
            self._address_hosts.setdefault(address["addr"], set()).add(process.host)
        if "Bootstrap" in body and (match := _BOOTSTRAP.search(body)):
            process.bootstrap = (match["iface"], match["addr"])
        elif "Using network" in body and (match := _NETWORK.search(body)):
            process.network = match["net"]
            process.socket_line = line if match["net"] == "Socket" else process.socket_line
        elif version := _version(body):
            process.version_text, process.version = version, line
        elif " via " in body and (match := _VIA.search(body)):
            self._add_transport(process, line, _transport(match["via"]))
        elif "anks " in body and (match := _COMM_RANK.search(body)):
            process.rank = int(match["rank"])
        elif "NET/IB" in body and _IB_DEVICES.search(body):
            self.ib_devices_seen = True
            process.network = process.network or "IB"
        elif any(hint in body for hint in SOCKET_HINTS) and len(self.socket_hints) < 8:
            self.socket_hints.append(line)

    def _add_transport(self, process: _Process, line: LogLine, transport: str) -> None:
        if transport not in process.transports:
            process.transports.append(transport)
        if transport.startswith("NET/"):
            process.network = process.network or transport.split("/")[1]
        if transport == "NET/Socket" and process.socket_line is None:
            process.socket_line = line


def _transport(via: str) -> str:
    """'NET/IB/0/GDRDMA' -> 'NET/IB/GDRDMA'; 'SHM/direct/direct' -> 'SHM'; 'P2P/IPC' -> 'P2P'."""
    if match := _NET_VIA.match(via):
        name = f"NET/{match['name']}"
        return name + "/GDRDMA" if "/GDRDMA" in via else name
    return via.split("/")[0].split()[0]


def _version(body: str) -> str | None:
    match = _VERSION.search(body) if "NCCL version" in body else None
    return match["version"] if match else None


def _int(text: str | None) -> int | None:
    return int(text) if text is not None else None


def _process_order(process: _Process) -> tuple[int, str, int, int]:
    rank = process.rank if process.rank is not None else 1 << 30
    return (rank, process.host, process.pid or 0, process.device or 0)
