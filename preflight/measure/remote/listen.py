# Node-side: listen on TCP ports at one address until stdin closes (stdlib, Python >= 3.6).
# Prints "READY <json>" once every port is bound or known to be taken by another listener.
import errno
import json
import select
import socket
import sys

spec = json.loads(sys.argv[1])
sockets, status = [], {}
for port in spec["ports"]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((spec["address"], port))
        sock.listen(64)
        sock.setblocking(False)
        sockets.append(sock)
        status[port] = "listening"
    except OSError as exc:
        sock.close()
        status[port] = "in-use" if exc.errno == errno.EADDRINUSE else "bind-failed: %s" % exc
sys.stdout.write("READY " + json.dumps(status) + "\n")
sys.stdout.flush()
while True:
    ready, _, _ = select.select(sockets + [sys.stdin], [], [], 1.0)
    if sys.stdin in ready and not sys.stdin.buffer.read1(4096):
        break
    for sock in ready:
        if sock is not sys.stdin:
            try:
                conn, _ = sock.accept()
                conn.close()
            except OSError:
                pass
