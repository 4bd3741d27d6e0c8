"""Results per node of a live default run (issue 13: <= 40 at any N): a simulated cluster of
N hosts, `preflight run` with no options, results.json counted per node (a pair counts for
its source) and the checks of the first node listed.

Run (root): python bench/bench_results_per_node.py [HOSTS]     (default: 4)
"""

from __future__ import annotations

import collections
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from preflight.results import Result, results_per_node  # noqa: E402
from tests.cluster.helpers import run_preflight  # noqa: E402
from tests.sim.cluster import SimCluster  # noqa: E402


def main() -> None:
    hosts = int(sys.argv[1]) if len(sys.argv) > 1 else 4
    with SimCluster(hosts) as cluster, tempfile.TemporaryDirectory() as tmp:
        run = run_preflight(*cluster.preflight_args(), out=Path(tmp) / "run", timeout=1800)
        record = json.loads((Path(tmp) / "run" / "results.json").read_text())
    results = [Result.from_dict(r) for r in record["results"]]
    counted = results_per_node(results)
    first = record["hosts"][0]
    checks = collections.Counter(r.check for r in results
                                 if (r.pair[0] if r.pair else r.node) == first)
    print(f"hosts {hosts}: exit {run.rc}, {len(results)} results, per node "
          f"{min(counted.values())}-{max(counted.values())}, "
          f"not applicable: {[x['check'] for x in record.get('not_applicable', [])]}")
    print(f"{first}: " + ", ".join(f"{c} {n}" for c, n in sorted(checks.items())))


if __name__ == "__main__":
    main()
