"""docs/faults.md, rendered from the fault table (tests/faults/cases.py).

    python -m tests.faults.faultdoc          # rewrite docs/faults.md
    python -m tests.faults.faultdoc --check  # exit 1 when it differs from the table

tests/faults/test_faults_doc.py runs the check, so the document cannot drift.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

from tests.faults.cases import CASES, FAULTY, LEAVE_OUT, FaultCase

DOC = Path(__file__).resolve().parents[2] / "docs" / "faults.md"
MATRIX_TEST = "tests/faults/test_fault_matrix.py"
PROBES_NOTE = {"all": "", "bandwidth": " (without the collectives)",
               "reach": " (without bandwidth and collectives)"}

HEADER = f"""\
# Fault matrix

What preflight reports for each fault it must catch, and the hint it gives. Every row is
injected for real on {FAULTY} (and node-5 for faults between two hosts) of a 6-host
simulated cluster (tests/sim), and a full default run (`--expect iperf_seconds=1`; with
`--pairs mesh` where the row lists bandwidth results of pairs, so that every pair into or out
of the node is measured) must report exactly this: the named result with its status, message
and hint, the other results listed, and nothing else fail, error, warn or blocked.

Where the fault cannot change what some probes do, the row's run leaves them out and its
last cell says so (each row's why: `FaultCase.probes`).
*(without bandwidth and collectives)*: a node-local fault, or a node out of the run from the
gather on (host-down runs every probe), runs
`-k "{LEAVE_OUT["reach"]}"`.
*(without the collectives)*: a fault the bandwidth probes plan from (ib_ports) runs
`-k "{LEAVE_OUT["bandwidth"]}"`.

Generated from `tests/faults/cases.py` by `python -m tests.faults.faultdoc`;
`tests/faults/test_faults_doc.py` fails when this file and the table differ.
Results are named `check[subject]` as in the run's test ids.

| Fault | Injected | preflight reports | Hint | Proven by |
|---|---|---|---|---|
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _check_and_subject(key: str) -> tuple[str, str]:
    check, _, subject = key.partition("[")
    return check, subject.rstrip("]")


def _also(case: FaultCase) -> str:
    grouped: dict[tuple[str, str], list[str]] = defaultdict(list)
    for key, status in case.also.items():
        check, subject = _check_and_subject(key)
        grouped[(check, status)].append(subject)
    parts = []
    for (check, status), subjects in grouped.items():
        many = f"{len(subjects)} results with pairs touching {FAULTY}"
        where = ", ".join(subjects) if len(subjects) <= 2 else many
        parts.append(f"`{check}` **{status}** ({where})")
    if case.blocks:
        parts.append(f"every other result about {case.blocks} **blocked**")
    return "; also " + "; ".join(parts) if parts else ""


def row(case: FaultCase) -> str:
    says = " … ".join(f"“{fragment}”" for fragment in case.says)
    reports = f"`{case.headline}` **{case.status}**: {says}{_also(case)}"
    proof = f"`{case.covered_by or f'{MATRIX_TEST}::…[{case.id}]'}`"
    proof += PROBES_NOTE[case.probes]
    cells = [case.fault, case.injected, reports, case.hint or "—", proof]
    return "| " + " | ".join(_cell(c) for c in cells) + " |\n"


def render() -> str:
    notes = ("\n“—”: the result is an error (could not be evaluated), whose message is the "
             "reason; no remediation hint is attached to it yet.\n")
    return HEADER + "".join(row(case) for case in CASES) + notes


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        return 0 if DOC.is_file() and DOC.read_text() == text else 1
    DOC.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
