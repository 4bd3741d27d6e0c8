# Node-side: the effective MaxStartups/MaxSessions of the sshd listening in this network
# namespace (`sshd -T`, with the -f config it runs with); prints JSON, or {"error": why}.
import json
import os
import subprocess
import sys

WANTED = ("maxstartups", "maxsessions")


def listener_config():
    """The -f argument of an sshd in this network namespace (None: the default config)."""
    mine = os.readlink("/proc/self/ns/net")
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as fh:
                argv = fh.read().decode(errors="replace")
            if os.readlink("/proc/%s/ns/net" % pid) != mine:
                continue
        except OSError:
            continue
        # OpenSSH 9 retitles its listener "sshd: /usr/sbin/sshd -f F [listener] ...": one
        # string with spaces instead of NUL-separated arguments.
        argv = argv.replace("\0", " ").split()
        if argv and os.path.basename(argv[0]).startswith("sshd") and "-f" in argv[:-1]:
            return argv[argv.index("-f") + 1]
    return None


def effective():
    config = listener_config()
    argv = ["sshd", "-T"] + (["-f", config] if config else [])
    for folder in ("/usr/sbin", "/usr/local/sbin", "/sbin"):
        if os.path.exists(os.path.join(folder, "sshd")):
            argv[0] = os.path.join(folder, "sshd")
            break
    try:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=5)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"error": str(exc)}
    found = {}
    for line in proc.stdout.decode(errors="replace").splitlines():
        key, _, value = line.partition(" ")
        if key in WANTED:
            found[key] = value.strip()
    if not found:
        said = proc.stderr.decode(errors="replace").strip().splitlines()
        return {"error": said[-1][:200] if said else "sshd -T printed nothing"}
    return found


sys.stdout.write(json.dumps(effective()))
