"""Auto mode: webhook events counted by the backend hook; at the threshold, export and train."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from redraft.backend.app import backend_state, create_app
from redraft.settings import Settings
from redraft.standin import StandinServer
from redraft.training.auto import COUNTER, AutoTrainer, annotations_in, build_auto_trainer
from redraft.training.registry import ModelVersion, Registry
from redraft.training.source import RegistryModelSource
from tests.fixtures.training import write_export


def _event(annotation_id: int, project: int = 1) -> dict[str, object]:
    return {
        "action": "ANNOTATION_CREATED",
        "annotation": {"id": annotation_id},
        "task": {"id": annotation_id, "project": project},
        "project": {"id": project},
    }


def _auto_settings(settings: Settings, standin: StandinServer, **env: str) -> Settings:
    values = {
        "REDRAFT_HOME": str(settings.home),
        "OPENAI_API_KEY": "sk-test-key",
        "OPENAI_BASE_URL": standin.base_url,
        "REDRAFT_AUTO_TRAIN": "true",
        "REDRAFT_AUTO_TRAIN_THRESHOLD": "3",
        **env,
    }
    return Settings.from_env(values)


def _job_posts(standin: StandinServer) -> int:
    return sum(
        1 for r in standin.requests if (r["method"], r["path"]) == ("POST", "/v1/fine_tuning/jobs")
    )


class Exports:
    """Writes a fresh export folder per call (what `redraft export` would write); can be gated."""

    def __init__(self, root: Path, gate: threading.Event | None = None) -> None:
        self.root = root
        self.gate = gate
        self.calls: list[int | None] = []

    def __call__(self, settings: Settings, project_id: int | None) -> Path:
        self.calls.append(project_id)
        if self.gate is not None:
            assert self.gate.wait(30), "test gate never opened"
        return write_export(self.root / f"export-{len(self.calls)}", rows=10 + len(self.calls))


def test_off_by_default(settings: Settings) -> None:
    assert build_auto_trainer(settings) is None


def test_threshold_starts_one_training_that_waits_as_candidate(
    settings: Settings, fast_standin: StandinServer, tmp_path: Path
) -> None:
    auto_settings = _auto_settings(settings, fast_standin)
    exports = Exports(tmp_path / "exports")
    hook = build_auto_trainer(auto_settings, export=exports, poll_interval=0.02)
    assert isinstance(hook, AutoTrainer)
    registry = Registry(auto_settings.registry_path)
    hook("ANNOTATION_CREATED", _event(1))
    hook("TASKS_CREATED", {"action": "TASKS_CREATED"})
    hook("ANNOTATION_CREATED", _event(2))
    assert registry.get_meta(COUNTER) == "2"
    assert (exports.calls, _job_posts(fast_standin), registry.list()) == ([], 0, [])
    hook("ANNOTATION_CREATED", _event(3))
    hook.wait(60)
    assert hook.last_error is None
    assert exports.calls == [1]
    assert _job_posts(fast_standin) == 1
    assert [(v.name, v.status, v.trainer) for v in registry.list()] == [
        ("v1", "candidate", "openai")
    ]
    assert registry.active() is None
    assert registry.get_meta(COUNTER) == "0"


def test_never_two_runs_at_once(
    settings: Settings, fast_standin: StandinServer, tmp_path: Path
) -> None:
    auto_settings = _auto_settings(settings, fast_standin, REDRAFT_AUTO_TRAIN_THRESHOLD="2")
    gate = threading.Event()
    exports = Exports(tmp_path / "exports", gate)
    hook = build_auto_trainer(auto_settings, export=exports, poll_interval=0.02)
    assert isinstance(hook, AutoTrainer)
    hook("ANNOTATIONS_CREATED", {"annotation": [{"id": 1}, {"id": 2}], "project": {"id": 4}})
    assert hook.running
    for annotation_id in range(3, 8):  # past the threshold again while the first run works
        hook("ANNOTATION_CREATED", _event(annotation_id, project=4))
    assert hook.start(4) is False
    gate.set()
    hook.wait(60)
    assert exports.calls == [4]
    assert _job_posts(fast_standin) == 1
    registry = Registry(auto_settings.registry_path)
    assert registry.get_meta(COUNTER) == "5"


def test_a_training_row_in_the_registry_blocks_auto_mode(
    settings: Settings, fast_standin: StandinServer, tmp_path: Path
) -> None:
    auto_settings = _auto_settings(settings, fast_standin)
    registry = Registry(auto_settings.registry_path)
    registry.add(ModelVersion(name="v1", model_id="", trainer="openai", status="training"))
    exports = Exports(tmp_path / "exports")
    hook = build_auto_trainer(auto_settings, export=exports, poll_interval=0.02)
    assert isinstance(hook, AutoTrainer)
    for annotation_id in range(1, 5):
        hook("ANNOTATION_CREATED", _event(annotation_id))
    hook.wait(10)
    assert (exports.calls, _job_posts(fast_standin), hook.running) == ([], 0, False)


def test_auto_promote_through_the_backend_webhook(
    settings: Settings, fast_standin: StandinServer, tmp_path: Path
) -> None:
    auto_settings = _auto_settings(settings, fast_standin, REDRAFT_AUTO_PROMOTE="true")
    exports = Exports(tmp_path / "exports")
    hook = build_auto_trainer(auto_settings, export=exports, poll_interval=0.02)
    assert isinstance(hook, AutoTrainer)
    app = create_app(auto_settings, model_source=RegistryModelSource(auto_settings), on_event=hook)
    try:
        client = app.test_client()
        assert client.post("/setup", json={}).get_json() == {"model_version": "gpt-4o-mini"}
        for annotation_id in range(1, 4):
            reply = client.post("/webhook", json=_event(annotation_id))
            assert reply.get_json() == {"status": "ok", "action": "ANNOTATION_CREATED"}
        hook.wait(60)
        assert hook.last_error is None
        assert client.post("/setup", json={}).get_json() == {"model_version": "v1"}
    finally:
        backend_state(app).close()


def test_a_failed_auto_run_is_reported_not_raised(
    settings: Settings, fast_standin: StandinServer, tmp_path: Path
) -> None:
    auto_settings = _auto_settings(settings, fast_standin)

    def broken_export(_settings: Settings, _project: int | None) -> Path:
        return tmp_path / "missing"

    hook = build_auto_trainer(auto_settings, export=broken_export, poll_interval=0.02)
    assert isinstance(hook, AutoTrainer)
    for annotation_id in range(1, 4):
        hook("ANNOTATION_CREATED", _event(annotation_id))
    hook.wait(30)
    assert hook.last_error == (
        f"{tmp_path / 'missing'} has no manifest.json — pass a folder written by `redraft export`"
    )
    assert _job_posts(fast_standin) == 0


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"REDRAFT_AUTO_TRAIN_TRAINER": "sagemaker"},
            "REDRAFT_AUTO_TRAIN_TRAINER must be openai or trl",
        ),
        (
            {"REDRAFT_AUTO_TRAIN_THRESHOLD": "0"},
            "REDRAFT_AUTO_TRAIN_THRESHOLD must be at least 1 — e.g. 50",
        ),
    ],
)
def test_auto_settings_are_checked(env: dict[str, str], message: str) -> None:
    from redraft.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        Settings.from_env({"REDRAFT_AUTO_TRAIN": "true", **env})
    assert str(err.value) == message


def test_counts_annotations_per_event() -> None:
    assert [
        annotations_in("ANNOTATION_CREATED", {"annotation": {"id": 1}}),
        annotations_in("ANNOTATIONS_CREATED", {"annotation": [{"id": 1}, {"id": 2}, {"id": 3}]}),
        annotations_in("ANNOTATION_UPDATED", {"annotation": {"id": 1}}),
        annotations_in("START_TRAINING", {}),
    ] == [1, 3, 0, 0]
