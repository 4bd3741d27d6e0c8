"""The node-side scripts start with `python -S` (no site: a node's site-packages and .pth
files cost each start ~40 % more): they must need nothing but the standard library."""

from __future__ import annotations

import ast
import sys
from importlib import resources

import pytest

from preflight.measure.base import script_argv

SCRIPTS = sorted(p.name.removesuffix(".py") for p in
                 resources.files("preflight.measure.remote").iterdir()
                 if p.name.endswith(".py") and p.name != "__init__.py")


def imported(source: str) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.partition(".")[0])
    return found


@pytest.mark.parametrize("name", SCRIPTS)
def test_each_node_script_needs_only_the_standard_library(name: str) -> None:
    source = resources.files("preflight.measure.remote").joinpath(f"{name}.py").read_text()
    assert imported(source) <= set(sys.stdlib_module_names), name


def test_node_scripts_start_without_site() -> None:
    class Ctx:
        remote_python = "python3"

    argv = script_argv(Ctx(), "which", {"names": ["ssh"]})  # type: ignore[arg-type]
    assert argv[:3] == ["python3", "-S", "-c"] and argv[-1] == '{"names": ["ssh"]}'
