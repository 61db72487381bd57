"""Blind A/B, pure parts: balanced seeded sides, the tally by task, the sentence, the export."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime

import pytest

from redraft.exporters.pipeline import ExportError
from redraft.exporters.rows import FORMATS
from redraft.exporters.tokens import load_counter
from redraft.prompting import parse_template
from redraft.report.ab import (
    ABResult,
    assign_sides,
    build_ab_tasks,
    preference_of,
    tally,
)
from redraft.report.ab_export import write_ab_export
from redraft.training.exportdir import load_export
from tests.fixtures.common import REDRAFT, clean_env

TEMPLATE = parse_template('system = "Be brief."\nuser = "{brief}"')


def _vote(choice: str, cancelled: bool = False) -> dict:
    return {
        "was_cancelled": cancelled,
        "result": [{"from_name": "preference", "type": "choices", "value": {"choices": [choice]}}],
    }


def test_sides_are_balanced_and_seeded():
    ids = [f"p{i}" for i in range(10)]
    sides = assign_sides(ids, seed=3)
    assert sorted(sides.values()).count("a") == 5
    assert assign_sides(ids, seed=3) == sides
    assert assign_sides(ids, seed=4) != sides


def test_tasks_hide_the_versions_and_the_sidecar_maps_them():
    briefs = [{"brief": f"Brief {i}", "client": "Acme", "left": "stale"} for i in range(4)]
    tasks, sidecar = build_ab_tasks(
        briefs, [f"A{i}" for i in range(4)], [f"B{i}" for i in range(4)], "v1", "v2", seed=1
    )
    assert tasks[0] == {
        "data": {
            "brief": "Brief 0",
            "client": "Acme",
            "left": "B0",
            "right": "A0",
            "pair_id": "ab-0001",
        }
    }
    assert sidecar == {
        "version_a": "v1",
        "version_b": "v2",
        "seed": 1,
        "pairs": {
            "ab-0001": {"left": "v2", "right": "v1"},
            "ab-0002": {"left": "v1", "right": "v2"},
            "ab-0003": {"left": "v1", "right": "v2"},
            "ab-0004": {"left": "v2", "right": "v1"},
        },
    }
    for task in tasks:
        assert "v1" not in str(task) and "v2" not in str(task)


@pytest.mark.parametrize(
    ("annotation", "expected"),
    [
        (_vote("left"), "left"),
        (_vote("Right is better"), "right"),
        (_vote("tie"), "tie"),
        (_vote("About the same"), "tie"),
        (_vote("left", cancelled=True), None),
        ({"result": []}, None),
    ],
)
def test_preference_of(annotation, expected):
    assert preference_of(annotation) == expected


def _four_pairs():
    """Four A/B tasks (v1 vs v2, seed 1) and their sidecar: pairs 1 and 4 have v2 on the left."""
    return build_ab_tasks(
        [{"brief": f"Brief {i}"} for i in range(4)],
        [f"A{i}" for i in range(4)],
        [f"B{i}" for i in range(4)],
        "v1",
        "v2",
        seed=1,
    )


def _ab_tasks():
    tasks, sidecar = _four_pairs()
    # Sides from the sidecar above: pair 1 and 4 have v2 on the left.
    votes = [
        [_vote("left"), _vote("left")],  # ab-0001: v2 twice -> decided for v2
        [_vote("right")],  # ab-0002: v2 (right) -> decided for v2
        [_vote("left"), _vote("right")],  # ab-0003: v1 once, v2 once -> split, not decided
        [_vote("tie"), _vote("left", cancelled=True)],  # ab-0004: a tie; cancelled ignored
    ]
    for i, (task, task_votes) in enumerate(zip(tasks, votes, strict=True), 1):
        task["id"] = 100 + i
        task["annotations"] = task_votes
    tasks.append({"id": 999, "data": {"pair_id": "elsewhere"}, "annotations": [_vote("left")]})
    return tasks, sidecar


def test_tally_counts_tasks_and_decides_pairs():
    tasks, sidecar = _ab_tasks()
    result = tally(tasks, sidecar)
    # Tasks: ab-0001 and ab-0002 won by v2, ab-0003 (1 vote each) and ab-0004 tied, 999 unknown.
    assert (result.wins_a, result.wins_b, result.ties, result.unmatched) == (0, 2, 2, 1)
    assert (result.judgments, result.tied_tasks) == (6, [103, 104])
    assert [
        (p["pair_id"], p["winner"], p["chosen"], p["rejected"]) for p in result.decided_pairs
    ] == [
        ("ab-0001", "v2", "B0", "A0"),
        ("ab-0002", "v2", "B1", "A1"),
    ]
    # Wilson(2, 2): z^2 = 3.841459, centre (1 + 0.960365) / 2.920730 = 0.671191,
    # half 0.671052 * sqrt(3.841459 / 16) = 0.328806 -> 0.342385 .. 1
    rate = result.win_rate_b
    assert (rate.value, round(rate.low, 4), round(rate.high, 4)) == (1.0, 0.3424, 1.0)
    # Ties as half: (2 + 1) / 4 = 0.75; sign test: P(X = 0 or X = 2 | n=2) = 2/4
    assert result.win_rate_b_ties_half == 0.75
    assert result.p_value == 0.5
    assert result.sentence() == (
        "no significant preference between v2 and v1: v2 won 2 of 2 decided tasks "
        "(100%, 95% CI 34%-100%; 2 ties left out, 75% counting ties as half; p=0.50)"
    )


def test_several_judgments_of_one_task_count_once():
    tasks, sidecar = _four_pairs()
    v2_side = ["left", "right", "right", "left"]  # from the sidecar (pairs 1 and 4: v2 left)
    for i, task in enumerate(tasks[:3]):
        task["id"] = 200 + i
        task["annotations"] = [_vote(v2_side[i])] * 5  # five annotators agree on v2
    tasks[2]["annotations"] = [*tasks[2]["annotations"][:2], _vote("left"), _vote("tie")]
    result = tally(tasks, sidecar)
    # 14 judgments but 3 tasks (ab-0003: v2 2 votes, v1 1, tie 1 -> v2): n = 3, not 14.
    assert (result.wins_a, result.wins_b, result.ties, result.judgments) == (0, 3, 0, 14)
    assert result.win_rate_b.n == 3
    # Sign test on 3 tasks: 2 * (1/2)^3 = 0.25 (on 13 decided judgments it would be p<0.001).
    assert result.p_value == 0.25


def test_a_clear_winner_is_named():
    result = ABResult("v1", "v2", wins_a=3, wins_b=17, ties=4)
    # Binomial two-sided P(X <= 3 or X >= 17 | n=20) = 2 * 1351 / 2^20 = 0.002577
    assert result.sentence() == (
        "v2 beat v1 in 17 of 20 decided tasks "
        "(85%, 95% CI 64%-95%; 4 ties left out, 79% counting ties as half; p=0.0026)"
    )
    assert ABResult("v1", "v2", 0, 0, 2).sentence() == (
        "no decided task between v2 and v1 yet (2 ties)"
    )


def _lines(path):
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def test_decided_pairs_become_an_export_folder_train_accepts(tmp_path):
    tasks, sidecar = _ab_tasks()
    out = tmp_path / "ab"
    source = {"kind": "ab", "project_id": 7, "version_a": "v1", "version_b": "v2"}
    stamp = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    manifest = write_ab_export(
        tally(tasks, sidecar), out, TEMPLATE, load_counter(), source, 0.5, now=lambda: stamp
    )
    # split_of(101, None, 0.5) is "train", split_of(102, None, 0.5) "validation".
    prompt = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Brief 0"}]
    assert _lines(out / "trl_dpo.train.jsonl")[0] == {
        "prompt": prompt,
        "chosen": [{"role": "assistant", "content": "B0"}],
        "rejected": [{"role": "assistant", "content": "A0"}],
    }
    assert _lines(out / "openai_dpo.train.jsonl")[0] == {
        "input": {"messages": prompt},
        "preferred_output": [{"role": "assistant", "content": "B0"}],
        "non_preferred_output": [{"role": "assistant", "content": "A0"}],
    }
    assert _lines(out / "trl_sft.train.jsonl")[0] == {
        "messages": [*prompt, {"role": "assistant", "content": "B0"}]
    }
    assert _lines(out / "rejects.jsonl") == [
        {
            "task_id": task_id,
            "annotation_id": None,
            "reason": "judgments tied between the two versions — no preference pair",
            "line": f"task {task_id}: judgments tied between the two versions — no preference "
            "pair — rejected",
        }
        for task_id in (103, 104)
    ]
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f"{n}.{s}.jsonl" for n in FORMATS for s in ("train", "validation")]
        + ["manifest.json", "records.csv", "rejects.jsonl"]
    )
    assert manifest.source == source
    assert manifest.created_at == "2026-01-02T03:04:05Z"
    ours = ("tasks_read", "tasks_exported", "tasks_rejected", "records", "rejects", "cases")
    assert {k: manifest.counts[k] for k in ours} == {
        "tasks_read": 4,
        "tasks_exported": 2,
        "tasks_rejected": 2,
        "records": 0,
        "rejects": 2,
        "cases": {"ab_decided": 2},
    }
    assert manifest.split["by_client"] == {"": {"train": 1, "validation": 1}}
    assert _lines(out / "trl_dpo.validation.jsonl")[0]["chosen"] == [
        {"role": "assistant", "content": "B1"}
    ]
    assert manifest.files["trl_sft.train.jsonl"]["machine_written_lines"] == [1]
    assert {n: (d["train_rows"], d["validation_rows"]) for n, d in manifest.datasets.items()} == {
        "openai_sft": (0, 0),
        "openai_dpo": (1, 1),
        "trl_sft": (1, 1),
        "trl_dpo": (1, 1),
        "trl_kto": (0, 0),
    }
    # One training pair is below the 10-row minimum: written, but not ready to train on.
    assert (manifest.ready, manifest.datasets["openai_dpo"]["problems"]) == (
        False,
        [
            "openai_dpo.train.jsonl: error: 1 example: fine-tuning needs at least 10 — aim "
            "for 50+ for a clear improvement"
        ],
    )
    # redraft train's own folder check accepts it and finds the DPO and SFT files.
    export = load_export(out)
    assert export.template_sha256 == TEMPLATE.sha256
    assert (export.rows("openai_dpo"), export.rows("trl_dpo"), export.rows("trl_sft")) == (1, 1, 1)
    assert export.dataset("openai_dpo") == out / "openai_dpo.train.jsonl"


def test_a_full_ab_export_is_ready_and_needs_an_empty_folder(tmp_path):
    briefs = [{"brief": f"Brief {i}", "client": "Acme"} for i in range(12)]
    tasks, sidecar = build_ab_tasks(
        briefs, [f"A{i}" for i in range(12)], [f"B{i}" for i in range(12)], "v1", "v2", seed=0
    )
    for i, task in enumerate(tasks):
        task["id"] = 300 + i
        v2_left = sidecar["pairs"][task["data"]["pair_id"]]["left"] == "v2"
        task["annotations"] = [_vote("left" if v2_left else "right")]
    out = tmp_path / "ab"
    manifest = write_ab_export(tally(tasks, sidecar), out, TEMPLATE, load_counter(), {}, 0.0)
    assert manifest.ready is True
    assert [manifest.datasets[n]["ready"] for n in ("openai_dpo", "trl_sft", "trl_dpo")] == [
        True,
        True,
        True,
    ]
    assert load_export(out).rows("trl_dpo") == 12
    # The real `redraft train openai --method dpo` plans a job on it (dry run: no upload).
    env = clean_env()
    env["REDRAFT_HOME"] = str(tmp_path / "home")
    planned = subprocess.run(
        [REDRAFT, "train", "openai", str(out), "--method", "dpo", "--dry-run"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert planned.returncode == 0, planned.stderr
    assert "training file openai_dpo.train.jsonl: 12 rows" in planned.stdout.splitlines()
    with pytest.raises(ExportError, match="is not empty — choose a new folder with -o"):
        write_ab_export(tally(tasks, sidecar), out, TEMPLATE, load_counter(), {}, 0.0)
