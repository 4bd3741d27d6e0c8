import sys
from pathlib import Path

import pytest

# The repo root, so tests import the harness as `tests.sim...` whatever pytest's cwd.
_REPO = str(Path(__file__).resolve().parent.parent)
if _REPO not in sys.path:
    sys.path.insert(0, _REPO)

from tests.sim.fixtures import sim_cluster, sim_cluster_module, sim_session  # noqa: E402, F401
from tests.sim.slurm_fixtures import sim_slurm, sim_slurm_module  # noqa: E402, F401

# The slow tier: anything that builds simulated hosts, drives a browser or lives beside
# such tests. `python3 -m pytest -m "not cluster"` is the inner loop without them.
SLOW_FOLDERS = {"cluster", "faults", "browser"}
SIM_FIXTURES = {"sim_cluster", "sim_cluster_module", "sim_session", "sim_slurm",
                "sim_slurm_module"}
# Under `-n 3 --dist loadgroup --no-loadscope-reorder` (.ci/run) xdist hands out the tests in
# this order: the longest first (a host dying mid-run, the repeated healthy runs, then the
# fault matrix's full runs, then the other cluster tests), so that no long test starts late
# and holds the suite up alone while the quick ones fill the other workers' gaps at the end.
LONGEST_FIRST = ("faults/test_network_faults.py", "faults/test_healthy_repeat.py", "faults/",
                 "cluster/", "browser/")


@pytest.hookimpl(tryfirst=True)  # before xdist's worker reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    tests_root = Path(__file__).resolve().parent
    for item in items:
        folder = item.path.resolve().relative_to(tests_root).parts[0]
        uses_sim = SIM_FIXTURES & set(getattr(item, "fixturenames", ()))
        if folder in SLOW_FOLDERS or uses_sim or item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.cluster)
        if _shares_module_fixture(item):
            item.add_marker(pytest.mark.xdist_group(item.path.name))
    items.sort(key=lambda item: _start_rank(item.path.resolve().relative_to(tests_root)))


def _start_rank(path: Path) -> int:
    """Where the test's file comes in LONGEST_FIRST (the rest after, in collection order)."""
    text = path.as_posix()
    return next((rank for rank, prefix in enumerate(LONGEST_FIRST) if text.startswith(prefix)),
                len(LONGEST_FIRST))


def _shares_module_fixture(item: pytest.Item) -> bool:
    """Whether the item uses a module-scoped fixture (a simulated cluster built once for the
    module): under `-n N --dist loadgroup` such a module runs on one worker and builds it once,
    while tests with their own cluster (the fault matrix) spread over the workers."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return False
    return any(defs[-1].scope == "module" for defs in info.name2fixturedefs.values() if defs)
