"""Gathering through one srun step, with a stand-in srun that starts tasks over SSH."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tests.cluster.helpers import explain, run_preflight

pytestmark = pytest.mark.cluster

# Like Slurm: one task per node of --nodelist, SLURMD_NODENAME set, --label on each line.
STANDIN_SRUN = r'''#!/usr/bin/env python3
import shlex, subprocess, sys, threading
args = sys.argv[1:]
nodes, command = [], []
for i, arg in enumerate(args):
    if arg.startswith("--nodelist="):
        nodes = arg.split("=", 1)[1].split(",")
    elif not arg.startswith("-"):
        command = args[i:]
        break
outputs = {}
def task(index, node):
    remote = "env SLURMD_NODENAME=" + shlex.quote(node) + " " + shlex.join(command)
    proc = subprocess.run(["ssh", "-F", SSH_CONFIG, "-o", "BatchMode=yes", node, remote],
                          capture_output=True, text=True, timeout=120)
    outputs[index] = proc.stdout
threads = [threading.Thread(target=task, args=item) for item in enumerate(nodes)]
for t in threads: t.start()
for t in threads: t.join()
for index in sorted(outputs):
    for line in outputs[index].splitlines():
        print(f"{index}: {line}")
'''


def test_gather_via_srun(sim_cluster, tmp_path: Path) -> None:
    cluster = sim_cluster(3)
    cluster.stop_sshd("node-3")  # srun gets no answer from it: that node alone is reported
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    srun = bin_dir / "srun"
    srun.write_text(STANDIN_SRUN.replace("SSH_CONFIG", repr(str(cluster.ssh_config))))
    srun.chmod(srun.stat().st_mode | stat.S_IEXEC)
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}"}
    run = run_preflight(*cluster.preflight_args(), "--gather", "srun", "-k", "not iperf3",
                        out=tmp_path / "run", env=env)
    assert run.rc == 1, explain(run)
    assert run.only_involves("node-3"), explain(run)
    reach = run.of("probe_ran", "node-1")[0]
    assert reach["status"] == "pass"
    gpu = run.of("gpu_count", "node-2")[0]
    assert gpu["status"] == "pass" and gpu["measured"] == 8
