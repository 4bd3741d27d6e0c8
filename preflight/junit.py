"""Regroup pytest's junit.xml by node, so CI UIs show one group per node (or pair).

pytest's junitxml names a testcase by module and function; CI UIs group by classname.
After pytest writes the file, each testcase becomes classname=<node> (or "a -> b" for a
pair, "cluster" otherwise), name=<family>.<check>[<params>], and the run's metadata is
added as testsuite properties.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from preflight.results import Result, RunRecord, Status


def _pytest_address(nodeid: str) -> tuple[str, str]:
    """The (classname, name) pytest's junitxml derives from a nodeid."""
    parts = nodeid.split("::")
    module = parts[0].removesuffix(".py").replace("/", ".")
    return ".".join([module, *parts[1:-1]]), parts[-1]


def regroup(path: Path, record: RunRecord) -> None:
    if not path.is_file():
        return
    tree = ET.parse(path)
    by_address = {_pytest_address(r.id): r for r in record.results}
    for case in tree.iter("testcase"):
        result = by_address.get((case.get("classname", ""), case.get("name", "")))
        if result is not None:
            case.set("classname", result.subject)
            case.set("name", _case_name(result))
            if record.fail_on == "warn" and result.status is Status.WARN:
                failure = ET.SubElement(case, "failure", type="warn", message=result.message)
                failure.text = result.hint or ""
    for suite in tree.iter("testsuite"):
        _add_properties(suite, record)
    tree.write(path, encoding="utf-8", xml_declaration=True)


def _case_name(result: Result) -> str:
    """family.check, plus any parameter other than the node or pair (now the classname)."""
    params = result.id.partition("[")[2].removesuffix("]")
    for subject in (result.node, "-to-".join(result.pair) if result.pair else None):
        if subject and params.startswith(subject):
            params = params[len(subject):].lstrip("-")
    name = f"{result.family}.{result.check}"
    return f"{name}[{params}]" if params else name


def _add_properties(suite: ET.Element, record: RunRecord) -> None:
    props = suite.find("properties")
    if props is None:
        props = ET.Element("properties")
        suite.insert(0, props)
    values = {
        "preflight_version": record.preflight_version,
        "verdict": "GO" if record.go else "NO-GO",
        "profile": record.profile,
        "hosts": ",".join(record.hosts),
        "started": record.started,
        "partial": str(record.partial).lower(),
        "command": " ".join(record.command),
    }
    for name, value in values.items():
        ET.SubElement(props, "property", name=name, value=value)
