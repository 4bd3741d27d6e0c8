"""Xid events from kernel logs: the corpus line, timestamp styles, the hardware table."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from preflight.parsers import ParseError, parse_kind
from preflight.parsers.xid import HARDWARE_XIDS, events, is_hardware, parse

from .conftest import TRANSFORMS

Reader = Callable[[str], str]
CORPUS_LINE = "nvidia_smi/mlengineering_xid63_syslog_line.txt"


def test_corpus_xid63_line(read_corpus: Reader) -> None:
    record = parse_kind("xid", read_corpus(CORPUS_LINE))
    assert record == {
        "events": [
            {
                "xid": 63,
                "pci": "0000:10:1c",
                "message": "pid=1896, Row Remapper: New row marked for remapping, "
                "reset gpu to activate.",
                "time": None,
            }
        ]
    }


@pytest.mark.parametrize("transform", sorted(TRANSFORMS))
def test_wrapped_copies_parse_the_same(read_corpus: Reader, transform: str) -> None:
    text = read_corpus(CORPUS_LINE)
    assert parse(TRANSFORMS[transform](text)) == parse(text)


KERNEL_LOG = """\
[Mon Jan 20 10:18:26 2025] nvidia-nvswitch0: open (major=510)
[Mon Jan 20 10:18:27 2025] NVRM: GPU at PCI:0000:2b:00: GPU-0b11d014-1685-04bd-26ed-5fc0bc1c44ae
[Mon Jan 20 10:18:27 2025] NVRM: Xid (PCI:0000:2b:00): 79, pid=1101234, name=nvc:[driver], GPU has fallen off the bus.
May 18 19:02:39 node-3 kernel: NVRM: Xid (PCI:0000:2B:00): 79, GPU has fallen off the bus.
2024-05-18T19:02:40+0000 node-3 kernel: NVRM: Xid (PCI:0000:c6:00): 13, pid=4242, name=python, Graphics Exception: ESR 0x514648=0x1000f00
Jan 18 11:38:05 localhost kernel: [  269.517039] NVRM: Xid (0000:01:00): 3, C 00000005 SC 00000007 M 00001ffc Data ffffffff
[  270.000001] NVRM: Xid (PCI:0000:01:00): 48, An uncorrectable double bit error (DBE) has been detected on GPU in the framebuffer at partition 6, subpartition 0.
"""  # noqa: E501


def test_timestamp_styles_and_old_pci_form() -> None:
    events = parse(KERNEL_LOG).events
    assert [(e.xid, e.pci, e.time) for e in events] == [
        (79, "0000:2b:00", "Mon Jan 20 10:18:27 2025"),
        (79, "0000:2b:00", "May 18 19:02:39"),
        (13, "0000:c6:00", "2024-05-18T19:02:40+0000"),
        (3, "0000:01:00", "Jan 18 11:38:05"),
        (48, "0000:01:00", "270.000001"),
    ]
    assert events[0].message == "pid=1101234, name=nvc:[driver], GPU has fallen off the bus."
    assert [is_hardware(e.xid) for e in events] == [True, True, False, False, True]


@pytest.mark.parametrize(
    "text",
    [
        "[    0.000000] Linux version 6.8.0-45-generic\n",
        "[Mon Jan 20 10:18:26 2025] nvidia-nvswitch0: open (major=510)\n",
        "2025-01-20T10:18:26,123456+00:00 Linux version 6.8.0-45-generic\n",
        "-- Logs begin at Mon 2025-01-20 10:00:00 UTC. --\n"
        "Jan 20 10:18:26 gpu-7 kernel: Linux version 6.8.0-45-generic\n",
        "-- No entries --\n",
        "kern  :info  : [    0.000000] Linux version 6.8.0-45-generic\n",
    ],
)
def test_kernel_log_without_xid_lines_is_no_events(text: str) -> None:
    assert parse(text).to_dict() == {"events": []}


TOPO = "\tGPU0\tGPU1\tCPU Affinity\nGPU0\t X \tNV18\t0-47\nGPU1\tNV18\t X \t0-47\n"


@pytest.mark.parametrize(
    "text",
    ["", "\n\n", "ibstat: nothing here\n", TOPO,
     "<!DOCTYPE html>\n<html><head><title>Xid errors</title></head>\n<body>\n"
     "<p>NVRM: Xid 79 means the GPU fell off the bus</p>\n</body></html>\n"],
    ids=["empty", "blank", "other-tool", "topo", "html"],
)
def test_text_that_is_not_a_kernel_log_is_refused(text: str) -> None:
    with pytest.raises(ParseError, match="not a kernel log"):
        parse(text)


def test_the_probes_nvrm_lines_may_be_none() -> None:
    assert events("").to_dict() == {"events": []}
    assert [e.xid for e in events(KERNEL_LOG).events] == [79, 79, 13, 3, 48]


def test_binary_input_is_an_error() -> None:
    with pytest.raises(ParseError):
        parse("\x00\x01\x02NVRM")


def test_hardware_table() -> None:
    for xid in (48, 63, 64, 74, 79, 92, 94, 95, 119, 120):
        assert is_hardware(xid), xid
        assert HARDWARE_XIDS[xid]
    for xid in (13, 31, 43, 45):  # application-side faults
        assert not is_hardware(xid)
