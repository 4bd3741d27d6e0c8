"""A real Slurm (Debian slurm-wlm + munge) on top of a SimCluster.

    slurm = SimSlurm(cluster).start()
    subprocess.run(["srun", "-N4", "hostname"], env=slurm.env())   # real slurmctld/slurmd
    slurm.stop()

munged and slurmctld run on the head (the root namespace) with a socket, port, spool and
state of their own under the cluster's workdir, so two clusters (or a machine's own Slurm)
never meet. Each host's slurmd runs in that host's network and UTS namespaces (nsenter -n
-u on its sshd) and in a private copy of the head's mount namespace where the host's /etc
files, machine-id and boot_id are bound: entering the host's own mount namespace would hide
the machine's cgroup v1 mounts, and slurmd refuses to start without them.

Tasks get what an SSH session on their host gets (stand-ins first on PATH, its HOME) from
a TaskProlog, as a site's prolog sets up a job's environment.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from .netns import namespace_pids
from .shell import SimError

if TYPE_CHECKING:
    from .cluster import SimCluster
    from .host import SimHost

PARTITION = "sim"
START_TIMEOUT_S = 60.0
DAEMONS = ("munged", "slurmctld", "slurmd")


def missing_slurm() -> str | None:
    """Why this machine cannot run a SimSlurm, or None when it can."""
    tools = ("munged", "slurmctld", "slurmd", "srun", "sinfo", "scontrol", "nsenter")
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        return f"missing {', '.join(missing)} (apt-get install slurm-wlm munge util-linux)"
    return None


class SimSlurm:
    """slurmctld + munged on the head, one slurmd per host; stop() leaves nothing behind."""

    def __init__(self, cluster: SimCluster, conf_lines: Iterable[str] = ()) -> None:
        self.cluster = cluster
        self.conf_lines = list(conf_lines)  # added to slurm.conf, e.g. "Prolog=/path"
        self.dir = cluster.workdir / "slurm"
        self.port = 0
        self.procs: dict[str, subprocess.Popen[bytes]] = {}  # "slurmctld", "slurmd:node-1"...

    # ----- what clients need ------------------------------------------------------------
    @property
    def conf(self) -> Path:
        return self.dir / "slurm.conf"

    @property
    def munge_socket(self) -> Path:
        return self.dir / "munge" / "munge.socket"

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The head's environment for srun/sinfo/scontrol/sbatch against this Slurm."""
        return {**os.environ, "SLURM_CONF": str(self.conf), **(extra or {})}

    def run(self, *argv: str, timeout: float = 60.0, check: bool = True,
            env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                              env=self.env(env), stdin=subprocess.DEVNULL)
        if check and proc.returncode != 0:
            raise SimError(f"{' '.join(argv)} -> rc {proc.returncode}: {proc.stderr.strip()}")
        return proc

    def salloc(self, n: int | None = None, *flags: str) -> list[str]:
        """argv prefix that runs a command on the head inside a real allocation."""
        return ["salloc", f"--nodes={n or self.cluster.n}", "--quiet", "--immediate=60", *flags]

    def preflight_args(self) -> list[str]:
        """preflight's inventory from the allocation; SSH (active probes) as the cluster's."""
        cluster = self.cluster
        return ["--slurm", "--ssh-config", str(cluster.ssh_config),
                "--known-hosts", str(cluster.known_hosts)]

    def leftovers(self, wait_s: float = 10.0) -> dict[str, list[tuple[int, str]]]:
        """What still runs on the hosts besides sshd and slurmd, once steps had a moment to
        end (empty after a probe)."""
        end = time.monotonic() + wait_s
        while True:
            left = {name: [(pid, cmd) for pid, cmd in self.cluster.processes(name)
                           if not cmd.startswith("slurmd ")] for name in self.cluster.names}
            left = {name: procs for name, procs in left.items() if procs}
            if not left or time.monotonic() > end:
                return left
            time.sleep(0.2)

    def states(self) -> dict[str, str]:
        """node -> state as sinfo prints it ('idle', 'down*', 'drain', 'alloc'...)."""
        out = self.run("sinfo", "-h", "-N", "-o", "%N %t", check=False).stdout
        return dict(line.split() for line in out.splitlines() if len(line.split()) == 2)

    def reason(self, name: str) -> str:
        out = self.run("sinfo", "-h", "-n", name, "-o", "%E").stdout
        return out.strip()

    # ----- lifecycle --------------------------------------------------------------------
    def start(self, timeout_s: float = START_TIMEOUT_S) -> SimSlurm:
        try:
            self._write_files()
            self._start_munged()
            self._start_slurmctld()
            for host in self.cluster.hosts.values():
                self.start_slurmd(host.name)
            self.wait_idle(self.cluster.names, timeout_s)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Kill every daemon (slurmd first) and every step they started; remove the files."""
        for key in sorted(self.procs, key=lambda k: DAEMONS.index(k.split(":")[0]),
                          reverse=True):
            _kill(self.procs.pop(key))
        kill_steps(self.cluster)
        kill_recorded(self.dir)
        shutil.rmtree(self.dir, ignore_errors=True)

    def stop_slurmd(self, name: str) -> None:
        proc = self.procs.pop(f"slurmd:{name}", None)
        if proc is not None:
            _kill(proc)

    def start_slurmd(self, name: str) -> None:
        host = self.cluster.host(name)
        sshd_pid = host.sshd.pid
        if sshd_pid is None:
            raise SimError(f"{name}: its sshd is not running (slurmd joins its namespaces)")
        binds = [(str(host.etc_dir / entry.name), f"/etc/{entry.name}")
                 for entry in sorted(host.etc_dir.iterdir())]
        binds += [(str(host.sshd.machine_id_file), "/etc/machine-id"),
                  (str(host.sshd.boot_id_file), "/proc/sys/kernel/random/boot_id")]
        mounts = " && ".join(f"mount --bind {a} {b}" for a, b in binds)
        script = f'{mounts} && exec slurmd -D -N "$1" -f "$2"'
        argv = ["nsenter", "-t", str(sshd_pid), "-n", "-u", "unshare", "--mount",
                "--propagation", "private", "sh", "-c", script, "sh", name, str(self.conf)]
        self.procs[f"slurmd:{name}"] = self._spawn(argv, self.dir / "log" / f"slurmd-{name}.out")

    def run_on(self, name: str, argv: list[str], env: Mapping[str, str],
               timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        """Run argv on host `name` as its slurmd runs a HealthCheckProgram: in slurmd's
        namespaces (network, UTS and its mount copy), with only `env`."""
        proc = self.procs.get(f"slurmd:{name}")
        if proc is None or proc.poll() is not None:
            raise SimError(f"{name}: slurmd is not running")
        return subprocess.run(["nsenter", "-t", str(proc.pid), "-n", "-u", "-m", *argv],
                              capture_output=True, text=True, timeout=timeout, env=dict(env),
                              stdin=subprocess.DEVNULL)

    def wait_idle(self, names: Iterable[str], timeout_s: float = START_TIMEOUT_S) -> None:
        self.wait_state(dict.fromkeys(names, "idle"), timeout_s)

    def wait_state(self, wanted: Mapping[str, str], timeout_s: float = START_TIMEOUT_S
                   ) -> None:
        """Poll sinfo until every node of `wanted` shows its state (no fixed sleeps)."""
        deadline = time.monotonic() + timeout_s
        while True:
            self._check_alive()
            states = self.states()
            if all(states.get(n) == state for n, state in wanted.items()):
                return
            if time.monotonic() > deadline:
                raise SimError(f"Slurm nodes not {dict(wanted)} after {timeout_s:g} s: {states}")
            time.sleep(0.1)

    # ----- setup ------------------------------------------------------------------------
    def _write_files(self) -> None:
        for sub in ("munge", "log", "state", "spool", "env"):
            (self.dir / sub).mkdir(parents=True, mode=0o700)
        key = self.dir / "munge" / "munge.key"
        key.write_bytes(secrets.token_bytes(1024))
        key.chmod(0o400)
        self.port = _free_port()
        self.conf.write_text(slurm_conf(self) + "".join(f"{line}\n" for line in self.conf_lines))
        prolog = self.dir / "task_prolog.sh"
        prolog.write_text(f'#!/bin/sh\ncat "{self.dir}/env/$SLURMD_NODENAME"\n')
        prolog.chmod(0o755)
        for host in self.cluster.hosts.values():
            (self.dir / "env" / host.name).write_text(task_env(host))

    def _start_munged(self) -> None:
        munge = self.dir / "munge"
        argv = ["munged", "--foreground", "--force", f"--socket={self.munge_socket}",
                f"--key-file={munge / 'munge.key'}", f"--pid-file={munge / 'munged.pid'}",
                f"--log-file={self.dir / 'log' / 'munged.log'}",
                f"--seed-file={munge / 'munged.seed'}", "--num-threads=4"]
        self.procs["munged"] = self._spawn(argv, self.dir / "log" / "munged.out")
        deadline = time.monotonic() + 10
        while not self.munge_socket.exists():
            self._check_alive()
            if time.monotonic() > deadline:
                raise SimError("munged did not create its socket within 10 s")
            time.sleep(0.02)

    def _start_slurmctld(self) -> None:
        argv = ["slurmctld", "-D", "-i", "-f", str(self.conf)]
        self.procs["slurmctld"] = self._spawn(argv, self.dir / "log" / "slurmctld.out")

    def _spawn(self, argv: list[str], log: Path) -> subprocess.Popen[bytes]:
        with log.open("ab") as out:
            return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                    start_new_session=True, env=self.env())

    def _check_alive(self) -> None:
        for key, proc in self.procs.items():
            if proc.poll() is not None:
                name = key.replace(":", "-")
                logs = [self.dir / "log" / f"{name}.out", self.dir / "log" / f"{name}.log"]
                tail = "".join(p.read_text(errors="replace")[-1500:] for p in logs if p.exists())
                raise SimError(f"{key} exited rc {proc.returncode}: {tail}")


def slurm_conf(slurm: SimSlurm) -> str:
    cluster, d = slurm.cluster, slurm.dir
    head = socket.gethostname()
    nodes = "".join(f"NodeName={h.name} NodeAddr={h.address} CPUs=2 State=UNKNOWN\n"
                    for h in cluster.hosts.values())
    return (
        f"ClusterName=pfsim{cluster.id}\n"
        f"SlurmctldHost={head}({cluster.subnet[1]})\n"
        f"SlurmctldPort={slurm.port}\n"
        "SlurmdPort=6818\n"
        "SlurmUser=root\nSlurmdUser=root\n"
        "AuthType=auth/munge\nCredType=cred/munge\n"
        f"AuthInfo=socket={slurm.munge_socket}\n"
        "ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\n"
        "SelectType=select/cons_tres\nSelectTypeParameters=CR_Core\n"
        "MpiDefault=none\nMailProg=/bin/true\nReturnToService=2\n"
        "JobAcctGatherType=jobacct_gather/none\nAccountingStorageType=accounting_storage/none\n"
        "SchedulerType=sched/backfill\n"
        "SlurmctldTimeout=30\nSlurmdTimeout=30\nInactiveLimit=0\nMinJobAge=5\nKillWait=5\n"
        "MessageTimeout=60\nWaitTime=0\n"
        f"StateSaveLocation={d / 'state'}\n"
        f"SlurmdSpoolDir={d / 'spool'}/%n\n"
        f"SlurmctldPidFile={d / 'slurmctld.pid'}\n"
        f"SlurmdPidFile={d / 'slurmd-%n.pid'}\n"
        f"SlurmctldLogFile={d / 'log' / 'slurmctld.log'}\n"
        f"SlurmdLogFile={d / 'log' / 'slurmd-%n.log'}\n"
        f"TaskProlog={d / 'task_prolog.sh'}\n"
        f"{nodes}"
        f"PartitionName={PARTITION} Nodes=ALL Default=YES MaxTime=INFINITE State=UP\n"
    )


def task_env(host: SimHost) -> str:
    """TaskProlog output: what sshd's SetEnv gives an SSH session on this host."""
    return "".join(f"export {k}={v}\n" for k, v in host.session_env().items())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("", 0))
        return int(sock.getsockname()[1])


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the daemon's whole session (slurmstepd and tasks started under it too)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


def kill_recorded(slurm_dir: Path) -> None:
    """Kill what still runs from `slurm_dir` (daemons of a crashed test, found by the
    command lines that name the dir, and steps whose slurmstepd outlived its slurmd)."""
    marker = str(slurm_dir).encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if marker in cmdline:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(entry.name), signal.SIGKILL)


def kill_steps(cluster: SimCluster) -> None:
    """slurmstepd (and its tasks' session) left in a host after its slurmd was killed."""
    for host in cluster.hosts.values():
        for pid in namespace_pids(host.ns):
            with contextlib.suppress(OSError):
                if Path(f"/proc/{pid}/comm").read_text().strip() == "slurmstepd":
                    os.kill(pid, signal.SIGKILL)
