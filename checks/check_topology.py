"""GPU interconnect: NVLink on every GPU pair, one matrix on every node, NICs near GPUs."""

from typing import Any

from preflight.config import Expectations
from preflight.facts import ClusterFacts, NodeFacts
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
    if not expect.nvlink:
        skip("the profile does not expect NVLink")
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


def check_topology_matches_cluster(node: NodeFacts, cluster: ClusterFacts) -> None:
    mine = gpu_pairs(topo_or_skip(node))
    others = [gpu_pairs(t) for name, t in cluster.values(_topo).items() if name != node.name]
    if not others:
        skip("no other node to compare with")
    differing = []
    for pair, link in mine.items():
        seen = [o.get(pair) for o in others if pair in o]
        usual = max(set(seen), key=seen.count) if seen else None
        if usual is not None and link != usual and seen.count(usual) * 2 > len(seen):
            differing.append(f"{pair[0]}-{pair[1]} {link} (others {usual})")
    observe(len(differing), expected=0, unit="pairs differing")
    if differing:
        fail(f"{node.name}: GPU topology differs from the other nodes: "
             f"{', '.join(differing[:8])}", hint=NVLINK_HINT, reason="topology-differs")


def check_gpudirect_nic(node: NodeFacts, expect: Expectations) -> None:
    if not expect.gpudirect:
        skip("the profile does not expect GPUDirect RDMA")
    links = topo_or_skip(node).get("links") or {}
    far = [gpu for gpu, row in links.items() if gpu.startswith("GPU") and not any(
        peer.startswith("NIC") and link in NEAR_NIC for peer, link in row.items())]
    observe(len(links) - len(far), expected="every GPU with a NIC at PIX/PXB", unit="GPUs")
    if far:
        fail(f"{node.name}: no NIC at PIX/PXB for {', '.join(far)}",
             hint="GPUDirect RDMA needs a NIC under the same PCIe switch; check cabling/BIOS "
                  "or set NCCL_NET_GDR_LEVEL knowingly", reason="nic-not-near-gpu")
