"""The ML backend's HTTP protocol: every endpoint over loopback, the rest in-process."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from redraft.backend.app import backend_state, create_app
from redraft.backend.versions import ActiveModel
from redraft.settings import Settings
from redraft.standin.server import FaultRule, StandinServer
from tests.fixtures.drafting import make_tasks, stand_in_draft
from tests.fixtures.scoring import scored

HOOK_SECRET = "hook-secret"
HOOK = {"X-Redraft-Webhook-Secret": HOOK_SECRET}  # what Label Studio's webhook sends


@pytest.fixture
def app_settings(settings: Settings, standin: StandinServer) -> Settings:
    return settings.with_overrides(
        openai_base_url=standin.base_url, max_retries=0, webhook_secret=HOOK_SECRET
    )


@pytest.fixture
def make_app() -> Iterator[Any]:
    apps: list[Flask] = []

    def make(settings: Settings, **kwargs: Any) -> Flask:
        app = create_app(settings, **kwargs)
        apps.append(app)
        return app

    yield make
    for app in apps:
        backend_state(app).close()


@pytest.fixture
def client(make_app: Any, app_settings: Settings) -> FlaskClient:
    return make_app(app_settings).test_client()


@dataclass
class SwitchableSource:
    """A stand-in for the model registry: the active version can change between requests."""

    current: ActiveModel

    def active(self, project_id: int | None = None) -> ActiveModel:
        return self.current

    def versions(self) -> list[str]:
        return ["writer-v1", "writer-v2"]


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def test_every_endpoint_over_loopback(
    backend_server: Any, app_settings: Settings, standin: StandinServer
) -> None:
    settings = app_settings.with_overrides(model_version="writer-v1")
    url = backend_server(settings).url
    health = {"status": "UP", "model_class": "RedraftModel"}
    assert requests.get(f"{url}/health", timeout=5).json() == health
    assert requests.get(f"{url}/", timeout=5).json() == health
    setup = requests.post(
        f"{url}/setup",
        json={"project": "1.1700000000", "schema": "<View/>", "access_token": "t"},
        timeout=5,
    )
    assert (setup.status_code, setup.json()) == (200, {"model_version": "writer-v1"})
    tasks = make_tasks(3)
    body = {"tasks": tasks, "project": "1.1700000000", "label_config": "<View/>", "params": {}}
    predict = requests.post(f"{url}/predict", json=body, timeout=30)
    assert predict.status_code == 200
    assert predict.json() == {
        "results": [
            scored(stand_in_draft(settings, t["data"]), t["data"], "writer-v1") for t in tasks
        ],
        "model_version": "writer-v1",
    }
    webhook = requests.post(
        f"{url}/webhook",
        json={"action": "ANNOTATION_CREATED", "annotation": {"id": 11}},
        headers=HOOK,
        timeout=5,
    )
    assert webhook.json() == {"status": "ok", "action": "ANNOTATION_CREATED"}
    versions = {"versions": ["writer-v1"], "active": "writer-v1"}
    assert requests.get(f"{url}/versions", timeout=5).json() == versions
    assert requests.post(f"{url}/versions", json={"project": "1.1"}, timeout=5).json() == versions
    metrics = requests.get(f"{url}/metrics", timeout=5).json()
    del metrics["uptime_s"], metrics["webhook_log"]["last_event_at"]
    assert metrics == {
        "requests": {
            "/health": 1,
            "/": 1,
            "/setup": 1,
            "/predict": 1,
            "/webhook": 1,
            "/versions": 2,
        },
        "responses": {"200": 7},
        "drafts": {"tasks": 3, "generated": 3, "cached": 0, "failed": 0},
        "cache": {"enabled": True, "hits": 0, "misses": 3},
        "failures": {},
        "webhooks": {"ANNOTATION_CREATED": 1},
        "webhook_log": {"counts": {"ANNOTATION_CREATED": 1}, "last_annotation_ids": [11]},
    }


def test_prediction_model_version_follows_the_active_version(
    make_app: Any, app_settings: Settings, standin: StandinServer
) -> None:
    source = SwitchableSource(ActiveModel("writer-v1", "gpt-4o-mini", standin.base_url, "sk-a"))
    client = make_app(app_settings, model_source=source).test_client()
    for name in ("writer-v1", "writer-v2"):
        source.current = ActiveModel(name, "gpt-4o-mini", standin.base_url, "sk-a")
        version = client.post("/setup", json={}).get_json()["model_version"]
        results = client.post("/predict", json={"tasks": make_tasks(2)}).get_json()["results"]
        assert (version, [r["model_version"] for r in results]) == (name, [name, name])
    assert client.get("/versions").get_json() == {
        "versions": ["writer-v1", "writer-v2"],
        "active": "writer-v2",
    }


def test_failed_task_gets_an_empty_slot_and_is_counted(
    client: FlaskClient,
    app_settings: Settings,
    standin: StandinServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    standin.add_fault(FaultRule("500", "POISON"))
    tasks = make_tasks(8, poison={5: "POISON"})
    with caplog.at_level(logging.WARNING):
        response = client.post("/predict", json={"tasks": tasks})
    expected: list[Any] = [
        scored(stand_in_draft(app_settings, t["data"]), t["data"], "gpt-4o-mini") for t in tasks
    ]
    expected[5] = []
    assert response.get_json() == {"results": expected, "model_version": "gpt-4o-mini"}
    assert "task 105: no draft — model server error (HTTP 500)" in caplog.messages
    metrics = client.get("/metrics").get_json()
    assert (metrics["drafts"], metrics["failures"]) == (
        {"tasks": 8, "generated": 7, "cached": 0, "failed": 1},
        {"server_error": 1},
    )


def test_second_predict_is_served_from_the_cache(
    client: FlaskClient, standin: StandinServer
) -> None:
    tasks = make_tasks(5)
    first = client.post("/predict", json={"tasks": tasks}).get_json()
    second = client.post("/predict", json={"tasks": tasks}).get_json()
    assert second == first
    assert standin.request_count() == 5
    assert client.get("/metrics").get_json()["cache"] == {"enabled": True, "hits": 5, "misses": 5}


@pytest.fixture
def auth_client(make_app: Any, app_settings: Settings) -> FlaskClient:
    settings = app_settings.with_overrides(basic_auth_user="ls", basic_auth_password="pw-1")
    return make_app(settings).test_client()


@pytest.mark.parametrize(
    "headers",
    [{}, basic("ls", "wrong"), basic("other", "pw-1"), {"Authorization": "Basic !!notb64"}],
    ids=["none", "wrong-password", "wrong-user", "garbage"],
)
def test_basic_auth_refuses_bad_credentials(
    auth_client: FlaskClient, headers: dict[str, str]
) -> None:
    response = auth_client.post("/setup", json={}, headers=headers)
    assert (response.status_code, response.get_json()) == (
        401,
        {"error": "authentication required"},
    )
    assert response.headers["WWW-Authenticate"] == 'Basic realm="redraft"'


def test_basic_auth_accepts_the_credentials_and_leaves_health_open(
    auth_client: FlaskClient,
) -> None:
    assert auth_client.post("/setup", json={}, headers=basic("ls", "pw-1")).status_code == 200
    assert auth_client.get("/metrics", headers=basic("ls", "pw-1")).status_code == 200
    assert auth_client.get("/metrics").status_code == 401
    assert auth_client.get("/health").status_code == 200


def test_basic_auth_over_loopback(backend_server: Any, app_settings: Settings) -> None:
    settings = app_settings.with_overrides(basic_auth_user="ls", basic_auth_password="pw-1")
    url = backend_server(settings).url
    assert requests.post(f"{url}/setup", json={}, timeout=5).status_code == 401
    ok = requests.post(f"{url}/setup", json={}, auth=("ls", "pw-1"), timeout=5)
    assert (ok.status_code, ok.json()) == (200, {"model_version": "gpt-4o-mini"})


def test_webhook_records_known_events_and_calls_the_hook(
    make_app: Any, app_settings: Settings
) -> None:
    heard: list[tuple[str, dict[str, Any]]] = []
    client = make_app(app_settings, on_event=lambda a, p: heard.append((a, p))).test_client()
    events = [
        {"action": "ANNOTATION_CREATED", "annotation": {"id": 1}, "task": {"id": 10}},
        {"action": "ANNOTATION_UPDATED", "annotation": {"id": 1}, "task": {"id": 10}},
        {"action": "ANNOTATIONS_DELETED", "annotations": [{"id": 1}, {"id": 2}]},
        {"action": "START_TRAINING", "project": {"id": 3}},
        {"action": "PROJECT_UPDATED", "project": {"id": 3}},
    ]
    answers = [client.post("/webhook", json=e, headers=HOOK).get_json() for e in events]
    assert answers == [{"status": "ok", "action": e["action"]} for e in events]
    assert heard == [(e["action"], e) for e in events]
    log = client.get("/metrics").get_json()["webhook_log"]
    del log["last_event_at"]
    assert log == {
        "counts": {
            "ANNOTATION_CREATED": 1,
            "ANNOTATION_UPDATED": 1,
            "ANNOTATIONS_DELETED": 1,
            "START_TRAINING": 1,
            "PROJECT_UPDATED": 1,
        },
        "last_annotation_ids": [1, 1, 1, 2],
    }


@pytest.mark.parametrize(
    ("body", "action"),
    [
        ({"action": "LABEL_LINK_CREATED", "label_link": {}}, "LABEL_LINK_CREATED"),
        ({"action": "SOMETHING_FROM_THE_FUTURE"}, "SOMETHING_FROM_THE_FUTURE"),
        ({"no": "action"}, "UNKNOWN"),
    ],
)
def test_unknown_webhook_event_is_ignored_without_error(
    make_app: Any, app_settings: Settings, body: dict[str, Any], action: str
) -> None:
    heard: list[str] = []
    client = make_app(app_settings, on_event=lambda a, p: heard.append(a)).test_client()
    response = client.post("/webhook", json=body, headers=HOOK)
    assert (response.status_code, response.get_json()) == (
        200,
        {"status": "ignored", "action": action},
    )
    assert heard == []


NOT_TASKS = "`tasks` must be a list of task objects"


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "error"),
    [
        ("post", "/predict", {"data": "{not json"}, 400, "the request body must be a JSON object"),
        ("post", "/predict", {"json": [1, 2]}, 400, "the request body must be a JSON object"),
        (
            "post",
            "/predict",
            {"data": "[" * 200_000 + "]" * 200_000, "content_type": "application/json"},
            400,
            "the request body is nested too deeply to be a task",
        ),
        (
            "post",
            "/predict",
            {"json": {"tasks": "x"}},
            400,
            "`tasks` must be a list of task objects",
        ),
        ("post", "/predict", {"json": {}}, 400, "`tasks` must be a list of task objects"),
        (
            "post",
            "/webhook",
            {"data": "nope", "headers": HOOK},
            400,
            "the request body must be a JSON object",
        ),
        ("post", "/setup", {"data": "{"}, 400, "the request body must be a JSON object"),
        ("get", "/predict", {}, 405, "The method is not allowed for the requested URL."),
        ("get", "/nope", {}, 404, None),
    ],
)
def test_errors_are_short_json(
    client: FlaskClient,
    method: str,
    path: str,
    kwargs: dict[str, Any],
    status: int,
    error: str | None,
) -> None:
    response = getattr(client, method)(path, **kwargs)
    assert response.status_code == status
    body = response.get_json()
    assert list(body) == ["error"]
    if error is not None:
        assert body["error"] == error


@pytest.mark.parametrize(
    ("secret", "headers", "status", "error"),
    [
        (
            None,
            HOOK,
            403,
            "webhooks are refused until REDRAFT_WEBHOOK_SECRET (sent by Label Studio as the "
            "X-Redraft-Webhook-Secret header) or basic auth is set",
        ),
        (HOOK_SECRET, {}, 401, "missing or wrong X-Redraft-Webhook-Secret header"),
        (
            HOOK_SECRET,
            {"X-Redraft-Webhook-Secret": "guess"},
            401,
            "missing or wrong X-Redraft-Webhook-Secret header",
        ),
    ],
)
def test_a_webhook_without_the_shared_secret_is_refused(
    make_app: Any,
    app_settings: Settings,
    secret: str | None,
    headers: dict[str, str],
    status: int,
    error: str,
) -> None:
    """A forged webhook never reaches the hook (auto mode counts and trains from it)."""
    heard: list[str] = []
    settings = replace(app_settings, webhook_secret=secret)
    client = make_app(settings, on_event=lambda a, p: heard.append(a)).test_client()
    forged = {"action": "ANNOTATIONS_CREATED", "annotation": [{}] * 50, "project": {"id": 1}}
    response = client.post("/webhook", json=forged, headers=headers)
    assert (response.status_code, response.get_json(), heard) == (status, {"error": error}, [])


def test_setup_accepts_an_empty_body(client: FlaskClient) -> None:
    assert client.post("/setup").get_json() == {"model_version": "gpt-4o-mini"}


def test_unexpected_error_is_logged_not_returned(
    make_app: Any, app_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    def hook(action: str, payload: dict[str, Any]) -> None:
        raise RuntimeError("auto-training exploded at line 42")

    client = make_app(app_settings, on_event=hook).test_client()
    with caplog.at_level(logging.ERROR, logger="redraft.backend.app"):
        response = client.post("/webhook", json={"action": "START_TRAINING"}, headers=HOOK)
    assert (response.status_code, response.get_json()) == (
        500,
        {"error": "internal error — see the backend log"},
    )
    assert [r.exc_info[1].args for r in caplog.records if r.exc_info] == [
        ("auto-training exploded at line 42",)
    ]


def test_missing_api_key_is_a_clear_json_error(
    make_app: Any, settings: Settings, standin: StandinServer
) -> None:
    no_key = Settings.from_env({"REDRAFT_HOME": str(settings.home)}).with_overrides(
        openai_base_url=standin.base_url
    )
    response = make_app(no_key).test_client().post("/predict", json={"tasks": make_tasks(1)})
    assert (response.status_code, response.get_json()) == (
        500,
        {
            "error": "OPENAI_API_KEY is not set — export it (any non-empty value works for a "
            "local OpenAI-compatible server such as `redraft local serve`, vLLM or Ollama)"
        },
    )


def test_metrics_in_prometheus_text(client: FlaskClient) -> None:
    client.post("/predict", json={"tasks": make_tasks(1)})
    response = client.get("/metrics?format=prometheus")
    assert response.mimetype == "text/plain"
    lines = response.get_data(as_text=True).splitlines()
    assert lines[1:] == [
        'redraft_requests_total{endpoint="/predict"} 1',
        'redraft_responses_total{status="200"} 1',
        'redraft_drafts_total{outcome="tasks"} 1',
        'redraft_drafts_total{outcome="generated"} 1',
        'redraft_drafts_total{outcome="cached"} 0',
        'redraft_drafts_total{outcome="failed"} 0',
        "redraft_cache_hits_total 0",
        "redraft_cache_misses_total 1",
    ]


def test_no_secret_in_logs_or_responses(
    backend_server: Any,
    settings: Settings,
    standin: StandinServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    api_key = "sk-redraft-LEAKCHECK-7f3a9c"
    password = "pw-LEAKCHECK-51d0"
    ls_token = "ls-token-LEAKCHECK-0b2e"
    secrets = (api_key, password, ls_token)
    configured = settings.with_overrides(
        openai_api_key=api_key,
        openai_base_url=standin.base_url,
        max_retries=0,
        request_timeout=0.5,
        basic_auth_user="ls",
        basic_auth_password=password,
    )
    standin.add_fault(FaultRule("500", "POISON"))
    standin.add_fault(FaultRule("hang", "SLOW"))
    caplog.set_level(logging.DEBUG)
    url = backend_server(configured).url
    auth = ("ls", password)
    responses = [
        requests.post(
            f"{url}/setup",
            json={"project": "1.1", "access_token": ls_token, "hostname": "http://x"},
            auth=auth,
            timeout=5,
        ),
        requests.post(
            f"{url}/predict",
            json={"tasks": make_tasks(3, poison={0: "POISON", 1: "SLOW"}), "project": "1.1"},
            auth=auth,
            timeout=30,
        ),
        requests.post(f"{url}/predict", data="{", auth=auth, timeout=5),
        requests.post(f"{url}/setup", auth=("ls", "bad"), timeout=5),
        requests.get(f"{url}/metrics", auth=auth, timeout=5),
        requests.get(f"{url}/metrics?format=prometheus", auth=auth, timeout=5),
        requests.post(f"{url}/webhook", json={"action": "X", "token": ls_token}, auth=auth),
    ]
    assert [r.status_code for r in responses] == [200, 200, 400, 401, 200, 200, 200]
    assert standin.request_count() == 3  # the key was really sent, and really failed twice
    assert len(caplog.records) > 0
    for record in caplog.records:
        text = f"{record.getMessage()} {record.exc_text or ''} {record.args!r}"
        assert not any(secret in text for secret in secrets), record.name
    for response in responses:
        text = f"{response.headers!r} {response.text}"
        assert not any(secret in text for secret in secrets), response.url


def test_a_notes_version_drafts_with_its_own_template(
    make_app: Any,
    app_settings: Settings,
    standin: StandinServer,
    tmp_path: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A version from `redraft styles apply` carries its template; promotion switches prompts."""
    template = tmp_path / "notes.toml"
    template.write_text(
        'system = "Write."\nuser = "{brief}"\n'
        '[[clients."Acme".learned]]\nrule = "Open with \\"Hi {first_name},\\""\n'
    )
    plain = ActiveModel("writer-v1", "gpt-4o-mini", standin.base_url, "sk-a")
    source = SwitchableSource(plain)
    client = make_app(app_settings, model_source=source).test_client()
    task = {"id": 1, "data": {"brief": "Offer a demo.", "client": "Acme", "recipient": "Bo Li"}}

    def system_prompt() -> str:
        client.post("/predict", json={"tasks": [task]})
        return standin.requests[-1]["json"]["messages"][0]["content"]

    assert "Open with" not in system_prompt()
    source.current = ActiveModel(
        "notes-v2", "gpt-4o-mini", standin.base_url, "sk-a", template_path=str(template)
    )
    assert system_prompt() == 'Write.\n\nClient style notes:\n- Open with "Hi Bo,"'

    source.current = ActiveModel(
        "notes-v3", "gpt-4o-mini", standin.base_url, "sk-a", template_path=str(tmp_path / "gone")
    )
    calls = standin.request_count()
    results = client.post("/predict", json={"tasks": [task]}).get_json()["results"]
    assert results == [[]]  # an empty slot, as for any task that could not be drafted
    assert standin.request_count() == calls  # nothing was sent to the model
    assert "model version notes-v3: cannot read prompt template" in caplog.text

    # Trained on another host: the recorded path is not here, a copy by name in this host's
    # REDRAFT_HOME/templates is what it drafts with.
    copied = app_settings.home / "templates" / "export-1a2b3c.toml"
    copied.parent.mkdir(parents=True, exist_ok=True)
    copied.write_text(template.read_text().replace("Write.", "Write briefly."))
    source.current = ActiveModel(
        "trained-v4",
        "gpt-4o-mini",
        standin.base_url,
        "sk-a",
        template_path="/training-host/redraft-home/templates/export-1a2b3c.toml",
    )
    assert system_prompt() == 'Write briefly.\n\nClient style notes:\n- Open with "Hi Bo,"'


def test_a_poison_task_gets_an_empty_slot_and_its_neighbours_are_drafted(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    deep: Any = "x"
    for _ in range(400):
        deep = [deep]
    body = json.dumps({"tasks": [{"id": 1, "data": {"brief": "Offer a demo."}}]})
    poison = [
        body.replace("]}", ', {"id": 2, "data": {"brief": "Hi \\ud83d"}}]}'),  # lone surrogate
        json.dumps(
            {
                "tasks": [
                    {"id": 1, "data": {"brief": "Offer a demo."}},
                    {"id": 2, "data": {"brief": "Hi", "extra": deep}},
                ]
            }
        ),
    ]
    reasons = []
    for raw in poison:
        caplog.clear()
        response = client.post("/predict", data=raw, content_type="application/json")
        results = response.get_json()["results"]
        assert (response.status_code, len(results), results[1]) == (200, 2, [])
        assert results[0]["result"][0]["value"]["text"][0]
        reasons += [r.getMessage() for r in caplog.records if "task 2: no draft" in r.getMessage()]
    assert reasons == [
        "task 2: no draft — task field `brief` holds a lone surrogate (not valid Unicode text)",
        "task 2: no draft — task field `extra` is nested deeper than 8 lists",
    ]


def test_a_body_over_the_limit_is_refused_with_413(make_app: Any, app_settings: Settings) -> None:
    client = make_app(app_settings.with_overrides(max_body_mb=1)).test_client()
    huge = {"tasks": [{"id": 1, "data": {"brief": "x" * (2 * 1024 * 1024)}}]}
    response = client.post("/predict", json=huge)
    assert (response.status_code, response.get_json()) == (
        413,
        {
            "error": "request body over 1 MB — send fewer tasks per request, or raise "
            "REDRAFT_MAX_BODY_MB"
        },
    )


def test_each_project_drafts_with_its_own_version(
    make_app: Any, app_settings: Settings, standin: StandinServer
) -> None:
    """Label Studio sends "ID.TIMESTAMP" as `project` to /setup and /predict: a project with a
    version of its own gets it; any other project gets the default one."""
    from redraft.training.registry import ModelVersion, Registry
    from redraft.training.source import RegistryModelSource

    registry = Registry(app_settings.registry_path)
    registry.add(ModelVersion(name="v1", model_id="gpt-4o-mini", base_url=standin.base_url))
    registry.promote("v1")
    registry.add(
        ModelVersion(name="v2", model_id="gpt-4o-mini", base_url=standin.base_url, projects=(2,))
    )
    registry.promote("v2", project_id=2)
    client = make_app(app_settings, model_source=RegistryModelSource(app_settings)).test_client()
    task = {"id": 1, "data": {"brief": "Offer a demo."}}
    answers = {
        project: (
            client.post("/setup", json={"project": project}).get_json()["model_version"],
            client.post("/predict", json={"tasks": [task], "project": project}).get_json()[
                "model_version"
            ],
        )
        for project in ("2.1764600000", "1.1764500000", None)
    }
    assert answers == {
        "2.1764600000": ("v2", "v2"),
        "1.1764500000": ("v1", "v1"),
        None: ("v1", "v1"),
    }


@pytest.mark.parametrize("project", ["1.5.6", "01", "01.1764600000", "1.", ".1764600000", "x", 0])
def test_a_project_field_not_id_dot_timestamp_is_refused(
    make_app: Any, app_settings: Settings, standin: StandinServer, project: object
) -> None:
    """Read loosely, "1.5.6" and "01" were project 1 and got project 1's version."""
    from redraft.training.registry import ModelVersion, Registry
    from redraft.training.source import RegistryModelSource

    registry = Registry(app_settings.registry_path)
    registry.add(ModelVersion(name="v1", model_id="gpt-4o-mini", base_url=standin.base_url))
    registry.promote("v1")
    registry.add(ModelVersion(name="v2", model_id="gpt-4o-mini", projects=(1,)))
    registry.promote("v2", project_id=1)
    client = make_app(app_settings, model_source=RegistryModelSource(app_settings)).test_client()
    refusal = {
        "error": f'`project` {project!r} is not Label Studio\'s "ID.TIMESTAMP" (such as '
        '"3.1764600000") — send the project as Label Studio does, or none'
    }
    setup = client.post("/setup", json={"project": project})
    assert (setup.status_code, setup.get_json()) == (400, refusal)
    task = {"id": 1, "data": {"brief": "Offer a demo."}}
    predict = client.post("/predict", json={"tasks": [task], "project": project})
    assert (predict.status_code, predict.get_json()) == (400, refusal)
    accepted = ("1.1764600000", "1", 1, "2.1764600000", None)
    assert [
        client.post("/setup", json={"project": p}).get_json()["model_version"] for p in accepted
    ] == ["v2", "v2", "v2", "v1", "v1"]
