# Node-side: start server commands (argv lists), wait until each listens on its TCP port
# (or exits), print "READY <json>", then wait for stdin to close (or `lifetime`). Servers
# then get `grace` seconds to finish before they are killed (as on SIGTERM/SIGHUP), and
# "DONE <json>" gives each one's rc and output tail. Readiness comes from /proc/net/tcp,
# not from the servers' output, which a C program writing to a pipe keeps in its buffer.
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time

spec = json.loads(sys.argv[1])
LISTEN = "0A"


def listening():
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as fh:
                rows = fh.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if len(fields) > 3 and fields[3] == LISTEN:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def start(argv):
    try:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True)
    except OSError as exc:
        return exc


def collect(proc, sink):
    sink.append(proc.communicate())


def stop(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
    proc.wait()


def summary(proc, output):
    if isinstance(proc, OSError):
        return {"rc": 127, "stdout": "", "stderr": str(proc)}
    out, err = output[0] if output else (b"", b"")
    return {"rc": proc.returncode, "stdout": out.decode("utf-8", "replace")[-4000:],
            "stderr": err.decode("utf-8", "replace")[-4000:]}


def on_signal(signum, frame):
    for proc in procs:
        if not isinstance(proc, OSError) and proc.poll() is None:
            stop(proc)
    sys.exit(128 + signum)


lifetime_end = time.monotonic() + float(spec.get("lifetime", 60))
procs = []
signal.signal(signal.SIGTERM, on_signal)
signal.signal(signal.SIGHUP, on_signal)
procs.extend(start(argv) for argv in spec["commands"])
outputs = [[] for _ in procs]
readers = [threading.Thread(target=collect, args=(p, outputs[i]), daemon=True)
           for i, p in enumerate(procs) if not isinstance(p, OSError)]
for reader in readers:
    reader.start()
deadline = time.monotonic() + float(spec.get("ready_timeout", 10))
status = ["waiting"] * len(procs)
while "waiting" in status and time.monotonic() < deadline:
    up = listening()
    for i, proc in enumerate(procs):
        if status[i] != "waiting":
            continue
        if isinstance(proc, OSError) or proc.poll() is not None:
            status[i] = "exited"
        elif spec["ports"][i] in up:
            status[i] = "ready"
    time.sleep(0.05)
sys.stdout.write("READY " + json.dumps(status) + "\n")
sys.stdout.flush()
select.select([sys.stdin], [], [], max(0.0, lifetime_end - time.monotonic()))
end = time.monotonic() + float(spec.get("grace", 5))
for proc in procs:
    if not isinstance(proc, OSError):
        try:
            proc.wait(max(0.0, end - time.monotonic()))
        except subprocess.TimeoutExpired:
            stop(proc)
for reader in readers:
    reader.join(5)
answers = [summary(proc, outputs[i]) for i, proc in enumerate(procs)]
sys.stdout.write("DONE " + json.dumps(answers) + "\n")
