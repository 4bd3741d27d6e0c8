"""diagnose(): read NCCL/PyTorch logs and nccl-tests output, return a Diagnosis."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from preflight.diagnose.advice import advise, blames_peer, next_command, peer_hosts
from preflight.diagnose.collect import (
    FindingBuilder,
    FindingCollector,
    OrderKey,
    fold_wrappers,
    merge_patterns,
)
from preflight.diagnose.incident import assemble
from preflight.diagnose.lines import LogLine, log_files, read_lines
from preflight.diagnose.model import ERROR, WARNING, Diagnosis, Finding
from preflight.diagnose.ranks import RankCollector
from preflight.diagnose.summary import summarize
from preflight.parsers.nccl_lines import TimeKey

_VERSION_NUMBER = re.compile(r"\d+\.\d+(?:\.\d+)?")


def diagnose(paths: Sequence[Path]) -> Diagnosis:
    """Read files (directories recursively) and name what went wrong, and where."""
    files = log_files(paths)
    findings, ranks = FindingCollector(), RankCollector()
    for index, path in enumerate(files):
        last_time: TimeKey | tuple[()] = ()
        for line in read_lines(path):
            last_time = line.time_key or last_time
            ranks.feed(line)
            findings.feed(line, (last_time, index, line.lineno))
    file_index = {str(path): index for index, path in enumerate(files)}
    socket_expected = _socket_while_ib_expected(ranks)
    builders = [*findings.builders, *_socket_finding(ranks, socket_expected, file_index)]
    builders += _version_finding(ranks, file_index)
    builders = fold_wrappers(merge_patterns(sorted(builders, key=lambda builder: builder.order)))
    finished = [_finish(builder, ranks, socket_expected) for builder in builders]
    wrapper_only = [builder.wrapper_only for builder in builders]
    if findings.unexplained is not None and not any(f.is_error for f in finished):
        finished.append(_finish(findings.unexplained, ranks, socket_expected))
        wrapper_only.append(False)
    root, ordered = assemble(finished, wrapper_only)
    rank_infos = ranks.rank_infos()
    return Diagnosis(
        files=tuple(str(path) for path in files),
        ranks=rank_infos,
        findings=ordered,
        root=root,
        summary=summarize(ordered, root, rank_infos, len(files)),
        socket_while_ib_expected=socket_expected,
    )


def _finish(builder: FindingBuilder, ranks: RankCollector, socket_expected: bool | None) -> Finding:
    rank_ids = set(builder.ranks)
    rank_ids.update(r for key in builder.processes if (r := ranks.rank_of(key)) is not None)
    hosts = list(builder.hosts) or _hosts_of(rank_ids, ranks) or _single_file_host(builder, ranks)
    severity = ERROR
    if builder.cause == "socket-transport" and not socket_expected:
        severity = WARNING
    detail = builder.detail or builder.key or builder.cause
    selection, by_hand = advise(builder.cause, detail)
    blamed_hosts = _hosts_of(set(builder.peer_ranks), ranks)
    names = [ranks.host_of_address(peer) or peer for peer in peer_hosts(builder.peers)]
    targets = [*hosts, *blamed_hosts, *(names if blames_peer(builder.cause, detail) else [])]
    return Finding(
        cause=builder.cause,
        severity=severity,
        detail=detail,
        evidence=tuple(raw for line in builder.lines for raw in line.raw),
        matched_lines=builder.count,
        peers=tuple(builder.peers),
        ranks=tuple(sorted(rank_ids)),
        hosts=tuple(hosts),
        time=builder.time,
        next=next_command(selection, targets),
        advice=by_hand,
        peer_ranks=tuple(builder.peer_ranks),
        peer_hosts=tuple(dict.fromkeys(names)),
        time_printed=builder.time_printed,
    )


def _hosts_of(rank_ids: set[int], ranks: RankCollector) -> list[str]:
    hosts = [ranks.host_of_rank(rank) for rank in sorted(rank_ids)]
    return sorted({host for host in hosts if host is not None})


def _single_file_host(builder: FindingBuilder, ranks: RankCollector) -> list[str]:
    """A file whose NCCL lines all come from one host: its unattributed lines are that host's."""
    hosts = [ranks.file_hosts.get(source, set()) for source in sorted(builder.sources)]
    if hosts and all(len(found) == 1 for found in hosts):
        return sorted(set().union(*hosts))
    return []


def _socket_while_ib_expected(ranks: RankCollector) -> bool | None:
    processes = ranks.processes()
    if not any(p.network or p.transports for p in processes):
        return None
    return any(p.uses_socket for p in processes) and ranks.ib_devices_seen


def _socket_finding(
    ranks: RankCollector, expected: bool | None, file_index: dict[str, int]
) -> list[FindingBuilder]:
    lines = [p.socket_line for p in ranks.processes() if p.uses_socket and p.socket_line]
    if not lines:
        return []
    detail = "NCCL used TCP sockets for the inter-node network"
    detail += " although IB devices were found" if expected else ""
    builder = FindingBuilder("socket-transport", None, detail, _order(lines[0], file_index))
    for line in [*lines, *ranks.socket_hints]:
        builder.add(line)
    return [builder]


def _version_finding(ranks: RankCollector, file_index: dict[str, int]) -> list[FindingBuilder]:
    seen: dict[str, list[LogLine]] = {}
    for process in ranks.processes():
        if found := ranks.version_of(process):
            seen.setdefault(_version_number(found[0]), []).append(found[1])
    covered = {process.source for process in ranks.processes()}
    for source, (version, line) in ranks.file_versions().items():
        if source not in covered:
            seen.setdefault(_version_number(version), []).append(line)
    if len(seen) < 2:
        return []
    counts = Counter({version: len(lines) for version, lines in seen.items()})
    detail = "NCCL versions differ: " + ", ".join(
        f"{version} ({count} rank{'s' if count > 1 else ''})" for version, count in counts.items()
    )
    firsts = [lines[0] for lines in seen.values()]
    builder = FindingBuilder("version-mismatch", None, detail, _order(firsts[0], file_index))
    majority = counts.most_common(1)[0][0]
    for version, lines in seen.items():
        for line in lines[:1] if version == majority else lines:
            builder.add(line)
    return [builder]


def _version_number(version: str) -> str:
    match = _VERSION_NUMBER.match(version)
    return match.group(0) if match else version


def _order(line: LogLine, file_index: dict[str, int]) -> OrderKey:
    return (line.time_key or (), file_index.get(line.source, 0), line.lineno)
