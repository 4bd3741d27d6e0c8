"""The srun argv and reading real `srun --label` output: labelled 1,024-byte pieces."""

from __future__ import annotations

import json
import random

from preflight.collective.progress import srun_lines
from preflight.gather_srun import BEGIN, END, read_frames, srun_said
from preflight.srun import by_task, json_objects, srun_argv

CHUNK = 1024


def srun_label(outputs: dict[int, str], seed: int = 1) -> str:
    """What real srun --label prints for these task outputs: each task's output in pieces
    of at most 1,024 bytes (a piece ends at a newline or at the limit), every piece on its
    own line behind a padded label, the tasks' pieces interleaved."""
    width = len(str(max(outputs)))
    queues = {}
    for task, text in outputs.items():
        pieces = []
        while text:
            cut = text.find("\n", 0, CHUNK)
            cut = CHUNK if cut < 0 else cut + 1
            pieces.append(text[:cut].rstrip("\n"))
            text = text[cut:]
        queues[task] = pieces
    rng, lines = random.Random(seed), []
    while any(queues.values()):
        task = rng.choice([t for t, q in queues.items() if q])
        lines.append(f"{task:>{width}}: {queues[task].pop(0)}")
    return "\n".join(lines) + "\n"


def test_srun_argv_is_one_task_per_node_under_a_time_limit() -> None:
    assert srun_argv(["a", "b"], ["hostname"], timeout_s=61, label=True,
                     extra=("--overlap",)) == [
        "srun", "--nodes=2", "--ntasks=2", "--ntasks-per-node=1", "--nodelist=a,b",
        "--kill-on-bad-exit=0", "--cpu-bind=none", "--time=2", "--label", "--overlap",
        "hostname"]
    assert "--kill-on-bad-exit=1" in srun_argv(["a"], ["x"], timeout_s=1, kill_on_bad_exit=True)


def test_long_lines_split_and_interleaved_come_back_whole_per_task() -> None:
    records = {t: {"node": f"n{t}", "step": "sweep", "pad": "x" * (3000 + t)} for t in range(12)}
    text = srun_label({t: json.dumps(r) + "\n" for t, r in records.items()})
    assert max(len(line) for line in text.splitlines()) <= CHUNK + 4
    assert {t: json_objects("".join(p)) for t, p in by_task(text).items()} == {
        t: [r] for t, r in records.items()}
    assert sorted(r["node"] for r in srun_lines(text)) == sorted(f"n{t}" for t in range(12))


def test_json_objects_skips_what_lies_between() -> None:
    assert json_objects('warn: {"a": 1}{"b": {"c": 2}} junk {bad {"d": 3}') == [
        {"a": 1}, {"b": {"c": 2}}, {"d": 3}]


def _frame(node: str, payload: str, rc: int = 0, end: bool = True) -> str:
    return f"{BEGIN}{node}\n{payload}\n\n" + (f"{END}{rc}\n" if end else "")


def test_frames_per_node_and_a_bad_task_is_an_error_naming_its_node() -> None:
    facts = {"hostname": "node-1", "pad": "y" * 5000, "time": 1.0}
    stdout = srun_label({
        0: _frame("node-1", json.dumps(facts)),
        1: _frame("node-2", json.dumps(facts)[:2500], end=False),   # half a line, then gone
        2: _frame("node-3", "Segmentation fault", rc=139),          # garbage
        3: _frame("node-4", ""),                                    # nothing at all
    })
    stderr = srun_label({2: "core dumped\n"})
    found = read_frames(stdout, stderr, "python3", 1.0)
    assert found["node-1"].facts == facts
    assert found["node-2"].error is not None and found["node-2"].error.kind == "probe-truncated"
    assert "from node-2 stopped after 2500 bytes" in found["node-2"].error.detail
    assert found["node-3"].error is not None and found["node-3"].error.kind == "probe-failed"
    assert found["node-3"].error.detail.startswith("probe exit 139, no JSON: core dumped")
    assert found["node-4"].error is not None and found["node-4"].error.kind == "probe-failed"


def test_a_node_srun_could_not_start_is_named_by_srun_s_own_line() -> None:
    stderr = ("srun: error: Task launch for StepId=7.0 failed on node node-10: "
              "Communication connection failure\n"
              "srun: error: Application launch failed: Communication connection failure\n")
    why = srun_said(stderr, False, 1, 60)
    assert why("node-10").startswith("srun: error: Task launch for StepId=7.0 failed on node "
                                     "node-10:")
    assert why("node-1") == ("srun: error: Application launch failed: Communication "
                             "connection failure")
    assert srun_said("", True, None, 60)("node-2") == "srun did not finish within 60 s"
