"""junit.xml grouped by node, so CI UIs show one group per node (or pair).

Each testcase is classname=<node> (or "a -> b" for a pair, "cluster" otherwise),
name=<family>.<check>[<params>], with the run's metadata as testsuite properties.
`preflight run` writes it from the run's record (write_junit, streamed: pytest's own
junitxml keeps an element per item until the end, then regroup parsed the whole file
again: ~100 MB at 1,024 nodes). A --junitxml of pytest's own is regrouped the same way.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

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


JUNIT_FILE = "junit.xml"
TAGS = {Status.FAIL: "failure", Status.ERROR: "error", Status.BLOCKED: "error",
        Status.SKIP: "skipped"}


def write_junit(path: Path, record: RunRecord) -> None:
    counts = record.counts()
    tally = {"tests": len(record.results), "errors": counts["error"] + counts["blocked"],
             "failures": counts["fail"] + (counts["warn"] if record.fail_on == "warn" else 0),
             "skipped": counts["skip"]}
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", encoding="utf-8") as out:
        out.write('<?xml version="1.0" encoding="utf-8"?>\n<testsuites>')
        out.write('<testsuite name="preflight" ' + " ".join(
            f'{k}="{v}"' for k, v in tally.items()) + f' time="{record.duration_s:.3f}">')
        out.write("<properties>" + "".join(
            f"<property name={_attr(k)} value={_attr(v)} />"
            for k, v in _properties(record).items()) + "</properties>\n")
        for result in record.results:
            out.write(_case(result, record.fail_on) + "\n")
        out.write("</testsuite></testsuites>\n")
    tmp.replace(path)


def _case(result: Result, fail_on: str) -> str:
    head = (f"<testcase classname={_attr(result.subject)} "
            f"name={_attr(_case_name(result))} time=\"{result.duration_s:.3f}\"")
    tag = TAGS.get(result.status)
    if tag is None and fail_on == "warn" and result.status is Status.WARN:
        tag = "failure"
    if tag is None:
        return head + " />"
    kind = f" type={_attr(result.reason)}" if result.reason else ""
    body = escape(_clean(result.hint or ""))
    return (f"{head}><{tag}{kind} message={_attr(result.message)}>{body}</{tag}>"
            "</testcase>")


def _attr(text: str) -> str:
    return quoteattr(_clean(text))


def _clean(text: str) -> str:
    """XML 1.0 cannot carry most control characters, even escaped."""
    return "".join(c for c in text if c >= " " or c in "\t\n\r")


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
    for name, value in _properties(record).items():
        ET.SubElement(props, "property", name=name, value=value)


def _properties(record: RunRecord) -> dict[str, str]:
    return {
        "preflight_version": record.preflight_version,
        "verdict": "GO" if record.go else "NO-GO",
        "profile": record.profile,
        "hosts": ",".join(record.hosts),
        "started": record.started,
        "partial": str(record.partial).lower(),
        "command": " ".join(record.command),
    }
