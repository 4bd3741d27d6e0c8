# Node-side: TCP-connect to (target, host, port) triples concurrently; print JSON verdicts.
import errno
import json
import socket
import sys
import threading

spec = json.loads(sys.argv[1])
timeout = float(spec.get("timeout", 3))
verdicts = {}
NO_ROUTE = (errno.EHOSTUNREACH, errno.ENETUNREACH)


def probe(key, host, port):
    try:
        address = socket.gethostbyname(host)
    except OSError as exc:
        verdicts[key] = ["unresolved", str(exc)]
        return
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect((address, port))
        verdicts[key] = ["open", address]
    except socket.timeout:
        verdicts[key] = ["filtered", "no answer in %gs" % timeout]
    except ConnectionRefusedError:
        verdicts[key] = ["refused", address]
    except OSError as exc:
        kind = "no-route" if exc.errno in NO_ROUTE else "error"
        verdicts[key] = [kind, str(exc)]
    finally:
        sock.close()


threads = []
for target, host, port in spec["targets"]:
    key = "%s|%d" % (target, port)
    threads.append(threading.Thread(target=probe, args=(key, host, port), daemon=True))
for index in range(0, len(threads), 256):
    batch = threads[index:index + 256]
    for thread in batch:
        thread.start()
    for thread in batch:
        thread.join(timeout + 5)
sys.stdout.write(json.dumps(verdicts))
