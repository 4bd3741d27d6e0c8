"""Group matched log lines into findings.

Lines with the same cause and key (a watchdog SeqNum, an ibv_* call) or the same peers are
one finding; a line that names no peer joins the latest finding of its cause in the same
file, so an error's follow-up lines ('[Proxy Service 0] Failed to execute operation
Connect') land on the error they follow, or else the finding with the same cause and detail
from another file (one log per rank).

Then merge_patterns() makes one finding of the same pattern on many hosts (and of one
hang's watchdog lines), and fold_wrappers() puts findings made only of wrapper lines into
the error they repeat.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from preflight.diagnose.lines import LogLine, ProcessKey
from preflight.diagnose.rules import LineMatch, looks_like_error, match_line
from preflight.parsers.nccl_lines import TimeKey

MAX_EVIDENCE = 20
# Findings that no NCCL return-code wrapper can be repeating.
_NOT_WRAPPED = frozenset({"desync", "watchdog-timeout", "socket-transport", "version-mismatch"})
OrderKey = tuple[TimeKey | tuple[()], int, int]

_ELASTIC_FIELD = re.compile(r"^(?P<field>host|rank)\s+:\s+(?P<value>[\w.\-]+)")
_ELASTIC_OUTCOME = re.compile(r"^(?:exitcode|traceback|error_file)\s+:")
_DESYNC_AT = re.compile(r"Timeout at collective: (?P<op>\w+), #(?P<n>\d+)")
_DESYNC_HEADER = "lagging/dead/mismatched ranks"
_DESYNC_RANKS = re.compile(r"^\s*-?\s*\[(?P<ranks>\d+(?:\s*,\s*\d+)*)\]\s+(?P<what>.+)$")


@dataclass
class FindingBuilder:
    cause: str
    key: str | None
    detail: str
    order: OrderKey
    lines: list[LogLine] = field(default_factory=list)
    count: int = 0
    peers: list[str] = field(default_factory=list)
    ranks: set[int] = field(default_factory=set)
    hosts: list[str] = field(default_factory=list)
    processes: set[ProcessKey] = field(default_factory=set)
    sources: set[str] = field(default_factory=set)
    time: str | None = None
    time_printed: str | None = None
    own_lines: int = 0  # lines that are not wrappers of an error reported elsewhere
    peer_ranks: list[int] = field(default_factory=list)

    @property
    def wrapper_only(self) -> bool:
        return self.count > 0 and self.own_lines == 0

    def add(
        self,
        line: LogLine,
        peers: tuple[str, ...] = (),
        with_rank: bool = True,
        found: LineMatch | None = None,
    ) -> None:
        self.count += 1
        if found is None or not found.wrapper:
            self.own_lines += 1
        if found is not None:
            self.peer_ranks.extend(r for r in found.peer_ranks if r not in self.peer_ranks)
        if len(self.lines) < MAX_EVIDENCE:
            self.lines.append(line)
        self.peers.extend(peer for peer in peers if peer not in self.peers)
        if with_rank and line.rank is not None:
            self.ranks.add(line.rank)
        if line.host is not None and line.host not in self.hosts:
            self.hosts.append(line.host)
        if line.process is not None:
            self.processes.add(line.process)
        self.sources.add(line.source)
        if self.time_printed is None and line.time_printed is not None:
            self.time, self.time_printed = line.time, line.time_printed

    def absorb(self, other: FindingBuilder) -> None:
        """Fold another finding's lines in: the same pattern seen elsewhere."""
        self.count += other.count
        self.own_lines += other.own_lines
        self.lines.extend(other.lines[: MAX_EVIDENCE - len(self.lines)])
        self.peers.extend(peer for peer in other.peers if peer not in self.peers)
        self.peer_ranks.extend(r for r in other.peer_ranks if r not in self.peer_ranks)
        self.ranks |= other.ranks
        self.hosts.extend(host for host in other.hosts if host not in self.hosts)
        self.processes |= other.processes
        self.sources |= other.sources
        if self.time_printed is None:
            self.time, self.time_printed = other.time, other.time_printed


class FindingCollector:
    def __init__(self) -> None:
        self.builders: list[FindingBuilder] = []
        self._by_key: dict[tuple[str, str], FindingBuilder] = {}
        self._by_peers: dict[tuple[str, tuple[str, ...]], FindingBuilder] = {}
        self._by_detail: dict[tuple[str, str], FindingBuilder] = {}
        self._latest: dict[tuple[str, str], FindingBuilder] = {}
        self._desync_timeout: dict[str, LogLine] = {}
        self._desync_open: dict[str, FindingBuilder] = {}
        self.unexplained: FindingBuilder | None = None  # error lines no rule explains
        self._elastic: dict[str, dict[str, str]] = {}

    def feed(self, line: LogLine, order: OrderKey) -> None:
        if self._desync(line, order):
            return
        line = self._elastic_summary(line)
        found = match_line(line.body)
        if found is not None:
            builder = self._builder_for(line, found, order)
            builder.detail = builder.detail or found.detail
            builder.add(line, found.peers, found=found)
        elif looks_like_error(line.body):
            if self.unexplained is None:
                detail = "error lines that no known cause explains"
                self.unexplained = FindingBuilder("unrecognized", None, detail, order)
            self.unexplained.add(line)

    def _elastic_summary(self, line: LogLine) -> LogLine:
        """torchrun's failure summary names host and rank on lines before the exit code."""
        if match := _ELASTIC_FIELD.match(line.body):
            self._elastic.setdefault(line.source, {})[match["field"]] = match["value"]
        elif _ELASTIC_OUTCOME.match(line.body) and (seen := self._elastic.get(line.source)):
            rank = seen.get("rank")
            return line._replace(
                host=seen.get("host", line.host), rank=int(rank) if rank else line.rank
            )
        return line

    def _builder_for(self, line: LogLine, found: LineMatch, order: OrderKey) -> FindingBuilder:
        latest_key = (line.source, found.cause)
        builder = self._existing(found, self._latest.get(latest_key))
        if builder is None:
            builder = FindingBuilder(found.cause, found.key, found.detail, order)
            self.builders.append(builder)
        if found.key is not None:
            self._by_key[(found.cause, found.key)] = builder
        elif found.peers:
            self._by_peers.setdefault((found.cause, found.peers), builder)
        else:
            self._by_detail.setdefault((found.cause, found.detail), builder)
        self._latest[latest_key] = builder
        return builder

    def _existing(self, found: LineMatch, latest: FindingBuilder | None) -> FindingBuilder | None:
        if found.key is not None:
            return self._by_key.get((found.cause, found.key))
        if found.peers:
            same_peers = self._by_peers.get((found.cause, found.peers))
            if same_peers is not None:
                return same_peers
            return latest if latest is not None and not latest.peers else None
        return latest or self._by_detail.get((found.cause, found.detail))

    def _desync(self, line: LogLine, order: OrderKey) -> bool:
        """The TORCH_NCCL_DESYNC_DEBUG report: a timeout line, a header, one line per rank."""
        open_report = self._desync_open.get(line.source)
        if open_report is not None:
            if match := _DESYNC_RANKS.match(line.body):
                if not open_report.ranks:
                    open_report.detail += f": [{match['ranks']}] {match['what']}"
                open_report.add(line, with_rank=False)
                open_report.ranks.update(int(r) for r in match["ranks"].split(","))
                return True
            del self._desync_open[line.source]
        if _DESYNC_AT.search(line.body):
            self._desync_timeout[line.source] = line
            return True
        if _DESYNC_HEADER in line.body:
            self._desync_open[line.source] = self._desync_report(line, order)
            return True
        return False

    def _desync_report(self, header: LogLine, order: OrderKey) -> FindingBuilder:
        timeout = self._desync_timeout.pop(header.source, None)
        where = _DESYNC_AT.search(timeout.body) if timeout else None
        detail = f"desync at {where['op']} #{where['n']}" if where else "desync"
        builder = FindingBuilder("desync", None, detail, order)
        for line in (timeout, header):
            if line is not None:
                builder.add(line, with_rank=False)
        self.builders.append(builder)
        return builder


def merge_patterns(builders: list[FindingBuilder]) -> list[FindingBuilder]:
    """One finding per pattern: the same cause and detail on many hosts, one hang's timeouts.

    Builders come in time order; each merged finding keeps the place of its earliest part.
    """
    kept: dict[tuple[str, str], FindingBuilder] = {}
    for builder in builders:
        key = (builder.cause, "" if builder.cause == "watchdog-timeout" else builder.detail)
        first = kept.get(key)
        if first is None:
            kept[key] = builder
            continue
        first.absorb(builder)
        if builder.cause == "watchdog-timeout":
            first.detail = _watchdog_detail(first.detail, builder.detail)
    return list(kept.values())


def _watchdog_detail(kept: str, other: str) -> str:
    """The line with op and timeout says the most; a stuck watchdog is always said too."""
    parts = [part for part in [*kept.split("; "), other] if part]
    main = next((p for p in parts if "timeout" in p), None)
    main = main or next((p for p in parts if "stuck" not in p), "")
    stuck = next((p for p in parts if "stuck" in p), "")
    return "; ".join(part for part in (main, stuck) if part)


def fold_wrappers(builders: list[FindingBuilder]) -> list[FindingBuilder]:
    """A finding made only of wrapper lines ('Failed to execute operation Connect', 'unhandled
    system error') joins the real error of the same process, or of the same file where the
    wrapper names no process, as its evidence."""
    real = [b for b in builders if not b.wrapper_only and b.cause not in _NOT_WRAPPED]
    kept = []
    for builder in builders:
        target = _wrapped_error(builder, real) if builder.wrapper_only else None
        if target is None:
            kept.append(builder)
        else:
            target.absorb(builder)
    return kept


def _wrapped_error(wrapper: FindingBuilder, real: list[FindingBuilder]) -> FindingBuilder | None:
    if wrapper.processes:
        return next((b for b in real if b.processes & wrapper.processes), None)
    return next((b for b in real if b.sources & wrapper.sources), None)
