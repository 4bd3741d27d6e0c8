"""Inventory: hostfiles (corpus + edge cases), hostlist expressions, Slurm, JSON."""

from __future__ import annotations

from pathlib import Path

import pytest

from preflight.errors import UserError
from preflight.inventory import (
    Node,
    expand_hostlist,
    from_slurm,
    local_node,
    parse_hostfile,
    parse_hostfile_text,
    parse_hosts_arg,
    to_json,
)
from tests.corpus import CORPUS, require_corpus

REPO = Path(__file__).resolve().parents[2]


def corpus_dir(name: str) -> Path:
    return require_corpus(name)


# Hosts and slots per corpus file, as SOURCES.md describes each one.
HOSTFILES = {
    "ompi_docs_my-hosts_slots_max_slots.txt": [("node0", 2), ("node1", 2)],
    "ompi_docs_my_hosts_fqdn_slots1.txt": [
        ("node01.example.com", 1),
        ("node02.example.com", 1),
        ("node03.example.com", 1),
    ],
    "mpich_hydra_hosts_plain.txt": [
        ("donner", None),
        ("foo", None),
        ("shakey", None),
        ("terra", None),
    ],
    "mpich_hydra_hosts_colon_equal.txt": [("donner", 2), ("foo", 2), ("shakey", 2), ("terra", 2)],
    "mlengineering_deepspeed_style_slots2.txt": [("worker-0", 2), ("worker-1", 2)],
}


@pytest.mark.parametrize("filename", sorted(HOSTFILES))
def test_corpus_hostfile(filename: str) -> None:
    nodes = parse_hostfile(corpus_dir("hostfile") / filename)
    assert [(n.name, n.slots) for n in nodes] == HOSTFILES[filename]


def test_every_corpus_hostfile_is_covered() -> None:
    assert sorted(p.name for p in corpus_dir("hostfile").iterdir()) == sorted(HOSTFILES)


def _expansion_rows() -> list[tuple[str, list[str], str]]:
    tsv = CORPUS / "hostlist" / "hostlist_expansions.tsv"
    if not tsv.is_file():
        return []
    rows = []
    for line in tsv.read_text().splitlines():
        expr, expansion, source = line.split("\t")
        rows.append((expr, expansion.split(","), source))
    return rows


# Without the corpus, one placeholder row reaches corpus_dir(), which skips or fails clearly.
EXPANSION_ROWS = _expansion_rows() or [("<corpus absent>", [], "none")]


def test_expansion_table_present() -> None:
    corpus_dir("hostlist")
    # The file holds 15 rows today (SOURCES.md says 22; see the report to the lead).
    assert len(EXPANSION_ROWS) >= 15


@pytest.mark.parametrize(("expr", "expected", "source"), EXPANSION_ROWS)
def test_corpus_hostlist_expansion(expr: str, expected: list[str], source: str) -> None:
    corpus_dir("hostlist")
    # Multi-bracket rows (n[1-3]m[4-6]) follow python-hostlist's cartesian product, first
    # bracket outermost; Slurm's own support for them may differ, and we follow the library
    # we ship with. Rows from LLNL py-hostlist were kept only where it does not sort.
    assert expand_hostlist(expr) == expected


@pytest.mark.parametrize(
    ("expr", "count", "last"),
    [
        # The two examples SOURCES.md cites (scontrol show hostnames, Slurm docs).
        ("node-[42,49-51]", 4, "node-51"),
        ("node[4-8,12,16-20,22,24-26]", 15, "node26"),
    ],
)
def test_sources_examples(expr: str, count: int, last: str) -> None:
    names = expand_hostlist(expr)
    assert (len(names), names[-1]) == (count, last)


def test_expand_hostlist_bad_syntax() -> None:
    with pytest.raises(UserError, match=r"bad hostlist expression 'n\[1-': unbalanced"):
        expand_hostlist("n[1-")


# ---------------------------------------------------------------- hostfile forms


def test_all_forms_in_one_file() -> None:
    text = (
        "# cluster A\r\n"
        "\r\n"
        "  node0 slots=8 max_slots=16   # trailing comment\r\n"
        "\tnode1 slots = 4\r\n"
        "node2:2\r\n"
        "alice@node3\r\n"
        "node[04-05] slots=8\r\n"
        "bob@gpu[1-2]:4\r\n"
        "fe80::1\r\n"
    )
    assert parse_hostfile_text(text, "hosts") == [
        Node("node0", 8),
        Node("node1", 4),
        Node("node2", 2),
        Node("node3", None, "alice"),
        Node("node04", 8),
        Node("node05", 8),
        Node("gpu1", 4, "bob"),
        Node("gpu2", 4, "bob"),
        Node("fe80::1"),
    ]


@pytest.mark.parametrize("name", ["node1;touch", "$(reboot)", "n`id`", "a&&b", "x|y>z"])
def test_shell_metacharacters_are_just_a_name(name: str) -> None:
    assert parse_hostfile_text(f"{name} slots=2\n", "hosts") == [Node(name, 2)]


def test_a_command_after_the_name_is_junk_not_code(tmp_path: Path) -> None:
    marker = tmp_path / "x"
    with pytest.raises(UserError, match=rf"^hosts:1: unexpected '{marker}' after the host"):
        parse_hostfile_text(f"node1;touch {marker}\n", "hosts")
    assert not marker.exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a\nb\n\na\n", "hosts:4: duplicate host 'a' (also on line 1)"),
        ("n[1-3]\nn2:4\n", "hosts:2: duplicate host 'n2' (also on line 1)"),
        ("n[1,1]\n", "hosts:1: duplicate host 'n1' (also on line 1)"),
        ("a junk\n", "hosts:1: unexpected 'junk' after the host name"),
        ("a\nb slots 8\n", "hosts:2: unexpected 'slots' after the host name"),
        ("a slot=2\n", "hosts:1: unknown key 'slot' (did you mean 'slots'?)"),
        ("a cpus=2\n", "hosts:1: unknown key 'cpus' (known: slots, max_slots, max-slots)"),
        ("a slots=0\n", "hosts:1: slots: 0 is less than 1"),
        ("a slots=-3\n", "hosts:1: slots: -3 is less than 1"),
        ("a slots=two\n", "hosts:1: slots: 'two' is not an integer"),
        ("a slots=2.5\n", "hosts:1: slots: '2.5' is not an integer"),
        ("a max_slots=x\n", "hosts:1: max_slots: 'x' is not an integer"),
        ("a slots=4 max_slots=2\n", "hosts:1: max_slots=2 is less than slots=4"),
        ("a slots=2 slots=3\n", "hosts:1: slots given twice"),
        ("a:2 slots=2\n", "hosts:1: slots given twice (host:N and slots=N)"),
        ("a:0\n", "hosts:1: slot count after 'a:': 0 is less than 1"),
        ("a:x\n", "hosts:1: slot count after 'a:': 'x' is not an integer"),
        ("slots=2\n", "hosts:1: expected a host name first, got 'slots=2'"),
        ("n[1-\n", "hosts:1: bad hostlist expression 'n[1-': unbalanced brackets"),
        ("n[3-1]\n", "hosts:1: bad hostlist expression 'n[3-1]': start > stop"),
        ("@a\n", "hosts:1: empty user name before '@'"),
        ("u@\n", "hosts:1: empty host name"),
        ("a@b@c\n", "hosts:1: host name 'b@c' holds a second '@'"),
        ("-oProxyCommand=x\n", "hosts:1: expected a host name first"),
        ("-F/tmp/cfg\n", "hosts:1: host name '-F/tmp/cfg' starts with '-'"),
        ("", "hosts: no hosts (the file is empty or holds only comments)"),
        ("# only\n\n   # comments\n", "hosts: no hosts"),
    ],
)
def test_errors_name_file_line_and_reason(text: str, message: str) -> None:
    with pytest.raises(UserError) as info:
        parse_hostfile_text(text, "hosts")
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"^.*/nope: no such hostfile$"):
        parse_hostfile(tmp_path / "nope")


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"is a directory, not a hostfile$"):
        parse_hostfile(tmp_path)


def test_unreadable_file_as_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", refuse)
    with pytest.raises(UserError, match=r"hosts: cannot read hostfile \(Permission denied\)$"):
        parse_hostfile(tmp_path / "hosts")


def test_binary_file_names_the_line(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_bytes(b"a\nb\n\xff\xfe\n")
    with pytest.raises(UserError, match=r"hosts:3: not UTF-8 text$"):
        parse_hostfile(hosts)


def test_utf8_bom_and_file_source(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_bytes(b"\xef\xbb\xbfnode1 slots=8\nnode2 slots=8\nnode1\n")
    with pytest.raises(UserError, match=rf"^{hosts}:3: duplicate host 'node1' \(also on line 1\)$"):
        parse_hostfile(hosts)


# ---------------------------------------------------------------- --hosts


def test_hosts_arg() -> None:
    assert parse_hosts_arg("node[01-03],alice@gpu-a:8") == [
        Node("node01"),
        Node("node02"),
        Node("node03"),
        Node("gpu-a", 8, "alice"),
    ]
    assert len(parse_hosts_arg("node[01-16],gpu-a")) == 17


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("n1,n[0-2]", "--hosts: duplicate host 'n1'"),
        ("n[1-", "--hosts: bad hostlist expression 'n[1-': unbalanced brackets"),
        ("", "--hosts: no host name in ''"),
        ("a b", "--hosts: host name 'a b' contains whitespace"),
    ],
)
def test_hosts_arg_errors(expr: str, message: str) -> None:
    with pytest.raises(UserError) as info:
        parse_hosts_arg(expr)
    assert str(info.value) == message


# ---------------------------------------------------------------- Slurm, local, JSON


def test_slurm_tasks_per_node() -> None:
    env = {"SLURM_JOB_NODELIST": "gpu-[01-03],big", "SLURM_TASKS_PER_NODE": "2(x3),1"}
    assert from_slurm(env) == [
        Node("gpu-01", 2),
        Node("gpu-02", 2),
        Node("gpu-03", 2),
        Node("big", 1),
    ]


def test_slurm_gpus_on_node_and_old_variable() -> None:
    env = {"SLURM_NODELIST": "n[1-2]", "SLURM_GPUS_ON_NODE": "8"}
    assert from_slurm(env) == [Node("n1", 8), Node("n2", 8)]


def test_slurm_tasks_win_over_gpus() -> None:
    env = {
        "SLURM_JOB_NODELIST": "n[1-2]",
        "SLURM_TASKS_PER_NODE": "1(x2)",
        "SLURM_GPUS_ON_NODE": "8",
    }
    assert [n.slots for n in from_slurm(env)] == [1, 1]


def test_slurm_without_slots() -> None:
    assert from_slurm({"SLURM_JOB_NODELIST": "n1"}) == [Node("n1")]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "not inside a Slurm allocation (SLURM_JOB_NODELIST is not set)"),
        ({"SLURM_JOB_NODELIST": ""}, "not inside a Slurm allocation"),
        (
            {"SLURM_JOB_NODELIST": "n[1-3]", "SLURM_TASKS_PER_NODE": "2(x2)"},
            "SLURM_TASKS_PER_NODE='2(x2)' covers 2 nodes, the nodelist has 3",
        ),
        (
            {"SLURM_JOB_NODELIST": "n1", "SLURM_TASKS_PER_NODE": "two"},
            "SLURM_TASKS_PER_NODE='two': bad task list syntax",
        ),
        ({"SLURM_JOB_NODELIST": "n1", "SLURM_GPUS_ON_NODE": "0"}, "SLURM_GPUS_ON_NODE: 0 is less"),
        ({"SLURM_JOB_NODELIST": "n[1-"}, "SLURM_JOB_NODELIST: bad hostlist expression"),
    ],
)
def test_slurm_errors(env: dict[str, str], message: str) -> None:
    with pytest.raises(UserError) as info:
        from_slurm(env)
    assert str(info.value).startswith(message)


def test_local_node_is_the_real_hostname() -> None:
    import socket

    assert local_node() == Node(socket.gethostname())


def test_to_json() -> None:
    nodes = [Node("a", 8, "alice"), Node("b")]
    assert to_json(nodes) == {"hosts": [{"name": "a", "slots": 8}, {"name": "b", "slots": None}]}
