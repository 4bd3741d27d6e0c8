"""CPU per start of the simulation's ib_write_bw stand-in (the Python stand-in the simulated
nodes start most: 16 per pair test, ~2,000 in a standard run at 64 hosts).

Builds one host folder as the cluster does (launchers, spec.json, the rendered outputs),
then starts `ib_write_bw -d mlx5_0 127.0.0.1` R times with nothing listening (the client's
whole start, its spec, and a refused connect) and reports the children's CPU per start
(getrusage), interleaved with a bare `python3 -IS -c pass` for scale. CPU seconds, not
wall: they hold on a loaded machine.

Run: python bench/bench_standin_start.py [REPEATS]     (default 60)
"""

from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.faults.recorded import host_dir  # noqa: E402
from tests.sim.spec import HostSpec  # noqa: E402


def cpu_ms(argv: list[str], repeats: int) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    for _ in range(repeats):
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    used = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return used / repeats * 1000


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 60
    with tempfile.TemporaryDirectory() as tmp:
        folder = host_dir(HostSpec(), "node-1", Path(tmp))
        standin = [str(folder / "bin" / "ib_write_bw"), "-d", "mlx5_0", "127.0.0.1"]
        bare = [sys.executable, "-IS", "-c", "pass"]
        for round_ in range(3):
            print(f"round {round_ + 1}: ib_write_bw {cpu_ms(standin, repeats):.1f} ms, "
                  f"bare python3 -IS {cpu_ms(bare, repeats):.1f} ms of CPU per start",
                  flush=True)


if __name__ == "__main__":
    main()
