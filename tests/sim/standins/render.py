"""The outputs of the calls the gather makes on every node, rendered in-process when a
host's spec.json is written, for the shell launchers to print (see the package doc).

Each call leaves <name> (stdout), <name>.err (stderr) and <name>.rc (exit code). A tool
that hangs or prints garbage under the spec is not rendered: its Python stand-in answers.
The spec itself is also written marshalled (SPEC_MARSHAL), which is what every Python
stand-in reads: ib_write_bw still starts thousands of times a suite, and json's import
is a third of a bare start.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import marshal
import os
import shutil
import threading
from typing import Any

from preflight.probe.remote import TOOLS as GATHER_TOOLS

from . import common
from .runner import SPEC_MARSHAL

# The argv the gather script runs (preflight/probe/remote.py), and ibv_devinfo's.
GATHERED = [*GATHER_TOOLS.values(), ["ibv_devinfo"]]
RENDERED_TOOLS = {argv[0] for argv in GATHERED}
_rendering = threading.Lock()  # hostname() and sys.stdout are process-wide


def answer_name(argv: list[str]) -> str:
    """The files' name the shell launcher looks for: the tool, then "_" + each argument."""
    return argv[0] + ("".join("_" + arg for arg in argv[1:]) or "_")


def render(host_dir: str, host: str, spec_text: str) -> None:
    """(Re)write <host_dir>/rendered/ for the host named `host` with this spec.json text."""
    from . import TOOLS  # the package imports this module first

    spec: dict[str, Any] = json.loads(spec_text)
    _write_marshal(os.path.join(host_dir, SPEC_MARSHAL), spec)
    spec["_host_dir"] = host_dir
    folder = os.path.join(host_dir, "rendered")
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    skipped = set(spec.get("hang", [])) | set(spec.get("garbage", []))
    for argv in GATHERED:
        if argv[0] not in skipped:
            module = importlib.import_module(f"{__package__}.{TOOLS[argv[0]]}")
            _write(os.path.join(folder, answer_name(argv)), host, module.main, argv, spec)


def _write_marshal(path: str, spec: dict[str, Any]) -> None:
    """Replaced whole, never truncated: a stand-in starting meanwhile reads the old or the
    new spec, never half of one."""
    partial = path + ".partial"
    with open(partial, "wb") as handle:
        marshal.dump(spec, handle)
    os.replace(partial, path)


def _write(path: str, host: str, main: Any, argv: list[str], spec: dict[str, Any]) -> None:
    out, err = io.StringIO(), io.StringIO()
    with _rendering, contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        common.RENDERING_FOR = host
        try:
            rc = main(argv[1:], json.loads(json.dumps(spec)))
        finally:
            common.RENDERING_FOR = None
    for suffix, text in (("", out.getvalue()), (".err", err.getvalue()), (".rc", f"{rc}\n")):
        with open(path + suffix, "w") as handle:
            handle.write(text)
