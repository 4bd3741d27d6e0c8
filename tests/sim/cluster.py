"""SimCluster: N hosts as network namespaces on one bridge, each with its own real sshd.

    with SimCluster(4) as cluster:
        subprocess.run(["ssh", "-F", str(cluster.ssh_config), "node-2", "hostname"])
        cluster.iptables("node-3", 29500)           # a real fault, undone at stop()

Hosts are node-1..node-N at 198.18.K.(10+i)/24 (K unique per live cluster); the root
namespace is the "head" where preflight runs and reaches them through the bridge (.1).
"""

from __future__ import annotations

import ipaddress
import secrets
import subprocess
import time
import uuid
import weakref
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType

from . import files, netns, standins, sweep
from .faults import FaultsMixin
from .host import SimHost
from .shell import SimError, in_ns, run_killing_group, sh
from .spec import HostSpec
from .sshd import Sshd, keygen, public_key, sshd_config, wait_accepting
from .standins.render import render

HEAD = "head"
SUPERNET = ipaddress.ip_network("198.18.0.0/15")
# Smaller clusters resolve each other by ARP as real hosts do; bigger ones would overflow
# the ARP table all namespaces share (netns.pin_neighbours).
PIN_NEIGHBOURS_ABOVE = 16


class SimCluster(FaultsMixin):
    subnet: ipaddress.IPv4Network  # this cluster's /24, known once start() claimed it

    def __init__(
        self, n: int, specs: Mapping[str, HostSpec] | None = None, name_prefix: str = "node"
    ) -> None:
        if not 1 <= n <= 200:
            raise ValueError(f"a SimCluster has 1..200 hosts, not {n}")
        self.n = n
        self.name_prefix = name_prefix
        self.names = [f"{name_prefix}-{i}" for i in range(1, n + 1)]
        unknown = set(specs or {}) - set(self.names)
        if unknown:
            raise ValueError(f"specs for hosts not in the cluster: {sorted(unknown)}")
        self._initial_specs = dict(specs or {})
        self.id = ""
        self.hosts: dict[str, SimHost] = {}
        self._finalizer: weakref.finalize[..., None] | None = None
        self.trusted_keys: dict[str, str] = {}  # host -> host key line in known_hosts files
        self.forgotten_host_keys: set[str] = set()  # hosts left out of the head known_hosts
        self._started = False

    # ----- paths the head (preflight) uses -------------------------------------------------
    @property
    def workdir(self) -> Path:
        return sweep.workdir_for(self.id)

    @property
    def bridge(self) -> str:
        return f"{sweep.PREFIX}{self.id}br"

    @property
    def client_key(self) -> Path:
        return self.workdir / "id_ed25519"

    @property
    def ssh_config(self) -> Path:
        return self.workdir / "ssh_config"

    @property
    def known_hosts(self) -> Path:
        return self.workdir / "known_hosts"

    @property
    def hostfile(self) -> Path:
        return self.workdir / "hostfile"

    def preflight_args(self) -> list[str]:
        return [
            "--hostfile", str(self.hostfile),
            "--ssh-config", str(self.ssh_config),
            "--known-hosts", str(self.known_hosts),
        ]

    def address(self, name: str) -> str:
        return self.host(name).address

    def host(self, name: str) -> SimHost:
        try:
            return self.hosts[name]
        except KeyError:
            raise KeyError(f"no host {name!r} in this cluster ({', '.join(self.names)})") from None

    # ----- lifecycle ----------------------------------------------------------------------
    def __enter__(self) -> SimCluster:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self, timeout_s: float | None = None) -> SimCluster:
        if self._started:
            return self
        self._started = True
        try:
            self._claim_id_and_subnet()
            self._build_hosts()
            self._start_sshds(timeout_s if timeout_s is not None else 20.0 + 0.25 * self.n)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Tear everything down; safe to call twice and after a failed start()."""
        for host in self.hosts.values():
            self.clear_mounts(host.name)
            host.sshd.stop()
        if self._finalizer is not None:
            self._finalizer()

    def _claim_id_and_subnet(self) -> None:
        with sweep.cluster_lock():
            sweep.sweep_leftovers()
            taken = sweep.known_ids()
            self.id = next(c for c in iter(lambda: secrets.token_hex(2), None) if c not in taken)
            self.subnet = _free_subnet()
            self.workdir.mkdir(mode=0o700)
            # Registered before anything exists, so a failure half-way is still cleaned up.
            self._finalizer = weakref.finalize(self, sweep.remove_cluster, self.id)
            owner = sweep.owner_record()
            (self.workdir / "owner").write_text(owner + "\n")
            gateway = f"{self.subnet[1]}/{self.subnet.prefixlen}"
            netns.create_bridge(self.bridge, gateway, f"pfsim owner={owner}")

    def _build_hosts(self) -> None:
        for i, name in enumerate(self.names, start=1):
            hostdir = self.workdir / "hosts" / name
            hostdir.mkdir(parents=True)
            ns = f"{sweep.PREFIX}{self.id}-{i}"
            self.hosts[name] = SimHost(
                name=name, index=i, ns=ns, address=str(self.subnet[10 + i]),
                veth=f"{sweep.PREFIX}{self.id}v{i}", dir=hostdir,
                spec=self._initial_specs.get(name, HostSpec()),
                sshd=Sshd(ns, name, hostdir / "sshd_config", hostdir / "sshd.log",
                          hostdir / "identity"),
                authorized={HEAD, *self.names},
            )
        self._generate_keys()
        self.trusted_keys = {h.name: public_key(h.host_key) for h in self.hosts.values()}
        for host in self.hosts.values():
            netns.add_host(host.ns, host.veth, self.bridge, f"{host.address}/24")
            self._write_host_files(host)
        if len(self.hosts) > PIN_NEIGHBOURS_ABOVE:
            netns.pin_neighbours(self.bridge, str(self.subnet[1]),
                                 {h.ns: h.address for h in self.hosts.values()})
        self._write_client_files()

    def _generate_keys(self) -> None:
        jobs = [(self.client_key, f"{HEAD}@pfsim-{self.id}")]
        for h in self.hosts.values():
            jobs += [(h.host_key, f"{h.name} host key"), (h.mesh_key, f"root@{h.name}")]
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lambda job: keygen(*job), jobs))

    def _write_host_files(self, host: SimHost) -> None:
        host.sshd.write_identity(secrets.token_hex(16), str(uuid.uuid4()))
        standins.install(host.bin_dir)
        self.write_spec(host)
        self.write_authorized_keys(host)
        self.write_sshd_config(host)
        self.write_etc_hosts(host)
        files.write_in_place(host.etc_dir / "ssh" / "ssh_config", files.mesh_ssh_config(host))

    def _write_client_files(self) -> None:
        hosts = list(self.hosts.values())
        files.write_in_place(
            self.ssh_config, files.client_ssh_config(hosts, self.client_key, self.known_hosts)
        )
        self.write_known_hosts()
        files.write_in_place(self.hostfile, files.hostfile(hosts))

    def _start_sshds(self, timeout_s: float) -> None:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation dir
        for host in self.hosts.values():
            host.sshd.start()
        deadline = time.monotonic() + timeout_s
        for host in self.hosts.values():
            wait_accepting(host.address, 22, deadline, host.sshd)

    # ----- file writers shared with the faults ---------------------------------------------
    def _principal_key(self, principal: str) -> str:
        if principal == HEAD:
            return public_key(self.client_key)
        return public_key(self.host(principal).mesh_key)

    def write_authorized_keys(self, host: SimHost) -> None:
        keys = [self._principal_key(p) for p in [HEAD, *self.names] if p in host.authorized]
        files.write_in_place(host.authorized_keys, "".join(k + "\n" for k in keys))

    def write_spec(self, host: SimHost) -> None:
        text = host.spec.to_json() + "\n"
        files.write_in_place(host.spec_path, text)
        render(str(host.dir), host.name, text)
        standins.install_nccl_library(host.lib_dir, host.spec.nccl_version)

    def write_sshd_config(self, host: SimHost) -> None:
        text = sshd_config(
            address=host.address, host_key=host.host_key, pid_file=host.dir / "sshd.pid",
            authorized_keys=host.authorized_keys, env=host.session_env(),
            options=host.sshd_options,
        )
        files.write_in_place(host.sshd_config, text)

    def write_etc_hosts(self, host: SimHost) -> None:
        addresses = {h.name: h.address for h in self.hosts.values()} | host.resolve_overrides
        files.write_in_place(host.etc_dir / "hosts", files.hosts_file(addresses))

    # ----- looking inside hosts ------------------------------------------------------------
    def run_in(
        self, name: str, argv: Sequence[str], *, timeout: float = 30.0, check: bool = False,
        host_env: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        """Run argv inside host `name` (its netns, /etc files, hostname and, by default, the
        environment its SSH sessions get). A timeout kills the command's process group."""
        host = self.host(name)
        script = 'hostname "$1" && shift && exec "$@"'
        argv = in_ns(host.ns, ["unshare", "--uts", "sh", "-c", script, "sh", host.name, *argv])
        env = host.session_env() if host_env else None
        proc = run_killing_group(argv, timeout=timeout, env=env)
        if check and proc.returncode != 0:
            raise SimError(f"{name}: {argv} -> rc {proc.returncode}: {proc.stderr.strip()}")
        return proc

    def processes(self, name: str) -> list[tuple[int, str]]:
        """(pid, cmdline) of everything running in the host's namespace except its sshd
        listener: after a probe this should be empty."""
        host = self.host(name)
        listener = host.sshd.pid
        found = []
        for pid in netns.namespace_pids(host.ns):
            if pid == listener:
                continue
            try:
                raw = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue  # exited meanwhile
            found.append((pid, raw.replace(b"\0", b" ").decode(errors="replace").strip()))
        return found

    def processes_left(self, name: str, grace_s: float = 10.0) -> list[tuple[int, str]]:
        """processes() once what a finished run started has had `grace_s` to exit: sshd's
        session process ("sshd: root@notty") ends just after its client closes, not with it."""
        deadline = time.monotonic() + grace_s
        while (found := self.processes(name)) and time.monotonic() < deadline:
            time.sleep(0.1)
        return found

    def mpirun_argv(self, *argv: str, per_host: int = 1) -> list[str]:
        """Open MPI from the head across every host (ssh with the cluster's ssh_config; ORTE's
        own TCP kept on the cluster subnet, the only network the hosts share with the head)."""
        subnet = str(self.subnet)
        return [
            "mpirun", "--allow-run-as-root", "-N", str(per_host), "--hostfile", str(self.hostfile),
            "--mca", "plm_rsh_args", f"-F {self.ssh_config}",
            "--mca", "oob_tcp_if_include", subnet, "--mca", "btl_tcp_if_include", subnet,
            *argv,
        ]

    def ssh_argv(self, name: str, *remote: str) -> list[str]:
        """OpenSSH client argv from the head to host `name`, using the cluster's ssh_config."""
        return ["ssh", "-F", str(self.ssh_config), "-o", "BatchMode=yes", name, *remote]


def _free_subnet() -> ipaddress.IPv4Network:
    """A /24 of 198.18.0.0/15 not on any interface of the root namespace. Caller holds the lock."""
    used = []
    for line in sh(["ip", "-4", "-o", "addr", "show"]).stdout.splitlines():
        iface = ipaddress.ip_interface(line.split()[3])
        if iface.ip in SUPERNET:
            used.append(iface.network)
    for subnet in SUPERNET.subnets(new_prefix=24):
        if not any(subnet.overlaps(u) for u in used):
            return subnet
    raise SimError("no free /24 left in 198.18.0.0/15")
