"""One simulated host: its names, addresses and files."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .netns import ETC_NETNS
from .spec import HostSpec
from .sshd import Sshd, faketime_env

SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass
class SimHost:
    name: str
    index: int
    ns: str
    address: str
    veth: str  # the bridge-side end of the host's link, in the root namespace
    dir: Path
    spec: HostSpec
    sshd: Sshd
    clock_skew_s: float = 0.0
    # Principals whose key is in this host's authorized_keys: "head" and host names.
    authorized: set[str] = field(default_factory=set)
    # name -> address overrides in this host's /etc/hosts
    resolve_overrides: dict[str, str] = field(default_factory=dict)
    # Link conditions applied with tc (see tc.py): whole-host rate, per-peer rates.
    rate: str | None = None
    peer_rates: dict[str, str] = field(default_factory=dict)  # peer address -> rate
    iptables_rules: list[list[str]] = field(default_factory=list)  # added by iptables()
    loss_rules: list[list[str]] = field(default_factory=list)  # added by loss()
    # Mounts in the host's own mount namespace (faults.shadow_dir, dead_mount...), and the
    # processes holding a dead FUSE mount's connection open.
    mounts: list[Path] = field(default_factory=list)
    mount_holders: list[subprocess.Popen[bytes]] = field(default_factory=list)
    sshd_options: dict[str, str] = field(default_factory=dict)  # e.g. {"MaxStartups": "2"}
    extra_env: dict[str, str] = field(default_factory=dict)  # more sshd SetEnv (set_env)

    @property
    def bin_dir(self) -> Path:
        return self.dir / "bin"

    @property
    def lib_dir(self) -> Path:
        return self.dir / "lib"

    @property
    def spec_path(self) -> Path:
        return self.dir / "spec.json"

    @property
    def host_key(self) -> Path:
        return self.dir / "ssh_host_ed25519_key"

    @property
    def mesh_key(self) -> Path:
        """The host's own client identity, used for ssh from this host to the others."""
        return self.dir / "id_ed25519"

    @property
    def authorized_keys(self) -> Path:
        return self.dir / "authorized_keys"

    @property
    def known_hosts(self) -> Path:
        return self.dir / "known_hosts"

    @property
    def sshd_config(self) -> Path:
        return self.dir / "sshd_config"

    @property
    def etc_dir(self) -> Path:
        """Bind-mounted over /etc by `ip netns exec` for everything started in the namespace."""
        return ETC_NETNS / self.ns

    def session_env(self) -> dict[str, str]:
        """What sshd's SetEnv gives every command run on this host over SSH."""
        home = self.dir / "home"
        home.mkdir(exist_ok=True)
        # A home of its own: the shared root account's ~/.bashrc (pyenv init) would cost
        # seconds per command and put pyenv's shims before the host's stand-ins.
        env = {
            "HOME": str(home),
            "PATH": f"{self.bin_dir}:{os.path.dirname(sys.executable)}:{SYSTEM_PATH}",
            "LD_LIBRARY_PATH": str(self.lib_dir),
            "PREFLIGHT_SIM_HOST": self.name,
        }
        if self.clock_skew_s:
            env |= faketime_env(self.clock_skew_s)
        return env | self.extra_env
