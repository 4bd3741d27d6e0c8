import sys
from pathlib import Path

# The repo root, so tests import the harness as `tests.sim...` whatever pytest's cwd.
_REPO = str(Path(__file__).resolve().parent.parent)
if _REPO not in sys.path:
    sys.path.insert(0, _REPO)

from tests.sim.fixtures import sim_cluster, sim_cluster_module, sim_session  # noqa: E402, F401
from tests.sim.slurm_fixtures import sim_slurm, sim_slurm_module  # noqa: E402, F401
