"""Bad input gets a clear one-line message and loses nothing (issue 8).

Usage and configuration mistakes stop the run with exit 2 and one line; a bad node (no
python3, an unreadable key, a tool printing garbage or megabytes or non-UTF-8) gives a
one-line reason for that node while every other node is checked and the report is written.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cluster.helpers import Run, explain, run_preflight
from tests.faults.runs import full_run, involves, leftovers, result_key
from tests.sim.cluster import SimCluster
from tests.sim.host import SYSTEM_PATH
from tests.sim.spec import Xid

ARTEFACTS = ("facts.json", "results.json", "junit.xml", "report.html")
NVIDIA_SMI_CHECKS = ("gpu_count", "gpu_model", "gpus_idle", "ecc_uncorrected", "remapped_rows",
                     "retired_pages", "clock_throttle", "topology_matches_cluster")


def preflight(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "preflight", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=120, stdin=subprocess.DEVNULL)


def one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def assert_complete(run: Run) -> None:
    for artefact in ARTEFACTS:
        assert (run.run_dir / artefact).is_file(), artefact
    assert run.record["partial"] is False


def bad_keys(run: Run) -> dict[str, str]:
    return {result_key(r): r["status"] for r in run.bad()}


# ----- configuration: exit 2, one line, nobody contacted -----------------------------------

@pytest.mark.parametrize(("toml", "line"), [
    ('profile = "dgx-h100"\n[expect]\ngpus_per_nod = 8\n',
     "preflight.toml:3: unknown key 'gpus_per_nod' (did you mean 'gpus_per_node'?)"),
    ('[expect]\nports = [22, 29500]\ngpus_per_node = "eight"\n',
     "preflight.toml:3: 'gpus_per_node' must be an integer, got a string 'eight'"),
    ("[expect\ngpus_per_node = 8\n", "preflight.toml:1: expected ']'"),
    ('profile = "dgx-h1000"\n', "unknown profile 'dgx-h1000' (did you mean 'dgx-h100'?)"),
])
def test_invalid_config_names_line_and_key(tmp_path: Path, toml: str, line: str) -> None:
    (tmp_path / "preflight.toml").write_text(toml)
    proc = preflight("run", "--hosts", "198.18.254.1", "--out", "run", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert line in one_line(proc.stderr)
    assert not (tmp_path / "run" / "facts.json").exists()  # nothing was contacted


def test_unknown_profile_lists_the_known_ones(tmp_path: Path) -> None:
    proc = preflight("run", "--hosts", "198.18.254.1", "--profile", "p5.48xl", cwd=tmp_path)
    assert proc.returncode == 2
    message = one_line(proc.stderr)
    assert "--profile: unknown profile 'p5.48xl' (did you mean 'p5.48xlarge'?)" in message
    assert "known: generic, dgx-h100" in message


# ----- a bad node: one line for it, the rest complete -----------------------------------

def session_env(cluster: SimCluster, name: str, home: Path, **env: str) -> None:
    """Set what the host's SSH sessions get (sshd SetEnv). HOME is an empty folder, so no
    ~/.bashrc of the shared root account prepends its own PATH (pyenv shims) to ours."""
    home.mkdir()
    cluster.set_env(name, HOME=str(home), **env)


def without_python(cluster: SimCluster, name: str, folder: Path) -> None:
    """The host's SSH sessions get a PATH with every system tool except python."""
    tools = folder / "bin"
    tools.mkdir(parents=True)
    for directory in SYSTEM_PATH.split(":"):
        for tool in Path(directory).iterdir() if Path(directory).is_dir() else ():
            target = tools / tool.name
            if not tool.name.startswith("python") and not target.exists():
                target.symlink_to(tool)
    host = cluster.host(name)
    session_env(cluster, name, folder / "home", PATH=f"{host.bin_dir}:{tools}")


def replace_tool(cluster: SimCluster, name: str, tool: str, script: str) -> None:
    """Put `script` (a Python program) first on the host's PATH in place of `tool`."""
    path = cluster.host(name).bin_dir / tool
    path.write_text(f"#!{sys.executable}\n{script}")
    path.chmod(0o755)


NON_UTF8_BANNER = f"""\
import os, sys
sys.stdout.buffer.write(b"\\xff\\xfe welcome to \\xe9t\\xe9 cluster\\n")
sys.stdout.flush()
os.execv({sys.executable!r}, ["python3", *sys.argv[1:]])
"""


def test_node_without_python_and_probe_with_non_utf8_output(
        sim_cluster: object, tmp_path: Path) -> None:
    cluster = sim_cluster(4)  # type: ignore[operator]
    without_python(cluster, "node-2", tmp_path / "nopython")
    replace_tool(cluster, "node-4", "python3", NON_UTF8_BANNER)
    session_env(cluster, "node-4", tmp_path / "home4")
    run = full_run(cluster, tmp_path / "run")
    assert_complete(run)
    reasons = {r["node"]: r for r in run.of("probe_ran") if r["status"] == "fail"}
    assert set(reasons) == {"node-2", "node-4"}, explain(run)
    assert reasons["node-2"]["measured"] == "python-missing"
    assert "python3 not found on the node" in reasons["node-2"]["message"]
    assert reasons["node-4"]["measured"] == "probe-failed"
    assert "\n" not in reasons["node-2"]["message"] + reasons["node-4"]["message"]
    for name in ("node-2", "node-4"):
        others = [r for r in run.bad() if involves(r, name) and r["check"] != "probe_ran"]
        assert others and {r["status"] for r in others} == {"blocked"}, explain(run)
        # SSH reached them: their checks say the probe could not run, not "unreachable"
        assert all("probe could not run" in r["message"] and "unreachable" not in r["message"]
                   for r in others), explain(run)
    assert not [r for r in run.bad() if not involves(r, "node-2") and not involves(r, "node-4")]
    assert {r["node"] for r in run.of("ssh_reachable") if r["status"] == "pass"} == set(
        cluster.names)
    assert leftovers(cluster) == {}


def broken_identity_run(cluster: SimCluster, tmp_path: Path, identity: str) -> tuple[Run, Path]:
    """A run whose ssh_config gives node-2 an IdentityFile that cannot be used."""
    broken = tmp_path / "id_broken"
    if identity == "directory":
        broken.mkdir()
    elif identity == "not-a-key":
        broken.write_bytes(b"-----BEGIN OPENSSH PRIVATE KEY-----\n\xff\xfe garbage\n")
    config = cluster.ssh_config.read_text().split("\n\n")
    config[1] = config[1].replace(str(cluster.client_key), str(broken))
    ssh_config = tmp_path / "ssh_config"
    ssh_config.write_text("\n\n".join(config))
    args = cluster.preflight_args()
    args[args.index("--ssh-config") + 1] = str(ssh_config)
    run = run_preflight(*args, "-k", "ssh_reachable or probe_ran or gpu_count",
                        out=tmp_path / "run")
    return run, broken


IDENTITIES = ["directory", "not-a-key", "missing"]


@pytest.mark.parametrize("identity", IDENTITIES)
def test_unreadable_identity_file_is_a_one_line_node_error(
        sim_cluster: object, tmp_path: Path, identity: str) -> None:
    run, _ = broken_identity_run(sim_cluster(3), tmp_path, identity)  # type: ignore[operator]
    assert_complete(run)
    assert bad_keys(run) == {"ssh_reachable[node-2]": "fail", "probe_ran[node-2]": "blocked",
                             "gpu_count[node-2]": "blocked"}, explain(run)
    message = run.of("ssh_reachable", "node-2")[0]["message"]
    assert message.startswith("node-2: ") and "\n" not in message and len(message) < 400


@pytest.mark.parametrize("identity", IDENTITIES)
def test_unreadable_identity_file_is_named(
        sim_cluster: object, tmp_path: Path, identity: str) -> None:
    run, broken = broken_identity_run(sim_cluster(3), tmp_path, identity)  # type: ignore[operator]
    result = run.of("ssh_reachable", "node-2")[0]
    assert str(broken) in result["message"], result
    assert result["measured"] != "unreachable" and "no route" not in (result["hint"] or "")


MEGABYTES = """\
import sys
line = "\\tjunk " + "x" * 120 + "\\n"
sys.stdout.write(line * 60000)
"""
NON_UTF8_IBSTAT = """\
import subprocess, sys
real = subprocess.run([sys.argv[0] + ".real"], capture_output=True).stdout
sys.stdout.buffer.write(real.replace(b"Firmware version: ", b"Firmware version: \\xff\\xfe"))
"""


def test_tools_printing_garbage_megabytes_or_non_utf8(
        sim_cluster: object, tmp_path: Path) -> None:
    cluster = sim_cluster(6)  # type: ignore[operator]
    cluster.garble("node-2", "nvidia-smi")
    cluster.garble("node-3", "ibstat")
    replace_tool(cluster, "node-4", "ibstat", MEGABYTES)
    stand_in = cluster.host("node-5").bin_dir / "ibstat"
    shutil.copy(stand_in, stand_in.with_name("ibstat.real"))
    replace_tool(cluster, "node-5", "ibstat", NON_UTF8_IBSTAT)
    run = full_run(cluster, tmp_path / "run")
    assert_complete(run)
    expected = {f"{check}[node-2]": "error" for check in NVIDIA_SMI_CHECKS}
    expected |= {"version_consistent[node-2]": "error",
                 "ib_ports[node-3]": "error", "ib_ports[node-4]": "error"}
    assert bad_keys(run) == expected, explain(run)
    for result in run.bad():
        assert "\n" not in result["message"] and len(result["message"]) < 400, result
    assert "cannot parse `nvidia_smi_q` output" in run.of("gpu_count", "node-2")[0]["message"]
    assert "cannot parse `ibstat` output" in run.of("ib_ports", "node-4")[0]["message"]
    assert run.of("ib_ports", "node-5")[0]["status"] == "pass"  # bad bytes, good ports
    assert os.path.getsize(run.run_dir / "facts.json") < 8 << 20
    assert leftovers(cluster) == {}


def test_recent_xid_at_the_end_of_megabytes_of_kernel_log(
        sim_cluster: object, tmp_path: Path) -> None:
    cluster = sim_cluster(3)  # type: ignore[operator]
    chatter = [f"NVRM: GPU at PCI:0000:19:00: GPU-{i:08x} RmInitAdapter" for i in range(60000)]
    cluster.update_spec("node-2", kernel_log=chatter,
                        xids=[Xid(79, "0000:9b:00", "GPU has fallen off the bus.")])
    run = run_preflight(*cluster.preflight_args(), "-k", "xid_errors", out=tmp_path / "run")
    assert bad_keys(run) == {"xid_errors[node-2]": "fail"}, explain(run)
