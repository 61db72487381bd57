"""The train/validation split: stratified by client, decided by task id, flagged when empty."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from redraft.cli.main import cli
from redraft.exporters.pipeline import ExportOptions, run_export
from redraft.exporters.split import SplitPlan, plan_split, task_hash, validation_count
from redraft.exporters.tokens import TokenCounter
from redraft.prompting import PromptTemplate
from tests.fixtures.exports import annotation, prediction, read_jsonl, task, write_json

CHARS = TokenCounter(count_text=len, encoding="chars", exact=False)
FINAL = "Hi Ada, could I show you the CRM cleanup in a 20-minute demo on Thursday?"


def rewritten(tid: int, client: str) -> dict[str, Any]:
    """A task whose draft was rewritten: SFT, DPO and KTO rows."""
    return task(
        tid,
        brief=f"Brief {tid}",
        client=client,
        predictions=[prediction(tid, "Hi, demo?")],
        annotations=[annotation(tid, final=f"{FINAL} ({tid})", score=2, parent=tid)],
    )


def accepted(tid: int, client: str) -> dict[str, Any]:
    """A task whose draft was sent as is: SFT and KTO rows, no pair."""
    return task(
        tid,
        brief=f"Brief {tid}",
        client=client,
        predictions=[prediction(tid, "Hi, demo?")],
        annotations=[annotation(tid, final="Hi, demo?", score=5, parent=tid)],
    )


def by_hash(ids: list[int]) -> list[int]:
    return sorted(ids, key=task_hash)


def test_validation_count() -> None:
    counts = [validation_count(n, 0.1) for n in (0, 1, 2, 3, 10, 14, 15, 100)]
    assert counts == [0, 0, 1, 1, 1, 1, 2, 10]
    assert [validation_count(n, 0.9) for n in (2, 3, 10)] == [1, 2, 9]
    assert validation_count(50, 0.0) == 0


def test_every_client_with_two_tasks_gets_validation() -> None:
    sizes = {"Acme": 2, "Globex": 3, "Initech": 1, "Umbrella": 40}
    tasks, tid = [], 0
    for client, size in sizes.items():
        for _ in range(size):
            tid += 1
            tasks.append(rewritten(tid, client))
    plan = plan_split(tasks, 0.1)
    assert plan.planned == {
        "Acme": {"tasks": 2, "validation": 1},
        "Globex": {"tasks": 3, "validation": 1},
        "Initech": {"tasks": 1, "validation": 0},
        "Umbrella": {"tasks": 40, "validation": 4},
    }
    # Within each client, the tasks with the smallest hashes of their id.
    expected = {by_hash([1, 2])[0], by_hash([3, 4, 5])[0], *by_hash(list(range(7, 47)))[:4]}
    assert plan.validation_ids == frozenset(expected)
    # Decided by the task ids alone: the order tasks arrive in changes nothing.
    shuffled = tasks[:]
    random.Random(3).shuffle(shuffled)
    assert plan_split(shuffled, 0.1) == plan


def test_tasks_that_cannot_yield_rows_are_not_counted() -> None:
    tasks = [
        rewritten(1, "Acme"),
        task(2, client="Acme", annotations=[annotation(2, cancelled=True)]),
        task(3, client="Acme"),
        task(4, brief="", client="Acme", annotations=[annotation(4, final="x")]),
    ]
    assert plan_split(tasks, 0.5) == SplitPlan(
        0.5, frozenset(), {"Acme": {"tasks": 1, "validation": 0}}
    )


@pytest.mark.parametrize("reopenable", [True, False])
def test_a_read_once_source_is_spooled_and_split_the_same(
    tmp_path: Path, export_template: PromptTemplate, reopenable: bool
) -> None:
    tasks = [rewritten(i, "Acme" if i % 2 else "Globex") for i in range(1, 21)]
    source: Any = (lambda: iter(tasks)) if reopenable else iter(tasks)
    manifest = run_export(
        source, tmp_path / "out", export_template, CHARS, ExportOptions(validation_ratio=0.2), {}
    )
    validation = {
        int(r["messages"][1]["content"].removeprefix("Brief: Brief "))
        for r in read_jsonl(tmp_path / "out" / "openai_sft.validation.jsonl")
    }
    odd, even = list(range(1, 21, 2)), list(range(2, 21, 2))
    assert validation == {*by_hash(odd)[:2], *by_hash(even)[:2]}
    assert manifest.split["by_client"] == {
        "Acme": {"train": 8, "validation": 2},
        "Globex": {"train": 8, "validation": 2},
    }


def run(args: list[str], home: Path) -> Result:
    env = {"REDRAFT_HOME": str(home), "OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": ""}
    return CliRunner().invoke(cli, args, env=env, catch_exceptions=False)


def export(source: Path, template_file: Path, out: Path, home: Path) -> dict[str, Any]:
    args = ["export", "--from-file", str(source), "--template", str(template_file), "-o", str(out)]
    result = run(args, home)
    assert result.exit_code == 0, result.output
    return {"manifest": json.loads((out / "manifest.json").read_text()), "stderr": result.stderr}


def test_small_clients_each_get_a_validation_task(
    tmp_path: Path, template_file: Path, redraft_home: Path
) -> None:
    source = write_json(
        tmp_path / "t.json", [rewritten(i, "Acme" if i <= 2 else "Globex") for i in range(1, 5)]
    )
    manifest = export(source, template_file, tmp_path / "out", redraft_home)["manifest"]
    assert manifest["split"] == {
        "validation_ratio": 0.1,
        "method": "stratified by client: each client's tasks ranked by a hash of the task id",
        "planned": {
            "Acme": {"tasks": 2, "validation": 1},
            "Globex": {"tasks": 2, "validation": 1},
        },
        "validation_task_ids": sorted([min([1, 2], key=task_hash), min([3, 4], key=task_hash)]),
        "by_client": {
            "Acme": {"train": 1, "validation": 1},
            "Globex": {"train": 1, "validation": 1},
        },
        "warnings": [],
    }


def test_an_empty_validation_file_is_a_warning(
    tmp_path: Path, template_file: Path, redraft_home: Path
) -> None:
    # Acme's validation task is accepted as is, so it yields no preference pair.
    first, second = by_hash([1, 2])
    source = write_json(tmp_path / "t.json", [accepted(first, "Acme"), rewritten(second, "Acme")])
    done = export(source, template_file, tmp_path / "out", redraft_home)
    manifest = done["manifest"]
    warning = (
        "openai_dpo.validation.jsonl: no rows although --validation-ratio is 0.1"
        " — training runs without a validation loss"
    )
    assert manifest["datasets"]["openai_dpo"]["warnings"] == [warning]
    assert manifest["datasets"]["openai_sft"]["warnings"] == []
    assert manifest["warnings"] == [
        warning,
        warning.replace("openai_dpo", "trl_dpo"),
    ]
    assert f"  {warning}" in done["stderr"].splitlines()
    assert done["stderr"].splitlines()[-1].endswith("NOT ready with 2 warnings (see manifest.json)")


def test_a_client_whose_validation_task_was_rejected_is_flagged(
    tmp_path: Path, template_file: Path, redraft_home: Path
) -> None:
    first, *rest = by_hash([1, 2, 3])
    no_final = task(first, client="Acme", annotations=[annotation(first, score=3)])
    source = write_json(tmp_path / "t.json", [no_final, *(rewritten(t, "Acme") for t in rest)])
    manifest = export(source, template_file, tmp_path / "out", redraft_home)["manifest"]
    assert manifest["split"]["by_client"] == {"Acme": {"train": 2}}
    assert manifest["split"]["warnings"] == ["client 'Acme': 2 tasks exported, none in validation"]
