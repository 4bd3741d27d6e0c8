"""The simulated cluster itself: real sshd per host, real faults, clean teardown."""

from __future__ import annotations

import json
import marshal
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.sim.cluster import SimCluster
from tests.sim.fixtures import leftovers
from tests.sim.spec import GpuProcess, GpuState, HostSpec, IbPort, Xid
from tests.sim.standins.render import GATHERED, SPEC_MARSHAL
from tests.sim.sweep import owner_alive

pytestmark = pytest.mark.cluster


def ssh(cluster: SimCluster, host: str, command: str, timeout: float = 20):
    return subprocess.run(
        cluster.ssh_argv(host, command), capture_output=True, text=True, timeout=timeout
    )


def tcp_connect(address: str, port: int, timeout: float) -> str:
    """'ok', 'refused' or 'timeout' for one TCP connect from the head."""
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return "ok"
    except ConnectionRefusedError:
        return "refused"
    except TimeoutError:
        return "timeout"


@pytest.fixture(scope="module")
def shared(sim_cluster_module) -> SimCluster:
    return sim_cluster_module(3)


# ----- spec and capability check (no cluster needed) -------------------------------------
def test_host_spec_json_round_trip() -> None:
    spec = HostSpec(gpus=7, topo={(0, 3): "SYS"}, hang={"nvidia-smi"},
                    xids=[Xid(79, "0000:3b:00", "GPU has fallen off the bus.")],
                    gpu_overrides={2: GpuState(processes=[GpuProcess(1, "python", 10)])})
    again = HostSpec.from_json(spec.to_json())
    assert again == spec
    assert json.loads(HostSpec().to_json())["ib_ports"][7] == {
        "ca": "mlx5_7", "state": "Active", "physical_state": "LinkUp", "rate": 400,
        "link_layer": "InfiniBand"}


@pytest.mark.parametrize(("ci", "outcome"), [("true", "failed"), ("", "skipped")])
def test_missing_capability_skips_outside_ci_and_fails_under_ci(
    monkeypatch: pytest.MonkeyPatch, ci: str, outcome: str
) -> None:
    from tests.sim import fixtures

    monkeypatch.setattr(fixtures, "missing_capability", lambda: "no sshd here")
    monkeypatch.setenv("CI", ci)
    expected = pytest.fail.Exception if outcome == "failed" else pytest.skip.Exception
    with pytest.raises(expected, match="no sshd here"):
        fixtures.require_sim_cluster()


# ----- bring-up -------------------------------------------------------------------------
def test_each_host_answers_ssh_with_its_own_hostname(shared: SimCluster) -> None:
    for name in ("node-1", "node-2", "node-3"):
        proc = ssh(shared, name, "hostname")
        assert (proc.returncode, proc.stdout) == (0, f"{name}\n"), proc.stderr


def test_each_host_has_its_own_machine_id_and_boot_id(shared: SimCluster) -> None:
    seen = set()
    for name in ("node-1", "node-2", "node-3"):
        proc = ssh(shared, name, "cat /etc/machine-id /proc/sys/kernel/random/boot_id")
        machine_id, boot_id = proc.stdout.split()
        sshd = shared.host(name).sshd
        assert machine_id == sshd.machine_id_file.read_text().strip()
        assert boot_id == sshd.boot_id_file.read_text().strip()
        seen.add((machine_id, boot_id))
    assert len(seen) == 3
    assert Path("/etc/machine-id").read_text().strip() not in {m for m, _ in seen}


def test_openssh_client_with_dash_f_config(shared: SimCluster) -> None:
    proc = subprocess.run(["ssh", "-F", str(shared.ssh_config), "node-2", "hostname"],
                          capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL)
    assert proc.stdout == "node-2\n", proc.stderr


def test_rendered_answers_are_what_the_python_stand_ins_print(shared: SimCluster) -> None:
    """The gather's calls come from outputs rendered with the spec (a hung or garbled tool
    is left to its Python stand-in); each is what the stand-in itself prints, and logged."""
    shared.update_spec("node-2", ib_ports=[IbPort("mlx5_0", state="Down")], gpus=7)
    shared.garble("node-3", "ibstat")
    log = shared.host("node-2").dir / "calls.log"
    logged = len(log.read_text().splitlines()) if log.exists() else 0
    try:
        for name in ("node-2", "node-3"):
            host = shared.host(name)
            for argv in GATHERED:
                fast = shared.run_in(name, argv)
                slow = shared.run_in(name, [sys.executable, "-IS",
                                            str(host.dir / "launchers" / argv[0]), *argv[1:]])
                assert (fast.returncode, fast.stderr) == (slow.returncode, slow.stderr), argv
                assert strip_timestamp(fast.stdout) == strip_timestamp(slow.stdout), argv
        assert not (shared.host("node-3").dir / "rendered" / "ibstat_.rc").exists()
        assert (shared.host("node-2").dir / "rendered" / "nvidia-smi_-q.rc").exists()
        for name in ("node-2", "node-3"):  # what the other Python stand-ins read
            host = shared.host(name)
            marshalled = marshal.loads((host.dir / SPEC_MARSHAL).read_bytes())
            assert marshalled == json.loads(host.spec_path.read_text()), name
        assert marshal.loads((shared.host("node-2").dir / SPEC_MARSHAL).read_bytes())["gpus"] == 7
        calls = log.read_text().splitlines()[logged:]  # each call twice: fast, then slow
        assert calls == [" ".join(argv) for argv in GATHERED for _ in range(2)]
    finally:
        shared.update_spec("node-2", ib_ports=HostSpec().ib_ports, gpus=HostSpec().gpus)
        shared.update_spec("node-3", garbage=set())


def strip_timestamp(text: str) -> str:
    """nvidia-smi -q's first lines hold the time of the call."""
    return re.sub(r"Timestamp.*", "", text)


def test_session_env_puts_stand_ins_first_and_names_the_host(shared: SimCluster) -> None:
    proc = ssh(shared, "node-3", "command -v nvidia-smi; echo $PREFLIGHT_SIM_HOST; "
               "echo $LD_LIBRARY_PATH; ls $LD_LIBRARY_PATH")
    lines = proc.stdout.splitlines()
    host = shared.host("node-3")
    assert lines[0] == str(host.bin_dir / "nvidia-smi")
    assert lines[1] == "node-3"
    assert lines[2] == str(host.lib_dir)
    assert "libnccl.so.2.21.5" in lines[3:]


def test_ssh_mesh_from_inside_a_host_with_batchmode(shared: SimCluster) -> None:
    proc = ssh(shared, "node-1", "ssh -o BatchMode=yes node-2 hostname && "
               "ssh -o BatchMode=yes node-3 hostname")
    assert (proc.returncode, proc.stdout) == (0, "node-2\nnode-3\n"), proc.stderr


def test_names_resolve_inside_hosts(shared: SimCluster) -> None:
    proc = shared.run_in("node-1", ["getent", "hosts", "node-3"])
    assert proc.stdout.split() == [shared.address("node-3"), "node-3"]


def test_client_files(shared: SimCluster) -> None:
    assert shared.hostfile.read_text() == "node-1 slots=8\nnode-2 slots=8\nnode-3 slots=8\n"
    known = shared.known_hosts.read_text().splitlines()
    assert [line.split()[0] for line in known] == [
        f"node-{i},{shared.address(f'node-{i}')}" for i in (1, 2, 3)
    ]
    assert shared.preflight_args() == [
        "--hostfile", str(shared.hostfile), "--ssh-config", str(shared.ssh_config),
        "--known-hosts", str(shared.known_hosts),
    ]
    assert shared.address("node-2").endswith(".12")


def test_nothing_left_running_after_a_command(shared: SimCluster) -> None:
    assert ssh(shared, "node-2", "true").returncode == 0
    time.sleep(0.2)
    assert shared.processes("node-2") == []


def test_processes_sees_what_a_command_left_behind(shared: SimCluster) -> None:
    ssh(shared, "node-2", "nohup sleep 300 >/dev/null 2>&1 &")
    try:
        # nohup execs sleep after ssh returns: until then its cmdline is "nohup sleep 300"
        deadline = time.monotonic() + 10
        while "sleep 300" not in (cmdlines := [cmd for _, cmd in shared.processes("node-2")]) \
                and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "sleep 300" in cmdlines
    finally:
        shared.run_in("node-2", ["pkill", "-x", "-f", "sleep 300"])


def test_two_clusters_at_once_get_their_own_subnets(sim_cluster) -> None:
    a, b = sim_cluster(1), sim_cluster(1, name_prefix="gpu")
    assert a.id != b.id and a.bridge != b.bridge
    assert a.address("node-1").rsplit(".", 1)[0] != b.address("gpu-1").rsplit(".", 1)[0]
    assert ssh(b, "gpu-1", "hostname").stdout == "gpu-1\n"


# ----- teardown -------------------------------------------------------------------------
def test_stop_leaves_nothing_and_is_idempotent() -> None:
    cluster = SimCluster(2).start()
    cid = cluster.id
    listener = cluster.host("node-1").sshd.pid
    ssh(cluster, "node-1", "nohup sleep 300 >/dev/null 2>&1 &")
    assert leftovers(cid)
    cluster.stop()
    cluster.stop()
    assert leftovers(cid) == []
    assert subprocess.run(["pgrep", "-f", f"pfsim-{cid}/"], capture_output=True).stdout == b""
    assert listener is not None and not _pid_alive(listener)


def test_a_cluster_never_stopped_is_removed_when_its_process_exits() -> None:
    script = ("import sys; sys.path.insert(0, sys.argv[1]); "
              "from tests.sim.cluster import SimCluster; print(SimCluster(2).start().id)")
    repo = str(Path(__file__).resolve().parents[2])
    proc = subprocess.run([sys.executable, "-c", script, repo], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert leftovers(proc.stdout.strip()) == []


def test_sweep_removes_clusters_of_dead_owners(sim_cluster) -> None:
    crashed = SimCluster(1).start()
    (crashed.workdir / "owner").write_text("999999999:1\n")  # a pid that cannot exist
    assert not owner_alive("999999999:1")
    survivor = sim_cluster(1)  # start() sweeps first
    assert leftovers(crashed.id) == []
    assert ssh(survivor, "node-1", "true").returncode == 0
    crashed.stop()


def _pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


# ----- faults ---------------------------------------------------------------------------
def test_iptables_drop_times_out_and_reject_refuses(sim_cluster) -> None:
    cluster = sim_cluster(1)
    addr = cluster.address("node-1")
    cluster.iptables("node-1", 22, action="DROP")
    assert tcp_connect(addr, 22, timeout=1.0) == "timeout"
    cluster.iptables_clear("node-1")
    cluster.iptables("node-1", 22, action="REJECT")
    assert tcp_connect(addr, 22, timeout=1.0) == "refused"
    cluster.iptables_clear("node-1")
    assert tcp_connect(addr, 22, timeout=1.0) == "ok"


def wait_listening(cluster: SimCluster, host: str, port: int, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not cluster.run_in(host, ["ss", "-Hltn", f"sport = :{port}"]).stdout.strip():
        assert time.monotonic() < deadline, f"nothing listens on {host}:{port}"
        time.sleep(0.05)


def iperf(cluster: SimCluster, client: str, server: str, seconds: int = 2) -> float:
    """Mbit/s received, iperf3 -J from `client` to a one-off server on `server`."""
    addr = cluster.address(server)
    srv = subprocess.Popen(
        ["ip", "netns", "exec", cluster.host(server).ns, "iperf3", "-s", "-1", "-B", addr],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        wait_listening(cluster, server, 5201)
        out = cluster.run_in(client, ["iperf3", "-J", "-c", addr, "-t", str(seconds)],
                             timeout=seconds + 15, check=True).stdout
        return json.loads(out)["end"]["sum_received"]["bits_per_second"] / 1e6
    finally:
        srv.kill()
        srv.wait()


def test_shape_holds_iperf3_to_the_rate(sim_cluster) -> None:
    cluster = sim_cluster(2)
    before = iperf(cluster, "node-1", "node-2", seconds=1)
    cluster.shape("node-2", "500mbit")
    to_shaped = iperf(cluster, "node-1", "node-2")
    from_shaped = iperf(cluster, "node-2", "node-1")
    print(f"iperf3 node-1 -> node-2: {before:.0f} Mbit/s unshaped; shaped 500mbit: "
          f"{to_shaped:.0f} in, {from_shaped:.0f} out")
    assert 400 < to_shaped < 520 and 400 < from_shaped < 520
    # Unshaped: well above the shaped rate (not an absolute figure: the suite shares its cores
    # with other tests' simulated clusters).
    assert before > 1000
    cluster.shape("node-2", None)
    assert iperf(cluster, "node-1", "node-2", seconds=1) > 1000


def test_shape_link_only_slows_that_pair(sim_cluster) -> None:
    cluster = sim_cluster(3)
    cluster.shape_link("node-1", "node-2", "200mbit")
    pair = iperf(cluster, "node-2", "node-1")
    other = iperf(cluster, "node-3", "node-1", seconds=1)
    print(f"shape_link 200mbit: node-2 -> node-1 {pair:.0f} Mbit/s, node-3 -> node-1 {other:.0f}")
    assert 150 < pair < 210
    assert other > 1000


def ping(cluster: SimCluster, src: str, dst: str, *extra: str) -> subprocess.CompletedProcess:
    argv = ["ping", "-n", "-q", "-W", "1", *extra, cluster.address(dst)]
    return cluster.run_in(src, argv, timeout=60)


def test_set_mtu_breaks_full_size_frames_between_the_pair(sim_cluster) -> None:
    cluster = sim_cluster(3)
    full = ("-c", "1", "-M", "do", "-s", "1472")
    assert ping(cluster, "node-1", "node-2", *full).returncode == 0
    cluster.set_mtu("node-2", 1400)
    assert ping(cluster, "node-1", "node-2", *full).returncode != 0
    assert ping(cluster, "node-2", "node-1", *full).returncode != 0
    assert ping(cluster, "node-1", "node-3", *full).returncode == 0  # others unaffected
    assert ping(cluster, "node-1", "node-2", "-c", "1", "-M", "do", "-s", "1372").returncode == 0
    cluster.set_mtu("node-2", 1500)
    assert ping(cluster, "node-1", "node-2", *full).returncode == 0


def test_loss_drops_about_that_share_of_packets(sim_cluster) -> None:
    cluster = sim_cluster(2)
    cluster.loss("node-2", 30)
    out = ping(cluster, "node-1", "node-2", "-c", "200", "-i", "0.002").stdout
    lost = float(out.split("% packet loss")[0].rsplit(" ", 1)[1])
    print(f"loss 30% each way: ping reports {lost}% lost")
    assert 35 <= lost <= 65  # 1 - 0.7 * 0.7 = 51% over a round trip


def test_link_down_and_up(sim_cluster) -> None:
    cluster = sim_cluster(2)
    cluster.link_down("node-2")
    assert ping(cluster, "node-1", "node-2", "-c", "1").returncode != 0
    assert tcp_connect(cluster.address("node-2"), 22, timeout=1.0) != "ok"
    cluster.link_up("node-2")
    deadline = time.monotonic() + 10
    while ping(cluster, "node-1", "node-2", "-c", "1").returncode != 0:
        assert time.monotonic() < deadline


def test_sshd_stop_start(sim_cluster) -> None:
    cluster = sim_cluster(2)
    cluster.stop_sshd("node-1")
    assert tcp_connect(cluster.address("node-1"), 22, timeout=1.0) == "refused"
    proc = ssh(cluster, "node-1", "true")
    assert proc.returncode == 255 and "Connection refused" in proc.stderr
    cluster.start_sshd("node-1")
    assert ssh(cluster, "node-1", "hostname").stdout == "node-1\n"


def test_drop_client_key_denies_auth(sim_cluster) -> None:
    cluster = sim_cluster(2)
    cluster.drop_client_key("node-2")
    proc = ssh(cluster, "node-2", "true")
    assert proc.returncode == 255 and "Permission denied (publickey)" in proc.stderr
    assert ssh(cluster, "node-1", "true").returncode == 0
    cluster.restore_client_key("node-2")
    assert ssh(cluster, "node-2", "true").returncode == 0


def test_host_key_changed_and_forgotten(sim_cluster) -> None:
    cluster = sim_cluster(3)
    cluster.change_host_key("node-1")
    proc = ssh(cluster, "node-1", "true")
    assert proc.returncode == 255 and "REMOTE HOST IDENTIFICATION HAS CHANGED" in proc.stderr
    cluster.forget_host_key("node-2")
    proc = ssh(cluster, "node-2", "true")
    assert proc.returncode == 255 and "Host key verification failed" in proc.stderr
    assert "node-2" not in cluster.known_hosts.read_text()
    assert ssh(cluster, "node-3", "true").returncode == 0
    cluster.trust_host_key("node-1")
    cluster.trust_host_key("node-2")
    assert ssh(cluster, "node-1", "true").returncode == 0
    assert ssh(cluster, "node-2", "true").returncode == 0


def test_mesh_key_missing_only_breaks_that_direction(sim_cluster) -> None:
    cluster = sim_cluster(2)
    cluster.mesh_key_missing("node-1", "node-2")
    one_to_two = ssh(cluster, "node-1", "ssh -o BatchMode=yes node-2 true")
    two_to_one = ssh(cluster, "node-2", "ssh -o BatchMode=yes node-1 hostname")
    assert one_to_two.returncode == 255 and "Permission denied" in one_to_two.stderr
    assert two_to_one.stdout == "node-1\n"
    assert ssh(cluster, "node-2", "true").returncode == 0  # the head still gets in


def test_clock_skew_shifts_time_on_that_host_only(sim_cluster) -> None:
    cluster = sim_cluster(2)
    cluster.clock_skew("node-2", 30)
    remote = "python3 -c 'import time; print(time.time())'"
    t0 = time.time()
    skewed = float(ssh(cluster, "node-2", remote).stdout)
    normal = float(ssh(cluster, "node-1", remote).stdout)
    t1 = time.time()
    assert t0 + 29 < skewed < t1 + 31
    assert t0 - 1 < normal < t1 + 1
    cluster.clock_skew("node-2", 0)
    assert abs(float(ssh(cluster, "node-2", remote).stdout) - time.time()) < 2


def test_resolve_differently(sim_cluster) -> None:
    cluster = sim_cluster(2)
    cluster.resolve_differently("node-1", "node-2", "198.18.255.254")
    assert cluster.run_in("node-1", ["getent", "hosts", "node-2"]).stdout.split()[0] == (
        "198.18.255.254")
    assert ssh(cluster, "node-2", "getent hosts node-2").stdout.split()[0] == (
        cluster.address("node-2"))
    cluster.resolve_differently("node-1", "node-2", None)
    assert ssh(cluster, "node-1", "ssh -o BatchMode=yes node-2 hostname").stdout == "node-2\n"


def test_hang_makes_a_tool_sleep_until_killed(sim_cluster) -> None:
    cluster = sim_cluster(1)
    cluster.hang("node-1", "nvidia-smi")
    with pytest.raises(subprocess.TimeoutExpired):
        cluster.run_in("node-1", ["nvidia-smi"], timeout=1.5)
    assert cluster.processes("node-1") == []  # run_in killed the whole group
    cluster.unhang("node-1", "nvidia-smi")
    assert cluster.run_in("node-1", ["nvidia-smi", "-L"], timeout=10).returncode == 0


def test_update_spec_is_seen_by_the_next_call(sim_cluster) -> None:
    cluster = sim_cluster(1, specs={"node-1": HostSpec(gpus=4)})
    assert len(cluster.run_in("node-1", ["nvidia-smi", "-L"]).stdout.splitlines()) == 4
    cluster.update_spec("node-1", gpus=7, nccl_version="2.18.1")
    assert len(cluster.run_in("node-1", ["nvidia-smi", "-L"]).stdout.splitlines()) == 7
    assert sorted(p.name for p in cluster.host("node-1").lib_dir.iterdir()) == ["libnccl.so.2",
                                                                          "libnccl.so.2.18.1"]


# ----- stand-ins, over real SSH, read by the real parsers --------------------------------
FAULTY = HostSpec(
    gpus=7,
    driver_version="535.183.01",
    cuda_version="12.2",
    nccl_version="2.18.1",
    gpu_overrides={3: GpuState(ecc_uncorrected=2, remapped_pending=True, memory_used_mib=9212,
                               utilization=97, throttle=["HW Slowdown"], persistence=False,
                               processes=[GpuProcess(1002127, "/usr/bin/python", 9212)])},
    topo={(0, 3): "SYS"},
    ib_ports=[IbPort("mlx5_0"), IbPort("mlx5_1", state="Down", physical_state="Disabled"),
              IbPort("mlx5_2", link_layer="Ethernet")],
    nics=["mlx5_0", "mlx5_1", "mlx5_2"],
    efa_count=4,
    xids=[Xid(79, "0000:3b:00", "GPU has fallen off the bus.")],
    allreduce_busbw=120.0,
    ib_write_bw_gbps=180.0,
)


@pytest.fixture(scope="module")
def tools(sim_cluster_module) -> SimCluster:
    return sim_cluster_module(2, specs={"node-2": FAULTY})


def remote(cluster: SimCluster, host: str, command: str) -> str:
    proc = ssh(cluster, host, command)
    assert proc.returncode == 0, f"{host}: {command}: rc {proc.returncode} {proc.stderr}"
    return proc.stdout


def test_nvidia_smi_table_parses(tools: SimCluster) -> None:
    from preflight.parsers import nvidia_smi

    healthy = nvidia_smi.parse(remote(tools, "node-1", "nvidia-smi"))
    assert (healthy.driver_version, healthy.cuda_version) == ("550.90.07", "12.4")
    assert [g.name for g in healthy.gpus] == ["NVIDIA H100 80GB HBM3"] * 8
    assert healthy.gpus[0].bus_id == "00000000:19:00.0"
    faulty = nvidia_smi.parse(remote(tools, "node-2", "nvidia-smi"))
    assert len(faulty.gpus) == 7 and faulty.driver_version == "535.183.01"
    gpu3 = faulty.gpus[3]
    assert (gpu3.ecc_uncorrected_volatile, gpu3.memory_used_mib, gpu3.utilization_pct,
            gpu3.persistence_mode) == (2, 9212, 97, False)
    assert [(p.gpu, p.pid, p.name, p.used_mib) for p in faulty.processes] == [
        (3, 1002127, "/usr/bin/python", 9212)]


def test_nvidia_smi_q_parses(tools: SimCluster) -> None:
    from preflight.parsers import nvidia_smi

    record = nvidia_smi.parse(remote(tools, "node-2", "nvidia-smi -q"))
    assert record.source == "q" and len(record.gpus) == 7
    gpu3 = record.gpus[3]
    assert gpu3.ecc_uncorrected_volatile == 2 and gpu3.ecc_uncorrected_aggregate == 2
    assert gpu3.remapped_rows.pending is True
    assert "hw_slowdown" in gpu3.throttle_reasons
    assert record.gpus[0].remapped_rows.pending is False
    assert [p.pid for p in record.processes] == [1002127]


def test_nvidia_smi_query_gpu_csv_parses(tools: SimCluster) -> None:
    from preflight.parsers.nvidia_smi_csv import parse_query_csv

    fields = ("index,name,uuid,pci.bus_id,driver_version,memory.used,memory.total,"
              "utilization.gpu,persistence_mode,ecc.errors.uncorrected.volatile.total,"
              "temperature.gpu,power.draw")
    text = remote(tools, "node-2", f"nvidia-smi --query-gpu={fields} --format=csv")
    assert text.splitlines()[0].startswith("index, name, uuid, pci.bus_id, driver_version, "
                                           "memory.used [MiB], memory.total [MiB]")
    record = parse_query_csv(text)
    assert len(record.gpus) == 7
    assert (record.gpus[3].ecc_uncorrected_volatile, record.gpus[3].memory_used_mib) == (2, 9212)
    bare = remote(tools, "node-1", "nvidia-smi --query-gpu=index,memory.used "
                  "--format=csv,noheader,nounits")
    assert bare.splitlines() == [f"{i}, 0" for i in range(8)]
    bad = ssh(tools, "node-1", "nvidia-smi --query-gpu=bogus --format=csv")
    assert bad.returncode == 2 and 'Field "bogus" is not a valid field' in bad.stdout


def test_nvidia_smi_list_has_stable_unique_uuids(tools: SimCluster) -> None:
    one = remote(tools, "node-1", "nvidia-smi -L").splitlines()
    assert one == remote(tools, "node-1", "nvidia-smi -L").splitlines()
    two = remote(tools, "node-2", "nvidia-smi -L").splitlines()
    assert len(one) == 8 and len(two) == 7
    assert one[0].startswith("GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-")
    assert one[0] != two[0]


def test_topo_parses(tools: SimCluster) -> None:
    from preflight.parsers import topo

    healthy = topo.parse(remote(tools, "node-1", "nvidia-smi topo -m"))
    assert (healthy.gpus, healthy.nics) == (8, 8)
    assert healthy.links["GPU0"]["GPU7"] == "NV18"
    assert healthy.nic_names["NIC3"] == "mlx5_3"
    faulty = topo.parse(remote(tools, "node-2", "nvidia-smi topo -m"))
    assert (faulty.gpus, faulty.nics) == (7, 3)
    assert faulty.links["GPU0"]["GPU3"] == "SYS" and faulty.links["GPU3"]["GPU0"] == "SYS"
    assert faulty.links["GPU0"]["GPU1"] == "NV18"


def test_ibstat_and_ibv_devinfo_parse(tools: SimCluster) -> None:
    from preflight.parsers import ibstat

    healthy = ibstat.parse(remote(tools, "node-1", "ibstat"))
    assert [(p.ca, p.state, p.rate_gbps, p.link_layer) for p in healthy.ports] == [
        (f"mlx5_{i}", "Active", 400, "InfiniBand") for i in range(8)]
    faulty = ibstat.parse(remote(tools, "node-2", "ibstat"))
    assert [(p.ca, p.state, p.link_layer) for p in faulty.ports] == [
        ("mlx5_0", "Active", "InfiniBand"), ("mlx5_1", "Down", "InfiniBand"),
        ("mlx5_2", "Active", "Ethernet")]
    devinfo = ibstat.parse(remote(tools, "node-2", "ibv_devinfo"))
    assert [(p.ca, p.state) for p in devinfo.ports] == [
        ("mlx5_0", "Active"), ("mlx5_1", "Down"), ("mlx5_2", "Active")]


def test_fi_info_parses(tools: SimCluster) -> None:
    from preflight.parsers import fi_info

    record = fi_info.parse(remote(tools, "node-2", "fi_info -p efa -t FI_EP_RDM"))
    assert [(p.provider, p.domain, p.type) for p in record.providers] == [
        ("efa", f"rdmap{79 + i}s0-rdm", "FI_EP_RDM") for i in range(4)]
    none = ssh(tools, "node-1", "fi_info -p efa")
    assert none.returncode == 1 and "fi_getinfo: -61 (No data available)" in none.stderr
    assert fi_info.parse(none.stdout + none.stderr).providers == ()


def test_dmesg_xids_parse(tools: SimCluster) -> None:
    from preflight.parsers import xid

    record = xid.parse(remote(tools, "node-2", "dmesg"))
    assert [(e.xid, e.pci) for e in record.events] == [(79, "0000:3b:00")]
    assert record.events[0].message.endswith("GPU has fallen off the bus.")
    assert xid.parse(remote(tools, "node-1", "dmesg -T")).events == ()


def test_all_reduce_perf_parses(tools: SimCluster) -> None:
    from preflight.parsers.nccl_tests import parse

    run = parse(remote(tools, "node-1", "all_reduce_perf -b 8 -e 8G -f 2 -g 8"))
    assert run.ranks == 8 and run.nccl_version == "2.21.5+cuda12.4"
    assert [r.size_bytes for r in run.rows] == [8 * 2**i for i in range(31)]
    assert 478 < run.rows[-1].oop_busbw_gbps < 481
    cells = [b for r in run.rows for b in (r.oop_busbw_gbps, r.ip_busbw_gbps)]
    assert run.avg_busbw_gbps == pytest.approx(sum(cells) / len(cells), rel=1e-3)
    slow = parse(remote(tools, "node-2", "all_reduce_perf -b 1G -e 1G -g 7"))
    assert slow.ranks == 7 and 118 < slow.rows[0].oop_busbw_gbps < 120.01
    too_many = ssh(tools, "node-2", "all_reduce_perf -g 8")
    assert too_many.returncode == 1 and "Test CUDA failure" in too_many.stdout


def test_all_reduce_perf_under_mpirun_reports_every_host_and_the_slowest(sim_cluster) -> None:
    from preflight.parsers.nccl_tests import parse

    cluster = sim_cluster(3, specs={"node-2": HostSpec(allreduce_busbw=200.0)})
    proc = subprocess.run(cluster.mpirun_argv("all_reduce_perf", "-b", "1G", "-e", "1G", "-g",
                                              "8"), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    run = parse(proc.stdout)
    assert run.ranks == 24
    hosts = [line.split(" on ")[1].split()[0] for line in proc.stdout.splitlines()
             if line.startswith("#  Rank")]
    assert hosts == ["node-1"] * 8 + ["node-2"] * 8 + ["node-3"] * 8
    assert 199 < run.rows[0].oop_busbw_gbps < 200.01


def test_ib_write_bw_client_and_server_over_tcp(tools: SimCluster) -> None:
    from preflight.parsers import perftest

    server = subprocess.Popen(
        tools.ssh_argv("node-2", "ib_write_bw -d mlx5_0 --report_gbits"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_listening(tools, "node-2", 18515)
        client = remote(tools, "node-1", "ib_write_bw -d mlx5_0 -s 65536 -n 5000 "
                        "--report_gbits --use_cuda=0 node-2")
        out, err = server.communicate(timeout=20)
    finally:
        server.kill()
    assert server.returncode == 0, err
    for text in (client, out):
        record = perftest.parse(text)
        assert record.device == "mlx5_0"
        assert [(r.bytes, r.iterations) for r in record.rows] == [(65536, 5000)]
        assert 179 < record.rows[0].bw_avg_gbps <= 180  # the slower end: node-2's 180
    assert "Waiting for client to connect" in out
    assert tools.processes_left("node-2") == []


def test_ib_write_bw_refuses_a_down_port_and_a_missing_server(tools: SimCluster) -> None:
    down = ssh(tools, "node-2", "ib_write_bw -d mlx5_1")
    assert down.returncode == 1 and "state is Down" in down.stderr
    nobody = ssh(tools, "node-2", "ib_write_bw -d mlx5_0 node-1")
    assert nobody.returncode == 1 and "Couldn't connect to node-1:18515" in nobody.stderr


def test_garbage_and_libnccl(tools: SimCluster) -> None:
    tools.garble("node-1", "ibstat")
    try:
        assert "garbage" in remote(tools, "node-1", "ibstat")
    finally:
        tools.update_spec("node-1", garbage=set())
    libs = remote(tools, "node-2", "ls $LD_LIBRARY_PATH").split()
    assert libs == ["libnccl.so.2", "libnccl.so.2.18.1"]
