"""The text files of a simulated cluster: hosts, ssh_config, known_hosts, hostfile."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from .host import SimHost
from .sshd import key_body


def write_in_place(path: Path, text: str) -> None:
    """Truncate and write: a bind mount of `path` (ip netns exec) keeps seeing the new text."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        handle.write(text)


def hosts_file(addresses: Mapping[str, str]) -> str:
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
    lines += [f"{addr}\t{name}" for name, addr in addresses.items()]
    return "\n".join(lines) + "\n"


def known_hosts(entries: Iterable[tuple[str, str, str]]) -> str:
    """Lines 'name,address key' for (name, address, public key line) entries."""
    return "".join(f"{name},{addr} {key_body(key)}\n" for name, addr, key in entries)


def client_ssh_config(hosts: Iterable[SimHost], identity: Path, known: Path) -> str:
    blocks = [
        f"Host {h.name}\n"
        f"  HostName {h.address}\n"
        "  User root\n"
        f"  IdentityFile {identity}\n"
        "  IdentitiesOnly yes\n"
        f"  UserKnownHostsFile {known}\n"
        "  GlobalKnownHostsFile /dev/null\n"
        "  StrictHostKeyChecking yes\n"
        for h in hosts
    ]
    return "\n".join(blocks)


def mesh_ssh_config(host: SimHost) -> str:
    """/etc/ssh/ssh_config as seen inside `host`: plain `ssh node-j` uses its mesh key."""
    return (
        "Host *\n"
        "  User root\n"
        f"  IdentityFile {host.mesh_key}\n"
        "  IdentitiesOnly yes\n"
        f"  UserKnownHostsFile {host.known_hosts}\n"
        "  GlobalKnownHostsFile /dev/null\n"
        "  StrictHostKeyChecking yes\n"
    )


def hostfile(hosts: Iterable[SimHost]) -> str:
    return "".join(f"{h.name} slots={h.spec.hostfile_slots}\n" for h in hosts)
