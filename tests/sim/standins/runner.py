"""What every stand-in does first: load the spec, then hang, print junk, or run the tool."""

from __future__ import annotations

import marshal
import os
import sys
import time

TYPE_CHECKING = False  # see common.py
if TYPE_CHECKING:
    from typing import Any

SPEC_MARSHAL = "spec.marshal"  # beside spec.json, written by render.py
GARBAGE = "\x00\x1b[31m?? ERR!\x1b[0m segfault-ish %%% garbage \ufffd\n@@@ 0x0 0x0 0x0\n"


def run(tool: str, module: str, spec_path: str) -> int:
    host_dir = os.path.dirname(spec_path)
    # spec.json as render.py marshalled it beside it (every writer of spec.json renders)
    with open(os.path.join(host_dir, SPEC_MARSHAL), "rb") as data:
        spec: dict[str, Any] = marshal.load(data)
    spec["_host_dir"] = host_dir  # for stand-ins that meet their peers on disk
    with open(os.path.join(host_dir, "calls.log"), "a") as log:  # lets tests count calls
        log.write(" ".join([tool, *sys.argv[1:]]) + "\n")
    if tool in spec.get("hang", []):
        while True:  # like a wedged driver call: only a timeout gets the caller out
            time.sleep(3600)
    if tool in spec.get("garbage", []):
        sys.stdout.write(GARBAGE)
        return 0
    tool_main = __import__(f"standins.{module}", fromlist=["main"]).main
    rc: int = tool_main(sys.argv[1:], spec)
    return rc

