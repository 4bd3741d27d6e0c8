# Node-side (and the head's): a burst of raw TCP connections to sshd, all held at once.
# Each connection must get sshd's banner; how sshd turned the others away is recorded.
# Payload: {"targets": [[key, host, port, count]], "hold_s": S, "wait_s": W}; prints
# {key: [answer, ...]}. Connections are held `hold_s` before any banner is read, so the
# bursts of several sources started together overlap on the target, as mpirun's do.
import json
import socket
import sys
import threading
import time


def kind(exc):
    if isinstance(exc, ConnectionResetError):
        return "reset"
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timeout"
    return "error"


def banner(sock):
    try:
        data = sock.recv(256)
    except OSError as exc:
        return kind(exc)
    if data.startswith(b"SSH-"):
        return "ok"
    if b"MaxStartups" in data:  # OpenSSH >= 8.x says why before it closes
        return "exceeded-MaxStartups"
    return "closed" if not data else "no-banner"


def open_burst(targets, hold_s, wait_s):
    """Open every connection at once (a thread each: a filtered one must not delay the
    rest), hold them `hold_s`, then read each banner: "ok", or "reset", "closed",
    "exceeded-MaxStartups", "no-banner" (sshd turned it away), or "refused", "timeout",
    "error" (the connect itself failed)."""
    started = time.monotonic()
    slots = [(key, host, port) for key, host, port, count in targets for _ in range(count)]
    socks = [None] * len(slots)
    answers = [None] * len(slots)

    def connect(index, host, port):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.settimeout(wait_s)
        try:
            sock.connect((host, port))
            socks[index] = sock
        except OSError as exc:
            sock.close()
            answers[index] = kind(exc)

    threads = [threading.Thread(target=connect, args=(i, host, port), daemon=True)
               for i, (_key, host, port) in enumerate(slots)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(wait_s + 5)
        time.sleep(max(0.0, started + hold_s - time.monotonic()))
        for index, sock in enumerate(socks):
            if sock is not None:
                answers[index] = banner(sock)
    finally:
        for sock in socks:
            if sock is not None:
                sock.close()
    found = {}
    for index, (key, _host, _port) in enumerate(slots):
        found.setdefault(key, []).append(answers[index] or "timeout")
    return found


if __name__ == "__main__":
    spec = json.loads(sys.argv[1])
    sys.stdout.write(json.dumps(open_burst(spec["targets"], float(spec.get("hold_s", 0)),
                                           float(spec.get("wait_s", 5)))))
