"""Configuration: precedence, preflight.toml errors, profiles."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from preflight.config import (
    Expectations,
    load_config,
    parse_expect_options,
    profiles_table,
    settable_fields,
)
from preflight.errors import UserError
from preflight.profiles import PROFILES


@pytest.fixture(autouse=True)
def empty_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test runs where no stray ./preflight.toml can leak in."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(text: str, name: str = "preflight.toml") -> Path:
    path = Path(name)
    path.write_text(text)
    return path


def error_of(profile: str | None = None, path: Path | None = None, **overrides: object) -> str:
    with pytest.raises(UserError) as info:
        load_config(profile, path, overrides)
    message = str(info.value)
    assert "\n" not in message
    return message


# ---------------------------------------------------------------- precedence


def test_defaults_when_nothing_is_given() -> None:
    assert load_config(None, None, {}) == Expectations()
    assert Expectations().profile == "generic"


def test_precedence_defaults_profile_file_flags() -> None:
    assert load_config("dgx-h100", None, {}).gpus_per_node == 8
    write("[expect]\ngpus_per_node = 4\nmaster_port = 30000\n")
    from_file = load_config("dgx-h100", None, {})
    assert (from_file.gpus_per_node, from_file.master_port) == (4, 30000)
    assert from_file.ib_rate_gbps == 400.0  # the profile still shows through
    assert from_file.iperf_streams == 4  # and so do the defaults
    flagged = load_config("dgx-h100", None, {"gpus_per_node": 2, "master_port": None})
    assert (flagged.gpus_per_node, flagged.master_port) == (2, 30000)  # None: flag not given


def test_profile_flag_beats_profile_in_file() -> None:
    write('profile = "dgx-h100"\n')
    assert load_config(None, None, {}).profile == "dgx-h100"
    chosen = load_config("p4d.24xlarge", None, {})
    assert (chosen.profile, chosen.efa_count, chosen.ib_ports) == ("p4d.24xlarge", 4, None)


def test_explicit_path_beats_the_one_in_cwd(empty_cwd: Path) -> None:
    write("[expect]\ngpus_per_node = 4\n")
    other = write("[expect]\ngpus_per_node = 2\n", "site.toml")
    assert load_config(None, other, {}).gpus_per_node == 2
    assert load_config(None, empty_cwd / "preflight.toml", {}).gpus_per_node == 4


def test_values_are_coerced_to_the_annotation() -> None:
    write("[expect]\nib_rate_gbps = 200\nports = [22, 29500, 10001]\nnvlink = true\n")
    expect = load_config(None, None, {})
    assert isinstance(expect.ib_rate_gbps, float) and expect.ib_rate_gbps == 200.0
    assert (expect.ports, expect.nvlink) == ([22, 29500, 10001], True)


def test_dotted_keys() -> None:
    write('profile = "h200"\nexpect.gpus_per_node = 4\n')
    assert load_config(None, None, {}).gpus_per_node == 4
    write('expect.gpus_per_node = "x"\n')
    assert error_of() == "preflight.toml:1: 'gpus_per_node' must be an integer, got a string 'x'"


def test_quoted_keys() -> None:
    write('[expect]\n"gpu_model" = "H100"\n"nvlink" = 3\n')
    assert error_of() == "preflight.toml:3: 'nvlink' must be true or false, got an integer 3"


# ---------------------------------------------------------------- errors


def test_unknown_key_names_file_line_and_suggestion() -> None:
    write('profile = "generic"\n\n[expect]\n# GPUs\ngpus_per_node = 8\n\ngpus_per_nod = 8\n')
    assert error_of() == (
        "preflight.toml:7: unknown key 'gpus_per_nod' (did you mean 'gpus_per_node'?)"
    )


def test_unknown_key_in_an_explicit_path() -> None:
    path = write("[expect]\nwobble = 1\n", "site.toml")
    assert error_of(path=path) == "site.toml:2: unknown key 'wobble'"


def test_dashes_suggest_the_underscore_name() -> None:
    write("[expect]\ngpus-per-node = 8\n")
    assert error_of() == (
        "preflight.toml:2: unknown key 'gpus-per-node' (did you mean 'gpus_per_node'?)"
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('gpus_per_node = "8"', "'gpus_per_node' must be an integer, got a string '8'"),
        ("gpus_per_node = true", "'gpus_per_node' must be an integer, got a boolean True"),
        ("gpus_per_node = 8.5", "'gpus_per_node' must be an integer, got a number 8.5"),
        ("nvlink = 1", "'nvlink' must be true or false, got an integer 1"),
        ('ib_rate_gbps = "fast"', "'ib_rate_gbps' must be a number, got a string 'fast'"),
        ("gpu_model = 100", "'gpu_model' must be a string, got an integer 100"),
        ('ports = [22, "x"]', "'ports' must be an array of integers, got an array [22, 'x']"),
        ("ports = 22", "'ports' must be an array of integers, got an integer 22"),
        ("disk_paths = [1]", "'disk_paths' must be an array of strings, got an array [1]"),
        ("shared_dir = {a = 1}", "'shared_dir' must be a string, got a table {'a': 1}"),
    ],
)
def test_wrong_type_names_line_key_and_value(body: str, message: str) -> None:
    write(f"[expect]\nmaster_port = 29500\n{body}\n")
    assert error_of() == f"preflight.toml:3: {message}"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[expect]\ngpus_per_node = \n", "preflight.toml:2: invalid value (column 17)"),
        ("[expect]\na = 1\na = 2\n", "preflight.toml:3: cannot overwrite a value (column 6)"),
        ("[expect\n", "preflight.toml:1: expected ']' at the end of a table declaration"),
        ("x = [1,\n", "preflight.toml:1: invalid value (at end of file)"),
        ('profile = "dgx"\n', "preflight.toml:1: unknown profile 'dgx'"),
        ("profile = 3\n", "preflight.toml:1: 'profile' must be a string, got an integer 3"),
        (
            "\n\ngpus_per_node = 8\n",
            "preflight.toml:3: 'gpus_per_node' belongs in the [expect] table",
        ),
        ("expct = 1\n", "preflight.toml:1: unknown key 'expct' (did you mean 'expect'?)"),
        ("colour = 1\n",
         "preflight.toml:1: unknown key 'colour' (expected 'profile', 'level' or [expect])"),
        ("expect = 3\n", "preflight.toml:1: 'expect' must be a table ([expect])"),
        ("[[expect]]\na = 1\n", "preflight.toml:1: 'expect' must be a table ([expect])"),
    ],
)
def test_file_errors(text: str, message: str) -> None:
    write(text)
    assert error_of().startswith(message)


def test_unknown_profile_lists_the_known_ones() -> None:
    assert error_of("dgx-h10") == (
        "--profile: unknown profile 'dgx-h10' (did you mean 'dgx-h100'?); known: "
        "generic, dgx-h100, dgx-a100, p5.48xlarge, p4d.24xlarge, h200"
    )


def test_missing_config_file() -> None:
    assert error_of(path=Path("nope.toml")) == "nope.toml: no such config file"


def test_config_path_is_a_directory(empty_cwd: Path) -> None:
    assert error_of(path=empty_cwd).endswith(": is a directory, not a config file")


def test_config_not_utf8() -> None:
    Path("preflight.toml").write_bytes(b"[expect]\ngpu_model = '\xff'\n")
    assert error_of() == "preflight.toml:2: not UTF-8 text"


def test_config_with_a_byte_order_mark_reads_as_without() -> None:
    Path("preflight.toml").write_bytes(b"\xef\xbb\xbf[expect]\ngpus_per_node = 4\n")
    assert load_config(None, None, {}).gpus_per_node == 4


def test_bad_override_from_a_flag() -> None:
    assert error_of(gpus_per_node="8") == (
        "command line: 'gpus_per_node' must be an integer, got a string '8'"
    )
    assert error_of(pair_modes="ring") == (
        "command line: unknown key 'pair_modes' (did you mean 'pair_mode'?)"
    )
    with pytest.raises(UserError, match=r"^command line: unknown key 'profile'$"):
        load_config(None, None, {"profile": "dgx-h100"})


# ---------------------------------------------------------------- --expect


def test_expect_options_read_toml_values() -> None:
    assert parse_expect_options(
        [
            "gpus_per_node=8",
            "gpu_model=H100 80GB",
            "ports=[22, 29500]",
            "nic_gbps=100",
            "nvlink=true",
        ]
    ) == {
        "gpus_per_node": 8,
        "gpu_model": "H100 80GB",
        "ports": [22, 29500],
        "nic_gbps": 100.0,
        "nvlink": True,
    }
    assert parse_expect_options(['gpu_model="8"']) == {"gpu_model": "8"}


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("gpus_per_node", "--expect 'gpus_per_node': expected KEY=VALUE, e.g. gpus_per_node=8"),
        ("=8", "--expect '=8': expected KEY=VALUE, e.g. gpus_per_node=8"),
        (
            "gpus_per_node=eight",
            "--expect: 'gpus_per_node' must be an integer, got a string 'eight'",
        ),
        ("gpu_modl=H100", "--expect: unknown key 'gpu_modl' (did you mean 'gpu_model'?)"),
    ],
)
def test_expect_option_errors(item: str, message: str) -> None:
    with pytest.raises(UserError) as info:
        parse_expect_options([item])
    assert str(info.value) == message


def test_expect_options_feed_load_config() -> None:
    write("[expect]\ngpus_per_node = 4\n")
    overrides = parse_expect_options(["gpus_per_node=2"])
    assert load_config("dgx-a100", None, overrides).gpus_per_node == 2


# ---------------------------------------------------------------- profiles

STATED: dict[str, dict[str, object]] = {
    "dgx-h100": {
        "gpus_per_node": 8,
        "gpu_model": "H100",
        "nvlink": True,
        "nvlink_width": 18,
        "gpudirect": True,
        "ib_ports": 8,
        "ib_rate_gbps": 400.0,
        "allreduce_busbw_gbps": 400.0,
    },
    "dgx-a100": {
        "gpus_per_node": 8,
        "gpu_model": "A100",
        "nvlink": True,
        "nvlink_width": 12,
        "gpudirect": True,
        "ib_ports": 8,
        "ib_rate_gbps": 200.0,
        "allreduce_busbw_gbps": 200.0,
    },
    "p5.48xlarge": {
        "gpus_per_node": 8,
        "gpu_model": "H100",
        "nvlink": True,
        "nvlink_width": 18,
        "efa_count": 32,
        "allreduce_busbw_gbps": 400.0,
    },
    "p4d.24xlarge": {
        "gpus_per_node": 8,
        "gpu_model": "A100-SXM4-40GB",
        "nvlink": True,
        "nvlink_width": 12,
        "efa_count": 4,
        "allreduce_busbw_gbps": 200.0,
    },
    "h200": {
        "gpus_per_node": 8,
        "gpu_model": "H200",
        "nvlink": True,
        "nvlink_width": 18,
        "allreduce_busbw_gbps": 400.0,
    },
    "generic": {},
}


def test_the_required_profiles_exist() -> None:
    assert sorted(PROFILES) == sorted(STATED)


@pytest.mark.parametrize("name", sorted(STATED))
def test_every_profile_loads_with_its_numbers(name: str) -> None:
    expect = load_config(name, None, {})
    assert expect.profile == name
    assert dict(PROFILES[name].overrides) == STATED[name]
    for key, value in STATED[name].items():
        assert value is not None
        assert getattr(expect, key) == value
    untouched = set(settable_fields()) - set(STATED[name])
    defaults = Expectations()
    assert all(getattr(expect, key) == getattr(defaults, key) for key in untouched)


def test_profiles_table() -> None:
    rows = {row["name"]: row for row in profiles_table()}
    assert list(rows) == list(PROFILES)
    assert rows["p5.48xlarge"] == {
        "name": "p5.48xlarge",
        "description": "AWS EC2 p5.48xlarge: 8x H100 80GB, NVLink 4 (NV18), 32 EFA, 3200 Gbps.",
        "gpus_per_node": 8,
        "gpu_model": "H100",
        "nvlink_width": 18,
        "ib_ports": None,
        "ib_rate_gbps": None,
        "efa_count": 32,
        "allreduce_busbw_gbps": 400.0,
    }
    assert all(row["description"] for row in rows.values())


def test_every_field_type_is_supported() -> None:
    """A new Expectations field with an annotation the checker can't read fails here."""
    defaults = Expectations().to_dict()
    for name in (f.name for f in fields(Expectations) if f.name != "profile"):
        if defaults[name] is not None:
            assert parse_expect_options([f"{name}={_toml(defaults[name])}"]) == {
                name: defaults[name]
            }


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, str):
        return f'"{value}"'
    return repr(value)
