"""nvidia-smi: table, --query-gpu csv and -q outputs from the corpus, plus inline cases."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from preflight.parsers import ParseError, parse_kind
from preflight.parsers.nvidia_smi import NvidiaSmiRecord, parse, parse_query_csv
from preflight.parsers.nvidia_smi_csv import split_rows

from .conftest import TRANSFORMS, corpus_names

Reader = Callable[[str], str]
FOLDER = "nvidia_smi"
NOT_NVIDIA_SMI = {"mlengineering_xid63_syslog_line.txt"}

# Key figures per corpus file (SOURCES.md), checked against the parsed record.
EXPECTED: dict[str, dict[str, Any]] = {
    "gpud_table_550_h100x8.txt": {
        "source": "table",
        "gpus": 8,
        "driver_version": "550.90.07",
        "cuda_version": "12.4",
        "processes": 0,
    },
    "gpud_table_525_geforce_fan_err.txt": {
        "source": "table",
        "gpus": 1,
        "driver_version": "525.125.06",
        "cuda_version": "12.0",
        "processes": 0,
    },
    "exporter_table_590_h100_under_load_with_processes.txt": {
        "source": "table",
        "gpus": 1,
        "driver_version": "590.48.01",
        "cuda_version": "13.1",
        "processes": 3,
    },
    "exporter_query_gpu_csv_h100_allfields_masked.txt": {
        "source": "csv",
        "gpus": 1,
        "driver_version": "590.48.01",
        "cuda_version": None,
        "processes": 0,
    },
    "gpud_q_full_535_h100x8.txt": {
        "source": "q",
        "gpus": 8,
        "driver_version": "535.183.01",
        "cuda_version": "12.2",
        "processes": 1,
    },
    "azurehpc_q_page_retirement_8gpu.txt": {
        "source": "q",
        "gpus": 8,
        "driver_version": "535.86.10",
        "cuda_version": "12.2",
        "processes": 0,
    },
    "mlengineering_q_fragment_a100_ecc_remapped_rows.txt": {
        "source": "q",
        "gpus": 1,
        "driver_version": "510.73.08",
        "cuda_version": "11.6",
        "processes": 0,
    },
}


def test_every_corpus_file_is_covered(corpus: Path) -> None:
    assert set(corpus_names(corpus / FOLDER)) - NOT_NVIDIA_SMI <= set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_key_figures(read_corpus: Reader, name: str) -> None:
    record = parse(read_corpus(f"{FOLDER}/{name}")).to_dict()
    expected = EXPECTED[name]
    assert record["source"] == expected["source"]
    assert len(record["gpus"]) == expected["gpus"]
    assert record["driver_version"] == expected["driver_version"]
    assert record["cuda_version"] == expected["cuda_version"]
    assert len(record["processes"]) == expected["processes"]
    assert [gpu["index"] for gpu in record["gpus"]] == list(range(expected["gpus"]))


@pytest.mark.parametrize("transform", sorted(TRANSFORMS))
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_wrapped_copies_parse_the_same(read_corpus: Reader, name: str, transform: str) -> None:
    text = read_corpus(f"{FOLDER}/{name}")
    assert parse(TRANSFORMS[transform](text)) == parse(text)


def test_table_550_h100(read_corpus: Reader) -> None:
    gpus = parse(read_corpus(f"{FOLDER}/gpud_table_550_h100x8.txt")).gpus
    assert {gpu.name for gpu in gpus} == {"NVIDIA H100 80GB HBM3"}
    assert [gpu.bus_id for gpu in gpus][:2] == ["00000000:19:00.0", "00000000:3B:00.0"]
    assert gpus[7].bus_id == "00000000:DB:00.0"
    assert all(gpu.persistence_mode is True for gpu in gpus)
    assert all(gpu.ecc_uncorrected_volatile == 0 for gpu in gpus)
    assert [gpu.temperature_c for gpu in gpus] == [27, 24, 23, 23, 27, 22, 24, 23]
    assert [gpu.power_w for gpu in gpus] == [72.0, 74.0, 70.0, 72.0, 73.0, 74.0, 73.0, 72.0]
    assert {(gpu.memory_used_mib, gpu.memory_total_mib) for gpu in gpus} == {(1, 81559)}
    assert {gpu.utilization_pct for gpu in gpus} == {0}


def test_table_525_narrow_layout_with_fan_error(read_corpus: Reader) -> None:
    gpu = parse(read_corpus(f"{FOLDER}/gpud_table_525_geforce_fan_err.txt")).gpus[0]
    assert gpu.name == "NVIDIA GeForce ..."
    assert gpu.bus_id == "00000000:01:00.0"
    assert gpu.persistence_mode is False
    assert (gpu.temperature_c, gpu.power_w) == (38, 49.0)
    assert (gpu.memory_used_mib, gpu.memory_total_mib, gpu.utilization_pct) == (2021, 23028, 0)


def test_table_590_processes(read_corpus: Reader) -> None:
    text = read_corpus(f"{FOLDER}/exporter_table_590_h100_under_load_with_processes.txt")
    record = parse(text).to_dict()
    gpu = record["gpus"][0]
    assert (gpu["utilization_pct"], gpu["power_w"], gpu["temperature_c"]) == (100, 629.0, 59)
    assert (gpu["memory_used_mib"], gpu["memory_total_mib"]) == (19818, 81559)
    assert record["processes"] == [
        {"gpu": 0, "pid": 11327, "name": "/root/tools/memhog", "used_mib": 2566},
        {"gpu": 0, "pid": 11328, "name": "/root/tools/memhog", "used_mib": 1542},
        {"gpu": 0, "pid": 11345, "name": "./gpu_burn", "used_mib": 15690},
    ]


def test_csv_with_header_all_fields(read_corpus: Reader) -> None:
    text = read_corpus(f"{FOLDER}/exporter_query_gpu_csv_h100_allfields_masked.txt")
    assert len(split_rows(text)[0]) == 212
    gpu = parse(text).to_dict()["gpus"][0]
    assert gpu["name"] == "NVIDIA H100 80GB HBM3"
    assert gpu["bus_id"] == "00000000:00:09.0"
    assert gpu["uuid"] == "GPU-00000000-0000-0000-0000-000000000000"
    assert gpu["persistence_mode"] is True
    assert (gpu["memory_used_mib"], gpu["memory_total_mib"]) == (0, 81559)
    assert (gpu["temperature_c"], gpu["power_w"], gpu["utilization_pct"]) == (41, 69.85, 0)
    assert gpu["ecc_uncorrected_volatile"] == 0
    assert gpu["ecc_uncorrected_aggregate"] == 0
    assert gpu["retired_pages_pending"] is None  # '[N/A]' on H100
    assert gpu["remapped_rows"] == {
        "correctable": 0,
        "uncorrectable": 0,
        "pending": False,
        "failure": False,
    }
    assert gpu["throttle_reasons"] == ["gpu_idle"]


def test_q_full_535(read_corpus: Reader) -> None:
    record = parse(read_corpus(f"{FOLDER}/gpud_q_full_535_h100x8.txt"))
    first = record.gpus[0]
    assert first.bus_id == "00000000:53:00.0"
    assert first.uuid == "GPU-566e6f65-c38e-b12f-4824-6944218668b9"
    assert first.serial == "1655022005478"
    assert first.name == "NVIDIA H100 80GB HBM3"
    assert (first.memory_used_mib, first.memory_total_mib) == (0, 81559)
    assert (first.power_w, first.temperature_c, first.utilization_pct) == (71.97, 36, 0)
    assert first.throttle_reasons == ("gpu_idle",)
    assert [gpu.bus_id for gpu in record.gpus][-1] == "00000000:CA:00.0"
    for gpu in record.gpus:
        assert gpu.persistence_mode is True
        assert (gpu.ecc_uncorrected_volatile, gpu.ecc_corrected_volatile) == (0, 0)
        assert (gpu.ecc_uncorrected_aggregate, gpu.ecc_corrected_aggregate) == (0, 0)
        assert gpu.retired_pages_pending is None
        assert gpu.remapped_rows.to_dict() == {
            "correctable": 0,
            "uncorrectable": 0,
            "pending": False,
            "failure": False,
        }
    assert record.gpus[2].memory_used_mib == 9221
    assert [p.to_dict() for p in record.processes] == [
        {"gpu": 2, "pid": 1002127, "name": "/usr/bin/python", "used_mib": 9212}
    ]


def test_q_page_retirement_section_only(read_corpus: Reader) -> None:
    gpus = parse(read_corpus(f"{FOLDER}/azurehpc_q_page_retirement_8gpu.txt")).gpus
    assert [gpu.bus_id for gpu in gpus] == [f"0000000{n}:00:00.0" for n in range(1, 9)]
    assert all(gpu.retired_pages_pending is False for gpu in gpus)
    assert all(gpu.name is None and gpu.ecc_uncorrected_volatile is None for gpu in gpus)


def test_q_fragment_with_ecc_and_pending_row_remap(read_corpus: Reader) -> None:
    text = read_corpus(f"{FOLDER}/mlengineering_q_fragment_a100_ecc_remapped_rows.txt")
    gpu = parse(text).to_dict()["gpus"][0]
    assert gpu["name"] == "NVIDIA A100-SXM4-80GB"
    assert gpu["bus_id"] == "00000000:10:1C.0"
    assert gpu["ecc_corrected_volatile"] == 177
    assert gpu["ecc_corrected_aggregate"] == 177
    assert gpu["ecc_uncorrected_volatile"] == 0
    assert gpu["ecc_uncorrected_aggregate"] == 0
    assert gpu["retired_pages_pending"] is None
    assert gpu["remapped_rows"] == {
        "correctable": 1,
        "uncorrectable": 0,
        "pending": True,
        "failure": False,
    }


# --- inline samples for cases the corpus lacks --------------------------------------------

CSV_FIELDS = [
    "index",
    "name",
    "pci.bus_id",
    "memory.used",
    "memory.total",
    "utilization.gpu",
    "temperature.gpu",
    "power.draw",
    "clocks_throttle_reasons.hw_slowdown",
]
# `--format=csv,noheader` (units kept) and `--format=csv,noheader,nounits`.
CSV_NOHEADER = (
    "0, NVIDIA A100-SXM4-80GB, 00000000:07:00.0, 3 MiB, 81920 MiB, 0 %, 31, 61.52 W, Not Active\n"
    "1, NVIDIA A100-SXM4-80GB, 00000000:0F:00.0, 3 MiB, 81920 MiB, 0 %, 30, 63.20 W, Active\n"
)
CSV_NOHEADER_NOUNITS = (
    "0, NVIDIA A100-SXM4-80GB, 00000000:07:00.0, 3, 81920, 0, 31, 61.52, Not Active\n"
    "1, NVIDIA A100-SXM4-80GB, 00000000:0F:00.0, 3, 81920, 0, 30, 63.20, Active\n"
)


@pytest.mark.parametrize("text", [CSV_NOHEADER, CSV_NOHEADER_NOUNITS])
def test_csv_noheader_with_field_list(text: str) -> None:
    gpus = parse_query_csv(text, CSV_FIELDS).gpus
    assert [gpu.index for gpu in gpus] == [0, 1]
    assert [gpu.bus_id for gpu in gpus] == ["00000000:07:00.0", "00000000:0F:00.0"]
    assert [gpu.memory_total_mib for gpu in gpus] == [81920, 81920]
    assert [gpu.power_w for gpu in gpus] == [61.52, 63.20]
    assert [gpu.throttle_reasons for gpu in gpus] == [(), ("hw_slowdown",)]


def test_csv_single_field_with_header() -> None:
    record = parse("driver_version\n550.90.07\n550.90.07\n")
    assert (record.source, record.driver_version, len(record.gpus)) == ("csv", "550.90.07", 2)


@pytest.mark.parametrize("text", [CSV_NOHEADER, CSV_NOHEADER_NOUNITS])
def test_csv_noheader_without_fields_reads_the_columns_it_can_tell(text: str) -> None:
    record = parse(text)
    assert record.source == "csv" and record.driver_version is None
    assert [(g.index, g.name, g.bus_id, g.memory_total_mib) for g in record.gpus] == [
        (0, "NVIDIA A100-SXM4-80GB", "00000000:07:00.0", None),
        (1, "NVIDIA A100-SXM4-80GB", "00000000:0F:00.0", None)]


# What users save: `--query-gpu=name --format=csv,noheader` (one column, 8 rows), padded
# and unpadded, `gpu_name,gpu_uuid` unpadded, the name with a header and nounits.
H100 = "NVIDIA H100 80GB HBM3"
UUIDS = [f"GPU-{i:08x}-1685-04bd-26ed-5fc0bc1c44ae" for i in range(4)]
CSV_SHAPES = {
    "name-noheader": ("".join(f"{H100}\n" for _ in range(8)), 8, None),
    "name-noheader-padded": ("".join(f"    {H100}   \n" for _ in range(8)), 8, None),
    "name-uuid-unpadded": ("".join(f"{H100},{u}\n" for u in UUIDS), 4, UUIDS),
    "uuid-name-padded": ("".join(f"{u}, {H100}\n" for u in UUIDS), 4, UUIDS),
    "header-nounits": ("name, memory.total [MiB]\n" + f"{H100}, 81559\n" * 2, 2, None),
    "header-unpadded": ("name,uuid\n" + "".join(f"{H100},{u}\n" for u in UUIDS), 4, UUIDS),
    "names-mixed": ("Tesla V100-SXM2-16GB\nNVIDIA GeForce RTX 3090\n", 2, None),
}


def test_csv_with_only_fields_we_do_not_read_counts_the_gpus() -> None:
    text = ("clocks.current.sm [MHz], clocks.current.memory [MHz]\n"
            "1980 MHz, 2619 MHz\n345 MHz, 2619 MHz\n")
    record = parse(text)
    assert record.source == "csv" and [(g.index, g.name) for g in record.gpus] == [
        (0, None), (1, None)]


@pytest.mark.parametrize("shape", sorted(CSV_SHAPES))
def test_csv_shapes_users_save(shape: str) -> None:
    text, count, uuids = CSV_SHAPES[shape]
    record = parse(text)
    assert record.source == "csv" and len(record.gpus) == count
    assert [g.index for g in record.gpus] == list(range(count))
    assert all(g.name and g.name.split()[0] in {"NVIDIA", "Tesla"} for g in record.gpus)
    assert [g.uuid for g in record.gpus] == (uuids or [None] * count)


@pytest.mark.parametrize("text", [
    "8\n8\n",  # `--query-gpu=count`: nothing in it says which field it is
    "node01.example.com\nnode02.example.com\n",  # a hostfile
    "NVIDIA driver is not loaded\n",
    "NVIDIA H100 80GB HBM3, 81559\nNVIDIA H100 80GB HBM3\n",  # ragged
])
def test_csv_without_a_recognisable_column_is_not_nvidia_smi(text: str) -> None:
    with pytest.raises(ParseError):
        parse(text)


def test_csv_field_count_mismatch_is_an_error() -> None:
    with pytest.raises(ParseError, match="9 values for 2 fields"):
        parse_query_csv(CSV_NOHEADER, ["index", "name"])


# An older table (driver 418/450 era): no GI/CI columns in the processes table.
TABLE_418 = """\
Wed Jun 10 12:00:00 2020
+-----------------------------------------------------------------------------+
| NVIDIA-SMI 418.87.01    Driver Version: 418.87.01    CUDA Version: 10.1     |
|-------------------------------+----------------------+----------------------+
| GPU  Name        Persistence-M| Bus-Id        Disp.A | Volatile Uncorr. ECC |
| Fan  Temp  Perf  Pwr:Usage/Cap|         Memory-Usage | GPU-Util  Compute M. |
|===============================+======================+======================|
|   0  Tesla V100-SXM2...  On   | 00000000:06:00.0 Off |                    2 |
| N/A   42C    P0   251W / 300W |  15203MiB / 16130MiB |     98%      Default |
+-------------------------------+----------------------+----------------------+
|   1  Tesla V100-SXM2...  On   | 00000000:07:00.0 Off |                    0 |
| N/A   40C    P0    68W / 300W |      0MiB / 16130MiB |      0%      Default |
+-------------------------------+----------------------+----------------------+

+-----------------------------------------------------------------------------+
| Processes:                                                       GPU Memory |
|  GPU       PID   Type   Process name                             Usage      |
|=============================================================================|
|    0     12345      C   python                                     15191MiB |
+-----------------------------------------------------------------------------+
"""


# Drivers before 410 print no CUDA Version in the header (384.81 here, Tesla P100).
TABLE_384 = """\
Thu Nov  9 10:12:01 2017
+-----------------------------------------------------------------------------+
| NVIDIA-SMI 384.81                 Driver Version: 384.81                    |
|-------------------------------+----------------------+----------------------+
| GPU  Name        Persistence-M| Bus-Id        Disp.A | Volatile Uncorr. ECC |
| Fan  Temp  Perf  Pwr:Usage/Cap|         Memory-Usage | GPU-Util  Compute M. |
|===============================+======================+======================|
|   0  Tesla P100-PCIE...  Off  | 00000000:04:00.0 Off |                    0 |
| N/A   33C    P0    26W / 250W |      0MiB / 16276MiB |      0%      Default |
+-------------------------------+----------------------+----------------------+
|   1  Tesla P100-PCIE...  Off  | 00000000:82:00.0 Off |                    0 |
| N/A   35C    P0    27W / 250W |     10MiB / 16276MiB |      0%      Default |
+-------------------------------+----------------------+----------------------+

+-----------------------------------------------------------------------------+
| Processes:                                                       GPU Memory |
|  GPU       PID   Type   Process name                             Usage      |
|=============================================================================|
|  No running processes found                                                 |
+-----------------------------------------------------------------------------+
"""


def test_table_without_cuda_version_from_old_drivers() -> None:
    record = parse(TABLE_384)
    assert (record.source, record.driver_version, record.cuda_version) == (
        "table", "384.81", None)
    assert [(g.index, g.name, g.memory_total_mib) for g in record.gpus] == [
        (0, "Tesla P100-PCIE...", 16276), (1, "Tesla P100-PCIE...", 16276)]
    assert record.processes == ()


def test_table_418_with_old_process_table() -> None:
    record = parse(TABLE_418)
    assert record.driver_version == "418.87.01"
    assert [gpu.ecc_uncorrected_volatile for gpu in record.gpus] == [2, 0]
    assert [gpu.utilization_pct for gpu in record.gpus] == [98, 0]
    assert record.processes[0].to_dict() == {
        "gpu": 0,
        "pid": 12345,
        "name": "python",
        "used_mib": 15191,
    }


# -q from a Volta-era driver: Single/Double Bit ECC blocks, 'Clocks Throttle Reasons',
# 'Power Readings', a pending page blacklist.
Q_VOLTA = """\
==============NVSMI LOG==============

Timestamp                                 : Wed Jun 10 12:00:00 2020
Driver Version                            : 450.80.02
CUDA Version                              : 11.0

Attached GPUs                             : 1
GPU 00000000:06:00.0
    Product Name                          : Tesla V100-SXM2-16GB
    Persistence Mode                      : Disabled
    Serial Number                         : 0323217034567
    GPU UUID                              : GPU-1c2b3a4d-0000-1111-2222-333344445555
    Clocks Throttle Reasons
        Idle                              : Not Active
        Applications Clocks Setting       : Not Active
        SW Power Cap                      : Not Active
        HW Slowdown                       : Active
            HW Thermal Slowdown           : Active
            HW Power Brake Slowdown       : Not Active
        Sync Boost                        : Not Active
        SW Thermal Slowdown               : Active
        Display Clock Setting             : Not Active
    FB Memory Usage
        Total                             : 16160 MiB
        Used                              : 15203 MiB
        Free                              : 957 MiB
    Utilization
        Gpu                               : 98 %
        Memory                            : 40 %
    ECC Errors
        Volatile
            Single Bit
                Device Memory             : 3
                Register File             : 0
                L1 Cache                  : N/A
                L2 Cache                  : 0
                Texture Memory            : N/A
                Texture Shared            : N/A
                CBU                       : N/A
                Total                     : 3
            Double Bit
                Device Memory             : 2
                Register File             : 0
                L1 Cache                  : N/A
                L2 Cache                  : 0
                Texture Memory            : N/A
                Texture Shared            : N/A
                CBU                       : 0
                Total                     : 2
        Aggregate
            Single Bit
                Device Memory             : 10
                Total                     : 10
            Double Bit
                Device Memory             : 4
                Total                     : 4
    Retired Pages
        Single Bit ECC                    : 1
        Double Bit ECC                    : 2
        Pending Page Blacklist            : Yes
    Temperature
        GPU Current Temp                  : 87 C
    Power Readings
        Power Management                  : Supported
        Power Draw                        : 251.06 W
    Processes
        Process ID                        : 12345
            Type                          : C
            Name                          : python
            Used GPU Memory               : 15191 MiB
"""


def test_q_volta_legacy_ecc_and_throttle_reasons() -> None:
    record = parse(Q_VOLTA)
    gpu = record.gpus[0]
    assert gpu.persistence_mode is False
    assert (gpu.ecc_corrected_volatile, gpu.ecc_uncorrected_volatile) == (3, 2)
    assert (gpu.ecc_corrected_aggregate, gpu.ecc_uncorrected_aggregate) == (10, 4)
    assert gpu.retired_pages_pending is True
    assert gpu.remapped_rows.correctable is None
    assert gpu.throttle_reasons == ("hw_slowdown", "hw_thermal_slowdown", "sw_thermal_slowdown")
    assert (gpu.temperature_c, gpu.power_w, gpu.utilization_pct) == (87, 251.06, 98)
    assert record.processes[0].to_dict() == {
        "gpu": 0,
        "pid": 12345,
        "name": "python",
        "used_mib": 15191,
    }


def test_no_devices_found_is_zero_gpus() -> None:
    record = parse("No devices were found\n")
    assert record.gpus == ()


def test_record_round_trips_through_from_dict(read_corpus: Reader) -> None:
    for name in EXPECTED:
        record = parse(read_corpus(f"{FOLDER}/{name}"))
        assert NvidiaSmiRecord.from_dict(record.to_dict()) == record


def test_from_dict_accepts_a_sparse_probe_dict() -> None:
    record = NvidiaSmiRecord.from_dict(
        {"source": "csv", "gpus": [{"index": 0, "name": "NVIDIA H100 80GB HBM3"}]}
    )
    gpu = record.to_dict()["gpus"][0]
    assert gpu["name"] == "NVIDIA H100 80GB HBM3"
    assert gpu["remapped_rows"] == {
        "correctable": None,
        "uncorrectable": None,
        "pending": None,
        "failure": None,
    }
    assert gpu["throttle_reasons"] == []


DRIVER_FAILURE = (
    "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
    "Make sure that the latest NVIDIA driver is installed and running.\n"
)


@pytest.mark.parametrize(
    "text",
    ["", "   \n", DRIVER_FAILURE, "hello world\n", "a,b\n1,2\n", "\x00\x01binary"],
)
def test_not_nvidia_smi_output(text: str) -> None:
    with pytest.raises(ParseError):
        parse(text)


@pytest.mark.parametrize(
    "other",
    ["ibstat/gpud_a100_ib200_all_active.txt", "topo/mlengineering_h100x8_nv18_no_nics.txt"],
)
def test_other_tools_output_is_rejected(read_corpus: Reader, other: str) -> None:
    with pytest.raises(ParseError):
        parse(read_corpus(other))


def test_registry_returns_the_dict(read_corpus: Reader) -> None:
    text = read_corpus(f"{FOLDER}/gpud_table_550_h100x8.txt")
    assert parse_kind("nvidia-smi", text) == parse(text).to_dict()
