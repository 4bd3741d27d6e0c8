"""Security (issue 8): hostile names, config values, env values and tool output are data,
never code, and render escaped; secret-looking env vars are redacted everywhere; nothing of
preflight is left running or listening on any host after a run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cluster.helpers import explain
from tests.faults.runs import full_run, involves, leftovers, result_key
from tests.sim.cluster import SimCluster
from tests.sim.spec import GpuProcess, GpuState

SECRETS = {  # names that look secret → values that must appear nowhere
    "MASTER_PASSWORD": "hunter2-master-6c1f",
    "NCCL_IB_AUTH_TOKEN": "tok-nccl-8d2e",
    "CUDA_API_KEY": "key-cuda-93aa",
    "TORCH_HUB_SECRET": "sec-torch-47b0",
    "FI_EFA_CREDENTIALS": "cred-efa-11fe",
    "HF_TOKEN": "hf_not_collected_0d9c",
}
PLAIN = {"NCCL_DEBUG": "INFO"}  # collected as is: proves the env was read at all


def hostile(marker: Path) -> dict[str, str]:
    """Shell and markup payloads; if any of them ever runs, `marker` appears."""
    return {
        "subst": f"$(touch {marker})",
        "backtick": f"`touch {marker}`",
        "semicolon": f"x;touch {marker};",
        "newline": f"x\ntouch {marker}\n",
        "html": "<script>alert('pwn')</script><img src=x onerror=alert(1)>",
        "rich": "[bold red]not markup[/bold red]",
    }


def set_session_env(cluster: SimCluster, name: str, extra: dict[str, str]) -> None:
    """What the host's SSH sessions see in their environment (sshd SetEnv)."""
    cluster.set_env(name, **extra)


def run_files(run_dir: Path) -> dict[Path, str]:
    return {p: p.read_text(errors="replace") for p in run_dir.rglob("*") if p.is_file()}


def listeners(cluster: SimCluster, name: str) -> list[str]:
    out = cluster.run_in(name, ["ss", "-Hltnu"], check=True).stdout
    return sorted(line.split()[4] for line in out.splitlines() if line.strip())


def test_hostile_input_is_data_escaped_and_secrets_are_redacted(
        sim_cluster: object, tmp_path: Path) -> None:
    cluster: SimCluster = sim_cluster(4)  # type: ignore[operator]
    marker = tmp_path / "pwned"
    bad = hostile(marker)
    names = [f"node9;touch${{IFS}}{marker}", f"$(touch${{IFS}}{marker})",
             f"`touch${{IFS}}{marker}`"]
    hostfile = tmp_path / "hosts"
    hostfile.write_text(cluster.hostfile.read_text() + "".join(f"{n}\n" for n in names))
    config = tmp_path / "preflight.toml"
    config.write_text("[expect]\nrequire_paths = " + json.dumps(
        [f"/tmp/{bad['subst']}", f"/tmp/{bad['backtick']}", f"/tmp/{bad['semicolon']}",
         f"/tmp/{bad['newline']}"]) + "\n")
    model = f"NVIDIA H100 {bad['html']} {bad['subst']} {bad['rich']}"
    cluster.update_spec("node-2", gpu_model=model)
    process = GpuProcess(4242, f"python {bad['backtick']} {bad['html']}", 2048)
    cluster.update_spec("node-3", gpu_overrides={0: GpuState(processes=[process])})
    for name in cluster.names:
        set_session_env(cluster, name, {**SECRETS, **PLAIN})
    # sshd_config's SetEnv splits on spaces: the payload does without them.
    set_session_env(cluster, "node-4", {"NCCL_SOCKET_IFNAME": f"eth0;touch${{IFS}}{marker};"})
    args = cluster.preflight_args()
    args[args.index("--hostfile") + 1] = str(hostfile)
    # -v: every subject's message in the summary, the hostile one among them
    run = full_run(cluster, tmp_path / "run", *args, "--config", str(config), "-v")

    assert not marker.exists()
    real = set(cluster.names)
    for name in names:  # unreachable, and everything about them blocked
        assert run.of("ssh_reachable", name)[0]["status"] == "fail", explain(run)
    expected = {"gpu_model[node-2]": "fail", "gpus_idle[node-3]": "fail",
                "nccl_env_devices[node-4]": "fail"}
    expected |= {f"required_paths[{n}]": "fail" for n in real}
    reachable_bad = {result_key(r): r["status"] for r in run.bad()
                     if not any(involves(r, n) for n in names)}
    assert reachable_bad == expected, explain(run)

    html = (run.run_dir / "report.html").read_text()
    for raw in ("<script>alert('pwn')", "<img src=x onerror"):
        assert raw not in html
    assert "&lt;script&gt;alert(" in html
    assert "[bold red]not markup[/bold red]" in run.stdout  # rich printed it, did not apply it

    files = run_files(run.run_dir)
    for path, text in files.items():
        for secret in SECRETS.values():
            assert secret not in text, f"{secret} leaked into {path.name}"
    env = json.loads(files[run.run_dir / "facts.json"])["nodes"]["node-1"]["facts"]["env"]
    assert env["NCCL_DEBUG"] == "INFO"
    assert {k: env[k] for k in SECRETS if k in env} == {
        k: "<redacted>" for k in SECRETS if k != "HF_TOKEN"}

    assert leftovers(cluster) == {}
    for name in cluster.names:
        assert listeners(cluster, name) == [f"{cluster.address(name)}:22"], name


def test_local_run_redacts_the_head_env(tmp_path: Path) -> None:
    env = {**os.environ, **SECRETS, **PLAIN}
    proc = subprocess.run(
        [sys.executable, "-m", "preflight", "run", "--local", "-k", "ssh_reachable or probe_ran",
         "--out", str(tmp_path / "run")], capture_output=True, text=True, env=env, timeout=180,
        stdin=subprocess.DEVNULL)
    assert proc.returncode in (0, 1), proc.stderr
    files = run_files(tmp_path / "run")
    assert {"facts.json", "results.json", "report.html"} <= {p.name for p in files}
    for path, text in files.items():
        for secret in SECRETS.values():
            assert secret not in text, f"{secret} leaked into {path.name}"
    facts = json.loads(files[tmp_path / "run" / "facts.json"])["nodes"]
    env_seen = next(iter(facts.values()))["facts"]["env"]
    assert env_seen["NCCL_DEBUG"] == "INFO" and env_seen["MASTER_PASSWORD"] == "<redacted>"
    for secret in SECRETS.values():
        assert secret not in proc.stdout + proc.stderr


@pytest.mark.parametrize("value", ["a;b", "$(id)", "`id`", "x\ny"])
def test_hostile_expect_values_are_data(tmp_path: Path, value: str) -> None:
    marker = tmp_path / "pwned"
    payload = value.replace("id", f"touch {marker}")
    proc = subprocess.run(
        [sys.executable, "-m", "preflight", "run", "--local", "-k", "required_paths",
         "--expect", f"require_paths={json.dumps([payload])}", "--out", str(tmp_path / "run")],
        capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)
    assert not marker.exists()
    results = json.loads((tmp_path / "run" / "results.json").read_text())["results"]
    assert [r["status"] for r in results] == ["fail"], proc.stdout + proc.stderr
    assert payload.splitlines()[0] in results[0]["message"]
