"""Export from the real Label Studio: a snapshot with full predictions, then --golden-review."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from label_studio_sdk import LabelStudio

from redraft.cli.main import cli
from redraft.exporters.reading import read_project_tasks
from redraft.exporters.records import task_records
from redraft.label_config import read_label_config
from redraft.prompting import PromptTemplate
from redraft.settings import Settings
from redraft.standin.server import StandinServer
from tests.fixtures.exports import choices, rating, read_jsonl, textarea

pytestmark = pytest.mark.e2e

DRAFT = "Hi Ada, demo?"
FINAL = "Hi Ada, could I show you the CRM cleanup in a 20-minute demo on Thursday?"
LOW = "Dear Sir, we do CRM things."


def prediction_of(text: str) -> dict[str, Any]:
    return {"model_version": "v1", "result": [textarea("draft", text), textarea("final", text)]}


@pytest.fixture
def project(ls_client: LabelStudio) -> dict[str, Any]:
    """A project with four tasks: rewritten, low-rated unrewritten, cancelled, unannotated."""
    title = f"export e2e {uuid.uuid4().hex[:8]}"
    made = ls_client.projects.create(title=title, label_config=read_label_config())
    briefs = [
        ("Offer Ada a demo.", DRAFT),
        ("Follow up with Bob.", LOW),
        ("Thank Cy.", "Thanks Cy."),
        ("Invite Dee.", "Hi Dee."),
    ]
    ls_client.projects.import_tasks(
        made.id,
        request=[
            {"data": {"brief": brief, "client": "Acme"}, "predictions": [prediction_of(text)]}
            for brief, text in briefs
        ],
    )
    tasks = sorted(
        (t.model_dump() for t in ls_client.tasks.list(project=made.id, fields="all")),
        key=lambda t: t["id"],
    )
    ids = [t["id"] for t in tasks]
    preds = [t["predictions"][0]["id"] for t in tasks]
    first = ls_client.annotations.create(
        ids[0],
        result=[rating(2), choices(["too short"]), textarea("final", FINAL)],
        lead_time=42.0,
        parent_prediction=preds[0],
    )
    second = ls_client.annotations.create(
        ids[1],
        result=[rating(1), textarea("feedback", "Too generic."), textarea("final", LOW)],
        lead_time=12.0,
        parent_prediction=preds[1],
    )
    third = ls_client.annotations.create(ids[2], result=[], was_cancelled=True)
    return {
        "id": made.id,
        "title": title,
        "tasks": ids,
        "predictions": preds,
        "annotations": [first.id, second.id, third.id],
    }


def run(args: list[str], settings: Settings, base_url: str = "") -> Any:
    env = {
        "REDRAFT_HOME": str(settings.home),
        "LABEL_STUDIO_URL": settings.label_studio_url,
        "LABEL_STUDIO_API_KEY": settings.label_studio_api_key or "",
        "OPENAI_API_KEY": "sk-test",
        "OPENAI_BASE_URL": base_url,
    }
    return CliRunner().invoke(cli, args, env=env, catch_exceptions=False)


def test_records_from_a_real_snapshot(
    ls_client: LabelStudio, project: dict[str, Any], export_template: PromptTemplate
) -> None:
    tasks = list(read_project_tasks(ls_client, project["id"], poll=0.2))
    assert sorted(t["id"] for t in tasks) == project["tasks"]
    # The snapshot is deleted once read, so exports do not pile up on the server.
    assert ls_client.projects.exports.list(project["id"]) == []
    outcomes = [task_records(t, export_template) for t in sorted(tasks, key=lambda t: t["id"])]
    first = outcomes[0].records[0]
    assert (
        first.draft,
        first.final,
        first.rating,
        first.issues,
        first.prediction_id,
        first.draft_source,
        first.model_version,
        first.lead_time,
        first.project_id,
    ) == (
        DRAFT,
        FINAL,
        2,
        ("too short",),
        project["predictions"][0],
        "parent",
        "v1",
        42.0,
        project["id"],
    )
    assert first.annotator is not None and first.created_at and first.updated_at
    assert [r.line for o in outcomes for r in o.rejects] == [
        f"task {project['tasks'][2]}: annotation {project['annotations'][2]} was cancelled"
        " (skipped) — rejected",
        f"task {project['tasks'][3]}: no completed annotation — rejected",
    ]


def test_export_project_then_golden_review(
    ls_client: LabelStudio,
    project: dict[str, Any],
    ls_settings: Settings,
    standin: StandinServer,
    template_file: Path,
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    # The project by its title, as `redraft import` and `prefill` take it.
    args = ["export", "--project", project["title"], "--template", str(template_file)]
    result = run([*args, "-o", str(out), "--validation-ratio", "0"], ls_settings)
    assert result.exit_code == 0, result.output
    prompt = [
        {"role": "system", "content": "Write for Acme."},
        {"role": "user", "content": "Brief: Offer Ada a demo."},
    ]
    assert read_jsonl(out / "trl_dpo.train.jsonl") == [
        {
            "prompt": prompt,
            "chosen": [{"role": "assistant", "content": FINAL}],
            "rejected": [{"role": "assistant", "content": DRAFT}],
        }
    ]
    manifest = json.loads((out / "manifest.json").read_text())
    source = dict(manifest["source"])
    assert source.pop("template_path").endswith(".toml")  # the template the prompts came from
    assert source == {
        "kind": "project",
        "project_id": project["id"],
        "label_studio_url": ls_settings.label_studio_url,
    }
    assert manifest["counts"]["tasks_read"] == 4
    assert manifest["counts"]["tasks_exported"] + manifest["counts"]["tasks_rejected"] == 4

    review = tmp_path / "review"
    flags = ["--golden-review", "--golden-model", "gpt-4o-mini", "-o", str(review)]
    result = run([*args, *flags], ls_settings, standin.base_url)
    assert result.exit_code == 0, result.output
    assert "1 sent for review" in result.stderr
    tasks = [t.model_dump() for t in ls_client.tasks.list(project=project["id"], fields="all")]
    [new] = [t for t in tasks if "golden_of_task" in t["data"]]
    assert new["data"] == {
        "brief": "Follow up with Bob.",
        "client": "Acme",
        "golden_of_task": project["tasks"][1],
        "golden_of_annotation": project["annotations"][1],
        "golden_feedback": "Too generic.",
    }
    [pred] = new["predictions"]
    assert pred["model_version"] == "golden:gpt-4o-mini"
    texts = {r["from_name"]: r["value"]["text"] for r in pred["result"]}
    assert texts["draft"] == texts["final"] and texts["draft"][0] not in ("", LOW)
    # Review mode leaves the datasets to people: no machine-written rows.
    manifest = json.loads((review / "manifest.json").read_text())
    assert manifest["counts"]["machine_written_records"] == 0
    assert manifest["counts"]["golden_review_tasks"] == 1

    # A re-run pays the LLM nothing more and imports no duplicate review task.
    calls = len(chat_calls(standin))
    again = tmp_path / "again"
    result = run([*args, *flags[:-1], str(again)], ls_settings, standin.base_url)
    assert result.exit_code == 0, result.output
    assert "0 sent for review" not in result.stderr
    assert ", 1 already sent for review (skipped);" in result.stderr
    assert len(chat_calls(standin)) == calls == 1
    tasks = [t.model_dump() for t in ls_client.tasks.list(project=project["id"], fields="all")]
    assert [t["id"] for t in tasks if "golden_of_task" in t["data"]] == [new["id"]]
    counts = json.loads((again / "manifest.json").read_text())["counts"]
    assert (counts["golden_review_tasks"], counts["golden_review_already_sent"]) == (0, 1)


def chat_calls(standin: StandinServer) -> list[dict[str, Any]]:
    return [e for e in standin.state.request_log() if e["path"] == "/v1/chat/completions"]


def test_keep_snapshot_and_timeout(
    ls_client: LabelStudio, project: dict[str, Any], ls_settings: Settings, tmp_path: Path
) -> None:
    args = ["export", "--project", str(project["id"]), "--keep-snapshot", "--timeout", "30"]
    result = run([*args, "-o", str(tmp_path / "out")], ls_settings)
    assert result.exit_code == 0, result.output
    [kept] = ls_client.projects.exports.list(project["id"])
    assert kept.title == "redraft export"


def test_unknown_project_title(ls_settings: Settings, tmp_path: Path) -> None:
    result = run(["export", "--project", "No such project", "-o", str(tmp_path)], ls_settings)
    assert result.exit_code == 1
    line = result.stderr.splitlines()[-1]
    assert line.startswith("error: Label Studio has no project titled 'No such project' — pass")
    assert line.endswith(", or create it with `redraft init --title 'No such project'`")
