"""The model registry, `redraft models`, and the backend following the active version."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from redraft.backend.app import backend_state, create_app
from redraft.backend.versions import ActiveModel
from redraft.cli.main import cli
from redraft.prompting import load_template
from redraft.settings import Settings
from redraft.training.errors import RegistryError, TrainingInProgressError
from redraft.training.registry import ModelVersion, Registry
from redraft.training.source import RegistryModelSource


def _version(name: str, **changes: object) -> ModelVersion:
    base = ModelVersion(name=name, model_id=f"ft:gpt-4o-mini:acme::{name}", trainer="openai")
    return replace(base, **changes)  # type: ignore[arg-type]


def _statuses(registry: Registry) -> dict[str, str]:
    return {v.name: v.status for v in registry.list()}


def test_add_and_read_back_the_whole_row(registry: Registry) -> None:
    stored = registry.add(
        _version(
            "v1",
            base_url="http://127.0.0.1:1/v1",
            base_model="gpt-4o-mini",
            manifest_sha256="m" * 64,
            template_sha256="t" * 64,
            job_id="ftjob-1",
            idempotency_key="k" * 64,
            metrics={"trained_tokens": 10},
            created_at="2026-11-22T10:00:00+00:00",
            projects=(3,),
        )
    )
    assert registry.get("v1") == stored
    assert registry.get("v1").as_dict() == {
        "name": "v1",
        "model_id": "ft:gpt-4o-mini:acme::v1",
        "base_url": "http://127.0.0.1:1/v1",
        "base_model": "gpt-4o-mini",
        "parent": None,
        "trainer": "openai",
        "manifest_sha256": "m" * 64,
        "template_sha256": "t" * 64,
        "job_id": "ftjob-1",
        "idempotency_key": "k" * 64,
        "status": "candidate",
        "created_at": "2026-11-22T10:00:00+00:00",
        "metrics": {"trained_tokens": 10},
        "export_dir": None,
        "error": None,
        "pid": None,
        "projects": (3,),
    }


def test_promote_keeps_exactly_one_active_and_rollback_walks_back(registry: Registry) -> None:
    for name in ("v1", "v2", "v3"):
        registry.add(_version(name))
    registry.promote("v1")
    registry.promote("v2")
    registry.promote("v3")
    assert _statuses(registry) == {"v1": "retired", "v2": "retired", "v3": "active"}
    retired, active = registry.rollback()
    assert (retired.name, active.name) == ("v3", "v2")
    assert _statuses(registry) == {"v1": "retired", "v2": "active", "v3": "retired"}
    registry.rollback()
    assert _statuses(registry) == {"v1": "active", "v2": "retired", "v3": "retired"}
    retired, active = registry.rollback()
    assert (retired.name, active) == ("v1", None)
    assert _statuses(registry) == {"v1": "retired", "v2": "retired", "v3": "retired"}
    with pytest.raises(RegistryError) as err:
        registry.rollback()
    assert str(err.value) == "no active version to roll back — see `redraft models list`"


def test_rolling_back_the_first_version_falls_back_to_the_settings_model(
    settings: Settings,
) -> None:
    registry = Registry(settings.registry_path)
    registry.add(_version("v1"))
    registry.promote("v1")
    source = RegistryModelSource(settings, registry)
    assert source.active().name == "v1"
    result = CliRunner().invoke(
        cli, ["models", "rollback"], env={"REDRAFT_HOME": str(settings.home)}
    )
    assert result.exit_code == 0, result.output
    assert result.stderr.strip().splitlines()[-1] == (
        "rolled back: retired v1; no registry version is active, so drafting falls back to "
        "the settings model 'gpt-4o-mini' (version 'gpt-4o-mini')"
    )
    assert source.active().name == settings.active_model_version


def test_promoting_unknown_training_or_failed_versions_is_refused(registry: Registry) -> None:
    registry.add(_version("v1", status="training", model_id=""))
    registry.add(_version("v2", status="failed", error="job failed at step 3"))
    with pytest.raises(RegistryError) as unknown:
        registry.promote("v9")
    assert str(unknown.value) == "no model version named 'v9' — see `redraft models list`"
    with pytest.raises(RegistryError) as training:
        registry.promote("v1")
    assert str(training.value) == (
        "cannot promote v1: its training has not finished (see `redraft status`) — "
        "promote a candidate from `redraft models list`"
    )
    with pytest.raises(RegistryError) as failed:
        registry.promote("v2")
    assert str(failed.value) == (
        "cannot promote v2: its training failed (job failed at step 3) — "
        "promote a candidate from `redraft models list`"
    )


def test_only_one_version_trains_at_a_time(registry: Registry) -> None:
    registry.add(_version("v1", status="training", model_id="", job_id="ftjob-1"))
    with pytest.raises(TrainingInProgressError) as err:
        registry.add(_version("v2", status="training", model_id=""))
    assert str(err.value) == (
        "v1 is still training (job ftjob-1) — only one training runs at a time; wait for it "
        "(`redraft status`) or cancel it with `redraft models cancel v1`"
    )
    assert [v.name for v in registry.list()] == ["v1"]


def test_rollback_without_active_and_duplicate_names(registry: Registry) -> None:
    with pytest.raises(RegistryError) as none_active:
        registry.rollback()
    assert str(none_active.value) == "no active version to roll back — see `redraft models list`"
    registry.add(_version("v1"))
    with pytest.raises(RegistryError) as duplicate:
        registry.add(_version("v1"))
    assert str(duplicate.value) == (
        "a model version named 'v1' already exists — pick another name (`redraft models list` "
        "shows the taken ones)"
    )
    assert registry.next_name() == "v2"


def test_model_source_follows_promotion_and_falls_back_to_settings(
    settings: Settings, registry: Registry
) -> None:
    source = RegistryModelSource(settings)
    assert source.active() == ActiveModel(
        name="gpt-4o-mini", model_id="gpt-4o-mini", base_url=None, api_key="sk-test-key"
    )
    registry.add(_version("v1", base_url="http://127.0.0.1:9/v1"))
    registry.add(_version("v2"))
    registry.promote("v1")
    assert source.active() == ActiveModel(
        name="v1",
        model_id="ft:gpt-4o-mini:acme::v1",
        base_url="http://127.0.0.1:9/v1",
        api_key="sk-test-key",
    )
    registry.promote("v2")
    assert source.active().name == "v2"
    registry.rollback()
    assert source.active().name == "v1"


def test_backend_setup_reports_the_promoted_version(
    settings: Settings, registry: Registry, standin_session: object
) -> None:
    settings = settings.with_overrides(openai_base_url=standin_session.base_url)  # type: ignore[attr-defined]
    registry.add(_version("v1"))
    registry.add(_version("v2"))
    registry.promote("v1")
    app = create_app(settings, model_source=RegistryModelSource(settings))
    try:
        client = app.test_client()
        assert client.post("/setup", json={}).get_json() == {"model_version": "v1"}
        registry.promote("v2")
        assert client.post("/setup", json={}).get_json() == {"model_version": "v2"}
    finally:
        backend_state(app).close()


def _invoke(settings: Settings, *args: str) -> object:
    env = {"REDRAFT_HOME": str(settings.home), "OPENAI_API_KEY": "sk-test-key"}
    return CliRunner().invoke(cli, list(args), env=env)


def test_models_cli_add_promote_list_rollback(settings: Settings) -> None:
    added = _invoke(settings, "models", "add", "qwen-1", "--model-id", "qwen-lora-1")
    assert added.exit_code == 0, added.output
    assert added.stderr == "added qwen-1 as candidate\n"
    _invoke(settings, "models", "add", "qwen-2", "--model-id", "qwen-lora-2", "--promote")
    promoted = _invoke(settings, "models", "promote", "qwen-1", "--force")
    assert promoted.exit_code == 0
    assert promoted.stderr == (
        f"evaluation gate: no export in {settings.exports_dir} yet — run `redraft export` first\n"
        "--force: promoting qwen-1 without a verdict\n"
        "promoted qwen-1 (qwen-lora-1) as the default version; replaced qwen-2\n"
    )
    listed = _invoke(settings, "models", "list", "--json")
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [(r["name"], r["status"], r["trainer"]) for r in rows] == [
        ("qwen-1", "active", "manual"),
        ("qwen-2", "retired", "manual"),
    ]
    assert rows[0]["template_sha256"] == load_template().sha256
    assert listed.stderr == "2 versions; default active: qwen-1\n"
    rolled = _invoke(settings, "models", "rollback")
    assert rolled.stderr == "rolled back: qwen-2 drafts again; retired qwen-1\n"


def test_models_cli_errors_are_one_line(settings: Settings) -> None:
    result = _invoke(settings, "models", "promote", "nope")
    assert result.exit_code == 1
    assert result.stderr == "error: no model version named 'nope' — see `redraft models list`\n"
    result = _invoke(settings, "models", "rollback")
    assert result.exit_code == 1
    assert result.stderr == "error: no active version to roll back — see `redraft models list`\n"


def test_trl_serve_instructions_name_a_promote_command_that_stores_the_endpoint(
    settings: Settings, tmp_path: Path
) -> None:
    from redraft.training.trl_trainer import TrlParams, serve_instructions

    registry = Registry(settings.registry_path)
    registry.add(ModelVersion(name="v1", model_id="v1", trainer="trl", base_model="tiny"))
    env = {"REDRAFT_HOME": str(settings.home), "OPENAI_BASE_URL": ""}
    refused = CliRunner().invoke(cli, ["models", "promote", "v1"], env=env)
    assert refused.exit_code == 1
    assert refused.stderr == (
        "error: cannot promote v1: it is a LoRA adapter with no endpoint, so the backend would "
        "send it to the OpenAI API — serve it (vLLM --lora-modules v1=ADAPTER), then "
        "`redraft models promote v1 --base-url http://HOST:8000/v1`\n"
    )
    assert registry.active() is None

    params = TrlParams(base_model="tiny", output_dir=tmp_path, lora_r=4)
    lines = serve_instructions("v1", params, tmp_path / "adapter")
    assert lines[2] == (
        "  then: redraft models promote v1 --base-url http://HOST:8000/v1   (model id 'v1')"
    )
    command = lines[2].split("then: redraft ")[1].split("   (")[0]
    args = command.replace("HOST", "127.0.0.1").split()
    promoted = CliRunner().invoke(cli, [*args, "--force"], env=env)  # no export: no gate
    assert promoted.exit_code == 0, promoted.output
    assert promoted.stderr.splitlines()[-1] == "promoted v1 (v1) as the default version"
    version = registry.get("v1")
    assert (version.status, version.base_url) == ("active", "http://127.0.0.1:8000/v1")
    active = RegistryModelSource(settings).active()
    assert (active.name, active.model_id, active.base_url) == (
        "v1",
        "v1",
        "http://127.0.0.1:8000/v1",
    )

    with_url = serve_instructions("v2", params, tmp_path / "a2", "http://gpu:8000/v1")
    assert with_url[2] == (
        "  then: redraft models promote v2   (model id 'v2', endpoint http://gpu:8000/v1)"
    )


@pytest.mark.parametrize("damage", ["emptied", "garbage"])
def test_a_damaged_registry_is_refused_and_restored_from_its_backup(
    tmp_path: Path, damage: str
) -> None:
    """An emptied registry silently drafting with the base model would be worse than an error."""
    from click.testing import CliRunner

    from redraft.cli.main import cli

    env = {"REDRAFT_HOME": str(tmp_path), "OPENAI_API_KEY": "sk-test"}
    runner = CliRunner()
    added = runner.invoke(cli, ["models", "add", "v1", "--model-id", "ft:a", "--promote"], env=env)
    assert added.exit_code == 0, added.output
    path = Settings.from_env(env).registry_path
    path.write_bytes(b"" if damage == "emptied" else b"garbage" * 500)
    listed = runner.invoke(cli, ["models", "list"], env=env)
    assert listed.exit_code == 1
    why = "is empty (0 bytes): it lost its versions" if damage == "emptied" else "is damaged"
    assert listed.stderr.startswith(f"error: the model registry {path} {why}")
    assert listed.stderr.rstrip().endswith(
        "restore the last good copy with `redraft models restore`"
    )

    restored = runner.invoke(cli, ["models", "restore"], env=env)
    assert restored.exit_code == 0, restored.output
    assert "1 version, active v1" in restored.stderr
    assert Registry(path).active().model_id == "ft:a"  # type: ignore[union-attr]


def test_an_older_registry_file_gains_new_columns_in_place(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "registry.sqlite3"
    with sqlite3.connect(path) as db:  # a registry from before `error` and `pid` existed
        db.execute(
            "CREATE TABLE versions (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL "
            "UNIQUE, model_id TEXT NOT NULL, base_url TEXT, base_model TEXT, parent TEXT, "
            "trainer TEXT NOT NULL, manifest_sha256 TEXT, template_sha256 TEXT, job_id TEXT, "
            "idempotency_key TEXT, status TEXT NOT NULL, created_at TEXT NOT NULL, "
            "metrics TEXT NOT NULL DEFAULT '{}', export_dir TEXT)"
        )
        db.execute(
            "INSERT INTO versions (name, model_id, trainer, status, created_at) "
            "VALUES ('v1', 'ft:a', 'openai', 'active', '2026-11-01T00:00:00+00:00')"
        )
    db.close()
    registry = Registry(path)
    active = registry.active()
    assert (active.name, active.error, active.pid) == ("v1", None, None)  # type: ignore[union-attr]


def test_versions_belong_to_projects(settings: Settings) -> None:
    registry = Registry(settings.registry_path)
    registry.add(ModelVersion(name="v1", model_id="base"))
    registry.promote("v1")
    registry.add(ModelVersion(name="v2", model_id="ft:b", projects=(2,)))
    registry.add(ModelVersion(name="v3", model_id="ft:b2", projects=(2,)))
    registry.promote("v2", project_id=2)
    registry.promote("v3", project_id=2)
    drafting = {p: registry.active(p).name for p in (None, 1, 2)}  # type: ignore[union-attr]
    assert drafting == {None: "v1", 1: "v1", 2: "v3"}
    assert registry.get("v2").projects == (2,)
    assert registry.project_actives() == {2: "v3"}

    assert [v.name for v in registry.rollback(2) if v] == ["v3", "v2"]
    assert [v.name for v in registry.rollback(2) if v] == ["v2", "v1"]  # back to the default
    assert registry.project_actives() == {}
    assert registry.get("v1").status == "active"  # the default was never touched


def test_models_cli_promotes_into_the_project_a_version_was_trained_for(
    settings: Settings,
) -> None:
    registry = Registry(settings.registry_path)
    registry.add(ModelVersion(name="v1", model_id="base"))
    registry.promote("v1")
    registry.add(ModelVersion(name="v2", model_id="ft:b", projects=(2,)))

    promoted = _invoke(settings, "models", "promote", "v2", "--force")  # no export: no gate
    assert promoted.exit_code == 0, promoted.output
    assert promoted.stderr.splitlines()[-1] == "promoted v2 (ft:b) for project 2; replaced v1"
    assert (registry.active(2).name, registry.active(1).name) == ("v2", "v1")  # type: ignore[union-attr]

    refused = _invoke(settings, "models", "promote", "v2", "--project", "5")
    assert (refused.exit_code, refused.stderr) == (
        1,
        "error: v2 was trained for project 2, not project 5 — its drafts learned another "
        "project's writers; pass --force to promote it there anyway\n",
    )
    forced = _invoke(settings, "models", "promote", "v2", "--project", "5", "--force")
    assert forced.exit_code == 0, forced.output
    listed = _invoke(settings, "models", "list")
    assert listed.stdout.splitlines()[1].split(" trained for ")[1] == (
        "project 2; active in projects 2, 5"
    )
    assert listed.stderr == "2 versions; default active: v1; project 2: v2; project 5: v2\n"
    for_project = _invoke(settings, "models", "list", "--project", "7")
    assert for_project.stderr.splitlines()[-1] == "project 7 drafts with v1"
    rolled = _invoke(settings, "models", "rollback", "--project", "5")
    assert rolled.stderr == (
        "rolled back project 5: v2 no longer drafts there; it drafts with v1 (base) — run "
        "`redraft prefill --project 5`\n"
    )
    assert registry.active(2).name == "v2"  # type: ignore[union-attr]


def test_an_older_registry_keeps_its_active_version_and_gains_project_scopes(
    tmp_path: Path,
) -> None:
    import sqlite3

    path = tmp_path / "registry.sqlite3"
    with sqlite3.connect(path) as db:  # a registry from before versions had projects
        db.executescript(
            "CREATE TABLE versions (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL "
            "UNIQUE, model_id TEXT NOT NULL, trainer TEXT NOT NULL, status TEXT NOT NULL, "
            "created_at TEXT NOT NULL);"
            "CREATE TABLE activations (seq INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT "
            "NULL, activated_at TEXT NOT NULL, rolled_back INTEGER NOT NULL DEFAULT 0);"
            "INSERT INTO versions (name, model_id, trainer, status, created_at) VALUES "
            "('v1', 'ft:a', 'openai', 'active', '2026-11-01T00:00:00+00:00');"
            "INSERT INTO activations (name, activated_at) VALUES ('v1', '2026-11-01');"
        )
    db.close()
    registry = Registry(path)
    assert (registry.active(7).name, registry.get("v1").projects) == ("v1", ())  # type: ignore[union-attr]
    registry.add(ModelVersion(name="v2", model_id="ft:b", projects=(7,)))
    registry.promote("v2", project_id=7)
    assert (registry.active(7).name, registry.active().name) == ("v2", "v1")  # type: ignore[union-attr]


def test_rolling_back_a_project_without_a_version_of_its_own_is_refused(
    settings: Settings,
) -> None:
    """It used to retire the default version that every other project drafts with."""
    registry = Registry(settings.registry_path)
    for name in ("v1", "v2"):
        registry.add(ModelVersion(name=name, model_id=f"ft:{name}"))
        registry.promote(name)
    refused = _invoke(settings, "models", "rollback", "--project", "4")
    assert (refused.exit_code, refused.stdout, refused.stderr) == (
        1,
        "",
        "error: project 4 has no version of its own to roll back: it drafts with the default "
        "version v2, as every project without its own does — `redraft models rollback` (no "
        "--project) rolls the default back for all of them, `redraft models promote NAME "
        "--project 4` gives project 4 a version of its own\n",
    )
    assert _statuses(registry) == {"v1": "retired", "v2": "active"}
    assert registry.project_actives() == {}


def test_models_list_text_and_json_agree_on_what_is_active_where(settings: Settings) -> None:
    registry = Registry(settings.registry_path)
    stamp = "2026-11-22T10:00:00+00:00"
    for name in ("v1", "v2", "v3", "v4"):
        registry.add(ModelVersion(name=name, model_id=f"ft:{name}", created_at=stamp))
    registry.promote("v1")
    registry.promote("v2")  # v1 retired as the default …
    registry.promote("v1", project_id=5)  # … yet drafts for project 5
    registry.promote("v3", project_id=2)  # a candidate drafting for project 2 only

    text = _invoke(settings, "models", "list")
    assert text.stdout.splitlines() == [
        f"+ v1         active    manual ft:v1 {stamp}; active in project 5",
        f"* v2         active    manual ft:v2 {stamp}",
        f"+ v3         active    manual ft:v3 {stamp}; active in project 2",
        f"  v4         candidate manual ft:v4 {stamp}",
    ]
    assert text.stderr == "4 versions; default active: v2; project 2: v3; project 5: v1\n"
    rows = [
        json.loads(line)
        for line in _invoke(settings, "models", "list", "--json").stdout.splitlines()
    ]
    keys = ("name", "status", "default_active", "active_in_projects")
    assert [tuple(row[k] for k in keys) for row in rows] == [
        ("v1", "active", False, [5]),
        ("v2", "active", True, []),
        ("v3", "active", False, [2]),
        ("v4", "candidate", False, []),
    ]


def test_credentials_in_a_base_url_are_never_printed(settings: Settings) -> None:
    secret_url = "http://ann:s3cret@gpu:8000/v1"
    stamp = "2026-11-22T10:00:00+00:00"
    registry = Registry(settings.registry_path)
    registry.add(ModelVersion(name="v1", model_id="m1", base_url=secret_url, created_at=stamp))
    env = {
        "REDRAFT_HOME": str(settings.home),
        "OPENAI_API_KEY": "sk-test-key",
        "OPENAI_BASE_URL": "http://bob:hunter2@proxy:9000/v1",
        "LABEL_STUDIO_API_KEY": "",
    }
    runner = CliRunner()
    # --force: this test is about what is printed, whatever the evaluation gate says
    promoted = runner.invoke(cli, ["models", "promote", "v1", "--force"], env=env)
    assert promoted.exit_code == 0, promoted.output
    assert promoted.stdout == f"* v1         active    manual m1 @ http://***@gpu:8000/v1 {stamp}\n"
    listed = runner.invoke(cli, ["models", "list"], env=env)
    assert listed.stdout == promoted.stdout
    as_json = json.loads(runner.invoke(cli, ["models", "list", "--json"], env=env).stdout)
    assert as_json["base_url"] == "http://***@gpu:8000/v1"
    status = runner.invoke(cli, ["status"], env=env)
    assert status.exit_code == 0, status.output
    assert status.stderr.splitlines()[-1] == (
        "note: v1 drafts at its stored endpoint http://***@gpu:8000/v1, not OPENAI_BASE_URL "
        "(http://***@proxy:9000/v1) — `redraft models promote v1 --base-url URL` changes it"
    )
    everything = promoted.output + listed.output + str(as_json) + status.output
    assert ("s3cret" in everything, "hunter2" in everything) == (False, False)
