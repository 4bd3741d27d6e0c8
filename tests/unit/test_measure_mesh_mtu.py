"""SSH-mesh and path-MTU verdicts from real OpenSSH 9.2 / iputils ping outputs.

The texts were captured on the simulated cluster (Debian 12): `ssh -o BatchMode=yes`
(host keys checked by the node's own config) and `ping -M do -s 1472` from one namespaced
host to another.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest

from preflight.measure import mesh, mtu

CHANGED_KEY = """\
@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @
@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!
Someone could be eavesdropping on you right now (man-in-the-middle attack)!
It is also possible that a host key has just been changed.
The fingerprint for the ED25519 key sent by the remote host is
SHA256:8Qq/UNYqZgdFrbi3dMarJ5V3YaTKm/hBR8ChIjsEa+g.
Please contact your system administrator.
Add correct host key in /tmp/pfsim-99c1/hosts/node-1/known_hosts to get rid of this message.
Offending ED25519 key in /tmp/pfsim-99c1/hosts/node-1/known_hosts:2
  remove with:
  ssh-keygen -f "/tmp/pfsim-99c1/hosts/node-1/known_hosts" -R "node-2"
Host key for node-2 has changed and you have requested strict checking.
Host key verification failed.
"""

SSH_CASES = {
    "ok": ({"rc": 0, "stderr": ""}, ("ok", "")),
    "auth": ({"rc": 255, "stderr": "root@node-2: Permission denied (publickey).\n"},
             ("auth-denied", "root@node-2: Permission denied (publickey).")),
    "untrusted": ({"rc": 255, "stderr": "No ED25519 host key is known for node-2 and you have "
                   "requested strict checking.\nHost key verification failed.\n"},
                  ("host-key-untrusted", "No ED25519 host key is known for node-2 and you "
                   "have requested strict checking.")),
    "changed": ({"rc": 255, "stderr": CHANGED_KEY},
                ("host-key-changed", "Host key for node-2 has changed and you have requested "
                 "strict checking.")),
    "refused": ({"rc": 255, "stderr": "ssh: connect to host node-3 port 22: Connection "
                 "refused\n"},
                ("refused", "ssh: connect to host node-3 port 22: Connection refused")),
    "unresolved": ({"rc": 255, "stderr": "ssh: Could not resolve hostname node-9: Temporary "
                    "failure in name resolution\n"},
                   ("unresolved", "ssh: Could not resolve hostname node-9: Temporary failure "
                    "in name resolution")),
    "timeout": ({"rc": 255, "stderr": "ssh: connect to host node-3 port 22: Connection timed "
                 "out\n"},
                ("unreachable", "ssh: connect to host node-3 port 22: Connection timed out")),
    "hung": ({"rc": -9, "stderr": "", "timed_out": True},
             ("unreachable", "no answer within its deadline")),
    # sshd at its MaxStartups (2 on node-3, the mesh's sources at once; seen in CI)
    "dropped": ({"rc": 255, "stderr": "kex_exchange_identification: Connection closed by remote "
                 "host\nConnection closed by 198.18.2.13 port 22\n"},
                ("dropped", "Connection closed by 198.18.2.13 port 22")),
    "no-client": ({"rc": 127, "stderr": "[Errno 2] No such file or directory: 'ssh'"},
                  ("no-ssh-client", "[Errno 2] No such file or directory: 'ssh'")),
}


@pytest.mark.parametrize("case", SSH_CASES)
def test_ssh_mesh_reason(case: str) -> None:
    answer, expected = SSH_CASES[case]
    assert mesh.classify(answer) == expected


def test_dropped_pairs_are_retried_one_connection_per_target_and_source() -> None:
    dropped = [("n1", "n3"), ("n2", "n3"), ("n4", "n3"), ("n1", "n2"), ("n3", "n1")]
    rounds = mesh.one_per_target(dropped)
    assert sorted((s, d) for r in rounds for s, ds in r.items() for d in ds) == sorted(dropped)
    for one_each in rounds:
        targets = [d for ds in one_each.values() for d in ds]
        assert len(targets) == len(set(targets)) and all(len(ds) == 1 for ds in one_each.values())
    assert len(rounds) == 3  # n3 is the target of three sources
    assert mesh.one_per_target([]) == []


def test_ssh_argv_keeps_the_nodes_own_config_and_never_prompts() -> None:
    argv = mesh.ssh_argv("node-2")
    assert argv == ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=7", "-n", "node-2",
                    "true"]


SSH_G = """\
user root
hostname 198.18.1.12
port 22
stricthostkeychecking false
userknownhostsfile /dev/null
globalknownhostsfile /etc/ssh/ssh_known_hosts /etc/ssh/ssh_known_hosts2
"""


def test_host_key_policy_reads_ssh_dash_g() -> None:
    answer = {"rc": 0, "stdout": SSH_G, "stderr": "", "timed_out": False}
    assert mesh.host_key_policy(answer) == {"strict_host_key_checking": "false",
                                            "known_hosts": "/dev/null"}
    assert mesh.host_key_policy({**answer, "rc": 255}) is None
    assert mesh.host_key_policy(None) is None


def ping(rc: int, stdout: str = "", stderr: str = "", timed_out: bool = False) -> dict[str, object]:
    return {"rc": rc, "stdout": stdout, "stderr": stderr, "timed_out": timed_out}


OK_FULL = ping(0, "PING node-2 (198.18.1.12) 1472(1500) bytes of data.\n1480 bytes from node-2 "
              "(198.18.1.12): icmp_seq=1 ttl=64 time=0.055 ms\n\n--- node-2 ping statistics "
              "---\n3 packets transmitted, 3 received, 0% packet loss, time 410ms\n")
LOST_FULL = ping(1, "PING node-2 (198.18.1.12) 1472(1500) bytes of data.\n\n--- node-2 ping "
                 "statistics ---\n3 packets transmitted, 0 received, 100% packet loss, time "
                 "412ms\n\n")
LOCAL_FULL = ping(1, "PING node-1 (198.18.1.11) 1472(1500) bytes of data.\n\n--- node-1 ping "
                  "statistics ---\n3 packets transmitted, 0 received, +3 errors, 100% packet "
                  "loss, time 424ms\n\n",
                  "ping: local error: message too long, mtu=1400\n" * 3)
# iputils' line for an ICMP "fragmentation needed" from a router (ping.c, pr_icmph).
HOP_FULL = ping(1, "PING node-2 (10.0.0.2) 1472(1500) bytes of data.\nFrom 10.0.9.1 "
                "icmp_seq=1 Frag needed and DF set (mtu = 1450)\n\n--- node-2 ping statistics "
                "---\n3 packets transmitted, 0 received, +3 errors, 100% packet loss\n")
SMALL_OK = ping(0, "PING node-2 (198.18.1.12) 56(84) bytes of data.\n64 bytes from node-2 "
                "(198.18.1.12): icmp_seq=1 ttl=64 time=0.039 ms\n")
SMALL_LOST = ping(1, "PING node-3 (198.18.1.13) 56(84) bytes of data.\nFrom node-1 "
                  "(198.18.1.11) icmp_seq=1 Destination Host Unreachable\n\n--- node-3 ping "
                  "statistics ---\n2 packets transmitted, 0 received, +2 errors, 100% packet "
                  "loss, time 203ms\npipe 2\n")
UNKNOWN = ping(2, stderr="ping: node-9: Temporary failure in name resolution\n")

MTU_CASES = {
    "ok": (OK_FULL, SMALL_OK, "ok", ""),
    "local": (LOCAL_FULL, SMALL_OK, "local-mtu-smaller", "the source's own MTU is 1400"),
    "hop": (HOP_FULL, SMALL_OK, "path-mtu-smaller", "a hop on the path reports MTU 1450"),
    "black-hole": (LOST_FULL, SMALL_OK, "black-hole",
                   "small pings get replies, full-size ones are lost"),
    "no-reply": (LOST_FULL, SMALL_LOST, "no-reply",
                 "no reply even to small pings (ICMP blocked or no route)"),
    "unknown": (UNKNOWN, UNKNOWN, "error", "ping: node-9: Temporary failure in name resolution"),
    "no-ping": (ping(127, stderr="No such file"), ping(127), "no-ping", "ping is not installed"),
    "hung": (ping(-9, timed_out=True), SMALL_OK, "error", "ping exit -9"),
}


@pytest.mark.parametrize("case", MTU_CASES)
def test_path_mtu_verdict(case: str) -> None:
    full, small, verdict, detail = MTU_CASES[case]
    assert mtu.classify(full, small) == (verdict, detail)


def test_ping_sizes_leave_room_for_ip_and_icmp_headers() -> None:
    assert mtu.ping_argv("node-2", 9000)[:5] == ["ping", "-M", "do", "-s", "8972"]
    assert "-M" not in mtu.control_argv("node-2")


@pytest.mark.parametrize(("mtus", "expected"), [
    ({"a": ["eth0", 1500], "b": ["eth0", 1500], "c": ["eth0", 1400]}, 1500),
    ({"a": ["eth0", 9000], "b": ["eth0", 1500]}, 9000),  # a tie: the others fall short
    ({}, None),
])
def test_expected_mtu_is_the_majority(mtus: dict[str, list[object]],
                                      expected: int | None) -> None:
    assert mtu.expected_mtu(mtus) == expected


@pytest.mark.parametrize("lost", [None, "junk", 3])
def test_a_command_the_runner_lost_is_an_error_not_a_crash(lost: object) -> None:
    assert mesh.classify(lost)[0] == "error"
    assert mtu.classify(lost)[0] == "error"


def test_host_key_policies_come_from_the_gathered_ssh_dash_g(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The gather's ssh_client fingerprint gives each node's policy; only a node without
    one is asked again (one runmany round per node saved)."""
    from preflight.config import Expectations
    from preflight.gather import NodeOutcome
    from preflight.inventory import Node
    from preflight.runctx import RunContext

    strict = {"rc": 0, "stdout": "stricthostkeychecking true\nuserknownhostsfile /k\n"}
    facts: dict[str, dict[str, Any]] = {"node-1": {"fingerprint": {"ssh_client": strict}},
                                        "node-2": {"fingerprint": {}}}
    ctx = RunContext(nodes=[Node(n) for n in facts], expect=Expectations(), run_dir=tmp_path,
                     transport_factory=lambda host: cast(Any, None))
    ctx.set_outcomes({n: NodeOutcome(n, facts=f) for n, f in facts.items()})
    asked: list[str] = []

    def runmany(ctx: RunContext, node: str, name: str, payload: Any, timeout: float) -> Any:
        asked.append(node)
        return [{"rc": 0, "stdout": "stricthostkeychecking false\n"}]

    monkeypatch.setattr(mesh, "run_script", runmany)
    assert mesh.host_key_policies(ctx, ["node-1", "node-2"]) == {
        "node-1": {"strict_host_key_checking": "true", "known_hosts": "/k"},
        "node-2": {"strict_host_key_checking": "false", "known_hosts": ""}}
    assert asked == ["node-2"]
