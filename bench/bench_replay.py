"""A recorded run of N synthetic nodes, re-judged as `preflight check --from` does: wall time,
peak RSS, result count, artefact sizes, and whether the findings name the injected faults.

Facts: the real probe run once against the stand-ins of a healthy host and of a host with
7 GPUs (tests/faults/recorded.py; the stand-ins print the real tools' formats), cloned
under N names. Measurements: ports, SSH mesh and path MTU over the pairs the default
schedule measures at N nodes, and iperf3 through the real pairwise scheduler, judge and
isolation (preflight.measure.pairwise) with a test that answers the throughput parsed from
a corpus `iperf3 -J` output. Injected faults:
- cluster-wide: memlock is this machine's 8 MiB on every node (the default wants unlimited);
- ~1% bad nodes: every 100th node has 7 GPUs, and one more node drops TCP 29500;
- 3 bad links: three scheduled pairs between healthy nodes run at 2% of the rest.

Run: python bench/bench_replay.py N [--keep DIR]
The last line printed is one JSON object (nodes, wall_s, peak_rss_mb, results,
results_per_node (the most results any one node is the subject of), results_json_bytes,
report_bytes, junit_bytes, findings_as_injected).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from preflight.gather import NodeOutcome, write_facts  # noqa: E402
from preflight.measure.pairwise import PairProbe, measure_pairs  # noqa: E402
from preflight.measure.ports import _matrices as port_matrices  # noqa: E402
from preflight.pairjudge import Floors  # noqa: E402
from preflight.parsers import iperf3  # noqa: E402
from preflight.results import Result, results_per_node  # noqa: E402
from preflight.schedule import directed, parse_mode, rounds  # noqa: E402
from tests.faults.recorded import probe_facts  # noqa: E402
from tests.sim.spec import HostSpec  # noqa: E402

CORPUS = Path(os.environ.get("PREFLIGHT_CORPUS", Path(__file__).resolve().parents[2] /
                             "shared" / "corpus"))
IPERF_JSON = "iperf3/cloudpilot_iperf3_J_client_tcp_1stream_10s.json"
# The checks of the probes this bench does not fake (ib_write_bw, torch, nccl-tests), left
# out by node id: -k would be an explicit choice, under which the checks a default run does
# not collect (preflight.applies) are collected and skip on every node.
NOT_RECORDED = ("check_rdma.py", "check_collectives.py::check_torch", "check_nccl_tests.py")
PORTS = [22, 29500]
Pair = tuple[str, str]


def names_for(n: int) -> list[str]:
    return [f"gpu-{i:04d}" for i in range(1, n + 1)]


def scheduled(names: list[str]) -> list[Pair]:
    """Both directions of the pairs the default (auto) schedule measures at this size."""
    mode = parse_mode("auto", len(names))
    return [p for round_ in rounds(names, mode) for step in directed(round_) for p in step]


class Faults:
    def __init__(self, names: list[str]) -> None:
        self.gpu_nodes = names[50::100] or names[:1]
        healthy = [n for n in names if n not in self.gpu_nodes]
        self.port_node = healthy[len(healthy) // 2]
        bad = {*self.gpu_nodes, self.port_node}
        self.links: list[Pair] = []
        used: set[str] = set(bad)
        for a, b in scheduled(names)[len(names) // 3:]:
            if len(self.links) == 3:
                break
            if not used & {a, b}:
                self.links.append((a, b))
                used |= {a, b}

    def slow(self, a: str, b: str) -> bool:
        return (a, b) in self.links or (b, a) in self.links


def write_facts_file(run_dir: Path, names: list[str], faults: Faults, work: Path) -> None:
    healthy = probe_facts(HostSpec(), "template", work / "hosts")
    seven = probe_facts(HostSpec(gpus=7), "template", work / "hosts7")
    outcomes = {}
    for name in names:
        facts = json.loads(json.dumps(seven if name in faults.gpu_nodes else healthy))
        if "hostname" in facts:
            facts["hostname"] = name
        if isinstance(facts.get("ulimits"), dict):
            facts["ulimits"]["nofile"] = 1048576  # this machine's own limit is not a fault
        outcomes[name] = NodeOutcome(name, facts=facts, gather_s=0.4, clock_offset_s=-0.05)
    write_facts(run_dir / "facts.json", outcomes,
                [{"name": n, "slots": None, "user": None} for n in names])


def write_measurements(run_dir: Path, names: list[str], faults: Faults) -> None:
    folder = run_dir / "measurements"
    folder.mkdir(parents=True, exist_ok=True)
    pairs = scheduled(names)
    ports = {f"{a}|{b}": {str(p): (["filtered", "timed out"] if p == 29500 and
                                   b == faults.port_node else ["open", ""]) for p in PORTS}
             for a, b in pairs}
    save(folder / "ports.json", {"ports": PORTS, "listeners": {}, "pairs": ports,
                                 "matrices": port_matrices(names, PORTS, ports)})
    ok = {f"{a}|{b}": ["ok", ""] for a, b in pairs}
    save(folder / "ssh_mesh.json", {"pairs": ok, "matrices": {}})
    save(folder / "path_mtu.json", {"mtu": 1500, "mtus": {n: ["eth0", 1500] for n in names},
                                    "pairs": ok, "matrices": {}})
    save(folder / "ssh_burst.json", {"burst": 10, "nodes": {n: {"answers": ["ok"] * 10}
                                                            for n in names}})
    save(folder / "iperf3.json", measure_iperf(names, faults))


def measure_iperf(names: list[str], faults: Faults) -> dict[str, Any]:
    record = iperf3.parse((CORPUS / IPERF_JSON).read_text())
    gbps = record.runs[0].receiver_gbps or record.runs[0].sender_gbps or 9.4

    def test(src: str, dst: str) -> float:
        return gbps * (0.02 if faults.slow(src, dst) else 1.0)

    probe = PairProbe("iperf3", test, Floors(None, 0.9, 0.5).rule, per_test_s=1, width=64)
    return measure_pairs(names, "auto", probe)


def save(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data))


def rejudge(recorded: Path, out: Path) -> tuple[int, float, float, float]:
    """(exit code, wall s, peak RSS MiB, CPU s) of one `preflight check --from` process."""
    argv = [sys.executable, "-m", "preflight", "check", "--from", str(recorded), "--out",
            str(out), *(f"--deselect={prefix}" for prefix in NOT_RECORDED)]
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    return (os.waitstatus_to_exitcode(status), time.perf_counter() - started,
            usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime)


def as_injected(findings: list[dict[str, Any]], faults: Faults) -> tuple[bool, list[str]]:
    """Every finding is one injected fault with its scope, and every fault is found."""
    expected = {"cluster": set(), "nodes": set(faults.gpu_nodes) | {faults.port_node},
                "links": {n for p in faults.links for n in p}}
    problems, found = [], {"cluster": False, "nodes": set(), "links": set()}
    for f in findings:
        scope, nodes = f["scope"], set(f["nodes"])
        if scope == "cluster" and f["reason"] == "memlock-low":
            found["cluster"] = True
        elif scope in ("nodes", "links") and nodes and nodes <= expected[scope]:
            found[scope] |= nodes
        else:
            problems.append(f"unexpected {f['id']} ({scope}): {sorted(nodes)[:5]}")
    for scope in ("nodes", "links"):
        if found[scope] != expected[scope]:
            problems.append(f"{scope}: found {sorted(found[scope])[:5]}, "
                            f"injected {sorted(expected[scope])[:5]}")
    if not found["cluster"]:
        problems.append("no cluster-scope memlock finding")
    return not problems, problems


def main() -> None:
    args = sys.argv[1:]
    if not args or not args[0].isdigit():
        sys.exit("usage: bench_replay.py N [--keep DIR]")
    n = int(args[0])
    keep = Path(args[2]) if len(args) > 2 and args[1] == "--keep" else None
    names = names_for(n)
    faults = Faults(names)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        recorded = work / "recorded"
        recorded.mkdir()
        started = time.perf_counter()
        write_facts_file(recorded, names, faults, work)
        write_measurements(recorded, names, faults)
        build_s = time.perf_counter() - started
        out = keep or work / "run"
        rc, wall, rss, cpu = rejudge(recorded, out)
        data = json.loads((out / "results.json").read_text())
        per_node = max(results_per_node(Result.from_dict(r) for r in data["results"]).values())
        ok, problems = as_injected(data["findings"], faults)
        sizes = {name: (out / name).stat().st_size if (out / name).is_file() else 0
                 for name in ("results.json", "report.html", "junit.xml")}
    print(f"{n} nodes: built the recording in {build_s:.1f} s; check --from exit {rc}")
    print(f"{'finding':44} {'scope':8} {'count':>5}  action")
    for f in data["findings"]:
        print(f"{f['id'][:44]:44} {f['scope']:8} {f['count']:>5}  {f['action']}")
    for problem in problems:
        print(f"not as injected: {problem}")
    print(f"load average {os.getloadavg()[0]:.1f}; CPU {cpu:.1f} s; at most {per_node} "
          f"results per node; not applicable: "
          f"{', '.join(e['check'] for e in data.get('not_applicable', [])) or 'none'}")
    print(f"wall {wall:.1f} s, peak RSS {rss:.0f} MiB, {len(data['results'])} results, "
          f"results.json {sizes['results.json']:,} B, report.html {sizes['report.html']:,} B, "
          f"junit.xml {sizes['junit.xml']:,} B")
    print(json.dumps({
        "nodes": n, "wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "peak_rss_mb": round(rss),
        "results": len(data["results"]), "results_per_node": per_node,
        "results_json_bytes": sizes["results.json"],
        "report_bytes": sizes["report.html"], "junit_bytes": sizes["junit.xml"],
        "findings_as_injected": ok,
    }))


if __name__ == "__main__":
    main()
