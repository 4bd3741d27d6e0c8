"""Hostfile entries that are one machine, cloned machines, shared hostnames."""

from __future__ import annotations

from preflight import verdict
from preflight.checks import check_identity
from tests.faults.recorded import cluster_of, judge


def node(hostname: str, machine_id: str | None, boot_id: str | None) -> dict[str, object]:
    return {"hostname": hostname, "identity": {"machine_id": machine_id, "boot_id": boot_id}}


HEALTHY = {"gpu-1": node("gpu-1", "m1", "b1"), "gpu-2": node("gpu-2", "m2", "b2"),
           "gpu-3": node("gpu-3", "m3", "b3")}


def both(facts: dict[str, dict[str, object]]) -> tuple[tuple[str, str], tuple[str, str]]:
    cluster = cluster_of(facts)
    machines = judge(check_identity.check_machines_distinct, cluster=cluster)
    reason = verdict.current().reason
    names = judge(check_identity.check_hostnames_distinct, cluster=cluster)
    return (machines[0], f"{reason}: {machines[1]}"), (names[0], names[1])


def test_distinct_machines_pass() -> None:
    machines, names = both(HEALTHY)
    assert machines[0] == names[0] == "pass"


def test_one_machine_listed_twice_fails_naming_both_entries() -> None:
    machines, names = both({**HEALTHY, "gpu-1.ib": node("gpu-1", "m1", "b1")})
    assert machines == ("fail", "machine-listed-twice: one machine listed twice (same "
                                "machine-id, boot_id and hostname): gpu-1 and gpu-1.ib")
    assert names[0] == "pass"  # the same hostname because it is the same machine


def test_a_cloned_image_warns() -> None:
    machines, names = both({**HEALTHY, "gpu-4": node("gpu-4", "m1", "b4")})
    assert machines == ("warn", "machine-id-cloned: machines share one machine-id (a cloned "
                                "image, different boot_ids): gpu-1 and gpu-4")
    assert names[0] == "pass"


def test_containers_on_one_kernel_are_not_one_machine() -> None:
    """Two pods on one host: the kernel's boot_id, the image's machine-id, own hostnames."""
    machines, names = both({**HEALTHY, "pod-a": node("pod-a", "img", "b9"),
                            "pod-b": node("pod-b", "img", "b9")})
    assert machines[0] == names[0] == "pass"


def test_one_hostname_on_different_machines_warns() -> None:
    machines, names = both({**HEALTHY, "10.0.0.4": node("gpu-3", "m4", "b4")})
    assert machines[0] == "pass"
    assert names == ("warn", "different machines report one hostname: 'gpu-3' on gpu-3 "
                             "and 10.0.0.4")


def test_facts_without_identity_skip() -> None:
    machines, names = both({"a": {"hostname": "a"}, "b": {"hostname": "b"}})
    assert machines[0] == "skip" and names[0] == "pass"
