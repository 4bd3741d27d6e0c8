"""GPU checks judged on recorded facts (the real probe against stand-in nvidia-smi/dmesg)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from preflight.checks import check_gpu
from preflight.config import Expectations
from preflight.facts import ClusterFacts, NodeFacts
from tests.faults.recorded import cluster_of, facts_for, judge
from tests.sim.spec import GpuState, HostSpec, Xid

NAMES = ["node-1", "node-2", "node-3"]


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hosts")


def cluster(hosts: Path, odd: HostSpec | None = None,
            slots: dict[str, int | None] | None = None) -> ClusterFacts:
    facts = {name: facts_for(HostSpec(), hosts, NAMES) for name in NAMES}
    if odd is not None:
        facts["node-3"] = facts_for(odd, hosts, NAMES)
    return cluster_of(facts, slots)


def gpu_count(facts: ClusterFacts, node: str = "node-3", **expect: Any) -> tuple[str, str]:
    status, message, _ = judge(check_gpu.check_gpu_count, node=facts.node(node), cluster=facts,
                               expect=Expectations(**expect))
    return status, message


def test_more_gpus_than_hostfile_slots_is_fine(hosts: Path) -> None:
    # slots=1: one launcher per node (torchrun), eight GPUs under it.
    facts = cluster(hosts, slots=dict.fromkeys(NAMES, 1))
    assert gpu_count(facts) == ("pass", "")


def test_fewer_gpus_than_hostfile_slots_fails(hosts: Path) -> None:
    facts = cluster(hosts, HostSpec(gpus=7), slots=dict.fromkeys(NAMES, 8))
    assert gpu_count(facts) == ("fail", "node-3: GPUs visible: 7, expected 8 (hostfile slots)")


def test_without_slots_the_odd_node_out_fails(hosts: Path) -> None:
    facts = cluster(hosts, HostSpec(gpus=7))
    assert gpu_count(facts) == ("fail", "node-3: 7 GPUs visible, the other nodes have 8")
    assert gpu_count(facts, "node-1") == ("pass", "")


def test_slots_met_but_still_the_odd_node_out(hosts: Path) -> None:
    facts = cluster(hosts, HostSpec(gpus=7), slots=dict.fromkeys(NAMES, 4))
    assert gpu_count(facts) == ("fail", "node-3: 7 GPUs visible, the other nodes have 8")


def test_profile_count_is_exact(hosts: Path) -> None:
    facts = cluster(hosts, slots=dict.fromkeys(NAMES, 1))
    assert gpu_count(facts, gpus_per_node=4) == ("fail", "node-3: GPUs visible: 8, expected 4")


def test_per_gpu_problems_name_the_gpu(hosts: Path) -> None:
    odd = HostSpec(gpu_overrides={2: GpuState(ecc_uncorrected=3, remapped_pending=True)})
    facts = cluster(hosts, odd)
    node, expect = facts.node("node-3"), Expectations()
    assert judge(check_gpu.check_ecc_uncorrected, node=node, expect=expect)[:2] == (
        "fail", "node-3: GPU 2: 3 uncorrected ECC errors (expected 0)")
    assert judge(check_gpu.check_remapped_rows, node=node, expect=expect)[:2] == (
        "fail", "node-3: GPU 2: remapped rows pending (expected none)")


def test_xid_names_the_gpu_by_its_pci_address(hosts: Path) -> None:
    odd = HostSpec(xids=[Xid(79, "0000:bb:00", "GPU has fallen off the bus.")])
    status, message, hint = judge(check_gpu.check_xid_errors,
                                  node=cluster(hosts, odd).node("node-3"), expect=Expectations())
    assert status == "fail"
    assert "Xid 79 on GPU 5 (0000:bb:00) (GPU has fallen off the bus)" in message
    assert hint is not None and "drain the node" in hint


def test_xid_on_an_unknown_pci_address_keeps_the_address(hosts: Path) -> None:
    odd = HostSpec(xids=[Xid(79, "0000:07:00", "GPU has fallen off the bus.")])
    _, message, _ = judge(check_gpu.check_xid_errors, node=cluster(hosts, odd).node("node-3"),
                          expect=Expectations())
    assert "Xid 79 on 0000:07:00 (GPU has fallen off the bus)" in message


@pytest.mark.parametrize(("hours_ago", "status"), [(30, "pass"), (2, "fail")])
def test_xid_outside_the_window_is_history(hosts: Path, hours_ago: float, status: str) -> None:
    node = cluster(hosts).node("node-3")
    stamp = datetime.fromtimestamp(node.raw["time"] - hours_ago * 3600, UTC)
    line = f"{stamp.isoformat()} NVRM: Xid (PCI:0000:9b:00): 79, pid=1, fell off the bus\n"
    node.raw["tools"]["dmesg"]["stdout"] = line
    assert judge(check_gpu.check_xid_errors, node=node, expect=Expectations())[0] == status


def test_software_xid_is_not_hardware_trouble(hosts: Path) -> None:
    odd = HostSpec(xids=[Xid(13, "0000:9b:00", "Graphics SM Warp Exception")])
    node = cluster(hosts, odd).node("node-3")
    assert judge(check_gpu.check_xid_errors, node=node, expect=Expectations())[0] == "pass"


def test_nvidia_smi_text_is_let_go_once_parsed_and_the_report_takes_the_records(
        hosts: Path) -> None:
    from preflight.reports.nodes import parsed_records

    node = cluster(hosts).node("node-1")
    tool = node.raw["tools"]["nvidia_smi_q"]
    assert tool["stdout"]
    gpus = node.gpus
    assert gpus and tool["stdout"] is None
    assert NodeFacts(node.outcome).gpus == gpus  # another view of the same facts (a probe's)
    with pytest.raises(RuntimeError, match="dropped once parsed"):
        node.tool_output("nvidia_smi_q")
    records = parsed_records(node)
    assert records["gpus"] == gpus and records["notes"] == []
    assert records["versions"]["driver"] == node.version("driver") is not None
