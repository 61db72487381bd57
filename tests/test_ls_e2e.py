"""End to end against the real Label Studio: init, import, retrieve, open, annotate, export."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from label_studio_sdk import LabelStudio

from redraft.label_config import read_label_config
from redraft.label_config.results import annotation_result, draft_prediction, textarea_item
from redraft.labelstudio.briefs import Feedback
from redraft.labelstudio.client import session
from redraft.labelstudio.project import BACKEND_TITLE, PROJECT_SETTINGS, ProjectSpec, init_project
from redraft.labelstudio.tasks import feedback_results
from redraft.prompting import build_messages, load_template
from redraft.settings import Settings
from redraft.standin.server import StandinServer
from tests.fixtures.labelstudio import (
    LabelStudioInstance,
    briefs,
    retrieve,
    run_cli,
    task_predictions,
    write_jsonl,
)
from tests.fixtures.scoring import scored

pytestmark = pytest.mark.e2e

MODEL_VERSION = "writer-e2e"


@pytest.fixture
def e2e_settings(ls_settings: Settings, standin: StandinServer) -> Settings:
    return ls_settings.with_overrides(
        openai_base_url=standin.base_url, model="gpt-4o-mini", model_version=MODEL_VERSION
    )


def test_init_creates_then_changes_nothing(
    ls_client: LabelStudio, e2e_settings: Settings, backend_server: Any
) -> None:
    backend = backend_server(e2e_settings)
    spec = ProjectSpec("e2e init", read_label_config(), MODEL_VERSION, backend_url=backend.url)
    first = init_project(ls_client, spec)
    assert first.creates_project and first.create_backend
    project = ls_client.projects.get(first.project_id).model_dump()
    overlap = ["maximum_annotations", "overlap_cohort_percentage"]
    managed = {k: project[k] for k in [*PROJECT_SETTINGS, *overlap, "title", "model_version"]}
    assert managed == {
        "show_collab_predictions": True,
        "evaluate_predictions_automatically": False,
        "reveal_preannotations_interactively": False,
        "enable_empty_annotation": False,
        "show_skip_button": True,
        "maximum_annotations": 1,  # one writer per brief until `init --overlap N`
        "overlap_cohort_percentage": 100,
        "title": "e2e init",
        "model_version": BACKEND_TITLE,
    }
    backends = [(b.url, b.title, b.model_version) for b in ls_client.ml.list(project=project["id"])]
    # Label Studio asked /setup when the backend was connected: it knows our model version.
    assert backends == [(backend.url, BACKEND_TITLE, MODEL_VERSION)]

    again = init_project(ls_client, spec)
    assert (again.project_id, again.changes_nothing) == (first.project_id, True)


# label-studio-sdk 2.1.2 refreshes a personal access token with pydantic's deprecated
# `parse_obj`; the warning is the SDK's, not ours (pytest turns warnings into errors).
@pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecatedSince20")
def test_init_cli_with_personal_access_token(
    label_studio: LabelStudioInstance, ls_personal_token: str, e2e_settings: Settings
) -> None:
    settings = e2e_settings.with_overrides(label_studio_api_key=ls_personal_token)
    # The SDK turns the PAT (a JWT refresh token) into Bearer access tokens.
    with session(label_studio.url, ls_personal_token) as client:
        assert client.users.whoami().email == label_studio.login.username
    dry = run_cli(["init", "--title", "e2e pat", "--no-backend", "--dry-run"], settings)
    assert dry.exit_code == 0, dry.output
    assert dry.stderr.splitlines()[0] == "would create project 'e2e pat'"
    assert dry.stderr.splitlines()[-1] == "dry run: nothing changed"

    made = run_cli(["init", "--title", "e2e pat", "--no-backend"], settings)
    assert made.exit_code == 0, made.output
    project_id = int(made.stdout.strip())
    assert ls_personal_token_works(label_studio, ls_personal_token, project_id)
    again = run_cli(["init", "--title", "e2e pat", "--no-backend"], settings)
    assert again.stderr.splitlines()[0] == "project 'e2e pat' is already set up; nothing to change"
    assert int(again.stdout.strip()) == project_id


def ls_personal_token_works(ls: LabelStudioInstance, token: str, project_id: int) -> bool:
    with session(ls.url, token) as client:
        project = client.projects.get(project_id)
    return (project.title, project.model_version) == ("e2e pat", MODEL_VERSION)


def test_retrieve_open_annotate_export(
    ls_client: LabelStudio,
    e2e_settings: Settings,
    standin: StandinServer,
    backend_server: Any,
    tmp_path: Path,
) -> None:
    backend = backend_server(e2e_settings)
    made = run_cli(["init", "--title", "e2e loop", "--backend-url", backend.url], e2e_settings)
    assert made.exit_code == 0, made.output
    project_id = int(made.stdout.strip())
    source = write_jsonl(tmp_path / "briefs.jsonl", briefs(6, "L"))
    imported = run_cli(["import", str(source), "--project", "e2e loop"], e2e_settings)
    assert imported.exit_code == 0, imported.output
    assert imported.stderr.strip() == f"imported 6 tasks into project {project_id}"

    # Label Studio's own "Retrieve predictions" on 5 of the 6 tasks: one /predict request.
    tasks = {t.data["external_id"]: t.id for t in ls_client.tasks.list(project=project_id)}
    five = [tasks[f"L-{i}"] for i in range(1, 6)]
    retrieve(ls_client, project_id, five)
    expected = {f"L-{i}": [MODEL_VERSION] for i in range(1, 6)} | {"L-6": []}
    assert task_predictions(ls_client, project_id) == expected
    assert standin.request_count() == 5

    # A second retrieve finds every task already drafted by this version: nothing added.
    retrieve(ls_client, project_id, five)
    assert task_predictions(ls_client, project_id) == expected
    assert standin.request_count() == 5

    # Opening a task without a prediction drafts it; opening it again does not.
    opened = ls_client.tasks.get(str(tasks["L-6"])).model_dump()
    assert [p["model_version"] for p in opened["predictions"]] == [MODEL_VERSION]
    ls_client.tasks.get(str(tasks["L-6"]))
    ls_client.tasks.get(str(tasks["L-1"]))
    assert standin.request_count() == 6
    assert task_predictions(ls_client, project_id)["L-6"] == [MODEL_VERSION]

    # The stored prediction is exactly what the backend built.
    stored = opened["predictions"][0]
    draft = stored["result"][0]["value"]["text"][0]
    assert draft.strip()
    assert {k: stored[k] for k in ("model_version", "result", "score")} == scored(
        draft, opened["data"], MODEL_VERSION
    )

    # Annotate through the SDK, as the editor would submit it.
    result = [
        stored["result"][0],
        {"from_name": "rating", "to_name": "brief", "type": "rating", "value": {"rating": 3}},
        {
            "from_name": "issues",
            "to_name": "brief",
            "type": "choices",
            "value": {"choices": ["tone"]},
        },
        textarea_item("final", "Final."),
    ]
    annotation = ls_client.annotations.create(
        tasks["L-6"], result=result, lead_time=42.0, parent_prediction=stored["id"]
    )

    exported = snapshot_export(ls_client, project_id)
    by_id = {t["data"]["external_id"]: t for t in exported}
    assert len(exported) == 6
    task = by_id["L-6"]
    assert [(p["id"], p["model_version"], p["result"]) for p in task["predictions"]] == [
        (stored["id"], MODEL_VERSION, stored["result"])
    ]
    [exported_annotation] = task["annotations"]
    assert (
        exported_annotation["id"],
        exported_annotation["result"],
        exported_annotation["lead_time"],
        exported_annotation["parent_prediction"],
    ) == (annotation.id, result, 42.0, stored["id"])


def snapshot_export(client: LabelStudio, project_id: int) -> list[dict[str, Any]]:
    """A snapshot export with whole predictions, downloaded as JSON."""
    export = client.projects.exports.create(
        project_id,
        title="e2e snapshot",
        serialization_options={"predictions": {"only_id": False}},
    )
    deadline = time.monotonic() + 60
    while export.status not in ("completed", "failed") and time.monotonic() < deadline:
        time.sleep(0.5)
        export = client.projects.exports.get(project_id, export.id)
    assert export.status == "completed"
    blob = b"".join(client.projects.exports.download(project_id, export.id, export_type="JSON"))
    return json.loads(blob)


def test_prefill_200_tasks_is_resumable(
    ls_client: LabelStudio, e2e_settings: Settings, standin: StandinServer, tmp_path: Path
) -> None:
    made = run_cli(["init", "--title", "e2e prefill", "--no-backend"], e2e_settings)
    assert made.exit_code == 0, made.output
    project_id = int(made.stdout.strip())
    source = write_jsonl(tmp_path / "briefs.jsonl", briefs(200, "P"))
    imported = run_cli(["import", str(source), "--project", str(project_id)], e2e_settings)
    assert imported.exit_code == 0, imported.output

    first = run_cli(["prefill", "--project", "e2e prefill", "--limit", "150"], e2e_settings)
    assert first.exit_code == 0, first.output
    assert first.stderr.splitlines()[-1] == (
        f"prefilled 150 of 200 tasks with {MODEL_VERSION!r} (0 from cache); 0 already had a draft"
    )
    rest = run_cli(["prefill", "--project", "e2e prefill"], e2e_settings)
    assert rest.stderr.splitlines()[-1] == (
        f"prefilled 50 of 200 tasks with {MODEL_VERSION!r} (0 from cache); 150 already had a draft"
    )
    assert standin.request_count() == 200
    again = run_cli(["prefill", "--project", "e2e prefill"], e2e_settings)
    assert again.stderr.splitlines()[-1] == (
        f"prefilled 0 of 200 tasks with {MODEL_VERSION!r} (0 from cache); 200 already had a draft"
    )
    assert standin.request_count() == 200
    stored = task_predictions(ls_client, project_id)
    assert stored == {f"P-{i}": [MODEL_VERSION] for i in range(1, 201)}


def test_import_with_feedback_and_refusals(
    ls_client: LabelStudio, e2e_settings: Settings, tmp_path: Path
) -> None:
    made = run_cli(["init", "--title", "e2e history", "--no-backend"], e2e_settings)
    project_id = int(made.stdout.strip())
    history = tmp_path / "history.csv"
    history.write_text(
        "Ref,Notes,draft,rating,issues,feedback,final\n"
        'H-1,Ask for a call,"Subject: Hi",2,"tone; too long",Too stiff.,"Subject: Quick call?"\n'
        'H-2,Offer a demo,"Subject: Demo",5,,,"Subject: Demo"\n'
    )
    columns = ["--map", "Ref=external_id", "--map", "Notes=brief"]
    done = run_cli(
        ["import", str(history), "--project", "e2e history", "--with-feedback", *columns],
        e2e_settings,
    )
    assert done.exit_code == 0, done.output
    assert done.stderr.strip() == (
        f"imported 2 tasks into project {project_id} (2 with a draft and a completed annotation)"
    )
    tasks = {
        t.data["external_id"]: t.model_dump()
        for t in ls_client.tasks.list(project=project_id, fields="all")
    }
    first = tasks["H-1"]
    assert first["data"] == {"external_id": "H-1", "brief": "Ask for a call"}
    assert [(p["model_version"], p["result"]) for p in first["predictions"]] == [
        ("imported", draft_prediction("Subject: Hi", "imported")["result"])
    ]
    [annotation] = first["annotations"]
    assert annotation["result"] == feedback_results(
        Feedback("Subject: Hi", "Subject: Quick call?", 2, ("tone", "too long"), "Too stiff.")
    )
    assert first["is_labeled"] is True

    # A second run: both ids are now in the project, a third row has no brief. Nothing imported.
    history.write_text(history.read_text() + 'H-3,,"Subject: x",4,,,"Subject: y"\n')
    refused = run_cli(
        ["import", str(history), "--project", "e2e history", "--with-feedback", *columns],
        e2e_settings,
    )
    assert refused.exit_code == 1
    assert refused.stderr == (
        f"error: {history}: 3 invalid rows; nothing was imported:\n"
        f"  row 1: external_id 'H-1' is already in the project (task {first['id']})\n"
        f"  row 2: external_id 'H-2' is already in the project (task {tasks['H-2']['id']})\n"
        "  row 3: the brief is empty — every task needs a non-empty brief\n"
        "fix them, or pass --skip-invalid to import only the valid rows\n"
    )
    assert len(list(ls_client.tasks.list(project=project_id))) == 2


def test_history_without_ratings_imports_and_exports(
    ls_client: LabelStudio, e2e_settings: Settings, tmp_path: Path
) -> None:
    """History as agencies have it: a draft and the email that was sent, mostly no rating.
    It imports, gives SFT rows and preference pairs, and is left out only of what needs a
    rating (a rewritten draft's KTO label), counted with the reason."""
    made = run_cli(["init", "--title", "e2e unrated history", "--no-backend"], e2e_settings)
    project_id = int(made.stdout.strip())
    history = tmp_path / "history.csv"
    history.write_text(
        "external_id,brief,draft,rating,final\n"
        'U-1,Ask Ada for a call,"Hi Ada, a call?",,"Hi Ada, could we talk for 15 minutes on '
        'Thursday about the CRM cleanup?"\n'
        'U-2,Send Bob the case study,"Hi Bob, here is the case study.",,"Hi Bob, here is the '
        'case study."\n'
        'U-3,Offer Cy a demo,"Hi Cy, demo?",2,"Hi Cy, could I show you the dashboard in a '
        '20-minute demo?"\n'
    )
    done = run_cli(
        ["import", str(history), "--project", str(project_id), "--with-feedback"], e2e_settings
    )
    assert done.exit_code == 0, done.output
    assert done.stderr == (
        f"imported 3 tasks into project {project_id} "
        "(3 with a draft and a completed annotation, 2 of them without a rating)\n"
    )
    stored = {
        t.data["external_id"]: t.model_dump()
        for t in ls_client.tasks.list(project=project_id, fields="all")
    }
    assert [a["result"] for a in stored["U-1"]["annotations"]] == [
        annotation_result(
            final="Hi Ada, could we talk for 15 minutes on Thursday about the CRM cleanup?",
            draft="Hi Ada, a call?",
        )
    ]
    assert stored["U-1"]["is_labeled"] is True

    out = tmp_path / "export"
    exported = run_cli(
        ["export", "--project", str(project_id), "-o", str(out), "--validation-ratio", "0"],
        e2e_settings,
    )
    assert exported.exit_code == 0, exported.output
    template = load_template()
    prompts = {k: build_messages(t["data"], template) for k, t in stored.items()}

    def rows(name: str) -> list[dict[str, Any]]:
        lines = (out / f"{name}.train.jsonl").read_text("utf-8").splitlines()
        return [json.loads(line) for line in lines]

    def said(text: str) -> list[dict[str, str]]:
        return [{"role": "assistant", "content": text}]

    finals = {
        "U-1": "Hi Ada, could we talk for 15 minutes on Thursday about the CRM cleanup?",
        "U-2": "Hi Bob, here is the case study.",
        "U-3": "Hi Cy, could I show you the dashboard in a 20-minute demo?",
    }
    drafts = {"U-1": "Hi Ada, a call?", "U-3": "Hi Cy, demo?"}
    assert sorted(rows("trl_sft"), key=json.dumps) == sorted(
        [{"messages": [*prompts[k], *said(finals[k])]} for k in ("U-1", "U-2", "U-3")],
        key=json.dumps,
    )
    assert sorted(rows("trl_dpo"), key=json.dumps) == sorted(
        [
            {"prompt": prompts[k], "chosen": said(finals[k]), "rejected": said(drafts[k])}
            for k in ("U-1", "U-3")
        ],
        key=json.dumps,
    )
    kto = [(r["completion"][0]["content"], r["label"]) for r in rows("trl_kto")]
    assert sorted(kto) == sorted(
        [
            (finals["U-1"], True),
            (finals["U-2"], True),
            (finals["U-3"], True),
            (drafts["U-3"], False),
        ]
    )  # U-1's draft has no rating to label it by: left out, and counted
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["left_out"] == {"trl_kto": {"draft has no rating": 1}}
    assert manifest["counts"]["tasks_exported"] == 3
    assert exported.stderr.splitlines().count("  left out 1 row: draft has no rating") == 1


def test_prefill_is_safe_next_to_itself_and_a_retrieve(
    ls_client: LabelStudio, e2e_settings: Settings, standin: StandinServer, tmp_path: Path
) -> None:
    """At most one prediction per task and version, and no prompt is paid for twice."""
    from redraft.backend.drafting import Drafter
    from redraft.backend.versions import ActiveModel
    from redraft.labelstudio.prefill import exclusive, prefill

    made = run_cli(["init", "--title", "e2e prefill race", "--no-backend"], e2e_settings)
    project_id = int(made.stdout.strip())
    source = write_jsonl(tmp_path / "briefs.jsonl", briefs(4, "R"))
    assert (
        run_cli(["import", str(source), "--project", str(project_id)], e2e_settings).exit_code == 0
    )

    # A second prefill of the same project is refused while the first holds the project.
    lock = e2e_settings.home / "locks" / f"prefill-project-{project_id}.lock"
    with exclusive(lock):
        busy = run_cli(["prefill", "--project", str(project_id)], e2e_settings)
    assert busy.exit_code == 1
    last = busy.stderr.splitlines()[-1]
    assert last.startswith("error: another `redraft prefill` (pid ")
    assert last.endswith("two at once would draft and store every task twice")
    assert standin.request_count() == 0

    # A retrieve stores a draft of this version for one task while prefill drafts it.
    tasks = sorted(ls_client.tasks.list(project=project_id), key=lambda t: t.id)
    active = ActiveModel(MODEL_VERSION, "gpt-4o-mini", standin.base_url, "sk-test")

    def retrieve_meanwhile(_count: int) -> None:
        ls_client.predictions.create(
            task=tasks[0].id, model_version=MODEL_VERSION, **_draft_result("From a retrieve.")
        )

    drafter = Drafter.from_settings(e2e_settings)
    try:
        summary = prefill(ls_client, project_id, drafter, active, on_start=retrieve_meanwhile)
    finally:
        drafter.close()
    assert (summary.written, summary.raced) == (3, 1)
    assert task_predictions(ls_client, project_id) == {
        f"R-{i}": [MODEL_VERSION] for i in range(1, 5)
    }


def _draft_result(text: str) -> dict[str, Any]:
    prediction = draft_prediction(text, MODEL_VERSION)
    return {"result": prediction["result"]}
