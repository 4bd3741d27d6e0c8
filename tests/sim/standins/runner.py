"""What every stand-in does first: load the spec, then hang, print junk, or run the tool."""

from __future__ import annotations

import importlib
import json
import sys
import time
from pathlib import Path
from typing import Any

GARBAGE = "\x00\x1b[31m?? ERR!\x1b[0m segfault-ish %%% garbage \ufffd\n@@@ 0x0 0x0 0x0\n"


def run(tool: str, module: str, spec_path: Path) -> int:
    spec: dict[str, Any] = json.loads(spec_path.read_text())
    spec["_host_dir"] = str(spec_path.parent)  # for stand-ins that meet their peers on disk
    with (spec_path.parent / "calls.log").open("a") as log:  # lets tests count invocations
        log.write(" ".join([tool, *sys.argv[1:]]) + "\n")
    if tool in spec.get("hang", []):
        while True:  # like a wedged driver call: only a timeout gets the caller out
            time.sleep(3600)
    if tool in spec.get("garbage", []):
        sys.stdout.write(GARBAGE)
        return 0
    tool_main = importlib.import_module(f"standins.{module}").main
    rc: int = tool_main(sys.argv[1:], spec)
    return rc
