"""Stand-ins for GPU and fabric tools, printing the real tools' formats from a host spec.

Each tool is a module here with `main(argv, spec) -> int`. A host's bin dir gets one tiny
launcher per tool; the launcher finds the host's spec.json next to its bin dir, so the same
module serves every host. Stdlib only: the launchers run under `python -I -S`.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # every stand-in start imports this package: pathlib is not free
    from pathlib import Path

# tool name on PATH -> module in this package
TOOLS = {
    "nvidia-smi": "nvidia_smi",
    "ibstat": "ibstat",
    "ibv_devinfo": "ibv_devinfo",
    "fi_info": "fi_info",
    "dmesg": "dmesg",
    "all_reduce_perf": "all_reduce_perf",
    "ib_write_bw": "ib_write_bw",
}

# os.path, not pathlib: every stand-in start pays its imports (ib_write_bw starts ~10,000
# times in a full suite), and pathlib alone costs a third of a bare interpreter's start.
_LAUNCHER = """#!{python} -IS
import os
import sys
sys.path.insert(0, {package_parent!r})
from standins.runner import run
sys.exit(run({tool!r}, {module!r},
             os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          "spec.json")))
"""


def install(bin_dir: Path) -> None:
    """Write one launcher per tool into `bin_dir` (<hostdir>/bin)."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    package_parent = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
    for tool, module in TOOLS.items():
        path = bin_dir / tool
        path.write_text(
            _LAUNCHER.format(
                python=sys.executable, package_parent=package_parent, tool=tool, module=module
            )
        )
        path.chmod(0o755)


def install_nccl_library(lib_dir: Path, nccl_version: str) -> Path:
    """An empty libnccl.so.<version>, so a probe reads the NCCL version from the file name."""
    lib_dir.mkdir(parents=True, exist_ok=True)
    for old in lib_dir.glob("libnccl.so*"):
        old.unlink()
    major = nccl_version.split(".")[0]
    real = lib_dir / f"libnccl.so.{nccl_version}"
    real.write_bytes(b"\x7fELF stand-in for NCCL\n")
    (lib_dir / f"libnccl.so.{major}").symlink_to(real.name)
    return real
