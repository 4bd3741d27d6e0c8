# Node-side: run several commands (argv lists) concurrently, each with a deadline; print JSON.
# Killed itself (SIGTERM/SIGHUP: the caller's deadline), it kills what it started first.
# With "connects" ([address, port] of each command's server, or null), a command whose TCP
# connect there stays unanswered (SYN_SENT) for "connect_timeout" seconds is killed and
# marked "connect": "filtered": tools without a connect timeout would wait minutes.
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

spec = json.loads(sys.argv[1])
timeout = float(spec.get("timeout", 10))
keep = int(spec.get("keep", 4000))  # characters of each output kept (its end)
results = [None] * len(spec["commands"])
gate = threading.Semaphore(int(spec.get("parallel", 16)))
running = {}


def on_signal(signum, frame):
    for proc in list(running.values()):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
    sys.exit(128 + signum)


signal.signal(signal.SIGTERM, on_signal)
signal.signal(signal.SIGHUP, on_signal)


def run(index, argv):
    with gate:
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, start_new_session=True)
        except OSError as exc:
            results[index] = {"rc": 127, "stdout": "", "stderr": str(exc), "timed_out": False}
            return
        running[index] = proc
        try:
            out, err = proc.communicate(timeout=timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            try:
                out, err = proc.communicate(timeout=2)
            except subprocess.TimeoutExpired:  # stuck in the kernel (a dead mount): abandoned
                out, err = b"", b""
            timed_out = True
        running.pop(index, None)
        results[index] = {"rc": proc.returncode, "timed_out": timed_out,
                          "stdout": out.decode("utf-8", "replace")[-keep:],
                          "stderr": err.decode("utf-8", "replace")[-4000:]}


def syn_sent():
    """(address, port) of every IPv4 connect of this network namespace still in SYN_SENT."""
    found = set()
    try:
        with open("/proc/net/tcp") as fh:
            rows = fh.read().splitlines()[1:]
    except OSError:
        return found
    for row in rows:
        fields = row.split()
        if len(fields) > 3 and fields[3] == "02":
            address, port = fields[2].split(":")
            found.add((socket.inet_ntoa(struct.pack("<I", int(address, 16))), int(port, 16)))
    return found


def watch_connects(connects, limit, done):
    since = {}
    while not done.is_set():
        stuck = syn_sent()
        now = time.monotonic()
        for index, target in enumerate(connects):
            if not target or tuple(target) not in stuck:
                since.pop(index, None)
                continue
            since.setdefault(index, now)
            proc = running.get(index)
            if now - since[index] > limit and proc is not None:
                filtered.add(index)
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except OSError:
                    pass
        done.wait(0.2)


filtered = set()
threads = [threading.Thread(target=run, args=item, daemon=True)
           for item in enumerate(spec["commands"])]
finished = threading.Event()
if spec.get("connects"):
    threading.Thread(target=watch_connects, daemon=True,
                     args=(spec["connects"], float(spec.get("connect_timeout", 3)),
                           finished)).start()
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
finished.set()
for index in filtered:
    if results[index] is not None:
        results[index]["connect"] = "filtered"
sys.stdout.write(json.dumps(results))
