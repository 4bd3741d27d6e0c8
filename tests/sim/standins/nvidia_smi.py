"""nvidia-smi: the default table (550 layout), -L, -q, --query-gpu, topo -m, nvlink -s."""

from __future__ import annotations

import sys

from . import common, nvsmi_csv, nvsmi_query, nvsmi_topo
from .common import Spec

WIDTH = 89  # between the outer bars of the 550 table
POWER_CAP_W = {"NVIDIA H100 80GB HBM3": 700, "NVIDIA A100-SXM4-80GB": 400}


def main(argv: list[str], spec: Spec) -> int:
    if argv[:1] == ["topo"]:
        return nvsmi_topo.main(argv[1:], spec)
    if argv[:1] == ["nvlink"]:
        return nvlink(argv[1:], spec)
    if spec["gpus"] == 0:
        sys.stdout.write("No devices were found\n")
        return 6
    if any(a.startswith("--query-gpu") or a.startswith("--query-compute-apps") for a in argv):
        return nvsmi_csv.main(argv, spec)
    if "-q" in argv or "--query" in argv:
        return nvsmi_query.main(argv, spec)
    if "-L" in argv or "--list-gpus" in argv:
        for i in range(spec["gpus"]):
            sys.stdout.write(f"GPU {i}: {spec['gpu_model']} (UUID: {common.uuid(i)})\n")
        return 0
    sys.stdout.write(table(spec))
    return 0


def _row(*cells: str) -> str:
    return "|" + "|".join(cells) + "|\n"


def _separator(char: str = "-", joint: str = "+", left: str = "+", right: str = "+") -> str:
    return left + joint.join(char * w for w in (41, 24, 22)) + right + "\n"


def _header(spec: Spec) -> str:
    drv, cuda = spec["driver_version"], spec["cuda_version"]
    title = f" NVIDIA-SMI {drv:<23}Driver Version: {drv:<15}CUDA Version: {cuda:<8}"
    return (
        "+" + "-" * WIDTH + "+\n"
        + "|" + title.ljust(WIDTH) + "|\n"
        + _separator(left="|")
        + _row(" GPU  Name                 Persistence-M ", " Bus-Id          Disp.A ",
               " Volatile Uncorr. ECC ")
        + _row(" Fan  Temp   Perf          Pwr:Usage/Cap ", "           Memory-Usage ",
               " GPU-Util  Compute M. ")
        + _row(" " * 41, " " * 24, "               MIG M. ")
        + _separator("=", "+", "|", "|")
    )


def _gpu_rows(spec: Spec, i: int) -> str:
    g = common.gpu(spec, i)
    cap = POWER_CAP_W.get(spec["gpu_model"], 700)
    persistence = "On" if g["persistence"] else "Off"
    used = f"{max(g['memory_used_mib'], 1)}MiB"
    return (
        _row(f"{i:>4}  {spec['gpu_model'][:29]:<31}{persistence:<4}",
             f"{common.bus_id(i):>19} Off ", f"{g['ecc_uncorrected']:>21} ")
        + _row(f" N/A {str(g['temperature']) + 'C':>5}{'P0':>6}"
               f"{str(round(g['power_draw_w'])) + 'W':>16} / {str(cap) + 'W':>5} ",
               f"{used:>11} / {str(spec['memory_total_mib']) + 'MiB':>9} ",
               f"{str(g['utilization']) + '%':>8}{'Default':>13} ")
        + _row(" " * 41, " " * 24, f"{'Disabled':>21} ")
        + _separator()
    )


def _processes(spec: Spec) -> str:
    rows = []
    for i in range(spec["gpus"]):
        for p in common.gpu(spec, i)["processes"]:
            memory = f"{p['used_mib']}MiB"
            name = p["name"] if len(p["name"]) <= 38 else "..." + p["name"][-35:]
            rows.append(f"|{i:>5}   N/A  N/A{p['pid']:>10}{'C':>7}   "
                        f"{name:<{52 - len(memory)}}{memory} |\n")
    if not rows:
        rows = ["|  No running processes found".ljust(WIDTH + 1) + "|\n"]
    bar = "+" + "-" * WIDTH + "+\n"
    return (
        bar
        + "| Processes:".ljust(WIDTH + 1) + "|\n"
        + "|  GPU   GI   CI        PID   Type   Process name"
        + "                              GPU Memory |\n"
        + "|        ID   ID".ljust(WIDTH - 10) + "Usage      |\n"
        + "|" + "=" * WIDTH + "|\n"
        + "".join(rows)
        + bar
    )


def table(spec: Spec) -> str:
    gpus = "".join(_gpu_rows(spec, i) for i in range(spec["gpus"]))
    return common.ctime() + "\n" + _header(spec) + gpus + "\n" + _processes(spec)


def nvlink(argv: list[str], spec: Spec) -> int:
    """`nvidia-smi nvlink -s`: per GPU, one line per link (18 on H100) with its speed."""
    links = int(spec["nvlink"][2:]) if spec["nvlink"].startswith("NV") else 0
    for i in range(spec["gpus"]):
        sys.stdout.write(f"GPU {i}: {spec['gpu_model']} (UUID: {common.uuid(i)})\n")
        for link in range(links):
            sys.stdout.write(f"\t Link {link}: 26.562 GB/s\n")
    return 0
