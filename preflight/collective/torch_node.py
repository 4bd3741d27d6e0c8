# preflight-torch-probe: node-side torch.distributed rendezvous, barrier, all_reduce, sweep.
# Sent with `python -c` (stdlib + torch, Python >= 3.8). Prints one JSON line per step and
# rank, so the head knows how far every rank got even when a step fails or hangs.
from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import sys
import threading
import time
from datetime import timedelta
from typing import Any

PR_SET_PDEATHSIG = 1


def emit(record: dict[str, Any]) -> None:
    """One write per line: lines of the local ranks sharing stdout never interleave."""
    os.write(1, (json.dumps(record) + "\n").encode())


class Steps:
    """Each step has its own deadline; a watchdog ends the rank when one is exceeded."""

    def __init__(self, base: dict[str, Any]) -> None:
        self.base = base
        self.name = "import"
        self.deadline = float("inf")
        self.extra: dict[str, Any] = {}
        self.timeout_s = 0.0
        self.lock = threading.Lock()
        threading.Thread(target=self._watch, daemon=True).start()

    def start(self, name: str, timeout_s: float, **extra: Any) -> float:
        with self.lock:
            self.name, self.extra, self.timeout_s = name, extra, timeout_s
            self.deadline = time.monotonic() + timeout_s
        return time.monotonic()

    def ok(self, started: float, **fields: Any) -> None:
        with self.lock:
            self.deadline = float("inf")
        emit(dict(self.base, step=self.name, ok=True, s=round(time.monotonic() - started, 4),
                  **self.extra, **fields))

    def failed(self, error: str, timed_out: bool = False) -> None:
        emit(dict(self.base, step=self.name, ok=False, error=error[-2000:],
                  timed_out=timed_out, **self.extra))

    def _watch(self) -> None:
        while True:
            time.sleep(0.1)
            with self.lock:
                late = time.monotonic() > self.deadline
            if late:
                self.failed(f"no progress within the step deadline ({self.timeout_s:g} s)",
                            timed_out=True)
                os._exit(3)


def node_entry(spec: dict[str, Any]) -> dict[str, Any]:
    """This node's entry: given by the head (ssh), or found from the launcher's env."""
    nodes: list[dict[str, Any]] = spec["nodes"]
    if "node_index" in spec:
        return nodes[int(spec["node_index"])]
    slurm_name = os.environ.get("SLURMD_NODENAME")
    for node in nodes:
        if node["name"] == slurm_name:
            return node
    for var in ("OMPI_COMM_WORLD_RANK", "PMIX_RANK", "SLURM_PROCID"):
        if os.environ.get(var, "").isdigit():
            return nodes[int(os.environ[var])]
    raise SystemExit("cannot tell which node this is (no node_index, no launcher rank)")


def job_env(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, str]:
    """The env a torchrun job gets on this node, before the per-rank variables."""
    env = {str(k): str(v) for k, v in spec.get("env", {}).items()}
    env.update({str(k): str(v) for k, v in node.get("env", {}).items()})
    env.update(MASTER_ADDR=spec["master_addr"], MASTER_PORT=str(spec["master_port"]),
               WORLD_SIZE=str(spec["world_size"]),
               LOCAL_WORLD_SIZE=str(node["local_world_size"]),
               GROUP_RANK=str(node["node_rank"]), NODE_RANK=str(node["node_rank"]))
    return env


def timed(dist: Any, torch: Any, tensor: Any, iters: int, cuda: bool) -> float:
    if cuda:
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(iters):
        dist.all_reduce(tensor)
    if cuda:
        torch.cuda.synchronize()
    return (time.perf_counter() - started) / iters


def sweep(spec: dict[str, Any], steps: Steps, dist: Any, torch: Any, device: Any) -> None:
    n = int(spec["world_size"])
    cuda = spec["backend"] == "nccl"
    for size in spec["sizes"]:
        started = steps.start("sweep", spec["deadlines"]["step"], size_bytes=size)
        tensor = torch.ones(max(1, size // 4), dtype=torch.float32, device=device)
        timed(dist, torch, tensor, int(spec["warmup"]), cuda)
        seconds = timed(dist, torch, tensor, int(spec["iters"]), cuda)
        algbw = tensor.numel() * 4 / seconds / 1e9
        steps.ok(started, time_us=round(seconds * 1e6, 2), algbw_gbps=round(algbw, 6),
                 busbw_gbps=round(algbw * 2 * (n - 1) / n, 6))


def collective(spec: dict[str, Any], steps: Steps, rank: int, local_rank: int) -> None:
    deadlines = spec["deadlines"]
    started = steps.start("import", deadlines["import"])
    import torch
    import torch.distributed

    dist: Any = torch.distributed

    device = torch.device("cpu")
    if spec["backend"] == "nccl":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    steps.ok(started, torch=torch.__version__, device=str(device))
    n = int(spec["world_size"])
    timeout = timedelta(seconds=deadlines["rendezvous"])
    started = steps.start("store", deadlines["rendezvous"])
    store = dist.TCPStore(spec["master_addr"], int(spec["master_port"]), n, rank == 0,
                          timeout=timeout, wait_for_workers=False)
    steps.ok(started)
    started = steps.start("init", deadlines["rendezvous"])
    dist.init_process_group(spec["backend"], store=store, rank=rank, world_size=n,
                            timeout=timedelta(seconds=deadlines["step"]))
    steps.ok(started)
    started = steps.start("barrier", deadlines["step"])
    dist.barrier()
    steps.ok(started)
    started = steps.start("correctness", deadlines["step"])
    values = torch.full((1024,), float(rank), device=device)
    dist.all_reduce(values)
    expected = n * (n - 1) / 2
    wrong = int((values != expected).sum().item())
    steps.ok(started, sum=float(values[0].item()), expected=expected, wrong=wrong)
    sweep(spec, steps, dist, torch, device)
    started = steps.start("done", deadlines["step"])
    dist.destroy_process_group()
    steps.ok(started)


def run_rank(spec: dict[str, Any], node: dict[str, Any], local_rank: int) -> int:
    rank = int(node["rank_base"]) + local_rank
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(local_rank))
    steps = Steps({"rank": rank, "local_rank": local_rank, "node": node["name"],
                   "pid": os.getpid()})
    try:
        collective(spec, steps, rank, local_rank)
    except BaseException as exc:  # every failure becomes this rank's last line
        steps.failed(f"{type(exc).__name__}: {exc}")
        return 1
    return 0


def die_with_parent() -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def fork_ranks(spec: dict[str, Any], node: dict[str, Any], local: int) -> int:
    """One process per GPU; they die with this one, and a TERM here ends them all."""
    children: list[int] = []
    for local_rank in range(local):
        pid = os.fork()
        if pid == 0:
            die_with_parent()
            os._exit(run_rank(spec, node, local_rank))
        children.append(pid)

    def stop(signum: int, _frame: Any) -> None:
        for pid in children:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        os._exit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    worst = 0
    for pid in children:
        _, status = os.waitpid(pid, 0)
        code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)
        worst = max(worst, code)
    return worst


def main(argv: list[str]) -> int:
    spec = json.loads(argv[1])
    node = node_entry(spec)
    os.environ.update(job_env(spec, node))
    emit({"node": node["name"], "step": "launch", "ok": True, "pid": os.getpid(),
          "hostname": os.uname()[1], "ranks": int(node["local_world_size"])})
    local = int(node["local_world_size"])
    if local == 1:
        return run_rank(spec, node, 0)
    return fork_ranks(spec, node, local)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
