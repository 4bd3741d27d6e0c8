# Node-side: one filesystem operation on a shared directory; prints JSON (stdlib only).
# It runs as a child of runmany with its own deadline: a dead NFS mount blocks a stat or a
# read in the kernel, and the child is then abandoned, not awaited.
#   write: a new file of random bytes, fsync'ed -> its sha256
#   read: wait up to wait_s for the file to appear, then its sha256
#   remove: unlink it
#   throughput: write and read back `mib` MiB sequentially (O_DIRECT where the filesystem
#   allows it, else fsync and dropping the file's pages) -> MB/s each way
import errno
import hashlib
import json
import mmap
import os
import sys
import time

spec = json.loads(sys.argv[1])
path = os.path.join(spec["dir"], spec["name"])
CHUNK = 1 << 20


def error(exc):
    return {"error": "%s: %s" % (errno.errorcode.get(exc.errno, exc.errno), exc.strerror),
            "errno": errno.errorcode.get(exc.errno, "")}


def write():
    data = os.urandom(int(spec.get("bytes", 4096)))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    return {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}


def read():
    give_up = time.monotonic() + float(spec.get("wait_s", 3))
    while True:
        try:
            with open(path, "rb") as fh:
                data = fh.read()
            break
        except FileNotFoundError:
            if time.monotonic() >= give_up:
                return {"missing": True}
            time.sleep(0.2)
    return {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}


def remove():
    os.unlink(path)
    return {"removed": True}


def open_direct(flags):
    """O_DIRECT when the filesystem takes it (tmpfs and some FUSE do not)."""
    try:
        return os.open(path, flags | getattr(os, "O_DIRECT", 0), 0o644), True
    except OSError as exc:
        if exc.errno != errno.EINVAL:
            raise
        return os.open(path, flags, 0o644), False


def throughput():
    mib = int(spec["mib"])
    buf = mmap.mmap(-1, CHUNK)  # page-aligned, as O_DIRECT wants
    buf.write(os.urandom(CHUNK))
    try:
        write_s, direct = timed_write(buf, mib)
        read_s = timed_read(buf, direct)
    finally:
        try:
            os.unlink(path)
        except OSError:
            pass
    megabytes = mib * CHUNK / 1e6
    return {"write_mbps": round(megabytes / max(write_s, 1e-6), 1),
            "read_mbps": round(megabytes / max(read_s, 1e-6), 1), "direct": direct,
            "mib": mib}


def timed_write(buf, mib):
    fd, direct = open_direct(os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    try:
        started = time.monotonic()
        for _ in range(mib):
            os.write(fd, buf)
        os.fsync(fd)
        return time.monotonic() - started, direct
    finally:
        os.close(fd)


def timed_read(buf, direct):
    fd, _ = open_direct(os.O_RDONLY)
    try:
        if not direct and hasattr(os, "posix_fadvise"):
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        started = time.monotonic()
        while os.readv(fd, [buf]):
            pass
        return time.monotonic() - started
    finally:
        os.close(fd)


OPS = {"write": write, "read": read, "remove": remove, "throughput": throughput}
try:
    answer = OPS[spec["op"]]()
except OSError as exc:
    answer = error(exc)
sys.stdout.write(json.dumps(answer))
