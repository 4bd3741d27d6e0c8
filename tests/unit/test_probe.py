"""The node-side probe, run in-process: pynvml and nvidia-smi give the same GPU facts,
a failing sub-probe loses nothing else, secrets are redacted before anything is sent."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import types
from pathlib import Path
from types import ModuleType

import pytest

from preflight.facts import NodeFacts
from preflight.gather import NodeOutcome
from preflight.parsers import nvidia_smi
from tests.corpus import CORPUS, corpus_file

PROBE = Path(__file__).resolve().parents[2] / "preflight" / "probe" / "remote.py"
Q_FILE = CORPUS / "nvidia_smi" / "gpud_q_full_535_h100x8.txt"


def load_probe() -> ModuleType:
    spec = importlib.util.spec_from_file_location("preflight_probe_under_test", PROBE)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fake_pynvml(gpus: list[dict]) -> ModuleType:
    """A pynvml whose answers come from parsed `nvidia-smi -q` records."""
    nv = types.ModuleType("pynvml")
    nv.NVML_MEMORY_ERROR_TYPE_UNCORRECTED, nv.NVML_VOLATILE_ECC = 1, 0
    nv.nvmlClocksThrottleReasonHwSlowdown = 0x8
    nv.nvmlInit = nv.nvmlShutdown = lambda: None
    nv.nvmlSystemGetDriverVersion = lambda: "535.183.01"
    nv.nvmlDeviceGetCount = lambda: len(gpus)
    nv.nvmlDeviceGetHandleByIndex = lambda i: gpus[i]
    nv.nvmlDeviceGetName = lambda g: g["name"].encode()
    nv.nvmlDeviceGetUUID = lambda g: g["uuid"]
    nv.nvmlDeviceGetPciInfo = lambda g: types.SimpleNamespace(busId=g["bus_id"].encode())
    nv.nvmlDeviceGetMemoryInfo = lambda g: types.SimpleNamespace(
        used=g["memory_used_mib"] << 20, total=g["memory_total_mib"] << 20)
    nv.nvmlDeviceGetTotalEccErrors = lambda g, kind, counter: g["ecc_uncorrected_volatile"]
    nv.nvmlDeviceGetRemappedRows = lambda g: tuple(g["remapped_rows"][k] for k in (
        "correctable", "uncorrectable", "pending", "failure"))
    nv.nvmlDeviceGetCurrentClocksThrottleReasons = lambda g: 0
    nv.nvmlDeviceGetPersistenceMode = lambda g: int(g["persistence_mode"])
    return nv


@pytest.fixture
def q_text() -> str:
    return corpus_file(Q_FILE.parent.name, Q_FILE.name).read_text()


FIELDS = ("index", "name", "uuid", "bus_id", "memory_used_mib", "memory_total_mib",
          "persistence_mode", "ecc_uncorrected_volatile", "remapped_rows")


def test_pynvml_and_nvidia_smi_give_the_same_facts(q_text: str, monkeypatch,
                                                   tmp_path: Path) -> None:
    from_smi = nvidia_smi.parse(q_text).to_dict()["gpus"]
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml(from_smi))
    probe = load_probe()
    (tmp_path / "nvidiactl").touch()
    monkeypatch.setattr(probe, "NVIDIA_CONTROL", str(tmp_path / "nvidiactl"))
    from_nvml = probe.pynvml_facts()
    assert from_nvml["driver_version"] == "535.183.01"
    for smi, nvml in zip(from_smi, from_nvml["gpus"], strict=True):
        assert {k: nvml[k] for k in FIELDS} == {k: smi[k] for k in FIELDS}
    facts = {"pynvml": from_nvml, "tools": {}}
    node = NodeFacts(NodeOutcome("n1", facts=facts))
    assert node.gpus == from_nvml["gpus"] and node.version("driver") == "535.183.01"


def test_pynvml_is_not_asked_without_the_driver(q_text: str, monkeypatch,
                                                 tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml(nvidia_smi.parse(q_text)
                                                            .to_dict()["gpus"]))
    probe = load_probe()
    monkeypatch.setattr(probe, "NVIDIA_CONTROL", str(tmp_path / "absent"))
    assert probe.pynvml_facts() is None


def test_probe_without_site_still_finds_torch_and_pynvml(tmp_path: Path) -> None:
    """`python3 -S -` as the gather runs it: torch's version from its METADATA, and
    pynvml importable from site-packages once the driver is there."""
    from importlib import metadata

    script = ("import json, sys\nprobe = {'__name__': 'probe'}\n"
              f"exec(open({str(PROBE)!r}).read(), probe)\n"
              "probe['NVIDIA_CONTROL'] = sys.argv[1]\n"
              "print(json.dumps([probe['dist_version']('torch'), probe['pynvml_facts']()]))\n")
    (tmp_path / "nvidiactl").touch()
    proc = subprocess.run([sys.executable, "-S", "-c", script, str(tmp_path / "nvidiactl")],
                          capture_output=True, text=True, timeout=60, check=True)
    torch_version, nvml = json.loads(proc.stdout)
    assert torch_version == metadata.version("torch")
    assert nvml is not None  # imported: {"error": ...} without a GPU, {"gpus": ...} with one


def test_failing_subprobe_loses_nothing_else(monkeypatch) -> None:
    probe = load_probe()

    def broken() -> None:
        raise OSError("no /sys/class/net here")

    monkeypatch.setattr(probe, "interfaces", broken)
    facts = probe.gather({"resolve": ["localhost"], "timeout": 5})
    assert "OSError: no /sys/class/net here" in facts["errors"]["interfaces"]
    assert facts["interfaces"] is None
    assert facts["resolve"]["localhost"] == ["127.0.0.1"]
    assert facts["hostname"] and facts["ulimits"]["nofile"] > 0


def test_secret_env_values_never_leave_the_node(monkeypatch) -> None:
    monkeypatch.setenv("NCCL_IB_HCA", "mlx5_0")
    monkeypatch.setenv("NCCL_AUTH_TOKEN", "hunter2")
    monkeypatch.setenv("FI_EFA_SECRET_KEY", "s3cr3t")
    monkeypatch.setenv("MASTER_PASSWORD", "pw")
    env = load_probe().environment()
    assert env["NCCL_IB_HCA"] == "mlx5_0"
    assert {env[k] for k in ("NCCL_AUTH_TOKEN", "FI_EFA_SECRET_KEY", "MASTER_PASSWORD")} == {
        "<redacted>"}
    assert "hunter2" not in repr(env) and "s3cr3t" not in repr(env)


def test_hung_tool_is_killed_at_its_timeout(tmp_path: Path, monkeypatch) -> None:
    tool = tmp_path / "nvidia-smi"
    tool.write_text("#!/bin/sh\nsleep 60\n")
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    result = load_probe().run(["nvidia-smi", "-q"], 0.5)
    assert result["timed_out"] is True and result["rc"] is None
    assert result["duration_s"] < 5


def _venv_with_dist(root: Path, *, system_site: bool, dist: str, version: str) -> Path:
    """A venv made as users make them, with one distribution's metadata installed there only."""
    argv = [sys.executable, "-m", "venv", "--without-pip", str(root)]
    if system_site:
        argv.insert(3, "--system-site-packages")
    subprocess.run(argv, check=True, timeout=120, capture_output=True)
    python = root / "bin" / "python3"
    site_dir = subprocess.run([str(python), "-c", "import site; print(site.getsitepackages()[0])"],
                              check=True, capture_output=True, text=True).stdout.strip()
    info = Path(site_dir) / f"{dist}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n\n")
    return python


def _probe_versions(python: Path) -> dict[str, str | None]:
    """versions() as the gather runs the probe: `python3 -S -` on the node's interpreter."""
    script = (f"exec(open({str(PROBE)!r}).read().replace('__main__', 'not-main'))\n"
              "import json\nprint(json.dumps({'torch': dist_version('torch'), "
              "'venvonly': dist_version('venvonly'), 'pytest': dist_version('pytest')}))\n")
    proc = subprocess.run([str(python), "-S", "-"], input=script, capture_output=True,
                          text=True, timeout=60, check=True)
    return json.loads(proc.stdout)


def test_probe_in_a_venv_finds_what_only_the_venv_has(tmp_path: Path) -> None:
    """torch in the venv shadows any other; the system's packages are not seen (site would
    not see them either without --system-site-packages)."""
    from importlib import metadata

    python = _venv_with_dist(tmp_path / "train", system_site=False, dist="torch",
                             version="9.8.7")
    found = _probe_versions(python)
    assert found["torch"] == "9.8.7"
    assert found["pytest"] is None
    assert metadata.version("pytest")  # ... although the base installation has it


def test_probe_in_a_venv_with_system_site_packages_sees_both(tmp_path: Path) -> None:
    from importlib import metadata

    python = _venv_with_dist(tmp_path / "train", system_site=True, dist="venvonly",
                             version="1.2.3")
    found = _probe_versions(python)
    assert found["venvonly"] == "1.2.3"
    assert found["pytest"] == metadata.version("pytest")


def test_probe_follows_path_lines_of_pth_files(tmp_path: Path) -> None:
    python = _venv_with_dist(tmp_path / "train", system_site=False, dist="other",
                             version="0.1")
    extra = tmp_path / "extra"
    (extra / "venvonly-4.5.6.dist-info").mkdir(parents=True)
    (extra / "venvonly-4.5.6.dist-info" / "METADATA").write_text("Version: 4.5.6\n\n")
    site_dir = next((tmp_path / "train" / "lib").glob("python3*/site-packages"))
    (site_dir / "extra.pth").write_text(f"# a comment\nimport os\n{extra}\n")
    assert _probe_versions(python)["venvonly"] == "4.5.6"


def test_network_facts_give_the_ephemeral_range_and_the_source_towards_each_name() -> None:
    probe = load_probe()
    found = probe.network(["localhost"])
    low, high = found["ephemeral_ports"]
    assert 0 < low <= high <= 65535
    assert found["sources"] == {"usual": "127.0.0.1", "count": 1, "others": {}}


def test_only_the_fingerprints_the_run_reads_are_gathered(monkeypatch) -> None:
    probe = load_probe()
    ran: list[list[str]] = []
    monkeypatch.setattr(probe, "run", lambda argv, timeout, keep=None: ran.append(argv) or {
        "missing": False, "rc": 0, "stdout": ""})
    assert set(probe.fingerprint(["node-1"], 5, ("ssh_client",))) == {"ssh_client"}
    assert ran == [["ssh", "-G", "node-1"]]
    assert set(probe.fingerprint(["node-1"], 5)) == {"firewall", "sshd", "ssh_client"}
