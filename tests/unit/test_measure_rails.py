"""ib_write_bw rails: HCA i to HCA i, floors from port rates, options, reading results."""

from __future__ import annotations

from typing import Any

import pytest

from preflight.config import Expectations
from preflight.measure.rails import (
    Rail,
    Settings,
    client_argv,
    closest_gpu,
    floor_basis,
    match_rails,
    node_rails,
    rail_floor,
    rail_gbps,
    server_argv,
    settings_from,
)
from preflight.pairjudge import rails_rule
from tests.corpus import corpus_file

UNI = Settings(fraction=0.9, rate_gbps=None, gpudirect=False, bidirectional=False)


def port(ca: str, state: str = "Active", rate: float = 400.0, number: int = 1) -> dict[str, Any]:
    return {"ca": ca, "port": number, "state": state, "rate_gbps": rate,
            "link_layer": "InfiniBand"}


def rails(*ports: dict[str, Any]) -> list[Rail]:
    return node_rails(list(ports), None, None, gpudirect=False)


def test_rails_follow_natural_hca_order_and_take_tcp_ports_from_the_index() -> None:
    found = rails(port("mlx5_10"), port("mlx5_2"), port("mlx5_0"))
    assert [(r.index, r.device, r.tcp_port) for r in found] == [
        (0, "mlx5_0", 18515), (1, "mlx5_2", 18516), (2, "mlx5_10", 18517)]


def test_rail_i_meets_rail_i_and_the_floor_is_the_slower_ports_rate() -> None:
    src = rails(port("mlx5_0"), port("mlx5_1", rate=200.0))
    dst = rails(port("mlx5_0"), port("mlx5_1"))
    tested, untested = match_rails(src, dst, UNI)
    assert [(p.src.device, p.dst.device, rail_floor(p.port_rate_gbps, UNI)) for p in tested] == [
        ("mlx5_0", "mlx5_0", 360.0), ("mlx5_1", "mlx5_1", 180.0)]
    assert untested == {}


def test_expected_rate_and_bidirectional_raise_the_floor() -> None:
    settings = Settings(0.9, 400.0, gpudirect=False, bidirectional=True)
    tested, _ = match_rails(rails(port("mlx5_0", rate=200.0)), rails(port("mlx5_0")), settings)
    assert tested[0].port_rate_gbps == 200.0  # what is recorded; the floor is the check's
    assert rail_floor(200.0, settings) == 720.0  # perftest -b reports both directions summed
    assert floor_basis(settings) == "0.9 x 400 Gb/s x 2 directions"
    assert floor_basis(UNI) == "0.9 x the slower port's rate"


def test_down_ports_and_missing_hcas_are_left_to_the_ib_ports_check() -> None:
    src = rails(port("mlx5_0"), port("mlx5_1", state="Down"), port("mlx5_2"))
    dst = rails(port("mlx5_0"), port("mlx5_1"))
    tested, untested = match_rails(src, dst, UNI)
    assert [p.src.device for p in tested] == ["mlx5_0"]
    assert untested == {"mlx5_1": "rail 1: mlx5_1 Down, mlx5_1 Active",
                        "mlx5_2": "rail 2: no HCA 2 at the other end"}


TOPO = {"links": {"GPU0": {"NIC0": "SYS", "NIC1": "PIX"}, "GPU1": {"NIC0": "PXB", "NIC1": "SYS"},
                  "GPU2": {"NIC0": "PXB", "NIC1": "NODE"}},
        "nic_names": {"NIC0": "mlx5_0", "NIC1": "mlx5_1"}}


@pytest.mark.parametrize(("device", "index", "topo", "gpus", "gpu"), [
    ("mlx5_0", 0, TOPO, 3, 1),  # PXB to GPU1 and GPU2: the lower index
    ("mlx5_1", 1, TOPO, 3, 0),  # PIX to GPU0
    ("mlx5_0", 0, {"links": {"GPU0": {"mlx5_0": "NODE"}, "GPU1": {"mlx5_0": "PIX"}}}, 2, 1),
    ("mlx5_9", 9, None, 8, 1),  # no topology: rail i uses GPU i, wrapping
    ("mlx5_3", 3, None, None, 0),
])
def test_gpudirect_uses_the_gpu_nearest_each_hca(device: str, index: int,
                                                 topo: dict[str, Any] | None,
                                                 gpus: int | None, gpu: int) -> None:
    assert closest_gpu(device, index, topo, gpus) == gpu


def test_server_and_client_options() -> None:
    rail = Rail(2, "mlx5_2", 1, 400.0, "Active")
    assert server_argv(rail, UNI) == ["ib_write_bw", "-d", "mlx5_2", "-i", "1", "-p", "18517",
                                      "-D", "3", "-F", "--report_gbits"]
    gpu = Rail(2, "mlx5_2", 1, 400.0, "Active", cuda=5)
    both = Settings(0.9, None, gpudirect=True, bidirectional=True)
    assert client_argv(gpu, both, "198.18.0.12")[-3:] == ["-b", "--use_cuda=5", "198.18.0.12"]


def test_settings_come_from_expectations() -> None:
    expect = Expectations(ib_write_bw_fraction=0.8, ib_rate_gbps=200.0, gpudirect=True)
    assert settings_from(expect) == Settings(0.8, 200.0, gpudirect=True, bidirectional=False)


GBITS_REPORT = """\
 #bytes     #iterations    BW peak[Gb/sec]    BW average[Gb/sec]   MsgRate[Mpps]
 65536      2245           0.00               392.42\t\t   0.748596
"""


def test_rail_result_from_a_client_run() -> None:
    assert rail_gbps({"rc": 0, "stdout": GBITS_REPORT, "stderr": ""}) == pytest.approx(392.42)


def test_rail_result_in_mb_per_second_from_the_corpus() -> None:
    text = corpus_file("perftest", "superbench_ib_write_bw_loopback_8M.txt").read_text()
    assert rail_gbps({"rc": 0, "stdout": text}) == pytest.approx(24056.72 * 2**20 * 8 / 1e9)


@pytest.mark.parametrize(("answer", "reason"), [
    ({"rc": 1, "stdout": "", "stderr": " Couldn't connect to 198.18.0.12:18515\n"
      "Unable to open file descriptor for socket connection Unable to init the socket "
      "connection\n"},
     "Unable to open file descriptor for socket connection Unable to init the socket "
     "connection"),
    ({"rc": -9, "stdout": "", "stderr": "", "timed_out": True}, "ib_write_bw timed out"),
    ({"rc": 0, "stdout": " #bytes     #iterations    BW peak[Gb/sec]    BW average[Gb/sec]"
      "   MsgRate[Mpps]\n", "stderr": ""}, "ib_write_bw printed no result row"),
])
def test_rail_failures_say_why(answer: dict[str, Any], reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        rail_gbps(answer)


def test_a_pair_passes_only_when_every_rail_reaches_its_floor() -> None:
    ok = {"gbps": 392.0, "port_rate_gbps": 400.0, "error": None}
    slow = {"gbps": 150.0, "port_rate_gbps": 400.0, "error": None}
    broken = {"gbps": None, "port_rate_gbps": 400.0, "error": "Couldn't connect"}
    passes = rails_rule(UNI).passes
    assert passes({"rails": {"mlx5_0": ok, "mlx5_1": ok}})
    assert not passes({"rails": {"mlx5_0": ok, "mlx5_1": slow}})
    assert not passes({"rails": {"mlx5_0": ok, "mlx5_1": broken}})
    assert not passes({"rails": {}})
    assert rails_rule(Settings(0.3, None, gpudirect=False, bidirectional=False)).passes(
        {"rails": {"mlx5_0": ok, "mlx5_1": slow}})
