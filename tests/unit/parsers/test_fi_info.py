"""fi_info: mpirun-prefixed, indented/elided and legacy outputs from the corpus."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from preflight.parsers import ParseError, parse_kind
from preflight.parsers.fi_info import parse

from .conftest import TRANSFORMS, corpus_names

Reader = Callable[[str], str]
FOLDER = "efa"

EXPECTED: dict[str, list[tuple[str, str | None, str | None, str | None, str | None]]] = {
    "awsdoeks_eks_efa_fi_info_mpi_prefixed_2pods.txt": [
        ("efa", "efa", "rdmap197s0-rdm", "116.10", "FI_EP_RDM"),
        ("efa", "efa", "rdmap197s0-rdm", "116.10", "FI_EP_RDM"),
    ],
    "awsdoeks_eks_gpu_efa_fi_info_mpi_prefixed_indented_elided.txt": [
        ("efa", "efa", "rdmap79s0-rdm", "120.10", "FI_EP_RDM"),
        ("efa", "efa", "rdmap201s0-rdm", "120.10", "FI_EP_RDM"),
    ],
    "libfabric5689_fi_info_p_efa_legacy_fabric_name_rxd.txt": [
        ("efa", "EFA-fe80::39:beff:fe6e:c23", "efa_0-rdm", "2.0", "FI_EP_RDM"),
        ("efa", "EFA-fe80::39:beff:fe6e:c23", "efa_0-dgrm", "2.0", "FI_EP_DGRAM"),
        ("efa;ofi_rxd", "EFA-fe80::39:beff:fe6e:c23", "efa_0-dgrm", "1.0", "FI_EP_RDM"),
    ],
}


def test_every_corpus_file_is_covered(corpus: Path) -> None:
    assert set(corpus_names(corpus / FOLDER)) <= set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_providers(read_corpus: Reader, name: str) -> None:
    providers = parse_kind("fi_info", read_corpus(f"{FOLDER}/{name}"))["providers"]
    assert [
        (p["provider"], p["fabric"], p["domain"], p["version"], p["type"]) for p in providers
    ] == EXPECTED[name]


# A file already printed through mpirun does not get a second rank prefix.
WRAPPED_CASES = [
    (name, transform)
    for name in sorted(EXPECTED)
    for transform in sorted(TRANSFORMS)
    if not ("mpi_prefixed" in name and transform in {"mpi", "all"})
]


@pytest.mark.parametrize(("name", "transform"), WRAPPED_CASES)
def test_wrapped_copies_parse_the_same(read_corpus: Reader, name: str, transform: str) -> None:
    text = read_corpus(f"{FOLDER}/{name}")
    assert parse(TRANSFORMS[transform](text)) == parse(text)


# `fi_info -l`: provider names and versions only.
FI_INFO_LIST = """\
efa:
    version: 120.10
tcp:
    version: 120.10
shm:
    version: 120.10
"""


def test_fi_info_list_form() -> None:
    providers = parse(FI_INFO_LIST).to_dict()["providers"]
    assert [(p["provider"], p["version"], p["domain"]) for p in providers] == [
        ("efa", "120.10", None),
        ("tcp", "120.10", None),
        ("shm", "120.10", None),
    ]


@pytest.mark.parametrize("text", [
    "fi_getinfo: -61 (No data available)\n",
    "[1,0]<stderr>:fi_getinfo: -61 (No data available)\n"
    "[1,1]<stderr>:fi_getinfo: -61 (No data available)\n",
    "Warning: Permanently added 'pod-1' (ED25519) to the list of known hosts.\n"
    "fi_getinfo: -61 (No data available)\n",
])
def test_an_output_that_is_only_the_error_reports_it(text: str) -> None:
    assert parse(text).to_dict() == {"providers": [],
                                     "error": "fi_getinfo: -61 (No data available)"}


def test_providers_found_have_no_error(read_corpus: Reader) -> None:
    text = read_corpus("efa/awsdoeks_eks_efa_fi_info_mpi_prefixed_2pods.txt")
    assert parse(text).error is None


@pytest.mark.parametrize("text", ["", "provider\n", "hello: world\n", "\x00"])
def test_not_fi_info_output(text: str) -> None:
    with pytest.raises(ParseError):
        parse(text)


def test_other_tools_output_is_rejected(read_corpus: Reader) -> None:
    with pytest.raises(ParseError):
        parse(read_corpus("ibstat/gpud_a100_ib200_all_active.txt"))
