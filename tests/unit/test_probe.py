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

PROBE = Path(__file__).resolve().parents[2] / "preflight" / "probe" / "remote.py"
CORPUS = Path(os.environ.get("PREFLIGHT_CORPUS", Path(__file__).resolve().parents[3] / "shared"
                             / "corpus"))
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
    if not Q_FILE.is_file():
        if os.environ.get("CI") == "true":
            pytest.fail(f"corpus missing: {Q_FILE}")
        pytest.skip(f"corpus missing: {Q_FILE}")
    return Q_FILE.read_text()


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


def test_network_facts_give_the_ephemeral_range_and_the_source_towards_each_name() -> None:
    probe = load_probe()
    found = probe.network(["localhost"])
    low, high = found["ephemeral_ports"]
    assert 0 < low <= high <= 65535
    assert found["sources"] == {"usual": "127.0.0.1", "count": 1, "others": {}}
