"""The evaluation gate (pure), the pinned evaluation set, and exports keeping it out of training."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from redraft.cli.main import cli
from redraft.evaluation.evalset import EvalSetError, pin, pinned_ids
from redraft.evaluation.gate import EvalItem, Outcome, describe, judge, outcome
from redraft.exporters.split import plan_split
from redraft.settings import Settings
from redraft.training.errors import ExportFolderError
from redraft.training.migration import openai_sft_row

ITEM = EvalItem(1, "Acme", {"brief": "b"}, "Hi Ann,\nSee you Monday.\nBest, Bo")


def test_outcome_scores_a_draft_against_the_final_the_writer_sends() -> None:
    assert outcome(ITEM, "Hi Ann,  See you Monday. Best, Bo") == Outcome(
        "Hi Ann,  See you Monday. Best, Bo", 0.0, True
    )
    assert outcome(ITEM, "Hi Ann, See you Tuesday. Best, Bo") == Outcome(
        "Hi Ann, See you Tuesday. Best, Bo", 4 / 33, False
    )
    # A writer function instead of the sent email: the cost is the edit of this very draft.
    assert outcome(ITEM, "Hey", lambda item, draft: draft + "!") == Outcome("Hey", 0.25, False)
    assert outcome(ITEM, None) == Outcome(None, 1.0, False)


def pairs(candidate: list[float], against: list[float]) -> list[tuple[Outcome, Outcome]]:
    return [
        (Outcome("c", c, c == 0), Outcome("a", a, a == 0))
        for c, a in zip(candidate, against, strict=True)
    ]


def test_the_gate_refuses_only_a_clearly_worse_candidate() -> None:
    items = [EvalItem(i, "Acme" if i % 2 else "Globex", {}, "f") for i in range(6)]
    worse = judge("v2", "v1", items, pairs([0.5, 0.6, 0.55, 0.5, 0.6, 0.55], [0.1] * 6))
    assert (worse.clearly_worse, worse.passed) == (True, False)
    assert describe(worse)[-1] == (
        "verdict: v2 is clearly worse than v1 — its drafts need more editing by more than 5 "
        "points with 95% confidence; promote refuses it (--force overrides)"
    )
    # Worse on average but within noise: the proxy favours v1, so the gate lets it through.
    noisy = judge("v2", "v1", items, pairs([0.3, 0.0, 0.4, 0.1, 0.2, 0.0], [0.1] * 6))
    assert (noisy.clearly_worse, noisy.overall.difference.low is not None) == (False, True)
    assert describe(noisy)[-1] == (
        "verdict: v2 passes the gate — it is not clearly worse than v1 (margin 5 points)"
    )
    better = judge("v2", "v1", items, pairs([0.0] * 6, [0.3, 0.2, 0.25, 0.3, 0.2, 0.25]))
    lines = describe(better)
    assert lines[:3] == [
        "6 pinned evaluation briefs; drafts compared with the emails the writers sent",
        "  edit distance  v2: 0.0%   v1: 25.0%   difference -25.0 points "
        "(95% CI -29.7 to -20.3 points)",
        "  accepted as is v2: 100.0%   v1: 0.0%",
    ]
    assert [c.label for c in better.clients] == ["Acme", "Globex"]
    assert lines[-1].startswith("verdict: v2 passes the gate — it is closer to what the writers")


def test_a_pinned_set_stays_in_validation_as_the_project_grows(tmp_path: Path) -> None:
    def task(task_id: int) -> dict[str, object]:
        return {
            "id": task_id,
            "data": {"brief": "B", "client": "Acme"},
            "annotations": [{"result": []}],
        }

    first = plan_split([task(1), task(2)], 0.1)
    assert first.validation_ids == {1}
    pinned = pin(tmp_path, 7, first.validation_ids)
    assert pinned_ids(tmp_path, 7) == pinned and pinned_ids(tmp_path, 8) is None
    # With 100 tasks, task 1's hash ranks 29th: the ranked split alone would now train on it.
    assert 1 not in plan_split([task(i) for i in range(1, 101)], 0.1).validation_ids
    grown = plan_split([task(i) for i in range(1, 101)], 0.1, pinned)
    assert 1 in grown.validation_ids
    assert grown.planned == {"Acme": {"tasks": 100, "validation": 11, "pinned": 1}}


def test_a_damaged_evaluation_set_names_the_fix(tmp_path: Path) -> None:
    (tmp_path / "evalsets").mkdir()
    (tmp_path / "evalsets" / "project-3.json").write_text("{")
    with pytest.raises(EvalSetError, match="damaged — delete it"):
        pinned_ids(tmp_path, 3)


def test_eval_without_an_export_is_one_clear_line(settings: Settings) -> None:
    env = {"REDRAFT_HOME": str(settings.home), "OPENAI_API_KEY": "sk-test"}
    unknown = CliRunner().invoke(cli, ["eval", "v1"], env=env)
    assert unknown.exit_code == 1
    assert unknown.stderr == (
        "error: no model version named 'v1' (known: none yet) — see `redraft models list`\n"
    )
    CliRunner().invoke(cli, ["models", "add", "v1", "--model-id", "m"], env=env)
    result = CliRunner().invoke(cli, ["eval", "v1"], env=env)
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: no export in {settings.exports_dir} yet — run `redraft export` first\n"
    )


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{", "f:3: not JSON — fix or remove the line"),
        ('{"prompt": "x"}', "f:3: no `messages` list — expected OpenAI chat JSONL"),
        (
            json.dumps({"messages": [{"role": "user", "content": "Hi"}]}),
            "f:3: the last message must be the assistant's reply",
        ),
        (
            json.dumps({"messages": [{"role": "tool", "content": "x"}]}),
            "f:3: each message needs a role (system, user, assistant) and text content",
        ),
    ],
)
def test_old_openai_training_rows_are_checked(line: str, message: str) -> None:
    with pytest.raises(ExportFolderError) as error:
        openai_sft_row(line, "f:3")
    assert str(error.value) == message
