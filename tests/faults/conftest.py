"""Fixtures of the fault matrix: a 6-host simulated cluster."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.faults.runs import HOSTS
from tests.sim.cluster import SimCluster


@pytest.fixture
def six_hosts(sim_cluster: Callable[..., SimCluster]) -> Callable[..., SimCluster]:
    def make(**kwargs: Any) -> SimCluster:
        return sim_cluster(HOSTS, **kwargs)

    return make
