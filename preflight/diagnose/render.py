"""Terminal rendering of a Diagnosis. Every piece of log text goes through markup.escape."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from preflight.diagnose.advice import peer_hosts, who
from preflight.diagnose.crossref import Corroboration
from preflight.diagnose.model import Diagnosis, Finding, RankInfo

EVIDENCE_SHOWN = 4
_SCOPE_WORDS = {"link": "one link", "node": "one node", "systemic": "many nodes: systemic"}


def render(diagnosis: Diagnosis, console: Console) -> None:
    style = "bold red" if diagnosis.has_errors else "bold green"
    console.print(f"[{style}]{escape(diagnosis.summary)}[/]")
    if diagnosis.ranks:
        console.print(_hosts_table(diagnosis.ranks))
    for number, finding in enumerate(diagnosis.findings, start=1):
        _render_finding(console, number, finding, finding is diagnosis.root)
    console.print(f"[dim]Read {len(diagnosis.files)} file(s).[/]")


def render_cross_reference(corroborations: Sequence[Corroboration], console: Console) -> None:
    if not corroborations:
        console.print("No host the log blames failed a check in that run.")
        return
    console.print("[bold]Hosts the log blames that also failed checks:[/]")
    for item in corroborations:
        causes = ", ".join(item.causes)
        console.print(f"  [bold]{escape(item.node)}[/] ({escape(item.blamed_as)}; {causes})")
        for result in item.results:
            status = result.status.value.upper()
            console.print(f"    {status} {escape(result.id)}: {escape(result.message)}")


def _render_finding(console: Console, number: int, finding: Finding, is_root: bool) -> None:
    colour = "red" if finding.is_error else "yellow"
    label = " (root cause)" if is_root else f" ({finding.role})"
    stamp = finding.time or finding.time_printed
    when = f" at {escape(stamp)}" if stamp else ""
    console.print(f"\n[bold {colour}]{number}. {finding.cause}[/]{label}{when}")
    console.print(f"   {escape(finding.detail)}")
    scope = f" ({_SCOPE_WORDS[finding.scope]})" if finding.scope else ""
    console.print(f"   who: {escape(who(finding))}{scope}")
    if finding.peers:
        named = [name for name in finding.peer_hosts if name not in peer_hosts(finding.peers)]
        hosts = f" ({', '.join(named)})" if named else ""
        console.print(f"   peers: {escape(', '.join(finding.peers) + hosts)}")
    for line in finding.evidence[:EVIDENCE_SHOWN]:
        console.print(f"   [dim]| {escape(line)}[/]", soft_wrap=True)
    hidden = finding.matched_lines - min(finding.matched_lines, EVIDENCE_SHOWN)
    if hidden > 0:
        console.print(f"   [dim]| ... {hidden} more matching line(s)[/]")
    console.print(f"   next: [bold]{escape(finding.next)}[/]")
    if finding.advice:
        console.print(f"   look at: {escape(finding.advice)}")


def _hosts_table(ranks: Sequence[RankInfo]) -> Table:
    table = Table(title="NCCL ranks by host", title_justify="left")
    for column in ("host", "ranks", "procs", "NCCL", "bootstrap", "network", "transports"):
        table.add_column(column)
    hosts = sorted({rank.host or "?" for rank in ranks})
    for host in hosts:
        on_host = [rank for rank in ranks if (rank.host or "?") == host]
        table.add_row(*(escape(cell) for cell in _host_row(host, on_host)))
    return table


def _host_row(host: str, ranks: Sequence[RankInfo]) -> list[str]:
    def joined(values: Sequence[str | None]) -> str:
        return ", ".join(sorted({value for value in values if value})) or "-"

    rank_ids = sorted(rank.rank for rank in ranks if rank.rank is not None)
    bootstrap = [
        f"{rank.bootstrap_interface}:{rank.bootstrap_address}"
        for rank in ranks
        if rank.bootstrap_interface
    ]
    return [
        host,
        ", ".join(str(rank) for rank in rank_ids) or "-",
        str(len(ranks)),
        joined([rank.nccl_version for rank in ranks]),
        joined(bootstrap),
        joined([rank.network for rank in ranks]),
        joined([transport for rank in ranks for transport in rank.transports]),
    ]
