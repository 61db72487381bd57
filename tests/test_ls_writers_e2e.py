"""Several writers per task, on the real Label Studio: `init --overlap`, two writer accounts
made through the invite link, Label Studio's own labeling stream handing each brief to both,
then the export keeping both annotations and the report's agreement and per-writer figures."""

from __future__ import annotations

import csv
import json
import secrets
from pathlib import Path
from typing import Any

import pytest
from label_studio_sdk import LabelStudio

from redraft.label_config.results import annotation_result, draft_of
from redraft.labelstudio.client import session
from redraft.settings import Settings
from redraft.standin.server import StandinServer
from tests.fixtures.labelstudio import LabelStudioInstance, run_cli, sign_up_writer

pytestmark = pytest.mark.e2e

TITLE = "e2e writers"
OVERLAP_FIELDS = ("maximum_annotations", "overlap_cohort_percentage")


def overlap_of(client: LabelStudio, project_id: int) -> dict[str, Any]:
    project = client.projects.get(project_id).model_dump()
    return {k: project[k] for k in OVERLAP_FIELDS}


def work_the_stream(client: LabelStudio, project_id: int, write: Any) -> list[int]:
    """Label every task Label Studio's labeling stream hands this writer, as the editor would
    submit it (the draft the writer started from as `parent_prediction`); the task ids, in
    order."""
    done: list[int] = []
    while True:
        response = client._client_wrapper.httpx_client.request(
            f"api/projects/{project_id}/next/", method="GET"
        )
        if response.status_code == 404:  # "There are no tasks for <writer>"
            return done
        response.raise_for_status()
        task = response.json()
        [prediction] = task["predictions"]
        draft = draft_of(prediction)
        assert draft is not None
        final, rating = write(draft)
        client.annotations.create(
            task["id"],
            result=annotation_result(final=final, draft=draft, rating=rating),
            lead_time=12.0,
            parent_prediction=prediction["id"],
        )
        done.append(task["id"])


def test_two_writers_annotate_each_brief_and_the_report_shows_each(
    label_studio: LabelStudioInstance,
    ls_client: LabelStudio,
    ls_settings: Settings,
    standin: StandinServer,
    tmp_path: Path,
) -> None:
    settings = ls_settings.with_overrides(
        openai_base_url=standin.base_url, model="gpt-4o-mini", model_version="writer-v1"
    )
    made = run_cli(["init", "--title", TITLE, "--no-backend", "--overlap", "2"], settings)
    assert made.exit_code == 0, made.output
    project_id = int(made.stdout.strip())
    assert made.stderr.splitlines()[-3:-1] == [
        "set project maximum_annotations = 2",
        "set project overlap_cohort_percentage = 100",
    ]
    # A re-run without --overlap keeps it (init used to reset every project to one writer).
    again = run_cli(["init", "--title", TITLE, "--no-backend"], settings)
    assert again.stderr.splitlines()[0] == f"project {TITLE!r} is already set up; nothing to change"
    assert overlap_of(ls_client, project_id) == {
        "maximum_annotations": 2,
        "overlap_cohort_percentage": 100,
    }

    briefs = tmp_path / "briefs.jsonl"
    briefs.write_text(
        "".join(
            json.dumps({"external_id": f"W-{i}", "brief": f"Invite recipient {i} to a demo."})
            + "\n"
            for i in (1, 2, 3)
        )
    )
    for step in (["import", str(briefs)], ["prefill"]):
        done = run_cli([*step, "--project", str(project_id)], settings)
        assert done.exit_code == 0, done.output

    # Two writers sign up through the invite link and work the labeling stream: Ann sends the
    # drafts as they are, Bob rewrites every one and rates it lower.
    ann = sign_up_writer(label_studio.url, label_studio.login.token, "ann@acme.test", _pw())
    bob = sign_up_writer(label_studio.url, label_studio.login.token, "bob@acme.test", _pw())
    with session(label_studio.url, ann) as client:
        ann_tasks = work_the_stream(client, project_id, lambda d: (d, 4))
    with session(label_studio.url, bob) as client:
        bob_tasks = work_the_stream(
            client, project_id, lambda d: (d + "\n\nP.S. Tuesday works too.", 2)
        )
    tasks = {t.id: t for t in ls_client.tasks.list(project=project_id, fields="all")}
    assert (sorted(ann_tasks), sorted(bob_tasks)) == (sorted(tasks), sorted(tasks))
    assert {t.id: (t.total_annotations, t.is_labeled) for t in tasks.values()} == {
        task_id: (2, True) for task_id in tasks
    }

    # The export's default (--annotators all) keeps both writers' annotations of each brief.
    exported = run_cli(
        ["export", "--project", str(project_id), "-o", str(tmp_path / "x")], settings
    )
    assert exported.exit_code == 0, exported.output
    assert exported.stderr.splitlines()[-1].startswith(
        "exported 6 SFT rows, 3 preference pairs from 3 of 3 tasks; rejected 0 tasks"
    )

    # The report: agreement between the two, and each writer's figures under their email.
    report_dir = tmp_path / "report"
    report = run_cli(["report", "--project", str(project_id), "-o", str(report_dir)], settings)
    assert report.exit_code == 0, report.output
    with (report_dir / "agreement.csv").open() as handle:
        agreement = next(csv.DictReader(handle))
    assert {k: agreement[k] for k in ("tasks", "annotations", "pairs", "accept_agreement")} == {
        "tasks": "3",
        "annotations": "6",
        "pairs": "3",
        "accept_agreement": "0",  # Ann sent all three as drafted, Bob none
    }
    columns = ("writer", "tasks", "shared_tasks", "rating", "accepted", "rating_offset")
    with (report_dir / "writers.csv").open() as handle:
        writers = [tuple(row[c] for c in columns) for row in csv.DictReader(handle)]
    assert writers == [
        ("ann@acme.test", "3", "3", "4", "1", "2"),
        ("bob@acme.test", "3", "3", "2", "0", "-2"),
    ]
    html = (report_dir / "report.html").read_text()
    assert html.count("<tr><td>ann@acme.test</td><td>3</td><td>3</td><td>3</td>") == 1

    # A share of the tasks instead: half of them get two writers, the others one.
    share = run_cli(
        ["init", "--title", TITLE, "--no-backend", "--overlap", "2", "--overlap-share", "50"],
        settings,
    )
    assert share.stderr.splitlines()[0] == "set project overlap_cohort_percentage = 50"
    assert overlap_of(ls_client, project_id) == {
        "maximum_annotations": 2,
        "overlap_cohort_percentage": 50,
    }


def _pw() -> str:
    return secrets.token_urlsafe(12)
