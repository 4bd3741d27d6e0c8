"""Reading the second look (preflight.measure.second_look) at check time: for a failing
sampled pair, each end was retested against a node that passed, so the end to blame is
what those retests say, not a guess from the one failing pair.

The checks of the reach probes name the end in their hint and message; the run's suspects
take the nodes it blames, so findings exclude the bad node and not its healthy partner,
and a pair whose ends both pass again stays a link.
"""

from __future__ import annotations

from typing import Any

SIDES = ("src", "dst", "both", "link")  # the blames that say something ("unknown" does not)


def looked(probe: dict[str, Any], src: str, dst: str) -> dict[str, Any] | None:
    """The second look at src -> dst, when it told the ends apart."""
    entry = (probe.get("second_look") or {}).get(f"{src}|{dst}")
    if not isinstance(entry, dict) or entry.get("blame") not in SIDES:
        return None
    return entry


def looked_nodes(entry: dict[str, Any], src: str, dst: str) -> list[str]:
    """The ends the second look blames: none for a link."""
    return {"src": [src], "dst": [dst], "both": [src, dst]}.get(str(entry["blame"]), [])


def looked_note(entry: dict[str, Any], src: str, dst: str) -> str:
    """What the retests measured, for the message: '(second look: node-1 -> node-7 passes,
    node-9 -> node-2 fails)'."""
    blame = entry["blame"]  # the probe judged the retests' verdicts when it recorded it
    first = "fails" if blame in ("src", "both") else "passes"
    second = "fails" if blame in ("dst", "both") else "passes"
    partner_1, partner_2 = entry["src_with"][0], entry["dst_with"][0]
    return f" (second look: {src} -> {partner_1} {first}, {partner_2} -> {dst} {second})"


def looked_suspects(probe: dict[str, Any]) -> dict[str, list[Any]]:
    """{"nodes", "links", "notes"} from a probe's second look, in the shape of bandwidth
    isolation's suspects (preflight.lifecycle merges both into the run's)."""
    nodes: list[str] = []
    links: list[list[str]] = []
    notes: list[str] = []
    for key in sorted(probe.get("second_look") or {}):
        src, _, dst = key.partition("|")
        entry = looked(probe, src, dst)
        if entry is None:
            continue
        blamed = looked_nodes(entry, src, dst)
        nodes += [n for n in blamed if n not in nodes]
        if not blamed:
            links.append([src, dst])
        for node in blamed:
            notes.append(f"{node}: {src} -> {dst} failed; "
                         f"{looked_note(entry, src, dst)[2:-1]}")
    return {"nodes": nodes, "links": links, "notes": notes}
