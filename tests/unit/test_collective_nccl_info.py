"""What NCCL says it picked, read from real NCCL_DEBUG=INFO logs (../shared/corpus)."""

from __future__ import annotations

from pathlib import Path

import pytest

from preflight.collective.nccl_info import describe, picked
from tests.corpus import corpus_file

REPO = Path(__file__).resolve().parents[2]


def corpus(name: str) -> str:
    path = corpus_file("nccl_logs", name)
    return path.read_text(errors="replace")


@pytest.mark.parametrize(("name", "expected"), [
    ("nccl687_a100_ib_4hca_bootstrap_init_nccl2114.txt",
     {"bootstrap": "ib0", "network": "IB", "oob": "ib0",
      "ib_devices": ["mlx5_10:1/IB", "mlx5_11:1/IB", "mlx5_12:1/IB", "mlx5_13:1/IB"]}),
    ("nccltests185_dgxh100_roce_bootstrap_netib_init.txt",
     {"bootstrap": "enp220s0np0", "network": "IB", "oob": "enp220s0np0",
      "ib_devices": ["mlx5_10:1/RoCE", "mlx5_11:1/RoCE"]}),
    ("nvpeermem56_nccl247_netsocket_netib_init.txt",
     {"socket_ifnames": ["ib0"], "ib_devices": ["mlx5_0:1/IB"], "oob": "ib0"}),
    ("aksrdma30_nccl2251_bootstrap_eth0_new_format.txt", {"bootstrap": "eth0"}),
    ("mlengineering_netib_completion_error12_azure.txt", {}),
])
def test_picked_from_real_logs(name: str, expected: dict[str, object]) -> None:
    found = picked(corpus(name))
    assert {k: found.get(k) for k in expected} == expected
    assert set(found) >= set(expected)


def test_socket_transport_and_its_description() -> None:
    log = ("h:1:1 [0] NCCL INFO Bootstrap : Using eth0:10.0.0.1<0>\n"
           "h:1:1 [0] NCCL INFO NET/Socket : Using [0]eth0:10.0.0.1<0> [1]eth1:10.0.1.1<0>\n"
           "h:1:1 [0] NCCL INFO Using network Socket\n")
    info = picked(log)
    assert info == {"bootstrap": "eth0", "socket_ifnames": ["eth0", "eth1"],
                    "network": "Socket"}
    assert describe(info) == "bootstrap eth0, network Socket, sockets on eth0,eth1"
    assert describe({}) == ""
