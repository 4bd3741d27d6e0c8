"""Network namespaces, the bridge and veth pairs: the wiring of one simulated cluster."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import time
from pathlib import Path

from .shell import SimError, in_ns, sh

ETC_NETNS = Path("/etc/netns")


def list_namespaces() -> list[str]:
    out = sh(["ip", "netns", "list"]).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def list_links() -> list[str]:
    out = sh(["ip", "-o", "link", "show"]).stdout
    return [line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if ":" in line]


def link_alias(name: str) -> str:
    out = sh(["ip", "-d", "link", "show", "dev", name], check=False).stdout
    for line in out.splitlines():
        if line.strip().startswith("alias "):
            return line.strip().removeprefix("alias ")
    return ""


def create_bridge(name: str, address_cidr: str, alias: str) -> None:
    sh(["ip", "link", "add", name, "type", "bridge"])
    # An MTU set by hand stops the bridge from following its smallest port, so a host
    # given a small MTU (set_mtu) does not shrink the path for everyone else.
    sh(["ip", "link", "set", "dev", name, "mtu", "1500", "alias", alias])
    sh(["ip", "addr", "add", address_cidr, "dev", name])
    sh(["ip", "link", "set", "dev", name, "up"])


def add_host(ns: str, veth: str, bridge: str, address_cidr: str) -> None:
    """Namespace `ns` with lo up and eth0 (peer of `veth`, which joins `bridge`)."""
    sh(["ip", "netns", "add", ns])
    sh(["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns])
    sh(["ip", "link", "set", "dev", veth, "master", bridge, "up"])
    batch = f"link set dev lo up\naddr add {address_cidr} dev eth0\nlink set dev eth0 up\n"
    sh(in_ns(ns, ["ip", "-batch", "-"]), input_text=batch)


def mac_of(ns: str, device: str = "eth0") -> str:
    proc = sh(["ip", "-n", ns, "-j", "link", "show", "dev", device])
    return str(json.loads(proc.stdout)[0]["address"])


def pin_neighbours(bridge: str, gateway: str, hosts: dict[str, str]) -> None:
    """Permanent ARP entries between every host (ns -> address) and the bridge. The kernel's
    ARP table is shared by all namespaces (gc_thresh3, 1024 by default): N hosts resolving
    each other need N*N entries, which overflow it past ~30 hosts and drop packets."""
    macs = {ns: mac_of(ns) for ns in hosts}
    bridge_mac = Path(f"/sys/class/net/{bridge}/address").read_text().strip()
    for ns in hosts:
        lines = [f"neigh replace {gateway} lladdr {bridge_mac} dev eth0 nud permanent"]
        lines += [f"neigh replace {address} lladdr {macs[peer]} dev eth0 nud permanent"
                  for peer, address in hosts.items() if peer != ns]
        sh(in_ns(ns, ["ip", "-batch", "-"]), input_text="\n".join(lines) + "\n")
    head = [f"neigh replace {address} lladdr {macs[ns]} dev {bridge} nud permanent"
            for ns, address in hosts.items()]
    sh(["ip", "-batch", "-"], input_text="\n".join(head) + "\n")


def delete_link(name: str) -> None:
    sh(["ip", "link", "del", "dev", name], check=False)


def namespace_pids(ns: str) -> list[int]:
    proc = sh(["ip", "netns", "pids", ns], check=False)
    return [int(tok) for tok in proc.stdout.split() if tok.isdigit()]


def kill_namespace_processes(ns: str, deadline_s: float = 5.0) -> list[int]:
    """SIGKILL everything in `ns` until nothing is left (children may fork meanwhile)."""
    killed: list[int] = []
    end = time.monotonic() + deadline_s
    while pids := namespace_pids(ns):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        killed.extend(pids)
        if time.monotonic() > end:
            raise SimError(f"processes survive in {ns}: {pids}")
        time.sleep(0.02)
    return killed


def delete_namespace(ns: str) -> None:
    if ns in list_namespaces():
        kill_namespace_processes(ns)
        sh(["ip", "netns", "del", ns], check=False)
    shutil.rmtree(ETC_NETNS / ns, ignore_errors=True)
