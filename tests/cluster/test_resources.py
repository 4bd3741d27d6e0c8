"""Connections and file descriptors are released: fd count before a run equals after."""

from __future__ import annotations

import gc
import os
import threading
import time
from pathlib import Path

import pytest

from preflight.config import Expectations
from preflight.gather import ProbeOptions, gather
from preflight.inventory import Node
from preflight.measure.ports import measure_ports
from preflight.runctx import RunContext
from preflight.transport.ssh import SshSettings, SshTransport

pytestmark = pytest.mark.cluster


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_fds_and_threads_released_after_gather_and_probe(sim_cluster, tmp_path: Path) -> None:
    cluster = sim_cluster(4)
    settings = SshSettings(ssh_config=cluster.ssh_config, known_hosts=cluster.known_hosts)
    fds, threads = open_fds(), threading.active_count()
    ctx = RunContext(nodes=[Node(n) for n in cluster.names], expect=Expectations(),
                     run_dir=tmp_path, transport_factory=lambda h: SshTransport(h, settings))
    try:
        ctx.set_outcomes(gather(cluster.names, ctx.connections,
                                ProbeOptions(resolve=cluster.names)))
        ports = ctx.measure("ports", lambda: measure_ports(ctx))
        assert all(v[0] == "open" for pair in ports["pairs"].values() for v in pair.values())
    finally:
        ctx.close()
    gc.collect()
    deadline = time.monotonic() + 10  # paramiko's reader threads end just after close()
    while threading.active_count() > threads and time.monotonic() < deadline:
        time.sleep(0.1)
    assert open_fds() == fds
    assert threading.active_count() == threads
    assert all(cluster.processes_left(h) == [] for h in cluster.names)
