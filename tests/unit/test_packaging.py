"""What `pip install .` (the README's first command) installs: every module of the source
tree, importable without the checkout. The editable install the tests otherwise use reads
the source folders and would not notice a package missing from pyproject.toml."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The node-side scripts run as programs on the nodes: found, not imported.
IMPORT_ALL = """
import importlib.util, json, pkgutil, sys, preflight
assert preflight.__file__.startswith(sys.argv[1]), preflight.__file__
names = [m.name for m in pkgutil.walk_packages(preflight.__path__, "preflight.")
         if not m.name.endswith(".__main__")]
for name in names:
    if name.startswith(("preflight.measure.remote.", "preflight.probe.remote")):
        assert importlib.util.find_spec(name) is not None, name
    else:
        __import__(name)
print(json.dumps(names))
"""
# source folder -> the package it installs as (pyproject.toml's package-dir)
INSTALLED_AS = {"preflight": "preflight", "checks": "preflight.checks",
                "nccl_tests": "preflight.nccl_tests", "reports": "preflight.reports"}


def source_modules() -> set[str]:
    names = set()
    for folder, package in INSTALLED_AS.items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            if parts[-1:] != ("__main__",) and "__pycache__" not in parts:
                names.add(".".join((package, *parts)))
    return names


def test_a_plain_install_holds_every_module(tmp_path: Path) -> None:
    source = tmp_path / "source"
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    for name in tracked:
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, source / name)
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                    "--no-build-isolation", "--target", str(target), str(source)],
                   check=True, capture_output=True, timeout=300)
    env = {**os.environ, "PYTHONPATH": str(target)}
    imported = subprocess.run([sys.executable, "-c", IMPORT_ALL, str(target)], cwd=tmp_path,
                              env=env, capture_output=True, text=True, timeout=120)
    assert imported.returncode == 0, imported.stderr
    assert source_modules() - {"preflight"} <= set(json.loads(imported.stdout))
