"""The evaluation gate (pure), the pinned evaluation set, and exports keeping it out of training."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from redraft.backend.drafting import Drafter
from redraft.backend.versions import ActiveModel
from redraft.cli.main import cli
from redraft.evaluation.evalset import (
    EvalSet,
    EvalSetError,
    grown,
    load_evalset,
    pin,
    pinned_ids,
)
from redraft.evaluation.faults import draft_fault
from redraft.evaluation.gate import EvalItem, Outcome, describe, judge, outcome
from redraft.exporters.split import EvalHoldout, plan_split
from redraft.settings import Settings
from redraft.standin import FaultRule, StandinServer
from redraft.training.errors import ExportFolderError
from redraft.training.migration import openai_sft_row
from redraft.training.registry import ModelVersion, Registry
from tests.fixtures.evaluation import pinned_export

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
    assert outcome(ITEM, None, error="cannot connect to the model endpoint") == Outcome(
        None, 1.0, False, "no draft: cannot connect to the model endpoint"
    )


def pairs(candidate: list[float], against: list[float]) -> list[tuple[Outcome, Outcome]]:
    return [
        (Outcome("c", c, c == 0), Outcome("a", a, a == 0))
        for c, a in zip(candidate, against, strict=True)
    ]


def test_the_gate_refuses_only_a_clearly_worse_candidate() -> None:
    items = [EvalItem(i, "Acme" if i % 2 else "Globex", {}, "f") for i in range(6)]
    worse = judge("v2", "v1", items, pairs([0.5, 0.6, 0.55, 0.5, 0.6, 0.55], [0.1] * 6), minimum=6)
    assert (worse.clearly_worse, worse.passed) == (True, False)
    assert describe(worse)[-1] == (
        "verdict: v2 is clearly worse than v1 — its drafts need more editing by more than 5 "
        "points with 95% confidence; promote refuses it (--force overrides)"
    )
    # Worse on average but within noise: the proxy favours v1, so the gate lets it through.
    noisy = judge("v2", "v1", items, pairs([0.3, 0.0, 0.4, 0.1, 0.2, 0.0], [0.1] * 6), minimum=6)
    assert (noisy.clearly_worse, noisy.overall.difference.low is not None) == (False, True)
    assert describe(noisy)[-1] == (
        "verdict: v2 passes the gate — it is not clearly worse than v1 (margin 5 points)"
    )
    better = judge("v2", "v1", items, pairs([0.0] * 6, [0.3, 0.2, 0.25, 0.3, 0.2, 0.25]), minimum=6)
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
    later = plan_split([task(i) for i in range(1, 101)], 0.1, EvalHoldout(pinned))
    assert 1 in later.validation_ids
    assert later.planned == {"Acme": {"tasks": 100, "validation": 11, "pinned": 1}}


def test_a_damaged_evaluation_set_names_the_fix(tmp_path: Path) -> None:
    (tmp_path / "evalsets").mkdir()
    (tmp_path / "evalsets" / "project-3.json").write_text("{")
    with pytest.raises(EvalSetError) as error:
        pinned_ids(tmp_path, 3)
    assert str(error.value) == (
        f"project 3's evaluation set {tmp_path / 'evalsets' / 'project-3.json'} is damaged — "
        "restore it from a backup, or delete it and run `redraft export --project 3` to pin a "
        "new one (verdicts before and after will not compare)"
    )


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


DATA = {"brief": "Invite Maria at Acme to the analytics pilot next week", "recipient": "Maria"}
SENT = "Hi Maria,\n\nWould Acme join the analytics pilot next week?\n\nBest,\nPriya"


def test_a_draft_stopped_at_max_tokens_is_cut_off(
    settings: Settings, standin: StandinServer
) -> None:
    drafter = Drafter(settings.with_overrides(openai_base_url=standin.base_url, max_tokens=12))
    try:
        [short] = drafter.draft_many([{"id": 1, "data": DATA}], ActiveModel("m", "gpt-4o-mini"))
    finally:
        drafter.close()
    assert (short.text, short.truncated) == (
        "Subject: An easier way to handle Invite Maria at Acme\n\nHi",
        True,
    )
    # Its last line is as short as a sign-off; the drafter's flag says it is cut off.
    assert draft_fault(short.text, DATA, SENT) is None
    assert draft_fault(short.text, DATA, SENT, truncated=True) == "cut off"


@pytest.mark.parametrize(
    ("draft", "error", "kind", "final", "fault"),
    [
        (SENT, None, None, SENT, None),
        (None, "the model returned an empty answer", "empty", SENT, "empty"),
        ("  \n", None, None, SENT, "empty"),
        (
            None,
            "model 'v2' not found at the endpoint (HTTP 404)",
            "http_error",
            SENT,
            "no draft: model 'v2' not found at the endpoint (HTTP 404)",
        ),
        # Stopped at the token limit: the last sentence runs on and never ends.
        (
            "Hi Maria,\n\nWould Acme join the analytics pilot we are running with",
            None,
            None,
            SENT,
            "cut off",
        ),
        # ... unless the writers' own email ends the same way (a long unpunctuated sign-off).
        (
            "Hi Maria, join the analytics pilot.\nPriya Shah, Head of Growth at Acme",
            None,
            None,
            "Hi Maria, join us.\nPriya Shah, Head of Growth at Acme",
            None,
        ),
        ("Hi Maria, join the pilot. Best, Priya", None, None, SENT, None),
        (
            "Dear customer,\n\nOur spring sale starts today!\n\nCheers",
            None,
            None,
            SENT,
            "off-brief",
        ),
    ],
)
def test_drafts_that_fail_the_gate_outright(
    draft: str | None, error: str | None, kind: str | None, final: str, fault: str | None
) -> None:
    assert draft_fault(draft, DATA, final, error, kind) == fault


def test_on_two_briefs_a_candidate_that_writes_nothing_is_refused() -> None:
    """The issue's case: every draft empty (100% edit distance vs 77%) "passed the gate"."""
    items = [EvalItem(i, "Acme", DATA, SENT) for i in (11, 12)]
    active = [
        "Hi Maria,\n\nAcme could join our analytics pilot.\n\nBest,\nPriya",
        "Hello Maria, the analytics pilot starts next week; would Acme like a seat? Priya",
    ]
    empty = outcome(items[0], None, error="the model returned an empty answer", error_kind="empty")
    pairs = [(empty, outcome(item, text)) for item, text in zip(items, active, strict=True)]
    verdict = judge("v2", "v1", items, pairs)
    assert (verdict.clearly_worse, verdict.state, verdict.passed) == (False, "faulty", False)
    assert verdict.faults == [(11, "empty"), (12, "empty")]
    assert verdict.refusal() == (
        "2 of its drafts are faulty (2 empty; first: task 11, empty) where v1's are not, so v2 "
        "fails the gate outright"
    )
    assert describe(verdict) == [
        "2 pinned evaluation briefs; drafts compared with the emails the writers sent",
        "  edit distance  v2: 100.0%   v1: 47.6%   difference +52.4 points "
        "(95% CI -104.6 to +209.3 points)",
        "  accepted as is v2: 0.0%   v1: 0.0%",
        "  faulty drafts (empty, cut off, off-brief, none): v2 2, v1 0",
        "  Acme (2): 100.0% vs 47.6%, difference +52.4 points (95% CI -104.6 to +209.3 points)",
        "verdict: v2 fails the gate — 2 of its drafts are faulty (2 empty; first: task 11, "
        "empty) where v1's are not; promote refuses it (--force overrides)",
    ]
    # Without faults, two briefs are still too few for a verdict.
    healthy = [
        (outcome(item, SENT), outcome(item, text)) for item, text in zip(items, active, strict=True)
    ]
    unsure = judge("v2", "v1", items, healthy)
    assert (unsure.state, unsure.refusal()) == (
        "too few",
        "the gate cannot judge v2 on 2 briefs: it needs 10 for a verdict",
    )
    assert describe(unsure)[-1] == (
        "verdict: none — the gate needs 10 briefs to judge v2 and has 2; promote refuses it "
        "(--force overrides)"
    )


def test_a_fault_both_versions_share_decides_nothing() -> None:
    items = [EvalItem(i, "Acme", DATA, SENT) for i in range(10)]
    cut = "Hi Maria,\n\nWould Acme join the analytics pilot we are running with"
    pairs = [(outcome(item, cut), outcome(item, cut)) for item in items]
    verdict = judge("v2", "v1", items, pairs)
    assert (verdict.faults, verdict.state, verdict.overall.candidate_faulty) == ([], "passed", 10)


def test_an_export_holds_out_the_briefs_evalset_grow_asked_for() -> None:
    def task(task_id: int, client: str) -> dict[str, object]:
        return {
            "id": task_id,
            "data": {"brief": "B", "client": client},
            "annotations": [{"result": []}],
        }

    tasks = [task(i, "Acme") for i in range(1, 9)] + [task(9, "Globex"), task(10, "Globex")]
    assert plan_split(tasks, 0.1).validation_ids == {7, 10}  # the ratio's share
    # Task 1 is pinned; tasks 2-5 were trained on by earlier exports; 4 more asked for. Only
    # Acme's 6 and 8 qualify: Globex's 9 is its last task in training.
    plan = plan_split(tasks, 0.1, EvalHoldout(frozenset({1}), 4, frozenset({2, 3, 4, 5})))
    assert (plan.validation_ids, plan.held_out) == ({1, 6, 7, 8, 10}, {6, 8})
    assert plan.planned == {
        "Acme": {"tasks": 8, "validation": 4, "pinned": 1, "held_out": 2},
        "Globex": {"tasks": 2, "validation": 1},
    }


def test_the_set_grows_with_exports_from_briefs_never_trained_on() -> None:
    first, added = grown(None, 3, frozenset({1, 2}), frozenset({3, 4, 5, 6}), "t1")
    assert (first, added) == (
        EvalSet(3, frozenset({1, 2}), frozenset({3, 4, 5, 6}), 0, "t1", "t1"),
        frozenset({1, 2}),
    )
    # The next export's validation: the pinned 1 and 2, task 4 (trained on by the first
    # export: never pinned) and the new 7 and 8.
    second, added = grown(first, 3, frozenset({1, 2, 4, 7, 8}), frozenset({3, 5, 6, 9}), "t2")
    assert (second, added) == (
        EvalSet(3, frozenset({1, 2, 7, 8}), frozenset({3, 4, 5, 6, 9}), 0, "t1", "t2"),
        frozenset({7, 8}),
    )
    # At the target it stops growing by itself; `--grow` goes past it.
    full, added = grown(second, 3, frozenset(range(1, 20)) - {3, 4, 5, 6, 9}, frozenset(), "t3",
                        target=5)  # fmt: skip
    assert (len(full.task_ids), len(added)) == (5, 1)
    asked = EvalSet(3, full.task_ids, full.trained_ids, 2)
    more, added = grown(asked, 3, frozenset(range(1, 20)) - {3, 4, 5, 6, 9}, frozenset(), "t4",
                        target=5)  # fmt: skip
    assert (len(more.task_ids), len(added), more.grow) == (7, 2, 0)
    # A set pinned before exports remembered what they trained on: it cannot grow safely yet.
    old = EvalSet(3, frozenset({1, 2}), None)
    kept, added = grown(old, 3, frozenset({1, 2, 7}), frozenset({3, 8}), "t5")
    assert (kept.task_ids, kept.trained_ids, added) == ({1, 2}, {3, 8}, frozenset())


def _env(settings: Settings, **more: str) -> dict[str, str]:
    return {"REDRAFT_HOME": str(settings.home), "OPENAI_API_KEY": "sk-test", **more}


def test_evalset_shows_the_set_and_grows_it_at_the_next_export(settings: Settings) -> None:
    env = _env(settings)
    missing = CliRunner().invoke(cli, ["evalset", "--project", "1"], env=env)
    path = settings.home / "evalsets" / "project-1.json"
    assert (missing.exit_code, missing.stderr) == (
        1,
        f"error: project 1 has no evaluation set ({path} is missing) — run `redraft export "
        "--project 1` to pin one\n",
    )
    pinned_export(settings, tasks=12, grow=0)  # the first export of 12 tasks pins 2 briefs
    shown = CliRunner().invoke(cli, ["evalset", "--project", "1"], env=env)
    assert shown.exit_code == 0, shown.output
    assert shown.stdout == (
        "7\tGlobex\tInvite Maria at Globex to the analytics pilot, batch 7.\n"
        "12\tAcme\tInvite Maria at Acme to the analytics pilot, batch 12.\n"
    )
    pinned_at = json.loads(path.read_text())["pinned_at"]
    assert shown.stderr == (
        f"project 1's evaluation set: 2 briefs, pinned {pinned_at}; exports trained on 10 other "
        "tasks; the gate needs 10 to judge — `redraft evalset --project 1 --grow 8` holds out 8 "
        "more at the next export\n"
    )
    grow = CliRunner().invoke(cli, ["evalset", "--project", "1", "--grow", "8"], env=env)
    assert (grow.exit_code, grow.stderr) == (
        0,
        "the next `redraft export --project 1` holds out 8 briefs that no export trained on for "
        "project 1's evaluation set (2 briefs now) — annotate at least that many new tasks "
        "first\n",
    )
    # The next export: 12 old tasks (all pinned or trained on) and 12 new ones.
    before = load_evalset(settings.home, 1)
    holdout = before.holdout()
    assert (holdout.pinned, holdout.extra, len(holdout.trained)) == ({7, 12}, 8, 10)
    pinned_export(settings, tasks=24, grow=0, name="e2")
    after = load_evalset(settings.home, 1)
    # 2 + the 8 asked for + 2 new ones from the usual validation share.
    assert (len(after.task_ids), after.grow, after.task_ids > before.task_ids) == (12, 0, True)
    assert not after.task_ids & before.trained_ids  # never a brief some version trained on


def _versions(settings: Settings) -> Registry:
    """The default version drafts with the base model; two candidates for project 1."""
    registry = Registry(settings.registry_path)
    registry.add(ModelVersion(name="base", model_id="gpt-4o-mini"))
    registry.promote("base")
    registry.add(ModelVersion(name="junk", model_id="gpt-4.1-mini", projects=(1,)))
    registry.add(ModelVersion(name="good", model_id="gpt-4o-2024-08-06", projects=(1,)))
    return registry


def test_models_promote_refuses_a_candidate_that_writes_nothing(
    settings: Settings, standin: StandinServer
) -> None:
    standin.add_fault(FaultRule("empty", model="gpt-4.1-mini"))  # junk answers "" every time
    pinned_export(settings)  # 14 pinned briefs
    registry = _versions(settings)
    env = _env(settings, OPENAI_BASE_URL=standin.base_url)

    refused = CliRunner().invoke(cli, ["models", "promote", "junk"], env=env)
    assert refused.exit_code == 1
    lines = refused.stderr.splitlines()
    assert lines[0] == "drafting 14 briefs from project 1's pinned set (e1) with junk and base"
    assert lines[-2:] == [
        "verdict: junk fails the gate — 14 of its drafts are faulty (14 empty; first: task 1, "
        "empty) where base's are not; promote refuses it (--force overrides)",
        "error: not promoted: 14 of its drafts are faulty (14 empty; first: task 1, empty) where "
        "base's are not, so junk fails the gate outright — check what its endpoint answers "
        "(`redraft eval` shows the faulty drafts), or `redraft models promote junk --project 1 "
        "--force`",
    ]
    assert (registry.active(1).name, registry.get("junk").status) == ("base", "candidate")  # type: ignore[union-attr]

    # The same gate says yes to a candidate that drafts every brief.
    promoted = CliRunner().invoke(cli, ["models", "promote", "good"], env=env)
    assert promoted.exit_code == 0, promoted.output
    assert promoted.stderr.splitlines()[-2:] == [
        "verdict: good passes the gate — it is not clearly worse than base (margin 5 points)",
        "promoted good (gpt-4o-2024-08-06) for project 1; replaced base",
    ]


def test_the_gate_fails_closed_without_a_readable_set(
    settings: Settings, standin: StandinServer
) -> None:
    _versions(settings)
    env = _env(settings, OPENAI_BASE_URL=standin.base_url)
    nothing = CliRunner().invoke(cli, ["models", "promote", "good"], env=env)
    assert (nothing.exit_code, nothing.stderr) == (
        1,
        f"error: not promoted: the evaluation gate cannot judge good: no export of project 1 in "
        f"{settings.exports_dir} yet — run `redraft export` first; or `redraft models promote "
        "good --project 1 --force`\n",
    )
    pinned_export(settings, tasks=12, grow=0)
    few = CliRunner().invoke(cli, ["models", "promote", "good"], env=env)
    assert few.exit_code == 1
    assert few.stderr.splitlines()[-2:] == [
        "verdict: none — the gate needs 10 briefs to judge good and has 2; promote refuses it "
        "(--force overrides)",
        "error: not promoted: the gate cannot judge good on 2 briefs: it needs 10 for a verdict "
        "— grow project 1's set: `redraft evalset --project 1 --grow 8`, annotate at least 8 "
        "more tasks, `redraft export --project 1`, or `redraft models promote good --project 1 "
        "--force`",
    ]
    path = settings.home / "evalsets" / "project-1.json"
    path.write_text('{"project_id": 1, "task_ids": [7, "twelve"]}')
    damaged = CliRunner().invoke(cli, ["models", "promote", "good"], env=env)
    assert (damaged.exit_code, damaged.stderr) == (
        1,
        f"error: not promoted: the evaluation gate cannot judge good: project 1's evaluation "
        f"set {path} is damaged — restore it from a backup, or delete it and run `redraft export "
        "--project 1` to pin a new one (verdicts before and after will not compare); or `redraft "
        "models promote good --project 1 --force`\n",
    )
    path.unlink()
    missing = CliRunner().invoke(cli, ["models", "promote", "good"], env=env)
    assert missing.stderr == (
        f"error: not promoted: the evaluation gate cannot judge good: project 1 has no "
        f"evaluation set ({path} is missing) — run `redraft export --project 1` to pin one; or "
        "`redraft models promote good --project 1 --force`\n"
    )
    forced = CliRunner().invoke(cli, ["models", "promote", "good", "--force"], env=env)
    assert (forced.exit_code, forced.stderr.splitlines()) == (
        0,
        [
            f"evaluation gate: project 1 has no evaluation set ({path} is missing) — run "
            "`redraft export --project 1` to pin one",
            "--force: promoting good without a verdict",
            "promoted good (gpt-4o-2024-08-06) for project 1; replaced base",
        ],
    )
