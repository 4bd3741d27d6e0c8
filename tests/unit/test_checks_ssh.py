"""The node's own host-key policy (recorded by the mesh from `ssh -G`), judged per node."""

from __future__ import annotations

import pytest

from preflight import verdict
from preflight.checks import check_ssh
from tests.faults.recorded import cluster_of, judge

NODE = cluster_of({"node-1": {}}).node("node-1")


def policy(strict: str, known: str = "/root/.ssh/known_hosts") -> dict[str, object]:
    return {"host_key_policies": {"node-1": {"strict_host_key_checking": strict,
                                             "known_hosts": known}}}


@pytest.mark.parametrize(("probe", "status"), [
    (policy("true"), "pass"),
    (policy("ask"), "pass"),  # BatchMode=yes: an unknown key fails the pair instead
    (policy("accept-new"), "pass"),
    (policy("accept-new", "/dev/null"), "warn"),  # every key is new: none is checked
    (policy("false"), "warn"),
    ({"host_key_policies": {"node-1": None}}, "error"),
    ({"host_key_policies": {}}, "skip"),
    ({}, "skip"),
])
def test_host_key_checking_off_is_one_warning(probe: dict[str, object], status: str) -> None:
    assert judge(check_ssh.check_ssh_host_key_checking, node=NODE, mesh_probe=probe)[0] == status
    if status == "warn":
        assert verdict.current().reason == "host-key-checking-off"
