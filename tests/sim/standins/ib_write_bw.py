"""ib_write_bw (perftest). Server: `ib_write_bw [opts]` listens on TCP 18515 (-p) at the host's
address, takes one client, prints its report, exits. Client: `ib_write_bw [opts] SERVER`.

The exchange is real TCP between the namespaces (so iptables, link_down, a stopped server
all show up as they would); the reported bandwidth is the lower of the two hosts'
ib_write_bw_gbps, as the slower end limits a real RDMA write test. The ends exchange one
line of text over _socket, not json over socket: this stand-in starts ~10,000 times a
suite, and those two imports were two thirds of its start.
"""

from __future__ import annotations

import _socket
import os
import sys
import time

from . import common
from .common import Spec

TYPE_CHECKING = False  # see common.py
if TYPE_CHECKING:
    from typing import Any

SEPARATOR = "-" * 87
VALUE_OPTIONS = {
    "-d": "device", "--ib-dev": "device", "-s": "size", "--size": "size", "-n": "iters",
    "--iters": "iters", "-D": "duration", "--duration": "duration", "-p": "port",
    "--port": "port", "-x": "gid", "--gid-index": "gid", "-q": "qps", "--qp": "qps",
    "-i": "ib_port", "--ib-port": "ib_port", "-m": "mtu", "--mtu": "mtu", "-t": "tx_depth",
    "--tx-depth": "tx_depth", "-I": "inline", "--inline_size": "inline", "-Q": "cq_mod",
    "--cq-mod": "cq_mod", "-c": "connection", "--connection": "connection",
}
FLAGS = {"--report_gbits": "gbits", "-F": "no_cpu_freq", "-a": "all", "-b": "bidir",
         "-R": "rdma_cm", "-z": "rdma_cm", "--run_infinitely": "infinite"}


def parse_args(argv: list[str]) -> dict[str, Any]:
    opts: dict[str, Any] = {"device": None, "size": "65536", "iters": "5000", "port": "18515",
                            "server": None, "use_cuda": None}
    i = 0
    while i < len(argv):
        arg = argv[i]
        key, _, inline = arg.partition("=")
        if key == "--use_cuda":
            opts["use_cuda"] = inline or (argv[i + 1] if i + 1 < len(argv) else "0")
            i += 0 if inline else 1
        elif key in VALUE_OPTIONS:
            opts[VALUE_OPTIONS[key]] = inline or argv[i + 1]
            i += 0 if inline else 1
        elif arg in FLAGS:
            opts[FLAGS[arg]] = True
        elif not arg.startswith("-"):
            opts["server"] = arg
        i += 1
    return opts


def main(argv: list[str], spec: Spec) -> int:
    opts = parse_args(argv)
    port = _open_device(spec, opts)
    if port is None:
        return 1
    if opts["use_cuda"] is not None:
        _print_cuda(spec, int(opts["use_cuda"]))
    if opts["server"] is None:
        return _serve(spec, opts, port)
    return _client(spec, opts, port)


def _open_device(spec: Spec, opts: dict[str, Any]) -> dict[str, Any] | None:
    ports = spec.get("ib_ports", [])
    if not ports:
        sys.stderr.write(" No IB devices found\n Unable to find the Infiniband/RoCE device\n")
        return None
    device = opts["device"] or ports[0]["ca"]
    port = common.port_for(spec, device)
    if port is None:
        sys.stderr.write(f" IB device {device} not found\n"
                         " Unable to find the Infiniband/RoCE device\n")
        return None
    if port["state"] != "Active":
        sys.stderr.write(f" Port number 1 state is {port['state']}\n"
                         " Couldn't set the link layer\n"
                         " Couldn't get context for the device\n")
        return None
    opts["device"] = device
    return port


def _print_cuda(spec: Spec, device: int) -> None:
    buses = "".join(f"CUDA device {i}: PCIe address is {common.bus(i):02X}:00\n"
                    for i in range(spec["gpus"]))
    sys.stdout.write(
        "initializing CUDA\nListing all CUDA devices in system:\n" + buses + "\n"
        f"Picking device No. {device}\n"
        f"[pid = {os.getpid()}, dev = {device}] device name = [{spec['gpu_model']}]\n"
        "creating CUDA Ctx\nmaking it the current CUDA Ctx\n"
        "cuMemAlloc() of a 131072 bytes GPU buffer\n"
        "allocated GPU buffer address at 00007f3c1a000000 pointer=0x7f3c1a000000\n"
    )


def _serve(spec: Spec, opts: dict[str, Any], port: dict[str, Any]) -> int:
    listener = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
    try:
        listener.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEADDR, 1)
        # perftest's server binds every address (getaddrinfo AI_PASSIVE), whatever the
        # hostname resolves to; here that is every address of the host's namespace.
        listener.bind(("0.0.0.0", int(opts["port"])))
        listener.listen(1)
        sys.stdout.write("\n************************************\n"
                         "* Waiting for client to connect... *\n"
                         "************************************\n")
        sys.stdout.flush()
        conn = _socket.socket(fileno=listener._accept()[0])
    finally:
        listener.close()
    try:
        size, iters, duration, peer_bw, peer_lid = _read_line(conn).split()
        conn.sendall(f"- - - {spec['ib_write_bw_gbps']} {_lid(port)}\n".encode())
    finally:
        conn.close()
    opts.update(size=size, iters=iters, duration=None if duration == "-" else duration)
    bw = min(spec["ib_write_bw_gbps"], float(peer_bw))
    sys.stdout.write(_report(opts, port, bw, int(peer_lid), server=True))
    return 0


def _client(spec: Spec, opts: dict[str, Any], port: dict[str, Any]) -> int:
    server, tcp_port = opts["server"], int(opts["port"])
    conn = _connect(server, tcp_port)
    if conn is None:
        sys.stderr.write(f"Couldn't connect to {server}:{tcp_port}\n"
                         "Unable to open file descriptor for socket connection"
                         " Unable to init the socket connection\n")
        return 1
    hello = (f"{opts['size']} {opts['iters']} {opts.get('duration') or '-'} "
             f"{spec['ib_write_bw_gbps']} {_lid(port)}\n")
    try:
        conn.sendall(hello.encode())
        reply = _read_line(conn).split()
    finally:
        conn.close()
    if len(reply) != 5:
        sys.stderr.write(" Failed to exchange data between server and clients\n")
        return 1
    bw = min(spec["ib_write_bw_gbps"], float(reply[3]))
    time.sleep(min(_seconds(opts, bw), 0.5))
    sys.stdout.write(_report(opts, port, bw, int(reply[4]), server=False))
    return 0


def _connect(host: str, port: int) -> _socket.socket | None:
    """As socket.create_connection: each address the name resolves to, in turn."""
    try:  # bytes: a str host makes getaddrinfo import the idna codec (and re), 10 ms
        addresses = _socket.getaddrinfo(host.encode(), port, 0, _socket.SOCK_STREAM)
    except OSError:
        return None
    for family, kind, proto, _, address in addresses:
        conn = _socket.socket(family, kind, proto)
        try:
            conn.connect(address)
            return conn
        except OSError:
            conn.close()
    return None


def _read_line(conn: _socket.socket) -> str:
    """Up to the first newline; what came before the peer closed, if it never sent one."""
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(256)
        if not chunk:
            break
        data += chunk
    return data.decode()


def _lid(port: dict[str, Any]) -> int:
    return 0 if port["link_layer"] != "InfiniBand" else int(port["ca"].split("_")[-1]) + 1


def _seconds(opts: dict[str, Any], bw_gbps: float) -> float:
    if opts.get("duration"):
        return float(opts["duration"])
    return int(opts["size"]) * int(opts["iters"]) * 8 / (bw_gbps * 1e9)


def _report(opts: dict[str, Any], port: dict[str, Any], bw_gbps: float, peer_lid: int,
            server: bool) -> str:
    ethernet = port["link_layer"] != "InfiniBand"
    lines = [
        SEPARATOR,
        "                    RDMA_Write BW Test",
        f" Dual-port       : OFF\t\tDevice         : {opts['device']}",
        f" Number of qps   : {opts.get('qps', '1')}\t\tTransport type : IB",
        " Connection type : RC\t\tUsing SRQ      : OFF",
        " PCIe relax order: ON",
        " ibv_wr* API     : ON",
        *([] if server else [f" TX depth        : {opts.get('tx_depth', '128')}"]),
        " CQ Moderation   : 100",
        " Mtu             : 4096[B]",
        f" Link type       : {'Ethernet' if ethernet else 'IB'}",
        *([" GID index       : 3"] if ethernet else []),
        " Max inline data : 0[B]",
        " rdma_cm QPs\t : OFF",
        " Data ex. method : Ethernet",
        SEPARATOR,
        *_addresses(_lid(port), peer_lid, ethernet, server),
        SEPARATOR,
        *_result(opts, bw_gbps),
        SEPARATOR,
    ]
    return "".join(line + "\n" for line in lines)


def _addresses(lid: int, peer_lid: int, ethernet: bool, server: bool) -> list[str]:
    mine = f" local address: LID {lid:#04x} QPN 0x0128 PSN 0x4e2f1a RKey 0x1fff00 VAddr 0x007f3c1a000000"  # noqa: E501
    theirs = f" remote address: LID {peer_lid:#04x} QPN 0x0129 PSN 0x7a1b2c RKey 0x1ffe00 VAddr 0x007f9a12000000"  # noqa: E501
    if ethernet:
        gid = " GID: 00:00:00:00:00:00:00:00:00:00:255:255:198:18:00:01"
        return [mine, gid, theirs, gid]
    return [mine, theirs]


def _result(opts: dict[str, Any], bw_gbps: float) -> list[str]:
    size = int(opts["size"])
    gbits = bool(opts.get("gbits"))
    unit = "Gb/sec" if gbits else "MB/sec"
    average = bw_gbps * 0.9998 if gbits else bw_gbps * 1e9 / 8 / 2**20
    duration = opts.get("duration")
    peak = 0.0 if duration else average * 1.0001
    iters = int(float(duration) * bw_gbps * 1e9 / 8 / size) if duration else int(opts["iters"])
    msg_rate = bw_gbps * 1e9 / 8 / size / 1e6
    header = (f" #bytes     #iterations    BW peak[{unit}]    BW average[{unit}]"
              "   MsgRate[Mpps]")
    row = f" {size:<7d}    {iters:<7d}          {peak:<7.2f}            {average:<7.2f}\t\t   {msg_rate:<7.6f}"  # noqa: E501
    return [header, row]
