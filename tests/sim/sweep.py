"""Who owns a simulated cluster, and removing clusters whose owner died without stop()."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

from . import netns, slurm

PREFIX = "pf"
WORK_ROOT = Path("/tmp")
LOCK_FILE = WORK_ROOT / "pfsim.lock"
NS_PATTERN = re.compile(rf"^{PREFIX}([0-9a-f]{{4}})-\d+$")
BRIDGE_PATTERN = re.compile(rf"^{PREFIX}([0-9a-f]{{4}})br$")
WORKDIR_PATTERN = re.compile(r"^pfsim-([0-9a-f]{4})$")


def workdir_for(cid: str) -> Path:
    return WORK_ROOT / f"pfsim-{cid}"


def process_start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22 (starttime) counted after the ")" that ends the command name.
    return stat.rsplit(")", 1)[1].split()[19]


def owner_record() -> str:
    pid = os.getpid()
    return f"{pid}:{process_start_time(pid)}"


def owner_alive(record: str) -> bool:
    pid, _, started = record.partition(":")
    return pid.isdigit() and process_start_time(int(pid)) == started


@contextlib.contextmanager
def cluster_lock() -> Iterator[None]:
    """Serialises id/subnet choice and sweeps between processes (pytest-xdist workers)."""
    with LOCK_FILE.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _owner_of(cid: str) -> str:
    with contextlib.suppress(OSError):
        return (workdir_for(cid) / "owner").read_text().strip()
    alias = netns.link_alias(f"{PREFIX}{cid}br")
    return alias.removeprefix("pfsim owner=")


def known_ids() -> set[str]:
    ids = {m.group(1) for ns in netns.list_namespaces() if (m := NS_PATTERN.match(ns))}
    ids |= {m.group(1) for link in netns.list_links() if (m := BRIDGE_PATTERN.match(link))}
    ids |= {m.group(1) for d in WORK_ROOT.iterdir() if (m := WORKDIR_PATTERN.match(d.name))}
    ids |= {m.group(1) for d in _etc_netns_entries() if (m := NS_PATTERN.match(d))}
    return ids


def _etc_netns_entries() -> list[str]:
    return [p.name for p in netns.ETC_NETNS.iterdir()] if netns.ETC_NETNS.is_dir() else []


def remove_cluster(cid: str) -> None:
    """Everything of cluster `cid`: processes, namespaces, /etc/netns dirs, links, workdir."""
    # Deleting a veth is synchronous; the kernel frees those of a deleted netns later.
    for link in netns.list_links():
        if link.startswith(f"{PREFIX}{cid}v"):
            netns.delete_link(link)
    for ns in netns.list_namespaces():
        if ns.startswith(f"{PREFIX}{cid}-"):
            netns.delete_namespace(ns)
    for entry in _etc_netns_entries():
        if entry.startswith(f"{PREFIX}{cid}-"):
            shutil.rmtree(netns.ETC_NETNS / entry, ignore_errors=True)
    netns.delete_link(f"{PREFIX}{cid}br")
    if (workdir_for(cid) / "slurm").exists():  # munged and slurmctld run on the head
        slurm.kill_recorded(workdir_for(cid) / "slurm")
    shutil.rmtree(workdir_for(cid), ignore_errors=True)


def sweep_leftovers() -> list[str]:
    """Remove clusters whose owning process is gone; returns their ids. Caller holds the lock."""
    dead = [cid for cid in sorted(known_ids()) if not owner_alive(_owner_of(cid))]
    for cid in dead:
        remove_cluster(cid)
    return dead
