"""nvidia-smi topo -m: every corpus matrix, its key figures, and wrapped copies."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from preflight.parsers import ParseError
from preflight.parsers.topo import parse

from .conftest import TRANSFORMS, corpus_names

Reader = Callable[[str], str]
FOLDER = "topo"

EXPECTED: dict[str, dict[str, Any]] = {
    "sglang30401_h100x8_nv18_8nics_nic_legend.txt": {
        "gpus": 8,
        "nics": 8,
        "cpu": {"GPU0": "0-47,96-143", "GPU7": "48-95,144-191"},
        "numa": {"GPU0": "0", "GPU7": "1"},
    },
    "lmdeploy4930_rtx3090x8_pcie_only_node_sys_tabs.txt": {
        "gpus": 8,
        "nics": 0,
        "cpu": {"GPU0": "0-63,128-191", "GPU7": "64-127,192-255"},
        "numa": {"GPU0": "0", "GPU7": "1"},
    },
    "mlengineering_h100x8_nv18_no_nics.txt": {
        "gpus": 8,
        "nics": 0,
        "cpu": {"GPU0": "0-51,104-155", "GPU7": "52-103,156-207"},
        "numa": {"GPU0": "0", "GPU7": "1"},
    },
    "exporter_h100_1gpu_ansi_escape_header.txt": {
        "gpus": 1,
        "nics": 0,
        "cpu": {"GPU0": "0-19"},
        "numa": {"GPU0": "0"},
    },
    "dlperf_v100x8_dgx1_hybrid_cube_nv1_nv2_mlx5_0_oldformat.txt": {
        "gpus": 8,
        "nics": 1,
        "cpu": {"GPU0": "0-11,24-35", "GPU7": "12-23,36-47"},
        "numa": {"GPU0": None, "GPU7": None},
    },
}


def test_every_corpus_file_is_covered(corpus: Path) -> None:
    assert set(corpus_names(corpus / FOLDER)) <= set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_key_figures(read_corpus: Reader, name: str) -> None:
    record = parse(read_corpus(f"{FOLDER}/{name}")).to_dict()
    expected = EXPECTED[name]
    assert (record["gpus"], record["nics"]) == (expected["gpus"], expected["nics"])
    for gpu, cpus in expected["cpu"].items():
        assert record["cpu_affinity"][gpu] == cpus
    for gpu, numa in expected["numa"].items():
        assert record["numa_affinity"][gpu] == numa
    assert len(record["cpu_affinity"]) == expected["gpus"]
    for row, links in record["links"].items():
        assert row not in links and "X" not in links.values()


@pytest.mark.parametrize("transform", sorted(TRANSFORMS))
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_wrapped_copies_parse_the_same(read_corpus: Reader, name: str, transform: str) -> None:
    text = read_corpus(f"{FOLDER}/{name}")
    assert parse(TRANSFORMS[transform](text)) == parse(text)


def test_h100_nv18_with_nic_legend(read_corpus: Reader) -> None:
    record = parse(read_corpus(f"{FOLDER}/sglang30401_h100x8_nv18_8nics_nic_legend.txt"))
    assert record.nic_names == {f"NIC{n}": f"mlx5_{n}" for n in range(8)}
    gpu_links = {
        link for row in range(8) for col, link in record.links[f"GPU{row}"].items() if "GPU" in col
    }
    assert gpu_links == {"NV18"}
    assert record.links["GPU0"]["NIC0"] == "PIX"
    assert record.links["GPU0"]["NIC4"] == "SYS"
    assert record.links["NIC7"]["GPU7"] == "PIX"
    assert record.links["NIC7"]["NIC6"] == "NODE"
    assert len(record.links) == 16


def test_dgx1_hybrid_cube_old_format(read_corpus: Reader) -> None:
    text = read_corpus(f"{FOLDER}/dlperf_v100x8_dgx1_hybrid_cube_nv1_nv2_mlx5_0_oldformat.txt")
    record = parse(text)
    assert record.nic_names == {"mlx5_0": "mlx5_0"}
    assert record.links["GPU0"] == {
        "GPU1": "NV1",
        "GPU2": "NV1",
        "GPU3": "NV2",
        "GPU4": "NV2",
        "GPU5": "SYS",
        "GPU6": "SYS",
        "GPU7": "SYS",
        "mlx5_0": "NODE",
    }
    assert record.links["mlx5_0"]["GPU2"] == "PIX"


def test_pcie_only_box_has_no_nvlink(read_corpus: Reader) -> None:
    record = parse(read_corpus(f"{FOLDER}/lmdeploy4930_rtx3090x8_pcie_only_node_sys_tabs.txt"))
    links = {link for row in record.links.values() for link in row.values()}
    assert links == {"NODE", "SYS"}
    assert record.links["GPU3"]["GPU4"] == "SYS"


def test_single_gpu_under_ansi_underline(read_corpus: Reader) -> None:
    record = parse(read_corpus(f"{FOLDER}/exporter_h100_1gpu_ansi_escape_header.txt"))
    assert record.to_dict() == {
        "gpus": 1,
        "nics": 0,
        "links": {"GPU0": {}},
        "nic_names": {},
        "cpu_affinity": {"GPU0": "0-19"},
        "numa_affinity": {"GPU0": "0"},
    }


def test_degraded_link_is_visible(read_corpus: Reader) -> None:
    text = read_corpus(f"{FOLDER}/mlengineering_h100x8_nv18_no_nics.txt")
    lines = text.split("\n")
    lines[4] = lines[4].replace("NV18    NV18     X", "NV18    NV12     X")  # GPU3 row
    record = parse("\n".join(lines))
    assert record.links["GPU3"]["GPU2"] == "NV12"
    assert record.links["GPU2"]["GPU3"] == "NV18"


@pytest.mark.parametrize(
    "text", ["", "Legend:\n\n  X    = Self\n", "GPU0 GPU1\n", "random words\n", "\x00"]
)
def test_not_topo_output(text: str) -> None:
    with pytest.raises(ParseError):
        parse(text)


def test_other_tools_output_is_rejected(read_corpus: Reader) -> None:
    with pytest.raises(ParseError):
        parse(read_corpus("nvidia_smi/gpud_table_550_h100x8.txt"))
