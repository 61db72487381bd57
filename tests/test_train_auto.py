"""Auto mode: a webhook makes the hook count new annotations (in Label Studio, or a given
counter); at the threshold it exports and trains; forged webhooks train nothing."""

from __future__ import annotations

import logging
import socket
import threading
from pathlib import Path

import pytest

from redraft.backend.app import backend_state, create_app
from redraft.loop.auto import COUNTER, AutoTrainer, build_auto_trainer
from redraft.settings import Settings
from redraft.standin import FaultRule, StandinServer
from redraft.training.registry import ModelVersion, Registry
from redraft.training.source import RegistryModelSource
from tests.fixtures.evaluation import pinned_export
from tests.fixtures.training import lost_trl_run, write_export


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
        "REDRAFT_WEBHOOK_SECRET": "hook-secret",
        "LABEL_STUDIO_API_KEY": "ls-token",
        **env,
    }
    return Settings.from_env(values)


class Annotations:
    """New annotations per project, as Label Studio would count them; the tests set them."""

    def __init__(self) -> None:
        self.new: dict[int, int] = {}
        self.asked: list[int] = []

    def __call__(self, project: int) -> int:
        self.asked.append(project)
        return self.new.get(project, 0)


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
    counts = Annotations()
    hook = build_auto_trainer(auto_settings, export=exports, poll_interval=0.02, count_new=counts)
    assert isinstance(hook, AutoTrainer)
    registry = Registry(auto_settings.registry_path)
    counts.new[1] = 2
    hook("ANNOTATION_CREATED", _event(1))
    hook("TASKS_CREATED", {"action": "TASKS_CREATED"})  # not a trigger: nothing is counted
    hook.wait(10)
    assert (counts.asked, registry.get_meta(COUNTER)) == ([1], "2")
    assert (exports.calls, _job_posts(fast_standin), registry.list()) == ([], 0, [])
    counts.new[1] = 3
    hook("ANNOTATION_CREATED", _event(3))
    hook.wait(60)
    assert hook.last_error is None
    assert exports.calls == [1]
    assert _job_posts(fast_standin) == 1
    assert [(v.name, v.status, v.trainer) for v in registry.list()] == [
        ("v1", "candidate", "openai")
    ]
    assert registry.active() is None


def test_never_two_runs_at_once(
    settings: Settings, fast_standin: StandinServer, tmp_path: Path
) -> None:
    auto_settings = _auto_settings(settings, fast_standin, REDRAFT_AUTO_TRAIN_THRESHOLD="2")
    gate = threading.Event()
    exports = Exports(tmp_path / "exports", gate)
    counts = Annotations()
    counts.new[4] = 2
    hook = build_auto_trainer(auto_settings, export=exports, poll_interval=0.02, count_new=counts)
    assert isinstance(hook, AutoTrainer)
    assert hook.check(4) == 2
    assert hook.running
    counts.new[4] = 7
    for annotation_id in range(3, 8):  # past the threshold again while the first run works
        hook("ANNOTATION_CREATED", _event(annotation_id, project=4))
    assert hook.start(4) is False
    gate.set()
    hook.wait(60)
    assert exports.calls == [4]
    assert _job_posts(fast_standin) == 1


def test_a_training_row_in_the_registry_blocks_auto_mode(
    settings: Settings, fast_standin: StandinServer, tmp_path: Path
) -> None:
    auto_settings = _auto_settings(settings, fast_standin)
    registry = Registry(auto_settings.registry_path)
    registry.add(ModelVersion(name="v1", model_id="", trainer="openai", status="training"))
    exports = Exports(tmp_path / "exports")
    counts = Annotations()
    counts.new[1] = 4
    hook = build_auto_trainer(auto_settings, export=exports, poll_interval=0.02, count_new=counts)
    assert isinstance(hook, AutoTrainer)
    for annotation_id in range(1, 5):
        hook("ANNOTATION_CREATED", _event(annotation_id))
    hook.wait(10)
    assert (exports.calls, _job_posts(fast_standin), hook.running) == ([], 0, False)


@pytest.mark.train
@pytest.mark.parametrize("host", ["this", "another"])
def test_a_run_its_server_lost_does_not_block_auto_mode_for_ever(
    settings: Settings, fast_standin: StandinServer, tiny_model: Path, tmp_path: Path, host: str
) -> None:
    """`redraft serve` stopped or killed while auto mode trained leaves a `training` row whose
    process is gone: the restarted server trains anyway and marks that row failed. A row
    another host reserved cannot be checked from here, so it still blocks."""
    auto_settings = _auto_settings(
        settings,
        fast_standin,
        REDRAFT_AUTO_TRAIN_TRAINER="trl",
        REDRAFT_AUTO_TRAIN_BASE_MODEL=str(tiny_model),
        REDRAFT_AUTO_TRAIN_MAX_STEPS="1",
    )
    registry = Registry(auto_settings.registry_path)
    hostname = socket.gethostname() if host == "this" else "another-host"
    registry.add(lost_trl_run(hostname))
    exports = Exports(tmp_path / "exports")
    counts = Annotations()
    counts.new[1] = 3
    hook = build_auto_trainer(auto_settings, export=exports, poll_interval=0.02, count_new=counts)
    assert isinstance(hook, AutoTrainer)
    hook("ANNOTATION_CREATED", _event(1))
    hook.wait(600)
    assert hook.last_error is None
    rows = [(v.name, v.status, v.error) for v in registry.list()]
    if host == "this":
        assert exports.calls == [1]
        assert rows == [
            ("v1", "failed", "interrupted (process ended)"),
            ("v2", "candidate", None),
        ]
    else:
        assert exports.calls == []
        assert rows == [("v1", "training", None)]


def test_auto_promote_through_the_backend_webhook(
    settings: Settings, fast_standin: StandinServer, tmp_path: Path
) -> None:
    auto_settings = _auto_settings(settings, fast_standin, REDRAFT_AUTO_PROMOTE="true")
    pinned_export(auto_settings)  # project 1's evaluation set: 14 briefs the gate judges on
    exports = Exports(tmp_path / "exports")
    counts = Annotations()
    hook = build_auto_trainer(auto_settings, export=exports, poll_interval=0.02, count_new=counts)
    assert isinstance(hook, AutoTrainer)
    app = create_app(auto_settings, model_source=RegistryModelSource(auto_settings), on_event=hook)
    try:
        client = app.test_client()
        assert client.post("/setup", json={}).get_json() == {"model_version": "gpt-4o-mini"}
        secret = {"X-Redraft-Webhook-Secret": "hook-secret"}
        for annotation_id in range(1, 4):
            counts.new[1] = annotation_id
            reply = client.post("/webhook", json=_event(annotation_id), headers=secret)
            assert reply.get_json() == {"status": "ok", "action": "ANNOTATION_CREATED"}
            hook.wait(10)
        hook.wait(60)
        assert hook.last_error is None
        # Promoted into the project whose annotations trained it; other projects keep theirs.
        assert client.post("/setup", json={"project": "1.1764600000"}).get_json() == {
            "model_version": "v1"
        }
        assert client.post("/setup", json={"project": "2.1764600000"}).get_json() == {
            "model_version": "gpt-4o-mini"
        }
    finally:
        backend_state(app).close()


def test_auto_promote_refuses_a_candidate_that_writes_nothing(
    settings: Settings,
    fast_standin: StandinServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    auto_settings = _auto_settings(settings, fast_standin, REDRAFT_AUTO_PROMOTE="true")
    pinned_export(auto_settings)
    fast_standin.add_fault(FaultRule("empty", model="ft:"))  # every fine-tune answers ""
    counts = Annotations()
    exports = Exports(tmp_path / "exports")
    hook = build_auto_trainer(auto_settings, export=exports, poll_interval=0.02, count_new=counts)
    assert isinstance(hook, AutoTrainer)
    counts.new[1] = 3
    with caplog.at_level(logging.WARNING, logger="redraft.loop.auto"):
        hook("ANNOTATION_CREATED", _event(3))
        hook.wait(60)
    assert hook.last_error is None
    registry = Registry(auto_settings.registry_path)
    assert [(v.name, v.status) for v in registry.list()] == [("v1", "candidate")]
    assert registry.active(1) is None
    assert [r.getMessage() for r in caplog.records if r.name == "redraft.loop.auto"] == [
        "auto mode: v1 stays a candidate — not promoted: 14 of its drafts are faulty (14 empty; "
        "first: task 1, empty) where gpt-4o-mini's are not, so v1 fails the gate outright — "
        "check what its endpoint answers (`redraft eval` shows the faulty drafts), or `redraft "
        "models promote v1 --project 1 --force`"
    ]


def test_a_failed_auto_run_is_reported_not_raised(
    settings: Settings, fast_standin: StandinServer, tmp_path: Path
) -> None:
    auto_settings = _auto_settings(settings, fast_standin)

    def broken_export(_settings: Settings, _project: int | None) -> Path:
        return tmp_path / "missing"

    counts = Annotations()
    counts.new[1] = 3
    hook = build_auto_trainer(
        auto_settings, export=broken_export, poll_interval=0.02, count_new=counts
    )
    assert isinstance(hook, AutoTrainer)
    hook("ANNOTATION_CREATED", _event(3))
    hook.wait(30)
    assert hook.last_error == (
        f"{tmp_path / 'missing'} is not a complete export (no manifest.json) — pass a folder "
        "written by `redraft export`, or re-run the export"
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


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"REDRAFT_WEBHOOK_SECRET": ""},
            "REDRAFT_AUTO_TRAIN needs REDRAFT_WEBHOOK_SECRET (add it to the Label Studio webhook "
            "as the X-Redraft-Webhook-Secret header) or REDRAFT_BASIC_AUTH_USER/PASSWORD, so "
            "that no one else can start a training",
        ),
        (
            {"LABEL_STUDIO_API_KEY": ""},
            "REDRAFT_AUTO_TRAIN counts new annotations in Label Studio: set LABEL_STUDIO_URL "
            "and LABEL_STUDIO_API_KEY",
        ),
    ],
)
def test_auto_mode_refuses_to_start_where_anyone_could_trigger_it(
    settings: Settings, fast_standin: StandinServer, env: dict[str, str], message: str
) -> None:
    from redraft.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        build_auto_trainer(_auto_settings(settings, fast_standin, **env))
    assert str(err.value) == message


@pytest.mark.e2e
def test_a_forged_webhook_trains_nothing_the_real_count_does(
    settings: Settings, fast_standin: StandinServer, tmp_path: Path, ls_client, ls_settings
) -> None:  # type: ignore[no-untyped-def]
    """The count comes from Label Studio: a webhook claiming 50 annotations starts nothing."""
    import uuid

    from redraft.label_config import read_label_config
    from redraft.label_config.results import draft_prediction

    env = {
        "LABEL_STUDIO_URL": ls_settings.label_studio_url,
        "LABEL_STUDIO_API_KEY": ls_settings.label_studio_api_key or "",
    }
    auto_settings = _auto_settings(settings, fast_standin, **env)
    exports = Exports(tmp_path / "exports")
    hook = build_auto_trainer(auto_settings, export=exports, poll_interval=0.02)
    assert isinstance(hook, AutoTrainer)
    made = ls_client.projects.create(
        title=f"auto e2e {uuid.uuid4().hex[:8]}", label_config=read_label_config()
    )
    ls_client.projects.import_tasks(
        made.id,
        request=[
            {"data": {"brief": f"Offer a demo to shop {i}."},
             "predictions": [draft_prediction(f"Draft {i}.", "v0")]}
            for i in range(3)
        ],
    )  # fmt: skip
    tasks = [t.model_dump() for t in ls_client.tasks.list(project=made.id, fields="all")]
    forged = {"annotation": [{}] * 50, "project": {"id": made.id}}
    hook("ANNOTATIONS_CREATED", forged)
    hook.wait(30)
    assert (Registry(auto_settings.registry_path).get_meta(COUNTER), exports.calls) == ("0", [])

    for task in tasks:  # three real annotations reach the threshold
        ls_client.annotations.create(task["id"], result=task["predictions"][0]["result"])
        hook("ANNOTATION_CREATED", _event(0, project=made.id))
    hook.wait(60)
    assert hook.last_error is None
    assert exports.calls == [made.id]


def test_auto_mode_exports_keep_and_grow_the_evaluation_set(
    settings: Settings, fast_standin: StandinServer, ls_client, ls_settings
) -> None:  # type: ignore[no-untyped-def]
    """Auto mode's export pins the evaluation set like `redraft export`, and grows it."""
    import uuid
    from dataclasses import replace

    import pandas as pd

    from redraft.evaluation.evalset import EvalSet, load_evalset, save_evalset
    from redraft.label_config import read_label_config
    from redraft.label_config.results import annotation_result
    from redraft.loop.auto import export_with_exporters

    env = {
        "LABEL_STUDIO_URL": ls_settings.label_studio_url,
        "LABEL_STUDIO_API_KEY": ls_settings.label_studio_api_key or "",
    }
    auto_settings = _auto_settings(settings, fast_standin, **env)
    made = ls_client.projects.create(
        title=f"auto evalset {uuid.uuid4().hex[:8]}", label_config=read_label_config()
    )

    def annotate(first: int, count: int) -> None:
        ls_client.projects.import_tasks(
            made.id,
            request=[
                {"data": {"brief": f"Offer a demo to shop {i}.", "client": f"C{i % 2}"}}
                for i in range(first, first + count)
            ],
        )
        for task in ls_client.tasks.list(project=made.id, fields="all"):
            if not task.total_annotations:
                result = annotation_result(final=f"Hi, a demo for shop {task.id}?", rating=4)
                ls_client.annotations.create(task.id, result=result)

    def train_ids(export_dir: Path) -> set[int]:
        frame = pd.read_parquet(export_dir / "records.parquet", columns=["task_id", "split"])
        return {int(i) for i in frame.loc[frame["split"] == "train", "task_id"]}

    annotate(0, 12)
    first_dir = export_with_exporters(auto_settings, made.id)
    first = load_evalset(auto_settings.home, made.id)
    assert isinstance(first, EvalSet)
    assert (len(first.task_ids), first.trained_ids) == (2, train_ids(first_dir))

    save_evalset(auto_settings.home, replace(first, grow=4))  # `redraft evalset --grow 4`
    annotate(12, 8)
    second_dir = export_with_exporters(auto_settings, made.id)
    second = load_evalset(auto_settings.home, made.id)
    assert isinstance(second, EvalSet)
    # 2 + the 4 asked for + those of the new validation share no export trained on (task ids,
    # hence hash ranks, depend on what else this Label Studio holds).
    assert second.task_ids > first.task_ids and 6 <= len(second.task_ids) <= 8
    assert not second.task_ids & (first.trained_ids or set())  # none a version trained on
    assert not second.task_ids & train_ids(second_dir)  # and none trained on now
    assert second.grow == 0
