"""Built-in hardware profiles: what a node of a known type must show.

Each profile overrides only what its public documentation states; everything else keeps
the built-in default, and None keeps meaning "not known: compare nodes with each other".
Every number carries its source. `allreduce_busbw_gbps` is in GB/s, as nccl-tests prints
busbw, and is a floor for the bus bandwidth of a large (>= 1 GiB) single-node
all_reduce_perf on all 8 GPUs. nccl-tests defines busbw so that it compares directly with
the hardware's per-GPU peak (NVIDIA/nccl-tests doc/PERFORMANCE.md, "Bus bandwidth").
Site settings (require_paths, shared_dir, shared_paths) are never part of a profile: they
belong in preflight.toml.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    overrides: Mapping[str, Any]


def _profile(name: str, description: str, **overrides: Any) -> Profile:
    return Profile(name, description, MappingProxyType(overrides))


# NVLink 4 (H100/H200 SXM): 18 links, 900 GB/s bidirectional = 450 GB/s each way per GPU
# (NVIDIA H100 Tensor Core GPU datasheet; NVIDIA HGX H100 blog: "NVLink bidirectional speed
# of 900 gigabytes per second"). Measured single-node 8x H100 all_reduce busbw peaks at
# 470.73 GB/s with NVLS (corpus nccl_tests/h100x8_single_node_nvls_indented_markdown_copy.txt);
# the floor 400 is 85% of that and 89% of the 450 GB/s link peak.
_HOPPER_NVLINK_WIDTH = 18
_HOPPER_ALLREDUCE_FLOOR = 400.0

# NVLink 3 (A100 SXM4): 12 links, 600 GB/s bidirectional = 300 GB/s each way per GPU
# (NVIDIA A100 Tensor Core GPU datasheet, "NVLink: 600GB/s"; NVIDIA A100 architecture
# whitepaper: 12 third-generation links). Measured single-node 8x A100-SXM4-40GB all_reduce
# busbw peaks at 235.26 GB/s at 8 GB (corpus nccl_tests/superbench_a100x8_allreduce_oldformat.txt,
# from microsoft/superbenchmark); the floor 200 is 85% of that.
_AMPERE_NVLINK_WIDTH = 12
_AMPERE_ALLREDUCE_FLOOR = 200.0

PROFILES: Mapping[str, Profile] = {
    profile.name: profile
    for profile in (
        _profile(
            "generic",
            "No hardware assumptions: nodes are compared with each other.",
        ),
        _profile(
            "dgx-h100",
            "NVIDIA DGX H100: 8x H100 SXM 80GB, NVLink 4 (NV18), 8x 400 Gb/s ConnectX-7.",
            # DGX H100 User Guide, "Hardware Overview": 8x NVIDIA H100 GPUs, 640 GB total.
            gpus_per_node=8,
            # nvidia-smi names it "NVIDIA H100 80GB HBM3"
            # (corpus nvidia_smi/gpud_table_550_h100x8.txt).
            gpu_model="H100",
            nvlink=True,
            # `nvidia-smi topo -m` shows NV18 between every GPU pair
            # (corpus topo/mlengineering_h100x8_nv18_no_nics.txt).
            nvlink_width=_HOPPER_NVLINK_WIDTH,
            # DGX H100 User Guide §1.2.3 "Network Modules", Table 6: the 8 compute ports
            # OSFP1P1..OSFP4P2, each a ConnectX-7 (mlx5_0,3,4,5,6,9,10,11) assigned to one GPU.
            gpudirect=True,
            ib_ports=8,
            # DGX H100 datasheet: 8x single-port ConnectX-7 VPI, 400 Gb/s InfiniBand/Ethernet.
            # Storage/in-band ports come on top (corpus ibstat/gpud_h100_roce400_all_active.txt
            # lists 8x rate 400 plus 4x 100), so 8 is a minimum.
            ib_rate_gbps=400.0,
            allreduce_busbw_gbps=_HOPPER_ALLREDUCE_FLOOR,
        ),
        _profile(
            "dgx-a100",
            "NVIDIA DGX A100: 8x A100 SXM4, NVLink 3 (NV12), 8x 200 Gb/s HDR ConnectX-6.",
            # DGX A100 User Guide, "Hardware Overview": 8x NVIDIA A100 (40 GB or 80 GB).
            gpus_per_node=8,
            gpu_model="A100",
            nvlink=True,
            nvlink_width=_AMPERE_NVLINK_WIDTH,
            # DGX A100 User Guide, "Network Connections": 8x single-port ConnectX-6 for the
            # cluster (compute) network; each GPU pair shares a PCIe switch with two of them
            # (DGX A100 System Architecture whitepaper).
            gpudirect=True,
            ib_ports=8,
            # Same guide: 200 Gb/s HDR InfiniBand per compute port (corpus
            # ibstat/gpud_a100_ib200_all_active.txt: 8x Active, Rate 200, InfiniBand).
            ib_rate_gbps=200.0,
            allreduce_busbw_gbps=_AMPERE_ALLREDUCE_FLOOR,
        ),
        _profile(
            "p5.48xlarge",
            "AWS EC2 p5.48xlarge: 8x H100 80GB, NVLink 4 (NV18), 32 EFA, 3200 Gbps.",
            # AWS EC2 P5 instances page: 8x NVIDIA H100 80GB, 900 GB/s NVSwitch interconnect.
            gpus_per_node=8,
            gpu_model="H100",
            nvlink=True,
            nvlink_width=_HOPPER_NVLINK_WIDTH,
            # AWS EC2 User Guide, "Maximize network bandwidth on accelerated computing
            # instances with EFA": P5 supports up to 32 network cards, up to 3200 Gbps.
            efa_count=32,
            # GPUDirect RDMA runs over EFA, but EFA devices are not NICs in `nvidia-smi topo
            # -m`, so gpudirect (a PIX/PXB NIC per GPU) is left off; nic_gbps stays None:
            # the per-flow limits of the ENA (IP) path make a line-rate iperf3 floor a guess.
            allreduce_busbw_gbps=_HOPPER_ALLREDUCE_FLOOR,
        ),
        _profile(
            "p4d.24xlarge",
            "AWS EC2 p4d.24xlarge: 8x A100 40GB, NVLink 3 (NV12), 4 EFA, 400 Gbps.",
            # AWS Compute Blog, "Amazon EC2 P4d instances deep dive": 8x 40 GB A100 with
            # NVSwitch and 400 Gbps EFA networking; nvidia-smi name "NVIDIA A100-SXM4-40GB".
            gpus_per_node=8,
            gpu_model="A100-SXM4-40GB",
            nvlink=True,
            nvlink_width=_AMPERE_NVLINK_WIDTH,
            # AWS EC2 instance types, p4d.24xlarge: 4 network cards (4x 100 Gbps), one EFA each.
            efa_count=4,
            allreduce_busbw_gbps=_AMPERE_ALLREDUCE_FLOOR,
        ),
        _profile(
            "h200",
            "NVIDIA HGX H200 8-GPU node: 8x H200 SXM 141GB, NVLink 4 (NV18); NICs vary by OEM.",
            # NVIDIA H200 Tensor Core GPU datasheet: 141 GB HBM3e, NVLink 900 GB/s; HGX H200
            # carries 8 of them.
            gpus_per_node=8,
            gpu_model="H200",
            nvlink=True,
            # NVIDIA's MLPerf Inference v4.1 system description H200-SXM-141GBx8
            # (mlcommons/inference_results_v4.1): "18x 4th Gen NVLink, 900GB/s".
            nvlink_width=_HOPPER_NVLINK_WIDTH,
            # Same NVLink 4 fabric as H100, so the same floor. NIC count and rate depend on
            # the server maker: set ib_ports / ib_rate_gbps in preflight.toml.
            allreduce_busbw_gbps=_HOPPER_ALLREDUCE_FLOOR,
        ),
    )
}

_TABLE_KEYS = (
    "gpus_per_node",
    "gpu_model",
    "nvlink_width",
    "ib_ports",
    "ib_rate_gbps",
    "efa_count",
    "allreduce_busbw_gbps",
)


def profile_names() -> list[str]:
    return list(PROFILES)


def profiles_table() -> list[dict[str, Any]]:
    """Rows for `preflight profiles`: name, description, key numbers (None: not stated)."""
    return [
        {
            "name": profile.name,
            "description": profile.description,
            **{key: profile.overrides.get(key) for key in _TABLE_KEYS},
        }
        for profile in PROFILES.values()
    ]
