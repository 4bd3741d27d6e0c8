# Node-side: run several commands (argv lists) concurrently, each with a deadline; print JSON.
# Killed itself (SIGTERM/SIGHUP: the caller's deadline), it kills what it started first.
import json
import os
import signal
import subprocess
import sys
import threading

spec = json.loads(sys.argv[1])
timeout = float(spec.get("timeout", 10))
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
                          "stdout": out.decode("utf-8", "replace")[-4000:],
                          "stderr": err.decode("utf-8", "replace")[-4000:]}


threads = [threading.Thread(target=run, args=item, daemon=True)
           for item in enumerate(spec["commands"])]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
sys.stdout.write(json.dumps(results))
