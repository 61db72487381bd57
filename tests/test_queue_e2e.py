"""Writers' queue by draft confidence, on the real Label Studio: `init --queue`, `import` and
`prefill` as an operator runs them (the ML backend connected), then the next task Label Studio
hands a writer (`/api/projects/{id}/next`), task after task, and the Data Manager's score
column."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from label_studio_sdk import LabelStudio

from redraft.label_config import CONFIDENCE
from redraft.label_config.results import annotation_result, confidence_of, draft_of, text_of
from redraft.labelstudio.taskorder import tab_id
from redraft.report.sources import from_export_dir
from redraft.settings import Settings
from redraft.standin.server import StandinServer
from tests.fixtures.labelstudio import run_cli

pytestmark = pytest.mark.e2e

VERSION = "writer-v1"
# Briefs whose stand-in drafts differ in how many structure checks they pass (the recipient's
# name and the company are checked only where the brief names them): scores 0.60, 0.75, 0.50,
# so neither score order is the import order.
BRIEFS = [
    {"external_id": "Q-2", "brief": "Invite them to a demo.", "recipient": "Sam Lee"},
    {"external_id": "Q-1", "brief": "Invite them to a demo."},
    {
        "external_id": "Q-3",
        "brief": "Invite them to a demo.",
        "recipient": "Ada Byron",
        "company": "Globex",
    },
]


def set_up(settings: Settings, backend_url: str, title: str, queue: str, folder: Path) -> int:
    made = run_cli(
        ["init", "--title", title, "--backend-url", backend_url, "--queue", queue], settings
    )
    assert made.exit_code == 0, made.output
    project_id = int(made.stdout.strip())
    rows = folder / f"{queue}.jsonl"
    rows.write_text("".join(json.dumps(b) + "\n" for b in BRIEFS))
    for step in (["import", str(rows)], ["prefill"]):
        done = run_cli([*step, "--project", str(project_id)], settings)
        assert done.exit_code == 0, done.output
    return project_id


def scores(client: LabelStudio, project_id: int) -> dict[str, float]:
    """external_id → the score of the task's draft, as stored."""
    out = {}
    for task in client.tasks.list(project=project_id, fields="all"):
        [prediction] = task.predictions or []
        score, _ = confidence_of(prediction.model_dump())
        assert score is not None
        out[task.data["external_id"]] = score
    return out


def work_the_queue(client: LabelStudio, project_id: int, query: str = "") -> list[str]:
    """Annotate each task Label Studio hands the writer next; their external ids, in order."""
    order = []
    while True:
        response = client._client_wrapper.httpx_client.request(
            f"api/projects/{project_id}/next/{query}", method="GET"
        )
        if response.status_code == 404:  # no task left for this writer
            return order
        response.raise_for_status()
        task = response.json()
        [prediction] = task["predictions"]
        draft = draft_of(prediction)
        assert draft is not None
        client.annotations.create(
            task["id"],
            result=annotation_result(final=draft, draft=draft, rating=5),
            parent_prediction=prediction["id"],
        )
        order.append(task["data"]["external_id"])


@pytest.mark.parametrize(
    ("queue", "sampling", "descending"),
    [
        ("least-certain", "Uncertainty sampling", False),
        ("most-certain", "Sequential sampling", True),
    ],
)
def test_the_next_task_follows_the_draft_score(
    ls_client: LabelStudio,
    ls_settings: Settings,
    standin: StandinServer,
    backend_server: Any,
    tmp_path: Path,
    queue: str,
    sampling: str,
    descending: bool,
) -> None:
    settings = ls_settings.with_overrides(
        openai_base_url=standin.base_url, model="gpt-4o-mini", model_version=VERSION
    )
    backend = backend_server(settings)
    title = f"e2e queue {queue}"
    project_id = set_up(settings, backend.url, title, queue, tmp_path)
    project = ls_client.projects.get(project_id)
    # Ordered by score: the project names the version its drafts carry, not the backend.
    assert (project.sampling, project.model_version) == (sampling, VERSION)

    # Every draft prefill wrote carries a score and, for writers, its reason.
    stored = scores(ls_client, project_id)
    assert len(set(stored.values())) == len(BRIEFS), stored  # distinct, so the order is one
    for task in ls_client.tasks.list(project=project_id, fields="all"):
        [prediction] = task.predictions or []
        reason = text_of(prediction.result, CONFIDENCE)
        assert reason is not None and reason.startswith(
            f"{stored[task.data['external_id']]:.2f} — "
        )

    # The Data Manager's score column shows each draft's score (matched on model_version).
    tab = tab_id(ls_client, project_id, queue)
    assert tab is not None
    listed = ls_client._client_wrapper.httpx_client.request(
        "api/tasks/", method="GET", params={"project": project_id, "view": tab, "fields": "all"}
    ).json()["tasks"]
    assert {t["data"]["external_id"]: t["predictions_score"] for t in listed} == stored
    by_score = sorted(stored, key=stored.__getitem__, reverse=descending)
    assert by_score == (["Q-1", "Q-2", "Q-3"] if descending else ["Q-3", "Q-2", "Q-1"])
    # The tab lists the tasks in the queue's order.
    assert [t["data"]["external_id"] for t in listed] == by_score

    # The next task a writer is given follows the score, task after task: least certain first
    # by Label Studio's uncertainty sampling; most certain first through the tab's order.
    query = f"?view={tab}" if descending else ""
    assert work_the_queue(ls_client, project_id, query) == by_score

    # Export carries each draft's score into the records, and refits the project's score on
    # them (three edited drafts: too few for a fit, so the no-history score stays).
    exported = run_cli(
        ["export", "--project", str(project_id), "-o", str(tmp_path / "export")], settings
    )
    assert exported.exit_code == 0, exported.output
    assert (
        "confidence score: 3 edited drafts, fewer than 10 — drafts keep the no-history score"
        in exported.stderr.splitlines()
    )
    records = from_export_dir(tmp_path / "export").records
    assert {r.external_id: r.draft_score for r in records} == stored

    # A re-run of init without --queue keeps the order (and the version in model_version).
    again = run_cli(["init", "--title", title, "--backend-url", backend.url], settings)
    assert again.exit_code == 0, again.output
    assert again.stderr.splitlines()[0] == f"project {title!r} is already set up; nothing to change"
