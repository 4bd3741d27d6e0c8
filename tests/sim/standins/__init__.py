"""Stand-ins for GPU and fabric tools, printing the real tools' formats from a host spec.

Each tool is a module here with `main(argv, spec) -> int`. A host's bin dir gets one tiny
launcher per tool; the launcher finds the host's spec.json next to its bin dir, so the same
module serves every host. Stdlib only: the launchers run under `python -I -S`.

The tools the gather runs on every node (`render.GATHERED`) get a shell launcher instead:
it answers those calls from the outputs rendered when the host's spec.json was written
(`render.render`), and runs the Python stand-in for any other call. A Python start costs
~35 ms of CPU, six per node and run; the real tools are C binaries that cost their own
node's cores, not the 2 cores every simulated node shares here.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # see common.py: every stand-in start imports this package
if TYPE_CHECKING:
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


# What a rendered output would answer (render.py); the call is logged as runner.py logs it.
_SHELL_LAUNCHER = """#!/bin/sh
host={host}
answer="$host/rendered/{tool}$(printf '_%s' "$@")"
if [ -f "$answer.rc" ]; then
    echo "{tool}${{*:+ $*}}" >> "$host/calls.log"
    read -r rc < "$answer.rc"
    if [ -s "$answer.err" ]; then cat "$answer.err" >&2; fi
    if [ "$rc" = 0 ]; then exec cat "$answer"; fi
    cat "$answer"
    exit "$rc"
fi
exec {python} -IS "$host/launchers/{tool}" "$@"
"""


def install(bin_dir: Path) -> None:
    """Write one launcher per tool into `bin_dir` (<hostdir>/bin); the Python launchers of
    the rendered tools go to <hostdir>/launchers, behind their shell launchers."""
    import shlex  # not at the top: every stand-in start imports this package

    from .render import RENDERED_TOOLS

    bin_dir.mkdir(parents=True, exist_ok=True)
    host_dir = os.path.dirname(os.path.abspath(bin_dir))
    package_parent = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
    for tool, module in TOOLS.items():
        launcher = _LAUNCHER.format(python=sys.executable, package_parent=package_parent,
                                    tool=tool, module=module)
        if tool in RENDERED_TOOLS:
            _executable(os.path.join(host_dir, "launchers", tool), launcher)
            launcher = _SHELL_LAUNCHER.format(host=shlex.quote(host_dir), tool=tool,
                                              python=shlex.quote(sys.executable))
        _executable(str(bin_dir / tool), launcher)


def _executable(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        handle.write(text)
    os.chmod(path, 0o755)


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
