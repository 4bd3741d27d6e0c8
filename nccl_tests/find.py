"""Find the nccl-tests binaries on a node, and whether they take nccl-tests' own -T timeout.

Where a binary is looked for, first hit wins: the home preflight was given
(--nccl-tests-home or config), the node's $NCCL_TESTS_HOME, the node's PATH, then the
usual build folders. A home is the nccl-tests checkout: binaries in it or in its build/.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from preflight.errors import PreflightError
from preflight.transport.base import Transport

FIND_TIMEOUT_S = 30.0
HELP_TIMEOUT_S = 5  # `all_reduce_perf -h` prints its usage and exits before touching a GPU
DEFAULT_DIRS = ("/opt/nccl-tests/build", "/usr/local/nccl-tests/build")

# sh -c SCRIPT sh HOME BINARY...; prints "BINARY<TAB>VIA<TAB>PATH" per binary, then whether
# the usage names -T (nccl-tests >= 2.13; an older one would take -T as a bad option,
# print its usage and exit 0 without testing anything).
_SCRIPT = r"""
home=$1; shift
try_dir() {
  if [ -z "$path" ] && [ -n "$1" ] && [ -f "$1/$bin" ] && [ -x "$1/$bin" ]; then
    path="$1/$bin"; via=$2
  fi
}
first=""
for bin in "$@"; do
  path=""; via=""
  for d in "$home/build" "$home"; do [ -n "$home" ] && try_dir "$d" home; done
  if [ -z "$path" ] && [ -n "$NCCL_TESTS_HOME" ]; then
    for d in "$NCCL_TESTS_HOME/build" "$NCCL_TESTS_HOME"; do try_dir "$d" NCCL_TESTS_HOME; done
  fi
  if [ -z "$path" ]; then
    found=$(command -v "$bin" 2>/dev/null)
    case "$found" in /*) path=$found; via=PATH;; esac
  fi
  for d in DEFAULT_DIRS; do try_dir "$d" default; done
  printf '%s\t%s\t%s\n' "$bin" "$via" "$path"
  [ -z "$first" ] && first=$path
done
flag=no
if [ -n "$first" ] && timeout -k 1 HELP_TIMEOUT "$first" -h 2>&1 | grep -q -- '--timeout'; then
  flag=yes
fi
printf 'timeout-flag\t%s\n' "$flag"
""".replace("DEFAULT_DIRS", " ".join(DEFAULT_DIRS)).replace("HELP_TIMEOUT", str(HELP_TIMEOUT_S))


class FindError(PreflightError):
    """The finder itself could not run on the node."""


@dataclass(frozen=True)
class Found:
    paths: dict[str, str | None]  # binary name -> absolute path, None when not found
    via: dict[str, str]  # binary name -> home | NCCL_TESTS_HOME | PATH | default
    timeout_flag: bool

    def to_dict(self) -> dict[str, Any]:
        return {"paths": self.paths, "via": self.via, "timeout_flag": self.timeout_flag}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Found:
        return cls(dict(data["paths"]), dict(data["via"]), bool(data["timeout_flag"]))


def find_argv(home: str | None, binaries: Sequence[str]) -> list[str]:
    return ["sh", "-c", _SCRIPT, "sh", home or "", *binaries]


def parse_found(text: str, binaries: Sequence[str]) -> Found:
    paths: dict[str, str | None] = dict.fromkeys(binaries)
    via: dict[str, str] = {}
    flag = False
    for line in text.splitlines():
        name, _, rest = line.partition("\t")
        how, _, path = rest.partition("\t")
        if name == "timeout-flag":
            flag = how.strip() == "yes"
        elif name in paths and path.strip():
            paths[name] = path.strip()
            via[name] = how
    return Found(paths, via, flag)


def find_binaries(transport: Transport, home: str | None, binaries: Sequence[str]) -> Found:
    result = transport.run(find_argv(home, binaries), timeout=FIND_TIMEOUT_S)
    if result.timed_out or "timeout-flag" not in result.text():
        err = result.stderr.decode("utf-8", "replace").strip().splitlines()
        why = "timed out" if result.timed_out else (err[-1] if err else f"exit {result.rc}")
        raise FindError(f"{transport.host}: looking for nccl-tests failed: {why}")
    return parse_found(result.text(), binaries)
