"""all_reduce_perf (nccl-tests, newest format): -b/-e/-f/-i/-g/-n/-w/-c honoured.

busbw follows the spec's allreduce_busbw as the large-message plateau, with a fixed
latency so small messages are slow, as on real hardware; '# Avg bus bandwidth' is the mean
of every busbw cell, as nccl-tests computes it. Under mpirun every rank reports its host and
spec through the shared filesystem (the hosts of a SimCluster share one); rank 0 then prints
the whole job: every rank's host, and the busbw of the slowest host.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

from . import common
from .common import Spec

LATENCY_US = 18.0
TYPE_SIZES = {"float": 4, "half": 2, "bfloat16": 2, "double": 8, "int32": 4, "int8": 1,
              "uint8": 1, "int64": 8, "uint64": 8, "uint32": 4}
OPTIONS = {  # short, long -> key
    "-t": "nthreads", "--nthreads": "nthreads", "-g": "ngpus", "--ngpus": "ngpus",
    "-b": "minbytes", "--minbytes": "minbytes", "-e": "maxbytes", "--maxbytes": "maxbytes",
    "-i": "stepbytes", "--stepbytes": "stepbytes", "-f": "stepfactor",
    "--stepfactor": "stepfactor", "-n": "iters", "--iters": "iters", "-w": "warmup",
    "--warmup_iters": "warmup", "-c": "check", "--check": "check", "-d": "datatype",
    "--datatype": "datatype", "-o": "op", "--op": "op", "-G": "graph", "--cudagraph": "graph",
    "-a": "average", "--average": "average", "-m": "agg", "--agg_iters": "agg",
}
DEFAULTS = {"nthreads": "1", "ngpus": "1", "minbytes": "32M", "maxbytes": "32M",
            "stepfactor": "2", "iters": "20", "warmup": "5", "check": "1",
            "datatype": "float", "op": "sum", "graph": "0", "agg": "1"}


def parse_size(text: str) -> int:
    units = {"K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
    text = text.strip()
    if text and text[-1].upper() in units:
        return int(float(text[:-1]) * units[text[-1].upper()])
    return int(text)


def parse_args(argv: list[str]) -> dict[str, str]:
    opts = dict(DEFAULTS)
    i = 0
    while i < len(argv):
        arg = argv[i]
        if "=" in arg and arg.split("=", 1)[0] in OPTIONS:
            key, value = arg.split("=", 1)
            opts[OPTIONS[key]] = value
        elif arg in OPTIONS and i + 1 < len(argv):
            opts[OPTIONS[arg]] = argv[i + 1]
            i += 1
        elif arg[:2] in OPTIONS and len(arg) > 2:
            opts[OPTIONS[arg[:2]]] = arg[2:]
        i += 1
    return opts


def sizes(opts: dict[str, str]) -> list[int]:
    low, high = parse_size(opts["minbytes"]), parse_size(opts["maxbytes"])
    step = parse_size(opts["stepbytes"]) if "stepbytes" in opts else 0
    factor = int(opts["stepfactor"])
    out, size = [], low
    while size <= high:
        out.append(size)
        size = size + step if step else size * factor
        if size == out[-1]:
            break
    return out


def _world() -> tuple[int, int]:
    env = os.environ
    rank = env.get("OMPI_COMM_WORLD_RANK") or env.get("PMI_RANK") or env.get("SLURM_PROCID")
    size = env.get("OMPI_COMM_WORLD_SIZE") or env.get("PMI_SIZE") or env.get("SLURM_NTASKS")
    return int(rank or 0), int(size or 1)


def main(argv: list[str], spec: Spec) -> int:
    opts = parse_args(argv)
    rank, world = _world()
    ngpus = int(opts["ngpus"]) * int(opts["nthreads"])
    host = common.hostname()
    if ngpus > spec["gpus"]:
        reason = "no CUDA-capable device is detected" if spec["gpus"] == 0 else (
            "invalid device ordinal")
        sys.stdout.write(f"{host}: Test CUDA failure common.cu:1030 '{reason}'\n"
                         f" .. {host} pid {os.getpid()}: Test failure common.cu:1130\n")
        return 1
    if world == 1:
        sys.stdout.write(report(spec, opts, [host] * ngpus, spec["allreduce_busbw"]))
        return 0
    return _mpi_rank(spec, opts, rank, world, [host] * ngpus)


def _mpi_rank(spec: Spec, opts: dict[str, str], rank: int, world: int,
              hosts: list[str]) -> int:
    job = os.environ.get("PMIX_NAMESPACE") or os.environ.get("SLURM_JOB_ID") or "job"
    meeting = Path(spec["_host_dir"]).parent / ".mpi" / job
    meeting.mkdir(parents=True, exist_ok=True)
    card = {"hosts": hosts, "busbw": spec["allreduce_busbw"]}
    (meeting / f"{rank}.tmp").write_text(json.dumps(card))
    (meeting / f"{rank}.tmp").rename(meeting / f"{rank}.json")
    if rank != 0:
        return 0
    deadline = time.monotonic() + 30
    while len(list(meeting.glob("*.json"))) < world:
        if time.monotonic() > deadline:
            sys.stdout.write(f"{hosts[0]}: Test NCCL failure common.cu:1030 "
                             "'remote process exited or there was a network error'\n")
            return 1
        time.sleep(0.05)
    cards = [json.loads((meeting / f"{r}.json").read_text()) for r in range(world)]
    shutil.rmtree(meeting, ignore_errors=True)
    all_hosts = [h for c in cards for h in c["hosts"]]
    sys.stdout.write(report(spec, opts, all_hosts, min(c["busbw"] for c in cards)))
    return 0


def _row(size: int, type_size: int, opts: dict[str, str], times: list[float],
         factor: float) -> tuple[str, list[float]]:
    cells, busbws = [], []
    for time_us in times:
        algbw = size / 1e3 / time_us
        busbw = algbw * factor
        busbws.append(busbw)
        wrong = "0" if opts["check"] != "0" else "N/A"
        cells.append(f"  {_time(time_us):>7}  {algbw:6.2f}  {busbw:6.2f}  {wrong:>5}")
    head = f"{size:12d}  {size // type_size:12d}  {opts['datatype']:>8}  {opts['op']:>6}  {-1:6d}"
    return head + "".join(cells), busbws


def _time(us: float) -> str:
    if us >= 10000:
        return f"{us:.0f}"
    return f"{us:.1f}" if us >= 100 else f"{us:.2f}"


def report(spec: Spec, opts: dict[str, str], rank_hosts: list[str], busbw: float) -> str:
    """The whole table; rank_hosts[r] is the host of rank r."""
    nranks = len(rank_hosts)
    factor = 2 * (nranks - 1) / nranks
    plateau_algbw = busbw / factor if factor else busbw
    type_size = TYPE_SIZES.get(opts["datatype"], 4)
    rows, all_busbw = [], []
    for size in sizes(opts):
        base = LATENCY_US + size / (plateau_algbw * 1e3)
        row, busbws = _row(size, type_size, opts, [base, base * 1.002], factor)
        rows.append(row)
        all_busbw += busbws
    avg = sum(all_busbw) / len(all_busbw) if all_busbw else 0.0
    return "".join(line + "\n" for line in [
        *_preamble(spec, opts, rank_hosts), *rows,
        "# Out of bounds values : 0 OK",
        f"# Avg bus bandwidth    : {avg:g}",
        "#",
        "# Collective test concluded: all_reduce_perf",
    ])


def _preamble(spec: Spec, opts: dict[str, str], rank_hosts: list[str]) -> list[str]:
    step = (f"{parse_size(opts['stepbytes'])}(bytes)" if "stepbytes" in opts
            else f"{opts['stepfactor']}(factor)")
    lines = [
        "# Collective test starting: all_reduce_perf",
        f"# nThread {opts['nthreads']} nGpus {opts['ngpus']} "
        f"minBytes {parse_size(opts['minbytes'])} maxBytes {parse_size(opts['maxbytes'])} "
        f"step: {step} warmup iters: {opts['warmup']} iters: {opts['iters']} "
        f"agg iters: {opts['agg']} validation: {opts['check']} graph: {opts['graph']}",
        "#",
        "# Using devices",
    ]
    pid = os.getpid()
    local = int(opts["ngpus"]) * int(opts["nthreads"])
    for r, host in enumerate(rank_hosts):
        dev = r % local
        lines.append(f"#  Rank {r:2d} Group  0 Pid {pid:6d} on {host:>10} device {dev:2d} "
                     f"[0000:{common.bus(dev):02x}:00] {spec['gpu_model']}")
    lines += [
        f"NCCL version {spec['nccl_version']}+cuda{spec['cuda_version']}",
        "#",
        "#                                                              out-of-place"
        "                       in-place",
        "#       size         count      type   redop    root     time   algbw   busbw"
        " #wrong     time   algbw   busbw #wrong",
        "#        (B)    (elements)                               (us)  (GB/s)  (GB/s)"
        "            (us)  (GB/s)  (GB/s)",
    ]
    return lines
