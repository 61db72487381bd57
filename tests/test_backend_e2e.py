"""The backend as the real Label Studio 1.23 calls it: basic auth, a failed task, webhooks."""

from __future__ import annotations

import base64
import time
from typing import Any

import pytest
import requests
from label_studio_sdk import LabelStudio

from redraft.label_config import read_label_config
from redraft.settings import Settings
from redraft.standin.server import FaultRule, StandinServer
from tests.fixtures.labelstudio import retrieve

pytestmark = pytest.mark.e2e

VERSION = "writer-backend-e2e"


def predictions_by_brief(client: LabelStudio, project_id: int) -> dict[str, list[str]]:
    """Each task's brief → the model versions of its stored predictions."""
    return {
        task.data["brief"]: sorted(p.model_version or "" for p in task.predictions or [])
        for task in client.tasks.list(project=project_id, fields="all")
    }


def test_retrieve_with_basic_auth_a_failing_task_and_webhooks(
    ls_client: LabelStudio,
    ls_settings: Settings,
    standin: StandinServer,
    backend_server: Any,
) -> None:
    settings = ls_settings.with_overrides(
        openai_base_url=standin.base_url,
        model_version=VERSION,
        max_retries=0,
        basic_auth_user="ls",
        basic_auth_password="pw-e2e",
    )
    backend = backend_server(settings)
    project = ls_client.projects.create(title="backend e2e", label_config=read_label_config())
    ls_client.ml.create(
        project=project.id,
        url=backend.url,
        title="redraft",
        auth_method="BASIC_AUTH",
        basic_auth_user="ls",
        basic_auth_pass="pw-e2e",
    )
    token = base64.b64encode(b"ls:pw-e2e").decode()
    ls_client.webhooks.create(
        url=f"{backend.url}/webhook",
        project=project.id,
        send_payload=True,
        send_for_all_actions=False,
        actions=["ANNOTATION_CREATED"],
        headers={"Authorization": f"Basic {token}"},
    )
    briefs = [f"Invite clinic {i} to a demo." for i in range(1, 5)]
    briefs[2] += " POISON"
    ls_client.projects.import_tasks(project.id, request=[{"brief": b} for b in briefs])
    ids = [t.id for t in ls_client.tasks.list(project=project.id)]

    # One "Retrieve predictions" for all four: the poisoned task fails alone.
    standin.add_fault(FaultRule("500", "POISON"))
    retrieve(ls_client, project.id, ids)
    expected = {b: [VERSION] for b in briefs} | {briefs[2]: []}
    assert predictions_by_brief(ls_client, project.id) == expected
    assert standin.request_count() == 4

    # Once the endpoint recovers, the next retrieve drafts only the missing task.
    standin.clear_faults()
    retrieve(ls_client, project.id, ids)
    assert predictions_by_brief(ls_client, project.id) == {b: [VERSION] for b in briefs}
    assert standin.request_count() == 5

    # An annotation reaches the backend's /webhook (with the basic-auth header).
    task = ls_client.tasks.get(str(ids[0]))
    annotation = ls_client.annotations.create(
        ids[0], result=task.predictions[0].result, parent_prediction=task.predictions[0].id
    )
    log = wait_for_webhook(backend.url, ("ls", "pw-e2e"))
    assert (log["counts"], log["last_annotation_ids"]) == (
        {"ANNOTATION_CREATED": 1},
        [annotation.id],
    )


def wait_for_webhook(url: str, auth: tuple[str, str], limit_s: float = 20.0) -> dict[str, Any]:
    """The backend's webhook log once it has heard something (webhooks may be async)."""
    deadline = time.monotonic() + limit_s
    while True:
        log = requests.get(f"{url}/metrics", auth=auth, timeout=5).json()["webhook_log"]
        if log["counts"] or time.monotonic() > deadline:
            return log
        time.sleep(0.2)
