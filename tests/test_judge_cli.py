"""`redraft judge` against the real Label Studio, with the stand-in as the judge model."""

from __future__ import annotations

import json
import subprocess

import pytest

from redraft.label_config import read_label_config
from redraft.label_config.results import draft_prediction
from redraft.prompting import load_template
from redraft.report.judge import judge_messages
from redraft.standin import FaultRule
from redraft.standin.chat import build_completion
from tests.fixtures.common import REDRAFT, clean_env

JUDGE = "stand-in"


def _briefs() -> list[dict[str, str]]:
    return [
        {"brief": f"Invite {name} to the spring product webinar.", "company": name}
        for name in ("Acme", "Globex", "Initech", "Umbrella", "Hooli")
    ]


def _expected(data: dict[str, str], draft: str) -> dict[str, object]:
    """What the stand-in answers the judge for one draft, as the task meta holds it."""
    body = {
        "model": JUDGE,
        "messages": judge_messages(data, draft, load_template(None)),
        "temperature": 0,
        "response_format": {"type": "json_object"},
    }
    answer = json.loads(build_completion(body, "id", 0)["choices"][0]["message"]["content"])
    return {JUDGE: {"score": answer["score"], "reason": answer["text"]}}


def _judge_verdicts(ls_client, project_id: int) -> dict[int, object]:
    """Each task's judge verdicts (task meta); no judge prediction may exist."""
    stored: dict[int, object] = {}
    for task in ls_client.tasks.list(project=project_id, fields="all"):
        dumped = task.model_dump(mode="json")
        versions = [p["model_version"] for p in dumped["predictions"]]
        assert not [v for v in versions if str(v).startswith("judge:")], versions
        verdicts = (dumped.get("meta") or {}).get("redraft_judge")
        if verdicts:
            stored[task.id] = verdicts
    return stored


@pytest.mark.e2e
def test_judge_a_project(label_studio, ls_client, redraft_home, standin):
    project = ls_client.projects.create(title="judge e2e", label_config=read_label_config())
    briefs = _briefs()
    drafts = [f"Subject: Spring webinar\n\nHi {b['company']} team, join us." for b in briefs]
    tasks = [
        {"data": b, "predictions": [draft_prediction(d, "v1")]}
        for b, d in zip(briefs, drafts, strict=True)
    ]
    tasks.append({"data": {"brief": "A brief nobody drafted yet."}})
    ls_client.projects.import_tasks(id=project.id, request=tasks)
    ids = sorted(t.id for t in ls_client.tasks.list(project=project.id))
    drafted = dict(zip(ids, zip(briefs, drafts, strict=True), strict=False))
    failing = ids[2]

    env = clean_env()
    env |= {
        "REDRAFT_HOME": str(redraft_home),
        "REDRAFT_MAX_RETRIES": "0",
        "REDRAFT_MAX_CONCURRENCY": "2",
        "OPENAI_BASE_URL": standin.base_url,
        "OPENAI_API_KEY": "sk-test",
        "LABEL_STUDIO_URL": label_studio.url,
        "LABEL_STUDIO_API_KEY": label_studio.login.token,
    }

    def judge(*extra: str) -> subprocess.CompletedProcess[str]:
        args = [REDRAFT, "judge", "--project", str(project.id), "--judge-model", JUDGE, *extra]
        return subprocess.run(args, capture_output=True, text=True, env=env, check=False)

    # One draft's judgement fails (HTTP 500 on every try); the other four are stored.
    standin.add_fault(FaultRule(kind="500", match=briefs[2]["brief"]))
    first = judge()
    assert first.returncode == 1, first.stderr
    lines = first.stderr.splitlines()
    assert f"task {failing}: not judged — the judge endpoint answered HTTP 500" in lines
    assert lines[-1] == (
        "judged 4 drafts with 'judge:stand-in', skipped 0 already judged, failed 1; "
        "1 task without a draft; re-run to retry the failed ones"
    )
    assert standin.request_count() == 5
    expected = {tid: _expected(*drafted[tid]) for tid in ids[:5] if tid != failing}
    assert _judge_verdicts(ls_client, project.id) == expected

    # A dry run reads Label Studio only: no model call.
    dry = judge("--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stderr.splitlines()[-1] == (
        "dry run: would judge 1 draft with 'judge:stand-in' (1 model call); "
        "4 already judged; 1 task without a draft"
    )
    assert standin.request_count() == 5

    # The fault is gone: the re-run judges only the failed draft.
    standin.clear_faults()
    second = judge()
    assert second.returncode == 0, second.stderr
    assert second.stderr.splitlines()[-1] == (
        "judged 1 draft with 'judge:stand-in', skipped 4 already judged, failed 0; "
        "1 task without a draft"
    )
    assert standin.request_count() == 6
    expected[failing] = _expected(*drafted[failing])
    assert _judge_verdicts(ls_client, project.id) == expected

    # Everything is judged: a third run calls nothing and stores nothing.
    third = judge()
    assert third.returncode == 0, third.stderr
    assert third.stderr.splitlines()[-1] == (
        "judged 0 drafts with 'judge:stand-in', skipped 5 already judged, failed 0; "
        "1 task without a draft"
    )
    assert standin.request_count() == 6
    assert _judge_verdicts(ls_client, project.id) == expected


@pytest.mark.e2e
def test_judge_limit_and_missing_project(label_studio, ls_client, redraft_home, standin):
    project = ls_client.projects.create(title="judge limit", label_config=read_label_config())
    tasks = [
        {"data": b, "predictions": [draft_prediction(f"Hi {b['company']}", "v1")]}
        for b in _briefs()
    ]
    ls_client.projects.import_tasks(id=project.id, request=tasks)
    env = clean_env()
    env |= {
        "REDRAFT_HOME": str(redraft_home),
        "OPENAI_BASE_URL": standin.base_url,
        "OPENAI_API_KEY": "sk-test",
        "LABEL_STUDIO_URL": label_studio.url,
        "LABEL_STUDIO_API_KEY": label_studio.login.token,
    }
    base = [REDRAFT, "judge", "--judge-model", JUDGE]
    done = subprocess.run(
        [*base, "--project", "judge limit", "--limit", "2"],  # a title works like an id
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines()[-1] == (
        "judged 2 drafts with 'judge:stand-in', skipped 0 already judged, failed 0; "
        "3 left for a later run (--limit)"
    )
    assert standin.request_count() == 2
    assert sum(len(v) for v in _judge_verdicts(ls_client, project.id).values()) == 2

    missing = subprocess.run(
        [*base, "--project", "999999"], capture_output=True, text=True, env=env, check=False
    )
    assert missing.returncode == 1
    assert missing.stderr.splitlines()[-1].startswith(
        "error: Label Studio has no project 999999 — pass one of: "
    )


@pytest.mark.e2e
def test_judge_predictions_of_an_earlier_redraft_leave_the_writers_form(
    label_studio, ls_client, redraft_home, standin
):
    """Label Studio pre-fills the form from a judge prediction: it is moved into task meta."""
    project = ls_client.projects.create(title="judge legacy", label_config=read_label_config())
    brief = _briefs()[0]
    ls_client.projects.import_tasks(
        id=project.id, request=[{"data": brief, "predictions": [draft_prediction("Hi", "v1")]}]
    )
    (task,) = list(ls_client.tasks.list(project=project.id))
    ls_client.predictions.create(
        task=task.id,
        model_version="judge:old",
        result=[
            {"from_name": "rating", "to_name": "brief", "type": "rating", "value": {"rating": 2}},
            {
                "from_name": "feedback",
                "to_name": "brief",
                "type": "textarea",
                "value": {"text": ["Too stiff."]},
            },
        ],
    )
    env = clean_env()
    env |= {
        "REDRAFT_HOME": str(redraft_home),
        "OPENAI_BASE_URL": standin.base_url,
        "OPENAI_API_KEY": "sk-test",
        "LABEL_STUDIO_URL": label_studio.url,
        "LABEL_STUDIO_API_KEY": label_studio.login.token,
    }
    args = [REDRAFT, "judge", "--project", str(project.id), "--judge-model", JUDGE]
    done = subprocess.run(args, capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines()[0] == (
        "moved 1 judge prediction of an earlier redraft into task meta (Label Studio "
        "pre-filled them into the writers' forms)"
    )
    verdicts = _judge_verdicts(ls_client, project.id)[task.id]
    assert verdicts == {"old": {"score": 2, "reason": "Too stiff."}, **_expected(brief, "Hi")}
    remaining = ls_client.tasks.get(str(task.id)).model_dump(mode="json")["predictions"]
    assert [p["model_version"] for p in remaining] == ["v1"]


FORM = (
    "(() => { const final = document.querySelector('textarea[name^=final]');"
    " const feedback = document.querySelector('textarea[name^=feedback]');"
    " if (!final || !feedback) return null;"
    " return JSON.stringify({final: final.value, feedback: feedback.value,"
    " stars: document.querySelectorAll('.ant-rate-star-full').length}); })()"
)


def read_form(browser) -> dict:  # type: ignore[no-untyped-def]
    """What the writer's form shows once the editor has settled (the same twice in a row)."""
    import time

    last = None
    for _ in range(20):
        now = browser.wait_for(FORM, timeout=60)
        if now == last:
            return json.loads(now)
        last = now
        time.sleep(1)
    return json.loads(last)


@pytest.mark.e2e
def test_a_writer_opening_a_judged_task_sees_the_draft_and_an_empty_form(
    label_studio, ls_client, ls_settings, standin, backend_server, browser, tmp_path
):
    """In headless Chromium, logged in to the real Label Studio (a project made by `redraft
    init` with the backend, drafted by `prefill`), after `redraft judge`. Task 2 also had a
    judge prediction of an earlier redraft, which Label Studio pre-filled into the form: no
    draft, the judge's stars and its feedback (seen before this fix)."""
    from tests.fixtures.browser import log_in, open_task
    from tests.fixtures.labelstudio import drafted_project, run_cli

    settings = ls_settings.with_overrides(openai_base_url=standin.base_url, model_version="v1")
    backend = backend_server(settings)
    project_id = drafted_project(settings, backend.url, "judge browser", _briefs()[:2], tmp_path)
    tasks = sorted(ls_client.tasks.list(project=project_id, fields="all"), key=lambda t: t.id)
    drafts = {t.id: t.predictions[0].result[0]["value"]["text"][0] for t in tasks}
    ls_client.predictions.create(  # what `redraft judge` stored before
        task=tasks[1].id,
        model_version="judge:old",
        score=0.4,
        result=[
            {"from_name": "rating", "to_name": "brief", "type": "rating", "value": {"rating": 2}},
            {"from_name": "feedback", "to_name": "brief", "type": "textarea",
             "value": {"text": ["Too stiff."]}},
        ],
    )  # fmt: skip
    judged = run_cli(["judge", "--project", str(project_id), "--judge-model", JUDGE], settings)
    assert judged.exit_code == 0, judged.output
    assert sorted(_judge_verdicts(ls_client, project_id)) == sorted(drafts)

    seen = {}
    log_in(browser, label_studio.url, label_studio.login)
    for task in tasks:
        open_task(browser, label_studio.url, project_id, task.id)
        seen[task.id] = read_form(browser)
    assert seen == {
        tid: {"final": draft, "feedback": "", "stars": 0} for tid, draft in drafts.items()
    }
