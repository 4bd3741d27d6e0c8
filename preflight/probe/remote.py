# The node-side probe: sent to `python3 -S -` on every node; stdlib only, Python >= 3.6.
# It prints one JSON object with every fact. Each sub-probe has its own timeout, and a
# failing sub-probe is recorded under "errors" without losing the others.
# -S skips site's .pth processing (most of a cold start on a busy environment); the
# site-packages folders the interpreter would use with site (its venv's, conda's, the
# user's, the system's, and folders their .pth files add) are found by site_folders() and
# looked at only for torch's and NCCL's versions and, where the NVIDIA driver is loaded,
# for pynvml.
import glob
import json
import os
import platform
import re
import resource
import signal
import socket
import subprocess
import sys
import threading
import time

PROBE_VERSION = 1
MAX_OUTPUT = 4 << 20
NVIDIA_CONTROL = "/dev/nvidiactl"  # present once the NVIDIA driver is loaded
SECRET_NAME = re.compile(r"TOKEN|KEY|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH", re.I)
ENV_PREFIXES = ("NCCL_", "CUDA_", "GLOO_", "TORCH_", "MASTER_", "FI_", "UCX_", "NVIDIA_",
                "OMPI_MCA_", "SLURM_JOB_", "LD_LIBRARY_PATH")
# nvidia-smi -q carries everything the table and --query-gpu would (driver, CUDA, ECC,
# remapped rows, throttling, processes), so it is the only nvidia-smi GPU query we run.
TOOLS = {
    "nvidia_smi_q": ["nvidia-smi", "-q"],
    "topo": ["nvidia-smi", "topo", "-m"],
    "ibstat": ["ibstat"],
    "fi_info": ["fi_info", "-p", "efa"],
    "dmesg": ["dmesg", "--time-format", "iso"],
}


def which(name):
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        path = os.path.join(folder, name)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


def run(argv, timeout, keep=MAX_OUTPUT):
    """argv's result; stdout cut to `keep` bytes (None: all of it, for a caller that
    filters it down itself)."""
    if which(argv[0]) is None:
        return {"missing": True}
    started = time.time()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    timed_out = False
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            out, err = proc.communicate(timeout=2)
        except subprocess.TimeoutExpired:  # stuck in the kernel (a dead mount): abandoned
            out, err = b"", b""
    return {
        "missing": False,
        "argv": argv,
        "rc": None if timed_out else proc.returncode,
        "timed_out": timed_out,
        "duration_s": round(time.time() - started, 3),
        "stdout": out[:keep].decode("utf-8", "replace"),
        "stderr": err[:65536].decode("utf-8", "replace"),
    }


def kernel_log(timeout):
    """Only the NVRM lines, the newest kept when there are too many: the rest of the
    kernel log is not ours to ship, and a fresh Xid is at its end."""
    result = run(TOOLS["dmesg"], timeout, keep=None)
    if result.get("rc") not in (0, None) or result.get("missing"):
        result = run(["dmesg"], timeout, keep=None)
    if result.get("stdout"):
        nvrm = "".join(line for line in result["stdout"].splitlines(True) if "NVRM" in line)
        if len(nvrm) > MAX_OUTPUT:
            nvrm = nvrm[-MAX_OUTPUT:].partition("\n")[2]
        result["stdout"] = nvrm
    return result


def ibv_devinfo(timeout):
    """Only where ibstat is missing: both describe the same ports."""
    if which("ibstat") is not None:
        return {"missing": True}
    return run(["ibv_devinfo"], timeout)


def read(path, default=None):
    try:
        with open(path) as fh:
            return fh.read().strip()
    except (OSError, UnicodeDecodeError):
        return default


def identity():
    """What tells two hostfile entries apart as machines (a clone shares the machine-id,
    a second entry for one machine shares the boot_id too)."""
    return {"machine_id": read("/etc/machine-id"),
            "boot_id": read("/proc/sys/kernel/random/boot_id")}


def os_name():
    text = read("/etc/os-release", "") or ""
    for line in text.splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip().strip('"')
    return platform.system()


def mem_total():
    for line in (read("/proc/meminfo", "") or "").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return None


def interfaces():
    addresses = {}
    res = run(["ip", "-j", "addr", "show"], 5)
    if res.get("rc") == 0:
        for link in json.loads(res["stdout"] or "[]"):
            addresses[link.get("ifname")] = [
                a.get("local") for a in link.get("addr_info", []) if a.get("local")]
    found = []
    for path in sorted(glob.glob("/sys/class/net/*")):
        name = os.path.basename(path)
        speed = read(path + "/speed")
        found.append({
            "name": name,
            "mtu": int(read(path + "/mtu", "0") or 0),
            "state": read(path + "/operstate"),
            "speed_mbps": int(speed) if speed and speed.isdigit() else None,
            "addresses": addresses.get(name, []),
        })
    return found


def limit(which_limit):
    soft, _hard = resource.getrlimit(which_limit)
    return -1 if soft == resource.RLIM_INFINITY else soft


def space(path):
    try:
        st = os.statvfs(path)
    except OSError as exc:
        return {"path": path, "error": str(exc)}
    return {"path": path, "total_bytes": st.f_blocks * st.f_frsize,
            "free_bytes": st.f_bavail * st.f_frsize}


def environment():
    env = {}
    for name, value in os.environ.items():
        if name.startswith(ENV_PREFIXES):
            env[name] = "<redacted>" if SECRET_NAME.search(name) else value
    return env


def nccl_version():
    folders = os.environ.get("LD_LIBRARY_PATH", "").split(os.pathsep) + [
        "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib",
        "/usr/local/lib", "/usr/local/cuda/lib64", "/opt/nccl/lib"]
    for site_dir in site_folders():
        folders += glob.glob(os.path.join(site_dir, "nvidia", "nccl", "lib"))
    for folder in folders:
        for lib in sorted(glob.glob(os.path.join(folder, "libnccl.so.*.*.*"))):
            return lib.rsplit("libnccl.so.", 1)[1]
    return None


def venv_config():
    """(venv folder, include-system-site-packages) from the pyvenv.cfg beside or one level
    above the interpreter, as site.py finds it; (None, True) outside a venv."""
    executable_dir = os.path.dirname(os.path.abspath(sys.executable))
    for folder in (executable_dir, os.path.dirname(executable_dir)):
        text = read(os.path.join(folder, "pyvenv.cfg"))
        if text is None:
            continue
        system_site = False
        for line in text.splitlines():
            key, sep, value = line.partition("=")
            if sep and key.strip().lower() == "include-system-site-packages":
                system_site = value.strip().lower() == "true"
        return folder, system_site
    return None, True


def site_folders():
    """The site-packages folders `python3` (with site) would search, in its order."""
    try:
        import site
    except Exception:
        return []
    venv, system_site = venv_config()
    base = [sys.prefix, sys.exec_prefix]
    prefixes = ([venv] + (base if system_site else [])) if venv else base
    user_site = system_site and not os.environ.get("PYTHONNOUSERSITE")
    folders = ([site.getusersitepackages()] if user_site else [])
    folders += site.getsitepackages(prefixes)
    found = []
    for folder in folders:
        if os.path.isdir(folder) and folder not in found:
            found.append(folder)
            found += [p for p in pth_paths(folder) if p not in found]
    return found


def pth_paths(folder):
    """Folders a site-packages folder's .pth files add (their `import` lines are code,
    which site would run; we only read the path lines)."""
    added = []
    for pth in sorted(glob.glob(os.path.join(folder, "*.pth"))):
        for line in (read(pth, "") or "").splitlines():
            line = line.strip()
            if not line or line.startswith(("#", "import ", "import\t")):
                continue
            path = os.path.normpath(os.path.join(folder, line))
            if os.path.isdir(path):
                added.append(path)
    return added


def dist_version(name):
    """From the installed distribution's METADATA, without importing importlib.metadata."""
    for folder in site_folders() + [p for p in sys.path if p]:
        for info in sorted(glob.glob(os.path.join(folder, name + "-*.dist-info"))):
            for line in (read(os.path.join(info, "METADATA"), "") or "").splitlines():
                if line.startswith("Version:"):
                    return line.split(":", 1)[1].strip()
                if not line:
                    break
    return None


def resolve(names):
    answers = {}
    for name in names:
        try:
            infos = socket.getaddrinfo(name, None, socket.AF_INET, socket.SOCK_STREAM)
            answers[name] = sorted({info[4][0] for info in infos})
        except (OSError, UnicodeError) as exc:
            answers[name] = {"error": str(exc)}
    return answers


def network(names):
    """The ephemeral port range (where NCCL and gloo listen) and the source address this
    node sends from towards each other node (the route `ip route get` would pick)."""
    bounds = (read("/proc/sys/net/ipv4/ip_local_port_range", "") or "").split()
    ports = [int(b) for b in bounds[:2]] if len(bounds) == 2 and all(
        b.isdigit() for b in bounds) else None
    by_source = {}
    for name, addresses in resolve(names).items():
        if isinstance(addresses, list) and addresses:
            source = source_address(addresses[0])
            by_source.setdefault(source, []).append(name)
    if not by_source:
        return {"ephemeral_ports": ports, "sources": None}
    # O(1) per node when it sends from one address (the usual case): only the names it
    # reaches from another address are listed.
    usual = max(by_source, key=lambda source: len(by_source[source]))
    return {"ephemeral_ports": ports, "sources": {
        "usual": usual, "count": len(by_source[usual]),
        "others": {source: names for source, names in by_source.items() if source != usual}}}


def source_address(address):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.connect((address, 9))  # UDP: no packet leaves, the kernel only picks a route
        return sock.getsockname()[0]
    except OSError as exc:
        return "error: %s" % exc
    finally:
        sock.close()


def paths(wanted):
    found = {}
    for path in wanted:
        found[path] = {"exists": os.path.exists(path), "mount": os.path.ismount(path)}
    return found


# Run in a child per shared path: a stat of a dead NFS mount blocks in the kernel, and
# the child is abandoned at its deadline instead of awaited.
STAT_CHILD = """
import errno, json, os, stat, sys
path = sys.argv[1]
try:
    mode = os.stat(path).st_mode
    out = {"exists": True, "dir": stat.S_ISDIR(mode), "real": os.path.realpath(path)}
except OSError as exc:
    out = {"exists": False if exc.errno == errno.ENOENT else None,
           "error": "%s: %s" % (errno.errorcode.get(exc.errno, exc.errno), exc.strerror)}
sys.stdout.write(json.dumps(out))
"""


def unescape(field):
    """mountinfo writes space, tab, newline and backslash as octal escapes (\\040)."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def mountinfo():
    entries = []
    for line in (read("/proc/self/mountinfo", "") or "").splitlines():
        left, sep, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if not sep or len(fields) < 6 or len(tail) < 2:
            continue
        entries.append({"mount_point": unescape(fields[4]), "root": unescape(fields[3]),
                        "fstype": tail[0], "source": unescape(tail[1]),
                        "options": fields[5], "super_options": tail[2] if len(tail) > 2 else "",
                        "read_only": "ro" in fields[5].split(",")})
    return entries


def mount_of(path, entries):
    """The mount `path` lies on: the longest mount point above it, the last one listed
    when several are stacked on the same point (the one on top)."""
    best = None
    for entry in entries:
        point = entry["mount_point"]
        under = path == point or path.startswith(point.rstrip("/") + "/")
        if under and (best is None or len(point) >= len(best["mount_point"])):
            best = entry
    return best


def stat_shared(path, timeout):
    result = run([sys.executable, "-S", "-c", STAT_CHILD, path], timeout)
    if result.get("timed_out"):
        return {"exists": None, "timed_out": True, "timeout_s": timeout}
    try:
        return json.loads(result.get("stdout") or "")
    except ValueError:
        return {"exists": None, "error": (result.get("stderr") or "no answer")[-300:]}


def shared_mounts(wanted, timeout):
    """Per shared path: does it answer a stat in time, and which mount (source, type,
    options) it lies on. Reading mountinfo never touches the mount itself."""
    table = mountinfo()
    stats = {}

    def one(path):
        stats[path] = stat_shared(path, timeout)

    threads = [threading.Thread(target=one, args=(p,), daemon=True) for p in wanted]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout + 5)
    found = {}
    for path in wanted:
        status = stats.get(path) or {"exists": None, "timed_out": True, "timeout_s": timeout}
        where = status.get("real") or os.path.normpath(os.path.join("/", path))
        mount = mount_of(where, table)
        if mount is not None:  # the folder of the mounted filesystem that `path` shows
            inside = os.path.relpath(where, mount["mount_point"])
            mount = dict(mount, fs_path=os.path.normpath(os.path.join(mount["root"], inside)))
        found[path] = {"stat": status, "mount": mount,
                       "is_mount_point": mount is not None and mount["mount_point"] == where}
    return found


def pynvml_facts():
    if not os.path.exists(NVIDIA_CONTROL):
        return None  # no driver loaded: nvidia-smi's record says why
    for folder in site_folders():
        if folder not in sys.path:
            sys.path.append(folder)
    try:
        import pynvml
    except Exception:
        return None
    try:
        pynvml.nvmlInit()
    except Exception as exc:
        return {"error": str(exc)}
    try:
        gpus = []
        for index in range(pynvml.nvmlDeviceGetCount()):
            gpus.append(nvml_gpu(pynvml, index))
        return {"driver_version": as_text(pynvml.nvmlSystemGetDriverVersion()), "gpus": gpus}
    except Exception as exc:
        return {"error": str(exc)}
    finally:
        pynvml.nvmlShutdown()


def as_text(value):
    return value.decode() if isinstance(value, bytes) else value


def nvml_try(call, *args):
    try:
        return call(*args)
    except Exception:
        return None


def nvml_gpu(nv, index):
    handle = nv.nvmlDeviceGetHandleByIndex(index)
    memory = nv.nvmlDeviceGetMemoryInfo(handle)
    pci = nv.nvmlDeviceGetPciInfo(handle)
    ecc = nvml_try(nv.nvmlDeviceGetTotalEccErrors, handle,
                   nv.NVML_MEMORY_ERROR_TYPE_UNCORRECTED, nv.NVML_VOLATILE_ECC)
    remap = nvml_try(nv.nvmlDeviceGetRemappedRows, handle)
    reasons = nvml_try(nv.nvmlDeviceGetCurrentClocksThrottleReasons, handle) or 0
    persistence = nvml_try(nv.nvmlDeviceGetPersistenceMode, handle)
    return {
        "index": index,
        "name": as_text(nv.nvmlDeviceGetName(handle)),
        "uuid": as_text(nv.nvmlDeviceGetUUID(handle)),
        "bus_id": as_text(pci.busId),
        "memory_used_mib": memory.used // (1 << 20),
        "memory_total_mib": memory.total // (1 << 20),
        "persistence_mode": None if persistence is None else bool(persistence),
        "ecc_uncorrected_volatile": ecc,
        "remapped_rows": None if remap is None else {
            "correctable": remap[0], "uncorrectable": remap[1],
            "pending": bool(remap[2]), "failure": bool(remap[3])},
        "throttle_reasons": throttle_names(nv, reasons),
    }


def throttle_names(nv, mask):
    names = {"hw_slowdown": "nvmlClocksThrottleReasonHwSlowdown",
             "hw_thermal_slowdown": "nvmlClocksThrottleReasonHwThermalSlowdown",
             "hw_power_brake": "nvmlClocksThrottleReasonHwPowerBrakeSlowdown",
             "sw_thermal_slowdown": "nvmlClocksThrottleReasonSwThermalSlowdown"}
    return sorted(n for n, attr in names.items() if mask & getattr(nv, attr, 0))


FINGERPRINT_KEEP = 1 << 20
FINGERPRINTS = ("firewall", "sshd", "ssh_client")


def fingerprint(peers, timeout, parts=FINGERPRINTS):
    """Raw text of the settings compared across nodes (normalised on the head), those of
    `parts` the run reads: the firewall ruleset (iptables-save, else nft), sshd's
    effective settings and this node's ssh client settings for a peer (the first node: the
    same peer from every node)."""
    found = {}
    if "firewall" in parts:
        found["firewall"] = run(["iptables-save"], timeout, keep=FINGERPRINT_KEEP)
        if found["firewall"].get("missing") or found["firewall"].get("rc") != 0:
            found["firewall"] = run(["nft", "list", "ruleset"], timeout, keep=FINGERPRINT_KEEP)
    if "sshd" in parts:
        # sshd lives in sbin, often off a user's PATH (run() finds an absolute path as is)
        found["sshd"] = run([which("sshd") or "/usr/sbin/sshd", "-T"], timeout)
    if "ssh_client" in parts:
        found["ssh_client"] = (run(["ssh", "-G", peers[0]], timeout) if peers
                               else {"missing": True})
    return found


def system_facts(options):
    return {
        "hostname": socket.gethostname(),
        # gloo and c10d bind what the hostname resolves to: loopback there breaks them.
        "hostname_resolves": resolve([socket.gethostname()]).get(socket.gethostname()),
        "os": os_name(),
        "kernel": platform.release(),
        "arch": platform.machine(),
        "cpus": os.cpu_count(),
        "mem_total_bytes": mem_total(),
        "python": platform.python_version(),
        "user": os.environ.get("USER") or str(os.getuid()),
        "slurm_node": os.environ.get("SLURMD_NODENAME"),
        "ulimits": {"memlock": limit(resource.RLIMIT_MEMLOCK),
                    "nofile": limit(resource.RLIMIT_NOFILE)},
        "shm": space("/dev/shm"),
        "disks": [space(p) for p in options.get("disk_paths", ["/", "/tmp"])],
        "env": environment(),
    }


def versions():
    return {"nccl": nccl_version(), "torch": dist_version("torch"),
            "python": platform.python_version(),
            "driver": (read("/proc/driver/nvidia/version", "") or "").split("Kernel Module")[-1]
            .split()[0:1] or None}


def gather(options):
    timeout = float(options.get("timeout", 20))
    facts = {"probe_version": PROBE_VERSION, "errors": {}}
    jobs = {
        "system": lambda: system_facts(options),
        "interfaces": interfaces,
        "versions": versions,
        "resolve": lambda: resolve(options.get("resolve", [])),
        "paths": lambda: paths(options.get("paths", [])),
        "network": lambda: network(options.get("resolve", [])),
        "pynvml": pynvml_facts,
        "shared_mounts": lambda: shared_mounts(options.get("shared_paths", []),
                                               max(1.0, min(10.0, timeout / 2))),
        "fingerprint": lambda: fingerprint(options.get("resolve", [])[:1], timeout,
                                           options.get("fingerprints", FINGERPRINTS)),
    }
    for name, argv in TOOLS.items():
        jobs["tool:" + name] = (lambda a=argv: run(a, timeout))
    jobs["identity"] = identity
    jobs["tool:dmesg"] = lambda: kernel_log(timeout)
    jobs["tool:ibv_devinfo"] = lambda: ibv_devinfo(timeout)
    results = {}

    def worker(name, job):
        try:
            results[name] = job()
        except Exception as exc:  # one failing sub-probe never loses the others
            facts["errors"][name] = "%s: %s" % (type(exc).__name__, exc)

    threads = [threading.Thread(target=worker, args=item, daemon=True) for item in jobs.items()]
    for thread in threads:
        thread.start()
    deadline = time.time() + timeout + 5
    for thread in threads:
        thread.join(max(0.0, deadline - time.time()))
    for name in jobs:
        if name not in results and name not in facts["errors"]:
            facts["errors"][name] = "sub-probe did not finish within %.0f s" % timeout
    facts.update(results.pop("system", {}))
    facts["tools"] = {k[5:]: v for k, v in results.items() if k.startswith("tool:")}
    for key in ("interfaces", "versions", "resolve", "paths", "pynvml", "shared_mounts",
                "fingerprint", "network"):
        facts[key] = results.get(key)
    facts["identity"] = results.get("identity")
    fix_driver(facts)
    facts["time"] = time.time()
    return facts


def fix_driver(facts):
    driver = (facts.get("versions") or {}).get("driver")
    if isinstance(driver, list):
        facts["versions"]["driver"] = driver[0] if driver else None


def main():
    options = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    sys.stdout.write(json.dumps(gather(options)))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
