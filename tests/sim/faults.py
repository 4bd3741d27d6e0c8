"""Real faults for a SimCluster. Each one has its undo, and all die with the cluster at stop().

Kept as a mixin so cluster.py stays about bringing a cluster up and down.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import files, standins, tc
from .shell import SimError, in_ns, sh
from .sshd import keygen, public_key, wait_accepting

if TYPE_CHECKING:
    from .cluster import SimCluster
    from .host import SimHost

# A FUSE mount whose daemon never answers: every stat, open or read under it blocks in the
# kernel (killably), as on an NFS mount whose server is gone. The holder keeps /dev/fuse
# open until its stdin closes; then the connection aborts and the mount answers ENOTCONN.
DEAD_FUSE = """
import os, subprocess, sys
fd = os.open("/dev/fuse", os.O_RDWR)
options = "fd=%d,rootmode=40000,user_id=0,group_id=0" % fd
subprocess.run(["mount", "-t", "fuse", "-o", options, "pfsim-dead", sys.argv[1]],
               pass_fds=[fd], check=True)
sys.stdout.write("READY\\n")
sys.stdout.flush()
sys.stdin.read()
"""

IPTABLES_ACTIONS = {"DROP": ["-j", "DROP"], "REJECT": ["-j", "REJECT", "--reject-with"]}


class FaultsMixin:
    # ----- sshd and keys --------------------------------------------------------------------
    def stop_sshd(self: SimCluster, name: str) -> None:
        self.host(name).sshd.stop()

    def start_sshd(self: SimCluster, name: str, timeout_s: float = 10.0) -> None:
        host = self.host(name)
        host.sshd.start()
        wait_accepting(host.address, 22, time.monotonic() + timeout_s, host.sshd)

    def restart_sshd(self: SimCluster, name: str) -> None:
        self.stop_sshd(name)
        self.start_sshd(name)

    def drop_client_key(self: SimCluster, name: str) -> None:
        """The head's key is no longer in the host's authorized_keys: auth is denied."""
        self._set_authorized(name, "head", False)

    def restore_client_key(self: SimCluster, name: str) -> None:
        self._set_authorized(name, "head", True)

    def mesh_key_missing(self: SimCluster, src: str, dst: str) -> None:
        """`ssh dst` from inside src is denied (dst lacks src's mesh key)."""
        self.host(src)
        self._set_authorized(dst, src, False)

    def restore_mesh_key(self: SimCluster, src: str, dst: str) -> None:
        self._set_authorized(dst, src, True)

    def _set_authorized(self: SimCluster, name: str, principal: str, allowed: bool) -> None:
        host = self.host(name)
        if allowed:
            host.authorized.add(principal)
        else:
            host.authorized.discard(principal)
        self.write_authorized_keys(host)

    def change_host_key(self: SimCluster, name: str) -> None:
        """New host key and sshd restart; every known_hosts still has the old key."""
        host = self.host(name)
        keygen(host.host_key, f"{name} host key (changed)")
        self.restart_sshd(name)

    def trust_host_key(self: SimCluster, name: str) -> None:
        """Undo change_host_key/forget_host_key: known_hosts everywhere get the current key."""
        self.host(name)
        self.trusted_keys[name] = public_key(self.host(name).host_key)
        self.forgotten_host_keys.discard(name)
        self.write_known_hosts()

    def forget_host_key(self: SimCluster, name: str) -> None:
        """The head's known_hosts no longer lists the host (hosts' own lists keep it)."""
        self.host(name)
        self.forgotten_host_keys.add(name)
        self.write_known_hosts()

    def sshd_option(self: SimCluster, name: str, key: str, value: str | None) -> None:
        """Set an sshd_config option on the host (None: back to the default), sshd restarted."""
        host = self.host(name)
        if value is None:
            host.sshd_options.pop(key, None)
        else:
            host.sshd_options[key] = value
        self.write_sshd_config(host)
        self.restart_sshd(name)

    def set_env(self: SimCluster, name: str, **env: str) -> None:
        """Variables every SSH session on the host gets (sshd SetEnv; no spaces in values)."""
        self.host(name).extra_env.update(env)
        self.write_sshd_config(self.host(name))
        self.restart_sshd(name)

    def nofile(self: SimCluster, name: str, limit: int) -> None:
        """The open-files limit of the host's sshd, so of every session it starts."""
        pid = self.host(name).sshd.pid
        if pid is None:
            raise ValueError(f"{name}: sshd is not running")
        sh(["prlimit", "--pid", str(pid), f"--nofile={limit}:{limit}"])

    def clock_skew(self: SimCluster, name: str, seconds: float) -> None:
        """Commands run over SSH on the host see the wall clock shifted (libfaketime)."""
        host = self.host(name)
        host.clock_skew_s = seconds
        self.write_sshd_config(host)
        self.restart_sshd(name)

    # ----- the host's hardware and tools ----------------------------------------------------
    def update_spec(self: SimCluster, name: str, **changes: Any) -> SimHost:
        host = self.host(name)
        host.spec = host.spec.replace(**changes)
        self.write_spec(host)
        return host

    def hang(self: SimCluster, name: str, tool: str) -> None:
        self.update_spec(name, hang=self.host(name).spec.hang | {tool})

    def unhang(self: SimCluster, name: str, tool: str) -> None:
        self.update_spec(name, hang=self.host(name).spec.hang - {tool})

    def garble(self: SimCluster, name: str, tool: str) -> None:
        self.update_spec(name, garbage=self.host(name).spec.garbage | {tool})

    # ----- network --------------------------------------------------------------------------
    def iptables(
        self: SimCluster, name: str, port: int, action: str = "DROP", chain: str = "INPUT",
        proto: str = "tcp",
    ) -> None:
        """DROP: connects to the port time out. REJECT: they are refused (TCP reset)."""
        if action not in IPTABLES_ACTIONS:
            raise ValueError(f"action {action!r}: DROP or REJECT")
        target = IPTABLES_ACTIONS[action]
        if action == "REJECT":
            target = [*target, "tcp-reset" if proto == "tcp" else "icmp-port-unreachable"]
        rule = [chain, "-p", proto, "--dport", str(port), *target]
        host = self.host(name)
        sh(in_ns(host.ns, ["iptables", "-w", "-A", *rule]))
        host.iptables_rules.append(rule)

    def firewall_only(self: SimCluster, name: str, ports: list[int]) -> None:
        """A stateful firewall admitting only these TCP ports (replies to the host's own
        connections still pass), as security groups often are."""
        rules = [["INPUT", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"]]
        rules += [["INPUT", "-p", "tcp", "--dport", str(port), "-j", "ACCEPT"] for port in ports]
        rules.append(["INPUT", "-p", "tcp", "-j", "DROP"])
        self._add_rules(name, rules)

    def drop_new_from(self: SimCluster, name: str, src: str) -> None:
        """The host drops every connection src opens to it (ping included); its own
        connections to src still work: a one-way partition."""
        self._add_rules(name, [["INPUT", "-s", self.host(src).address, "-m", "conntrack",
                                "--ctstate", "NEW", "-j", "DROP"]])

    def _add_rules(self: SimCluster, name: str, rules: list[list[str]]) -> None:
        host = self.host(name)
        for rule in rules:
            sh(in_ns(host.ns, ["iptables", "-w", "-A", *rule]))
            host.iptables_rules.append(rule)

    def send_from_other_subnet(self: SimCluster, name: str) -> str:
        """The host sends to the cluster from a second address of another subnet, which
        no other host can route back to (a multi-homed node's wrong source); returns it."""
        host = self.host(name)
        other = f"198.19.255.{host.index}"
        subnet = f"{self.subnet}"
        sh(in_ns(host.ns, ["ip", "addr", "add", f"{other}/32", "dev", "eth0"]))
        sh(in_ns(host.ns, ["ip", "route", "replace", subnet, "dev", "eth0", "src", other]))
        return other

    def iptables_clear(self: SimCluster, name: str) -> None:
        """Remove the rules iptables() added (loss() has its own undo)."""
        host = self.host(name)
        while host.iptables_rules:
            sh(in_ns(host.ns, ["iptables", "-w", "-D", *host.iptables_rules.pop()]))

    def loss(self: SimCluster, name: str, percent: float) -> None:
        """Drop `percent` of the packets the host sends and of those it receives (0: none).

        iptables' statistic match, since this kernel has no netem."""
        host = self.host(name)
        while host.loss_rules:
            sh(in_ns(host.ns, ["iptables", "-w", "-D", *host.loss_rules.pop()]))
        if not percent:
            return
        for chain in ("INPUT", "OUTPUT"):
            rule = [chain, "-m", "statistic", "--mode", "random",
                    "--probability", f"{percent / 100:.4f}", "-j", "DROP"]
            sh(in_ns(host.ns, ["iptables", "-w", "-I", *rule]))
            host.loss_rules.append(rule)

    def shape(self: SimCluster, name: str, rate: str | None = "500mbit") -> None:
        """Hold everything to and from the host to `rate` (None: unshaped)."""
        host = self.host(name)
        host.rate = rate
        tc.apply(host)

    def shape_link(self: SimCluster, a: str, b: str, rate: str | None) -> None:
        """Hold only traffic between a and b to `rate` (None: unshaped)."""
        for src, dst in ((a, b), (b, a)):
            host, peer = self.host(src), self.host(dst)
            if rate is None:
                host.peer_rates.pop(peer.address, None)
            else:
                host.peer_rates[peer.address] = rate
            tc.apply(host)

    def set_mtu(self: SimCluster, name: str, mtu: int) -> None:
        """MTU of the host's eth0 and of its bridge port: bigger frames to or from it drop."""
        host = self.host(name)
        sh(in_ns(host.ns, ["ip", "link", "set", "dev", "eth0", "mtu", str(mtu)]))
        sh(["ip", "link", "set", "dev", host.veth, "mtu", str(mtu)])

    def link_down(self: SimCluster, name: str) -> None:
        """Pull the cable: the bridge side goes down, the host sees NO-CARRIER."""
        sh(["ip", "link", "set", "dev", self.host(name).veth, "down"])

    def link_up(self: SimCluster, name: str) -> None:
        sh(["ip", "link", "set", "dev", self.host(name).veth, "up"])

    def resolve_differently(self: SimCluster, name: str, other: str, addr: str | None) -> None:
        """On host `name`, `other` resolves to `addr` (None: back to the real address)."""
        host = self.host(name)
        if addr is None:
            host.resolve_overrides.pop(other, None)
        else:
            host.resolve_overrides[other] = addr
        self.write_etc_hosts(host)

    # ----- the shared filesystem (a folder every host sees, in its own mount namespace) -------
    def shadow_dir(self: SimCluster, name: str, folder: Path) -> None:
        """A private tmpfs over `folder` on this host alone: a local directory shadowing the
        shared mount (this host's files are its own)."""
        self._mount_in(name, ["mount", "-t", "tmpfs", "-o", "size=16m", "pfsim-local",
                              str(folder)], folder)

    def read_only_dir(self: SimCluster, name: str, folder: Path) -> None:
        """`folder` bind-mounted read-only over itself on this host alone."""
        self._mount_in(name, ["mount", "--bind", "-o", "ro", str(folder), str(folder)], folder)

    def dead_mount(self: SimCluster, name: str, folder: Path) -> None:
        """A mount over `folder` on this host whose every access blocks (a dead NFS server)."""
        host = self.host(name)
        holder = subprocess.Popen(
            ["nsenter", "-t", str(self._sshd_pid(name)), "-m", "-n", sys.executable, "-c",
             DEAD_FUSE, str(folder)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True)
        host.mount_holders.append(holder)
        host.mounts.append(folder)
        ready = holder.stdout.readline() if holder.stdout else b""  # EOF if mount failed
        if ready.strip() != b"READY":
            self.clear_mounts(name)
            raise SimError(f"{name}: no dead mount on {folder}: rc {holder.returncode}")

    def fill_tmp(self: SimCluster, name: str, size: str = "4m") -> None:
        """/tmp full on this host alone: a small tmpfs filled to the last block moved over
        /tmp in its mount namespace, with the cluster's own folder (sshd's config, keys,
        the stand-ins) bound back into it so SSH keeps working."""
        host = self.host(name)
        stage = host.dir / "full-tmp"
        stage.mkdir(exist_ok=True)
        self._mount_in(name, ["mount", "-t", "tmpfs", "-o", f"size={size}", "pfsim-full",
                              str(stage)], stage)
        pid = str(self._sshd_pid(name))
        binds = " && ".join(f"mkdir {stage}/{top.name} && mount --bind {top} {stage}/{top.name}"
                            for top in self._tmp_folders_in_use())
        script = (f"{binds} && {{ cat /dev/zero > {stage}/fill 2>/dev/null; true; }} && "
                  f"mount --move {stage} /tmp")
        try:
            sh(["nsenter", "-t", pid, "-m", "sh", "-c", script])
        except SimError:
            self.clear_mounts(name)
            raise
        host.mounts[-1] = Path("/tmp")  # what clear_mounts lazily unmounts now

    def _tmp_folders_in_use(self: SimCluster) -> list[Path]:
        """The folders right under /tmp the host needs: the cluster's own, and the checkout and
        interpreter its stand-ins run from when those live under /tmp (a CI clone may)."""
        needed = [self.workdir, Path(standins.__file__), Path(sys.executable), Path(sys.prefix)]
        tops = {Path("/tmp", p.resolve().relative_to("/tmp").parts[0]) for p in needed
                if p.resolve().is_relative_to("/tmp")}
        return sorted(tops)

    def clear_mounts(self: SimCluster, name: str) -> None:
        """Undo shadow_dir, read_only_dir and dead_mount on this host (newest first)."""
        host = self.host(name)
        while host.mount_holders:
            holder = host.mount_holders.pop()
            with contextlib.suppress(OSError):
                if holder.stdin:
                    holder.stdin.close()
            try:
                holder.wait(timeout=5)
            except subprocess.TimeoutExpired:
                holder.kill()
                holder.wait(timeout=5)
        pid = host.sshd.pid
        while host.mounts:
            folder = host.mounts.pop()
            if pid is not None:
                sh(["nsenter", "-t", str(pid), "-m", "umount", "-l", str(folder)], check=False)

    def _mount_in(self: SimCluster, name: str, argv: list[str], folder: Path) -> None:
        sh(["nsenter", "-t", str(self._sshd_pid(name)), "-m", *argv])
        self.host(name).mounts.append(folder)

    def _sshd_pid(self: SimCluster, name: str) -> int:
        pid = self.host(name).sshd.pid
        if pid is None:
            raise SimError(f"{name}: sshd is not running, so it has no mount namespace")
        return pid

    def write_known_hosts(self: SimCluster) -> None:
        """Head known_hosts (minus forgotten hosts) and each host's mesh known_hosts."""
        def entries(skip: set[str]) -> str:
            return files.known_hosts(
                (h.name, h.address, self.trusted_keys[h.name])
                for h in self.hosts.values() if h.name not in skip
            )
        files.write_in_place(self.known_hosts, entries(self.forgotten_host_keys))
        for host in self.hosts.values():
            files.write_in_place(host.known_hosts, entries(set()))
