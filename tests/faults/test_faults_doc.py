"""docs/faults.md is the fault table, rendered: regenerate it when the table changes."""

from __future__ import annotations

from tests.faults.cases import CASES, RUNNABLE
from tests.faults.faultdoc import DOC, render, row


def test_doc_is_the_rendered_table() -> None:
    assert DOC.read_text() == render(), (
        "docs/faults.md differs from tests/faults/cases.py: run python -m tests.faults.faultdoc")


def test_every_fault_has_one_row_with_its_hint() -> None:
    text = DOC.read_text()
    assert len({case.id for case in CASES}) == len(CASES)
    for case in CASES:
        assert text.count(row(case)) == 1, case.id
        assert case.hint is None or case.hint.replace("|", "\\|") in text, case.id


def test_the_matrix_runs_every_fault_the_brief_names() -> None:
    names = {case.id for case in RUNNABLE}
    assert names >= {
        "host-down", "host-key-changed", "key-not-authorized", "hung-command", "clock-skew",
        "driver-mismatch", "nccl-mismatch", "gpu-missing", "nvlink-degraded",
        "ecc-uncorrected", "remapped-rows-pending", "xid-79", "ib-port-down", "ib-port-slow",
        "efa-short", "mtu-mismatch", "name-resolves-differently", "site-check-raises"}


def test_rows_proven_elsewhere_point_at_a_test_that_exists() -> None:
    root = DOC.parents[1]
    for case in CASES:
        if case.covered_by is None:
            continue
        path, _, name = case.covered_by.partition("::")
        assert f"def {name}(" in (root / path).read_text(), case.covered_by


def test_rows_expect_nothing_of_the_probes_they_leave_out() -> None:
    assert {case.probes for case in RUNNABLE} == {"all", "bandwidth", "reach"}
    for case in RUNNABLE:
        assert not [key for key in case.expected if key.startswith(case.left_out)], case.id
        assert case.probes == "all" or case.pairs == "ring", case.id  # pair rows: the mesh
    # that every probe blocks a node lost before the probes is shown once, with them all
    assert [case.id for case in RUNNABLE if case.blocks and case.probes == "all"] == [
        "host-down"]
