"""GPU interconnect: NVLink on every GPU pair, one matrix on every node, NICs near GPUs."""

import functools
from collections import Counter
from typing import Any

from preflight.applies import skip_unless_applies
from preflight.config import Expectations
from preflight.facts import ClusterFacts, NodeFacts, usual_among_others
from preflight.verdict import fail, observe, skip

NEAR_NIC = ("PIX", "PXB")
NVLINK_HINT = ("a degraded NVLink: check nvidia-smi nvlink -s and the fabric manager; "
               "reset the GPUs or drain the node")


def topo_or_skip(node: NodeFacts) -> dict[str, Any]:
    topo = node.topo
    if topo is None:
        skip("nvidia-smi not available on this node")
    return topo


def gpu_pairs(topo: dict[str, Any]) -> dict[tuple[str, str], str]:
    links = topo.get("links") or {}
    gpus = sorted((g for g in links if g.startswith("GPU")), key=lambda g: int(g[3:]))
    return {(a, b): str(links[a].get(b)) for i, a in enumerate(gpus) for b in gpus[i + 1:]}


def check_nvlink_all_pairs(node: NodeFacts, expect: Expectations) -> None:
    skip_unless_applies("nvlink_all_pairs", expect)
    pairs = gpu_pairs(topo_or_skip(node))
    want = f"NV{expect.nvlink_width}" if expect.nvlink_width else "NV#"
    bad = [f"{a}-{b} {link}" for (a, b), link in pairs.items()
           if not link.startswith("NV") or (expect.nvlink_width and link != want)]
    observe(len(pairs) - len(bad), expected=f"{len(pairs)} pairs at {want}", unit="pairs")
    if bad:
        fail(f"{node.name}: {len(bad)} GPU pair(s) not at {want}: {', '.join(bad[:8])}",
             hint=NVLINK_HINT, reason="nvlink-missing")


def _topo(node: NodeFacts) -> dict[str, Any] | None:
    return node.topo


@functools.lru_cache(maxsize=2)
def _links_seen(cluster: ClusterFacts) -> dict[tuple[str, str], Counter[str]]:
    """For each GPU pair, how many nodes show each link: once per run (per node, reading
    every node's matrix again would be N^2 at scale)."""
    seen: dict[tuple[str, str], Counter[str]] = {}
    for topo in cluster.values(_topo).values():
        for pair, link in gpu_pairs(topo).items():
            seen.setdefault(pair, Counter())[link] += 1
    return seen


def check_topology_matches_cluster(node: NodeFacts, cluster: ClusterFacts) -> None:
    mine = gpu_pairs(topo_or_skip(node))
    if len(cluster.values(_topo)) < 2:
        skip("no other node to compare with")
    seen = _links_seen(cluster)
    differing = []
    for pair, link in mine.items():
        usual = usual_among_others(seen.get(pair), [link])
        if usual is not None and link != usual:
            differing.append(f"{pair[0]}-{pair[1]} {link} (others {usual})")
    observe(len(differing), expected=0, unit="pairs differing")
    if differing:
        fail(f"{node.name}: GPU topology differs from the other nodes: "
             f"{', '.join(differing[:8])}", hint=NVLINK_HINT, reason="topology-differs")


def check_gpudirect_nic(node: NodeFacts, expect: Expectations) -> None:
    skip_unless_applies("gpudirect_nic", expect)
    links = topo_or_skip(node).get("links") or {}
    far = [gpu for gpu, row in links.items() if gpu.startswith("GPU") and not any(
        peer.startswith("NIC") and link in NEAR_NIC for peer, link in row.items())]
    observe(len(links) - len(far), expected="every GPU with a NIC at PIX/PXB", unit="GPUs")
    if far:
        fail(f"{node.name}: no NIC at PIX/PXB for {', '.join(far)}",
             hint="GPUDirect RDMA needs a NIC under the same PCIe switch; check cabling/BIOS "
                  "or set NCCL_NET_GDR_LEVEL knowingly", reason="nic-not-near-gpu")
