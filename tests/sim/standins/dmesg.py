"""dmesg [-T]: a short boot log, the spec's kernel_log lines, then its NVRM Xid lines."""

from __future__ import annotations

import sys
import time

from .common import Spec

BOOT = [
    "Linux version 5.15.0-105-generic (buildd@lcy02-amd64-007) (gcc (Ubuntu 11.4.0-1ubuntu1~22.04) 11.4.0, GNU ld (GNU Binutils for Ubuntu) 2.38) #115-Ubuntu SMP",  # noqa: E501
    "Command line: BOOT_IMAGE=/vmlinuz-5.15.0-105-generic root=/dev/nvme0n1p1 ro",
    "nvidia: loading out-of-tree module taints kernel.",
    "NVRM: loading NVIDIA UNIX x86_64 Kernel Module  {driver}  Tue Jun  4 01:04:45 UTC 2024",
    "mlx5_core 0000:18:00.0: firmware version: 28.39.1002",
    "nvidia-fabricmanager: Fabric Manager started",
]


def lines(spec: Spec) -> list[str]:
    messages = [line.format(driver=spec["driver_version"]) for line in BOOT]
    messages += spec.get("kernel_log", [])
    for n, xid in enumerate(spec.get("xids", [])):
        messages.append(f"NVRM: Xid (PCI:{xid['pci']}): {xid['xid']}, pid={2841 + n}, "
                        f"{xid['msg']}")
    return messages


def main(argv: list[str], spec: Spec) -> int:
    human = any(a in ("-T", "--ctime") for a in argv)
    boot = time.time() - 86400.0
    out = []
    for n, message in enumerate(lines(spec)):
        uptime = 1.5 + n * 37.25
        stamp = time.strftime("%a %b %d %H:%M:%S %Y", time.localtime(boot + uptime))
        out.append(f"[{stamp}] {message}" if human else f"[{uptime:12.6f}] {message}")
    sys.stdout.write("".join(line + "\n" for line in out))
    return 0
