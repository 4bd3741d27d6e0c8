"""Is every hostfile entry its own machine? Two entries that reach one machine (a DNS
alias, `node01` and `node01.ib`, a typo'd address) make mpirun put twice the ranks on it."""

from collections import defaultdict
from collections.abc import Callable

from preflight.facts import ClusterFacts
from preflight.verdict import fail, observe, skip, warn

Key = tuple[str, ...]


def _groups(cluster: ClusterFacts, key: Callable[[dict[str, str | None]], Key | None],
            ) -> list[list[str]]:
    """Entries sharing a key, in hostfile order; only groups of two or more."""
    shared: dict[Key, list[str]] = defaultdict(list)
    for node in cluster.reachable():
        value = key(node.identity)
        if value is not None:
            shared[value].append(node.name)
    return [names for names in shared.values() if len(names) > 1]


def _same_machine(i: dict[str, str | None]) -> Key | None:
    """One running OS: containers on one kernel share its boot_id (and may share an image's
    machine-id) but not their hostname, so they are not one machine listed twice."""
    if not (i["machine_id"] and i["boot_id"]):
        return None
    return i["machine_id"], i["boot_id"], i["hostname"] or ""


def _same_image(i: dict[str, str | None]) -> Key | None:
    return (i["machine_id"],) if i["machine_id"] else None


def _listing(groups: list[list[str]]) -> str:
    return "; ".join(" and ".join(names) for names in groups)


def check_machines_distinct(cluster: ClusterFacts) -> None:
    if not any(_same_image(n.identity) for n in cluster.reachable()):
        skip("no node reported /etc/machine-id")
    twice = _groups(cluster, _same_machine)
    observe(len(twice), expected=0, unit="machines listed twice")
    if twice:
        fail(f"one machine listed twice (same machine-id, boot_id and hostname): "
             f"{_listing(twice)}",
             measured=twice, expected="one hostfile entry per machine",
             hint="keep one entry per machine: mpirun would start both entries' ranks on it",
             reason="machine-listed-twice")
    clones = [names for names in _groups(cluster, _same_image)
              if len({cluster.node(n).identity["boot_id"] for n in names}) > 1]
    if clones:
        warn(f"machines share one machine-id (a cloned image, different boot_ids): "
             f"{_listing(clones)}", measured=clones, expected="a machine-id per machine",
             hint="regenerate it on each clone (rm /etc/machine-id; systemd-machine-id-setup):"
                  " DHCP client ids and systemd-networkd collide",
             reason="machine-id-cloned")


def check_hostnames_distinct(cluster: ClusterFacts) -> None:
    """One machine listed twice is check_machines_distinct's; here: different machines."""
    def hostname(i: dict[str, str | None]) -> Key | None:
        return (i["hostname"],) if i["hostname"] else None

    machines = {n.name: _same_machine(n.identity) or (n.name,) for n in cluster.reachable()}
    shared = [names for names in _groups(cluster, hostname)
              if len({machines[name] for name in names}) > 1]
    observe(len(shared), expected=0, unit="hostnames shared")
    if shared:
        warn(f"different machines report one hostname: {_by_hostname(cluster, shared)}",
             measured=shared, expected="a hostname per machine",
             hint="give each machine its own hostname: Slurm, MPI hostfiles and dashboards "
                  "key on it", reason="hostname-shared")


def _by_hostname(cluster: ClusterFacts, groups: list[list[str]]) -> str:
    return "; ".join(f"{cluster.node(names[0]).get('hostname')!r} on {' and '.join(names)}"
                     for names in groups)
