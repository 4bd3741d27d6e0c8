"""One OpenSSH sshd per simulated host: keys, config, process, readiness."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

from .shell import SimError, sh

SSHD = "/usr/sbin/sshd"
FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"


def keygen(path: Path, comment: str) -> str:
    """New ed25519 key at `path`; returns the public key line."""
    for stale in (path, path.with_name(path.name + ".pub")):
        stale.unlink(missing_ok=True)
    sh(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)])
    return path.with_name(path.name + ".pub").read_text().strip()


def public_key(path: Path) -> str:
    return path.with_name(path.name + ".pub").read_text().strip()


def key_body(public_line: str) -> str:
    """'ssh-ed25519 AAAA...' without the comment, as known_hosts wants it."""
    kind, blob = public_line.split()[:2]
    return f"{kind} {blob}"


def sshd_config(
    *, address: str, host_key: Path, pid_file: Path, authorized_keys: Path,
    env: Mapping[str, str], options: Mapping[str, str] | None = None,
) -> str:
    """`options` replace the defaults below (e.g. {"MaxStartups": "2"}).

    Key exchange is curve25519 only: OpenSSH 9's default hybrid, sntrup761x25519, costs the
    client ~110 ms of CPU per handshake on this machine against ~20 ms for everything else
    ssh does. A real node pays that on its own cores; here every simulated node's ssh
    client shares 2 cores, and the handshakes of a mesh, an mpirun or a suite would be
    timed on sntrup761 alone. What preflight runs and checks does not change."""
    set_env = " ".join(f"{k}={v}" for k, v in env.items())
    text = (
        f"ListenAddress {address}\n"
        "Port 22\n"
        f"HostKey {host_key}\n"
        f"PidFile {pid_file}\n"
        f"AuthorizedKeysFile {authorized_keys}\n"
        "UsePAM no\n"
        "StrictModes no\n"
        "PasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\n"
        "PermitRootLogin prohibit-password\n"
        "PubkeyAuthentication yes\n"
        "UseDNS no\n"
        "PrintMotd no\n"
        "PrintLastLog no\n"
        "AcceptEnv LANG LC_*\n"
        "MaxStartups 200:30:400\n"
        "MaxSessions 100\n"
        "KexAlgorithms curve25519-sha256,curve25519-sha256@libssh.org\n"
        "Subsystem sftp internal-sftp\n"
        f"SetEnv {set_env}\n"
    )
    for key, value in (options or {}).items():
        text = "".join(line for line in text.splitlines(True) if not line.startswith(key + " "))
        text += f"{key} {value}\n"
    return text


def faketime_env(seconds: float) -> dict[str, str]:
    return {
        "LD_PRELOAD": FAKETIME_LIB,
        # The monotonic clock moves by the same constant, which changes no duration.
        # (FAKETIME_DONT_FAKE_MONOTONIC would make every time.sleep fail with EINVAL.)
        "FAKETIME": f"{seconds:+g}s",
    }


class Sshd:
    """The sshd listener of one host, in UTS and mount namespaces of its own, so `hostname`,
    /etc/machine-id and /proc/sys/kernel/random/boot_id are per host (as on real machines)
    and a fault can mount over a path on this host alone (nsenter -t PID -m)."""

    def __init__(self, ns: str, hostname: str, config: Path, log: Path,
                 identity_dir: Path) -> None:
        self.ns = ns
        self.hostname = hostname
        self.config = config
        self.log = log
        self.identity_dir = identity_dir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def machine_id_file(self) -> Path:
        return self.identity_dir / "machine-id"

    @property
    def boot_id_file(self) -> Path:
        return self.identity_dir / "boot_id"

    def write_identity(self, machine_id: str, boot_id: str) -> None:
        self.identity_dir.mkdir(parents=True, exist_ok=True)
        self.machine_id_file.write_text(machine_id + "\n")
        self.boot_id_file.write_text(boot_id + "\n")

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.running else None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        if self.running:
            return
        script = ('hostname "$1" && mount --bind "$3" /etc/machine-id'
                  ' && mount --bind "$4" /proc/sys/kernel/random/boot_id'
                  f' && exec {SSHD} -D -e -f "$2"')
        argv = ["ip", "netns", "exec", self.ns, "unshare", "--uts", "--mount",
                "--propagation", "private", "sh", "-c", script, "sh", self.hostname,
                str(self.config), str(self.machine_id_file), str(self.boot_id_file)]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
            )

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            tail = self.log.read_text(errors="replace")[-2000:]
            raise SimError(f"sshd of {self.hostname} exited rc {self.proc.returncode}: {tail}")


def wait_accepting(address: str, port: int, deadline: float, sshd: Sshd | None = None) -> None:
    """Block until a TCP connect to address:port succeeds, or raise at the monotonic deadline."""
    while True:
        if sshd is not None:
            sshd.check_alive()
        try:
            with socket.create_connection((address, port), timeout=0.5):
                return
        except OSError as exc:
            if time.monotonic() > deadline:
                raise SimError(f"{address}:{port} not accepting: {exc}") from exc
            time.sleep(0.02)
