"""`redraft status`: the loop's stages, exactly one current, and the next step."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from redraft.cli.main import cli
from redraft.settings import Settings
from redraft.training.facts import count_tasks, gather_facts
from redraft.training.registry import ModelVersion, Registry
from redraft.training.stages import STAGES, LoopFacts, Stage, current_stage, next_step, render
from tests.fixtures.training import write_export

READY = {"tasks": 10, "drafted": 10}

CASES = [
    # (facts, stage, next step)
    (
        LoopFacts(tasks=0, drafted=0, annotated_since_training=0, project=3),
        Stage.IMPORTED,
        "`redraft import BRIEFS.csv --project 3`",
    ),
    (
        LoopFacts(tasks=0, project="Acme outreach"),
        Stage.IMPORTED,
        "`redraft import BRIEFS.csv --project 'Acme outreach'`",
    ),
    (
        LoopFacts(),
        Stage.IMPORTED,
        "start Label Studio (or set LABEL_STUDIO_URL), then `redraft import BRIEFS.csv`",
    ),
    (
        LoopFacts(tasks=10, drafted=4, annotated_since_training=0, project=3),
        Stage.DRAFTED,
        "`redraft prefill --project 3` (6 tasks without a draft yet)",
    ),
    (
        LoopFacts(**READY, annotated_since_training=7, threshold=50),
        Stage.ANNOTATED,
        "annotate in Label Studio: 7 of 50 new annotations since the last training "
        "(export earlier with `redraft export`)",
    ),
    (
        LoopFacts(**READY, annotated_since_training=50, threshold=50, active="v1"),
        Stage.READY_TO_EXPORT,
        "`redraft export --project ID`",
    ),
    (
        # The latest export was trained on already: exporting again is the pending step.
        LoopFacts(**READY, annotated_since_training=60, export_dir="/x/e1", active="v1"),
        Stage.READY_TO_EXPORT,
        "`redraft export --project ID`",
    ),
    (
        LoopFacts(**READY, annotated_since_training=50, export_dir="/x/e1", export_is_new=True),
        Stage.READY_TO_TRAIN,
        "`redraft train openai /x/e1` (until 2027-01-06) or "
        "`redraft train trl /x/e1 --base-model PATH_OR_ID`",
    ),
    (
        LoopFacts(**READY, training="v2", training_job="ftjob-9", candidate="v1"),
        Stage.TRAINING,
        "wait for v2 (job ftjob-9): re-run the same `redraft train` command to follow it",
    ),
    (
        LoopFacts(**READY, annotated_since_training=0, candidate="v2", active="v1"),
        Stage.CANDIDATE,
        "check it: `redraft eval v2 --project ID` (or a blind `redraft ab create`), then "
        "`redraft models promote v2 --project ID`",
    ),
    (
        LoopFacts(**READY, annotated_since_training=0, active="v2"),
        Stage.ACTIVE,
        "annotate new drafts in Label Studio; the next training starts from here",
    ),
    (
        # Promoted: open tasks still show the old version's drafts.
        LoopFacts(**READY, annotated_since_training=0, active="v3", undrafted=4, drafting="v3"),
        Stage.DRAFTED,
        "`redraft prefill --project ID` (4 open tasks without a draft from v3)",
    ),
    (
        LoopFacts(active="v2"),
        Stage.ACTIVE,
        "annotate new drafts in Label Studio; the next training starts from here",
    ),
]


@pytest.mark.parametrize(("facts", "stage", "step"), CASES)
def test_every_stage_and_its_next_step(facts: LoopFacts, stage: Stage, step: str) -> None:
    assert current_stage(facts) is stage
    assert next_step(stage, facts) == step


def test_every_stage_is_reachable() -> None:
    assert {stage for _, stage, _ in CASES} == set(STAGES)


def test_render_marks_exactly_one_stage() -> None:
    facts = LoopFacts(tasks=10, drafted=10, annotated_since_training=12, threshold=50, active="v1")
    assert render(facts) == [
        "✓ 1. briefs imported — 10 tasks",
        "✓ 2. drafted — 10 drafted",
        "> 3. annotated since the last training — 12 of 50",
        "  4. ready to export",
        "  5. exported, ready to train",
        "  6. training",
        "  7. candidate awaiting review",
        "  8. active — v1",
        "next: annotate in Label Studio: 12 of 50 new annotations since the last training "
        "(export earlier with `redraft export`)",
    ]


def test_a_trained_export_is_not_the_pending_step() -> None:
    facts = LoopFacts(**READY, annotated_since_training=60, export_dir="/x/e1", active="v1")
    assert render(facts) == [
        "✓ 1. briefs imported — 10 tasks",
        "✓ 2. drafted — 10 drafted",
        "✓ 3. annotated since the last training — 60 of 50",
        "> 4. ready to export",
        "  5. exported, ready to train — latest /x/e1 (already trained on)",
        "  6. training",
        "  7. candidate awaiting review",
        "  8. active — v1",
        "next: `redraft export --project ID`",
    ]


def test_nothing_is_marked_training_unless_a_run_is_under_way() -> None:
    ready = LoopFacts(**READY, annotated_since_training=50, export_dir="/x/e1", export_is_new=True)
    assert render(ready)[3:6] == [
        "✓ 4. ready to export",
        "> 5. exported, ready to train — latest /x/e1",
        "  6. training",
    ]
    running = replace(ready, training="v2", training_job="ftjob-9")
    assert render(running)[3:6] == [
        "✓ 4. ready to export",
        "✓ 5. exported, ready to train — latest /x/e1",
        "> 6. training — v2 (job ftjob-9)",
    ]
    for facts, _stage, _step in CASES:
        marked = [line for line in render(facts) if line.startswith(">")]
        assert len(marked) == 1
        assert marked[0].startswith("> 6. training") == (facts.training is not None)


def test_counts_only_annotations_after_the_last_training() -> None:
    tasks = [
        {"total_predictions": 1, "annotations": [{"created_at": "2026-11-01T09:00:00Z"}]},
        {
            "total_predictions": 2,
            "annotations": [
                {"created_at": "2026-11-21T09:00:00Z"},
                {"created_at": "2026-11-21T10:00:00Z", "was_cancelled": True},
            ],
        },
        {"total_predictions": 0, "annotations": []},
    ]
    assert count_tasks(tasks, "2026-11-20T00:00:00+00:00").__dict__ == {
        "tasks": 3,
        "drafted": 2,
        "annotated_since": 1,
    }
    assert count_tasks(tasks, None).annotated_since == 2


def test_gather_facts_from_registry_and_exports(settings: Settings, registry: Registry) -> None:
    export = write_export(
        settings.exports_dir / "20261122T100000Z", created_at="2099-01-01T00:00:00Z", project_id=2
    )
    # Another project's export, newer: never project 2's "latest".
    write_export(
        settings.exports_dir / "20261123T100000Z", created_at="2099-02-01T00:00:00Z", project_id=3
    )
    tasks = [{"total_predictions": 1, "annotations": [{"created_at": "2026-11-21T00:00:00Z"}]}]
    facts = gather_facts(registry, settings.exports_dir, threshold=1, tasks=tasks, project=2)
    assert facts == LoopFacts(
        tasks=1,
        drafted=1,
        annotated_since_training=1,
        threshold=1,
        export_dir=str(export),
        export_is_new=True,
        project=2,
        edits_since_notes=1,
    )
    assert current_stage(facts) is Stage.READY_TO_TRAIN
    from redraft.training.exportdir import load_export

    registry.add(
        ModelVersion(
            name="v1",
            model_id="ft:x",
            trainer="openai",
            manifest_sha256=load_export(export).manifest_sha256,
        )
    )
    after = gather_facts(registry, settings.exports_dir, threshold=1, tasks=tasks, project=2)
    assert (after.export_is_new, after.candidate, after.annotated_since_training) == (
        False,
        "v1",
        0,
    )
    assert current_stage(after) is Stage.CANDIDATE


def test_status_suggests_relearning_the_style_notes(settings: Settings, registry: Registry) -> None:
    def annotated(at: str) -> dict[str, Any]:
        return {"total_predictions": 1, "annotations": [{"created_at": at}]}

    registry.add(
        ModelVersion(
            name="v1",
            model_id="m",
            trainer="notes",
            created_at="2026-11-20T00:00:00+00:00",
        )
    )
    tasks = [annotated("2026-11-19T00:00:00Z")] + [annotated("2026-11-21T00:00:00Z")] * 3
    facts = gather_facts(
        registry, settings.exports_dir, threshold=50, tasks=tasks, project=2, relearn_at=3
    )
    assert (facts.notes_version, facts.edits_since_notes) == ("v1", 3)
    assert render(facts)[-1] == (
        "also: 3 new edits since the style notes of v1 — `redraft styles learn --project 2 "
        "-o styles.toml`, review it, then `redraft styles apply styles.toml`"
    )
    fewer = gather_facts(
        registry, settings.exports_dir, threshold=50, tasks=tasks, project=2, relearn_at=4
    )
    assert not render(fewer)[-1].startswith("also:")


def test_status_cli_without_label_studio(settings: Settings, registry: Registry) -> None:
    registry.add(ModelVersion(name="v1", model_id="ft:x", trainer="openai"))
    registry.promote("v1")
    env = {"REDRAFT_HOME": str(settings.home), "LABEL_STUDIO_API_KEY": ""}
    result = CliRunner().invoke(cli, ["status"], env=env)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "✓ 1. briefs imported",
        "✓ 2. drafted",
        "✓ 3. annotated since the last training",
        "✓ 4. ready to export",
        "✓ 5. exported, ready to train",
        "✓ 6. training",
        "✓ 7. candidate awaiting review",
        "> 8. active — v1",
        "next: annotate new drafts in Label Studio; the next training starts from here",
    ]
    assert result.stderr == (
        "note: Label Studio counts not shown: LABEL_STUDIO_API_KEY is not set — copy a token "
        "from Label Studio (Account & Settings → Personal Access Token) and export it\n"
    )
    as_json = CliRunner().invoke(cli, ["status", "--json"], env=env)
    assert json.loads(as_json.stdout)["stage"] == "active"
    # After a demo ran here, the fix is its env file.
    env_file = settings.home / "demo" / "labelstudio" / "demo.env"
    env_file.parent.mkdir(parents=True)
    env_file.write_text("export LABEL_STUDIO_API_KEY=x\n")
    again = CliRunner().invoke(cli, ["status"], env=env)
    assert again.stderr.startswith(
        f"note: Label Studio counts not shown: LABEL_STUDIO_API_KEY is not set — for the demo: "
        f"source {env_file}; for your own Label Studio: copy a token"
    )


def test_status_cli_with_an_unreachable_label_studio(settings: Settings, tmp_path: Path) -> None:
    from redraft.labelstudio.server import free_port

    env = {
        "REDRAFT_HOME": str(settings.home),
        "LABEL_STUDIO_API_KEY": "not-a-real-token",
        "LABEL_STUDIO_URL": f"http://127.0.0.1:{free_port()}",
    }
    result = CliRunner().invoke(cli, ["status", "--project", "1"], env=env)
    # The stages REDRAFT_HOME knows are shown, and the missing counts fail the command.
    assert result.exit_code == 1, result.output
    assert result.stdout.splitlines()[0] == "> 1. briefs imported"
    assert result.stderr == (
        f"error: Label Studio counts not shown: cannot reach Label Studio at "
        f"{env['LABEL_STUDIO_URL']} (ConnectError) — is it running? Set LABEL_STUDIO_URL to "
        "its address\n"
    )


@pytest.mark.e2e
def test_status_counts_a_real_label_studio_project(ls_client: Any, ls_settings: Settings) -> None:
    from redraft.label_config import read_label_config
    from tests.fixtures.exports import rating, textarea

    made = ls_client.projects.create(title="status e2e", label_config=read_label_config())
    draft = {"model_version": "v1", "result": [textarea("draft", "Hi."), textarea("final", "Hi.")]}
    ls_client.projects.import_tasks(
        made.id,
        request=[
            {"data": {"brief": "Offer Ada a demo."}, "predictions": [draft]},
            {"data": {"brief": "Follow up with Bob."}, "predictions": [draft]},
            {"data": {"brief": "Thank Cy."}},
        ],
    )
    ids = sorted(t.id for t in ls_client.tasks.list(project=made.id))
    ls_client.annotations.create(ids[0], result=[rating(4), textarea("final", "Hi Ada.")])
    env = {
        "REDRAFT_HOME": str(ls_settings.home),
        "LABEL_STUDIO_URL": ls_settings.label_studio_url,
        "LABEL_STUDIO_API_KEY": ls_settings.label_studio_api_key or "",
    }
    by_title = CliRunner().invoke(cli, ["status", "--project", "status e2e"], env=env)
    result = CliRunner().invoke(cli, ["status", "--project", str(made.id)], env=env)
    assert result.exit_code == 0, result.output
    assert (by_title.exit_code, by_title.stdout, by_title.stderr) == (0, result.stdout, "")
    unknown = CliRunner().invoke(cli, ["status", "--project", "no such project"], env=env)
    assert (unknown.exit_code, unknown.stdout) == (1, "")
    assert unknown.stderr.startswith("error: Label Studio has no project titled 'no such project'")
    assert f"{made.id} 'status e2e'" in unknown.stderr  # the projects it could have meant
    assert unknown.stderr.endswith("or create it with `redraft init --title 'no such project'`\n")
    assert result.stdout.splitlines()[:3] == [
        "✓ 1. briefs imported — 3 tasks",
        "> 2. drafted — 2 drafted",
        "  3. annotated since the last training — 1 of 50",
    ]
    assert result.stdout.splitlines()[-1] == (
        f"next: `redraft prefill --project {made.id}` (1 task without a draft yet)"
    )


def test_status_says_when_a_stored_endpoint_wins_over_openai_base_url(
    settings: Settings, registry: Registry
) -> None:
    registry.add(ModelVersion(name="v2", model_id="ft:x", base_url="http://127.0.0.1:9/v1"))
    registry.promote("v2")
    env = {"REDRAFT_HOME": str(settings.home), "OPENAI_BASE_URL": "http://gpu:8000/v1"}
    done = CliRunner().invoke(cli, ["status"], env=env)
    assert done.exit_code == 0, done.output
    assert done.stderr.splitlines()[-1] == (
        "note: v2 drafts at its stored endpoint http://127.0.0.1:9/v1, not OPENAI_BASE_URL "
        "(http://gpu:8000/v1) — `redraft models promote v2 --base-url URL` changes it"
    )
    same = CliRunner().invoke(cli, ["status"], env={**env, "OPENAI_BASE_URL": ""})
    assert "stored endpoint" not in same.stderr
