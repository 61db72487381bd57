"""The shared registry on a real PostgreSQL server: two hosts with different REDRAFT_HOMEs, a
promotion on one drafting on the other's running backend, concurrent promotes and rollbacks,
and moving an SQLite registry in with one command."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable
from itertools import count
from pathlib import Path
from typing import Any

import pytest
import requests

from redraft.evaluation.evalset import EvalSet, evalset_path, load_evalset, save_evalset
from redraft.label_config.results import draft_of
from redraft.labelstudio.importer import ImportProgress
from redraft.settings import Settings
from redraft.training.errors import RegistryError
from redraft.training.handoff import lora_file
from redraft.training.registry import (
    ModelVersion,
    PostgresRegistry,
    Registry,
    documents_for,
    open_registry,
)
from redraft.training.source import RegistryModelSource
from redraft.urls import shown_url
from tests.fixtures.common import clean_env
from tests.fixtures.labelstudio import run_cli
from tests.fixtures.postgres import USER, Postgres

_databases = count(1)


@pytest.fixture
def database_url(postgres: Postgres) -> str:
    """A new, empty database on the session's throwaway PostgreSQL server."""
    name = f"registry_{next(_databases)}"
    postgres.client("createdb", name)
    return f"postgresql://{USER}@127.0.0.1:{postgres.port}/{name}"


def host(tmp_path: Path, name: str, database_url: str, base_url: str = "") -> Settings:
    """One host's settings: its own REDRAFT_HOME, the shared database."""
    home = tmp_path / name
    home.mkdir()
    return Settings.from_env(
        {
            "REDRAFT_HOME": str(home),
            "OPENAI_API_KEY": "sk-test-key",
            "OPENAI_BASE_URL": base_url,
            "REDRAFT_DATABASE_URL": database_url,
        }
    )


def redraft_process(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """`redraft ARGS` as its own process, with this host's environment only."""
    env = clean_env() | {
        "REDRAFT_HOME": str(settings.home),
        "REDRAFT_DATABASE_URL": str(settings.database_url),
        "OPENAI_API_KEY": "sk-test-key",
        "REDRAFT_LOG_LEVEL": "WARNING",
    }
    command = [str(Path(sys.executable).parent / "redraft"), *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def predict(url: str) -> tuple[str, str]:
    """(model_version, the draft's last line) of one /predict for project 3."""
    body = {"tasks": [{"id": 1, "data": {"brief": "Offer a demo."}}], "project": "3.1764600000"}
    answer = requests.post(f"{url}/predict", json=body, timeout=60).json()
    draft = draft_of(answer["results"][0])
    assert draft is not None, answer
    return answer["model_version"], draft.splitlines()[-1]


def test_a_promotion_on_the_training_host_drafts_on_the_backend_host_without_a_restart(
    tmp_path: Path, database_url: str, standin: Any, backend_server: Any
) -> None:
    training = host(tmp_path, "training-host", database_url, standin.base_url)
    serving = host(tmp_path, "backend-host", database_url, standin.base_url)
    backend = backend_server(serving, model_source=RegistryModelSource(serving))
    assert predict(backend.url) == ("gpt-4o-mini", "[stand-in draft from gpt-4o-mini]")

    added = redraft_process(
        training, "models", "add", "v1", "--model-id", "gpt-4.1-mini", "--base-url",
        standin.base_url,
    )  # fmt: skip
    assert (added.returncode, added.stderr) == (0, "added v1 as candidate\n")
    promoted = redraft_process(training, "models", "promote", "v1", "--project", "3", "--force")
    assert promoted.returncode == 0, promoted.stderr
    assert promoted.stderr.splitlines()[-1] == "promoted v1 (gpt-4.1-mini) for project 3"
    # The same backend process, asked again: the other host's promotion drafts.
    assert predict(backend.url) == ("v1", "[stand-in draft from gpt-4.1-mini]")

    rolled = run_cli(["models", "rollback", "--project", "3"], training,
                     {"REDRAFT_DATABASE_URL": database_url})  # fmt: skip
    assert rolled.exit_code == 0, rolled.output
    assert predict(backend.url) == ("gpt-4o-mini", "[stand-in draft from gpt-4o-mini]")
    # Neither host keeps a registry of its own.
    assert not training.registry_path.exists() and not serving.registry_path.exists()


def test_both_hosts_read_the_same_evaluation_set_and_import_record(
    tmp_path: Path, database_url: str
) -> None:
    training = host(tmp_path, "training-host", database_url)
    serving = host(tmp_path, "backend-host", database_url)
    pinned = EvalSet(5, frozenset({1, 2, 3}), frozenset({7, 8}), 2, "t0", "t1")
    save_evalset(documents_for(training), pinned)
    assert load_evalset(documents_for(serving), 5) == pinned
    assert not evalset_path(training.home, 5).exists()

    briefs = tmp_path / "briefs.csv"
    briefs.write_text("brief\nOne\nTwo\n")
    training_documents, serving_documents = documents_for(training), documents_for(serving)
    started = ImportProgress.for_file(training.home / "imports", 5, briefs, {}, training_documents)
    started.rows, started.task_ids, started.pending, started.count_before = {1}, [40], [2], 1
    started.save()
    resumed = ImportProgress.for_file(serving.home / "imports", 5, briefs, {}, serving_documents)
    assert (resumed.rows, resumed.task_ids, resumed.pending, resumed.count_before) == (
        {1},
        [40],
        [2],
        1,
    )
    shown = shown_url(database_url)  # postgresql://***@127.0.0.1:PORT/NAME
    assert resumed.where == f"imports/{started.path.stem} in the registry database {shown}"
    resumed.clear()
    gone = ImportProgress.for_file(
        training.home / "imports", 5, briefs, {}, documents_for(training)
    )
    assert (gone.rows, gone.task_ids) == (set(), [])


def together(jobs: list[Callable[[], None]]) -> list[BaseException]:
    """Run the jobs in threads released at the same moment; the exceptions they raised."""
    start, errors = threading.Barrier(len(jobs)), []

    def run(job: Callable[[], None]) -> None:
        start.wait()
        try:
            job()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_concurrent_promotes_and_rollbacks_are_whole_transactions(database_url: str) -> None:
    """Every writer its own connection (a host each): promotes race, rollbacks race."""
    first = PostgresRegistry(database_url)
    for i in range(1, 7):
        first.add(ModelVersion(name=f"v{i}", model_id=f"m{i}"))

    def promoter(name: str) -> Callable[[], None]:
        def job() -> None:
            registry = PostgresRegistry(database_url)
            for _ in range(5):
                registry.promote(name, project_id=100)
                registry.promote(name)

        return job

    assert together([promoter(f"v{i}") for i in range(1, 7)]) == []
    with first._connect() as db:
        stack = db.execute("SELECT name, project_id FROM activations ORDER BY seq DESC").fetchall()
        actives = db.execute("SELECT name FROM versions WHERE status = 'active'").fetchall()
    own = [name for name, project in stack if project == 100]
    default = [name for name, project in stack if project is None]
    assert len(own) == 30
    # What drafts is what was activated last, in both scopes.
    assert first.project_actives() == {100: own[0]}
    assert [tuple(row) for row in actives] == [(default[0],)]

    for _round in range(3):
        for name in ("v1", "v2", "v3"):
            first.promote(name, project_id=200)
        rollbacks = [
            lambda: PostgresRegistry(database_url).rollback(200),
            lambda: PostgresRegistry(database_url).rollback(200),
        ]
        assert together(rollbacks) == []
        # Two rollbacks from v3: one back to v2, the other back to v1 — never both to v2.
        assert first.project_actives()[200] == "v1"
        first.rollback(200)
        assert 200 not in first.project_actives()


def test_models_migrate_moves_an_sqlite_registry_and_the_home_in_one_command(
    settings: Settings, database_url: str
) -> None:
    local = Registry(settings.registry_path)
    for i in (1, 2, 3):
        local.add(ModelVersion(name=f"v{i}", model_id=f"m{i}", base_url=f"http://gpu{i}/v1"))
    local.promote("v1")
    local.promote("v2")
    local.promote("v3", project_id=4)
    local.set_meta("auto.last_count", "17")
    save_evalset(settings.home, EvalSet(4, frozenset({9, 10}), frozenset({11}), 0, "t0", "t0"))
    record = settings.home / "imports" / "project-4-0123456789abcdef.json"
    record.parent.mkdir()
    record.write_text('{"rows": [1], "task_ids": [50], "pending": [], "count_before": null}')
    before = run_cli(["models", "list", "--json"], settings)

    moved = run_cli(["models", "migrate", "--to", database_url], settings)
    assert moved.exit_code == 0, moved.output
    assert moved.stderr == (
        "migrated 3 versions, 3 activations, 1 evaluation set and 1 import record to "
        f"{shown_url(database_url)}\n"
    )
    shared = {"REDRAFT_DATABASE_URL": database_url}
    after = run_cli(["models", "list", "--json"], settings, shared)
    assert (after.stdout, after.stderr) == (before.stdout, before.stderr)
    moved_settings = settings.with_overrides(database_url=database_url)
    assert open_registry(moved_settings).get_meta("auto.last_count") == "17"
    assert load_evalset(documents_for(moved_settings), 4) == load_evalset(settings.home, 4)
    text = documents_for(moved_settings).read("imports", "project-4-0123456789abcdef")
    assert text == record.read_text()
    # The stack came along in order: rollback walks back as it would have on the file.
    rolled = run_cli(["models", "rollback"], settings, shared)
    assert rolled.stderr == "rolled back: v1 drafts again; retired v2\n"

    again = run_cli(["models", "migrate", "--to", database_url], settings)
    assert again.exit_code == 1
    assert again.stderr == (
        "error: the target registry already holds 3 versions: migrate only into an empty "
        "database (two registries are never merged) — create a new database, or point "
        "REDRAFT_DATABASE_URL at this one and leave the file\n"
    )


def test_an_unreachable_database_is_one_line_naming_it_without_its_password(
    settings: Settings, postgres: Postgres
) -> None:
    url = f"postgresql://{USER}:s3cret@127.0.0.1:{postgres.port}/no_such_database"
    failed = run_cli(["models", "list"], settings, {"REDRAFT_DATABASE_URL": url})
    assert failed.exit_code == 1
    assert failed.stderr.startswith(
        f"error: cannot reach the registry database postgresql://***@127.0.0.1:{postgres.port}/"
        'no_such_database (database "no_such_database" does not exist) — check '
    )
    assert "s3cret" not in failed.output
    assert failed.stderr.endswith(
        "REDRAFT_DATABASE_URL and that PostgreSQL runs and accepts this host\n"
    )
    with pytest.raises(RegistryError, match=r"^cannot reach the registry database"):
        PostgresRegistry(url)


def test_a_version_trained_on_one_host_is_handed_to_the_servers_of_another(
    tmp_path: Path, database_url: str, standin: Any, backend_server: Any
) -> None:
    """No filesystem in common: the registry says where v3 is served and where its files are;
    the local server's host finds the LoRA once copied; vLLM's host serves it by name."""
    training = host(tmp_path, "training-host", database_url, standin.base_url)
    serving = host(tmp_path, "backend-host", database_url, standin.base_url)
    adapter = training.home / "adapters" / "v3" / "adapter"
    adapter.mkdir(parents=True)
    lora = adapter.parent / "lora.gguf"
    lora.write_bytes(b"GGUF lora")
    registry = open_registry(training)
    registry.add(ModelVersion(name="v3", model_id="v3", trainer="trl", status="training"))
    files = {"adapter": str(adapter), "gguf_lora": str(lora), "host": "trainer1"}
    registry.update("v3", status="candidate", metrics=files)

    version = open_registry(serving).get("v3")
    # A shared mount at the same path: served from there.
    assert lora_file(version, serving.models_dir) == lora
    lora.rename(tmp_path / "elsewhere.gguf")  # the training host's disk, not this one
    assert lora_file(version, serving.models_dir) is None
    copied = serving.models_dir / "loras" / "v3.gguf"  # scp trainer1:…/lora.gguf …
    copied.parent.mkdir(parents=True)
    copied.write_bytes(b"GGUF lora")
    assert lora_file(version, serving.models_dir) == copied

    standin.state.add_fine_tuned_model("v3")  # vLLM: POST /v1/load_lora_adapter {"lora_name": "v3"}
    promoted = run_cli(["models", "promote", "v3", "--base-url", standin.base_url, "--force"],
                       training, {"REDRAFT_DATABASE_URL": database_url})  # fmt: skip
    assert promoted.exit_code == 0, promoted.output
    shown = run_cli(["models", "show", "v3"], serving, {"REDRAFT_DATABASE_URL": database_url})
    assert shown.stdout.splitlines() == [
        f"v3: served as model 'v3' at {standin.base_url}",
        f"files: trainer1:{adapter}, trainer1:{lora}",
        "the local server on another host (same base model), copied or on a shared path:",
        f"  scp trainer1:{lora} SERVING-HOST:$REDRAFT_MODELS_DIR/loras/v3.gguf",
        "  redraft models promote v3 --base-url http://SERVING-HOST:8089/v1",
        "vLLM on the GPU host (runtime LoRA loading, VLLM_ALLOW_RUNTIME_LORA_UPDATING=True):",
        f"  rsync -a trainer1:{adapter}/ /srv/loras/v3/",
        f"  curl -X POST {standin.base_url}/load_lora_adapter -H 'Content-Type: "
        """application/json' -d '{"lora_name": "v3", "lora_path": "/srv/loras/v3"}'""",
        f"  redraft models promote v3 --base-url {standin.base_url}",
    ]
    backend = backend_server(serving, model_source=RegistryModelSource(serving))
    assert predict(backend.url) == ("v3", "[stand-in draft from v3]")


def test_the_documented_backup_and_restore_of_a_shared_registry(
    tmp_path: Path, database_url: str, postgres: Postgres
) -> None:
    """docs/deploy.md: pg_dump the registry database; after losing it, pg_restore into a new
    one and every host drafts with what it drafted with before."""
    training = host(tmp_path, "training-host", database_url)
    registry = open_registry(training)
    for i in (1, 2):
        registry.add(ModelVersion(name=f"v{i}", model_id=f"m{i}", base_url="http://gpu:8000/v1"))
    registry.promote("v1")
    registry.promote("v2", project_id=3)
    pinned = EvalSet(3, frozenset({1, 2}), frozenset(), 0, "t", "t")
    save_evalset(documents_for(training), pinned)
    before = run_cli(["models", "list", "--json"], training, {"REDRAFT_DATABASE_URL": database_url})
    name = database_url.rsplit("/", 1)[1]
    dump = tmp_path / "registry.dump"
    postgres.client("pg_dump", "--format=custom", "--no-owner", "-d", name, "-f", str(dump))
    postgres.client("dropdb", name)

    restored_name = f"{name}_restored"
    postgres.client("createdb", restored_name)
    postgres.client("pg_restore", "--no-owner", "-d", restored_name, str(dump))
    restored_url = database_url.rsplit("/", 1)[0] + f"/{restored_name}"
    serving = host(tmp_path, "backend-host", restored_url)
    after = run_cli(["models", "list", "--json"], serving, {"REDRAFT_DATABASE_URL": restored_url})
    assert (after.exit_code, after.stdout, after.stderr) == (0, before.stdout, before.stderr)
    assert open_registry(serving).active(3).name == "v2"
    assert load_evalset(documents_for(serving), 3) == pinned
    refused = run_cli(["models", "restore"], serving, {"REDRAFT_DATABASE_URL": restored_url})
    assert refused.stderr == (
        f"error: the registry is in PostgreSQL ({shown_url(restored_url)}), which keeps no "
        "REGISTRY.bak — restore the database from your pg_dump with pg_restore "
        "(docs/deploy.md, Backup and restore)\n"
    )
