"""`redraft demo` end to end: local Label Studio + backend + stand-in, sample project prefilled."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from redraft.labelstudio.client import session
from redraft.labelstudio.login import LOGIN_FILE, load_login
from redraft.labelstudio.project import resolve_project
from redraft.labelstudio.server import (
    BIN_ENV,
    ensure_template,
    free_port,
    port_in_use,
    prepare_data_dir,
)
from redraft.loop.demo import DEMO_TITLE, ENV_FILE, reset_demo, run_demo, sample_path
from redraft.settings import Settings
from redraft.training.registry import ModelVersion, Registry
from tests.fixtures.labelstudio import CACHE, LabelStudioInstance, ls_binary

pytestmark = pytest.mark.e2e


def test_demo_brings_up_a_prefilled_project_and_stops_it(
    label_studio: LabelStudioInstance, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    # A copied, initialised data dir: the demo's first-run `label-studio init` is skipped.
    binary = ls_binary()
    template = ensure_template(binary, CACHE)
    data_dir = prepare_data_dir(template, home / "demo" / "labelstudio")
    login = load_login(data_dir)
    # A real project's registry beside the demo: the demo never reads or changes it.
    real = Registry(home / "registry.sqlite3")
    real.add(ModelVersion(name="real-v7", model_id="ft:real", base_url="http://127.0.0.1:9/v1"))
    real.promote("real-v7")
    # The demo's own history: an active version whose stand-in port is gone.
    old = Registry(home / "demo" / "registry.sqlite3")
    old.add(ModelVersion(name="old-v2", model_id="ft:old", base_url="http://127.0.0.1:9/v1"))
    old.promote("old-v2")
    # No OpenAI key, and the stand-in asked for (the local model's demo path is drafted in
    # tests/test_local_loop_e2e.py).
    settings = Settings.from_env({"REDRAFT_HOME": str(home), BIN_ENV: str(binary)})
    ls_port, backend_port = free_port(), free_port()
    seen: dict[str, object] = {}

    def inspect() -> None:
        with session(f"http://127.0.0.1:{ls_port}", login.token) as client:
            project_id = resolve_project(client, DEMO_TITLE)
            tasks = [t.model_dump() for t in client.tasks.list(project=project_id, fields="all")]
            seen["versions"] = sorted({p["model_version"] for t in tasks for p in t["predictions"]})
            seen["tasks"] = len(tasks)
            seen["clients"] = sorted({t["data"]["client"] for t in tasks})
            seen["drafted"] = sum(1 for t in tasks if len(t["predictions"]) == 1)
            seen["annotated"] = sum(1 for t in tasks if t["annotations"])
        seen["backend_up"] = port_in_use(backend_port)

    run_demo(
        settings,
        ls_port=ls_port,
        backend_port=backend_port,
        wait=inspect,
        model_kind="standin",
        annotate=3,
    )
    out = capsys.readouterr().err
    assert real.active().name == "real-v7"  # type: ignore[union-attr]
    assert (
        "the active version old-v2 is served at http://127.0.0.1:9/v1, which does not answer — "
        "this run drafts with the base model gpt-4o-mini. To fix it: serve it again and "
        "`redraft models promote old-v2 --base-url URL`, or `redraft models rollback`, or start "
        "over with `redraft demo --reset`"
    ) in out.splitlines()
    assert seen == {
        "versions": ["standin-demo"],
        "tasks": 20,
        "clients": ["Harbor & Pine Interiors", "Kestrel Freight", "Northwind Analytics"],
        "drafted": 20,
        "annotated": 3,
        "backend_up": True,
    }
    assert any(
        line.startswith("annotated 3 tasks (simulated writers)") for line in out.splitlines()
    )
    assert (port_in_use(ls_port), port_in_use(backend_port)) == (False, False)
    # The login is printed, the API token never; both live in 0600 files under labelstudio/.
    assert f"login:        {login.username}  /  {login.password}" in out.splitlines()
    assert login.token not in out
    env_file = data_dir / ENV_FILE
    assert {oct(p.stat().st_mode & 0o777) for p in (env_file, data_dir / LOGIN_FILE)} == {"0o600"}
    exports = dict(
        line.removeprefix("export ").split("=", 1)
        for line in env_file.read_text().splitlines()
        if line.startswith("export ")
    )
    assert exports == {
        "REDRAFT_HOME": str(home / "demo"),
        "REDRAFT_MODELS_DIR": str(home / "models"),
        "LABEL_STUDIO_URL": f"http://127.0.0.1:{ls_port}",
        "LABEL_STUDIO_API_KEY": login.token,
        "REDRAFT_TEMPLATE": str(sample_path("demo_template.toml")),
        "OPENAI_BASE_URL": exports["OPENAI_BASE_URL"],  # the stand-in's port changes per run
        "OPENAI_API_KEY": "sk-standin-demo",
        "REDRAFT_MODEL": "gpt-4o-mini",
        "REDRAFT_MODEL_VERSION": "standin-demo",
        "REDRAFT_MAX_TOKENS": "600",
        "PATH": f'{Path(sys.executable).parent}:"$PATH"',
    }
    assert f"source {env_file}" in out


def test_reset_removes_the_demo_s_data_and_nothing_else(tmp_path: Path) -> None:
    home = tmp_path / "home"
    for kept in ("registry.sqlite3", "exports/e1/manifest.json", "models/base/hf/model.bin"):
        (home / kept).parent.mkdir(parents=True, exist_ok=True)
        (home / kept).write_text("x")
    for gone in ("labelstudio/label_studio.sqlite3", "registry.sqlite3", "cache.sqlite3"):
        (home / "demo" / gone).parent.mkdir(parents=True, exist_ok=True)
        (home / "demo" / gone).write_text("x")
    assert reset_demo(Settings(home=home)) == home / "demo"
    left = sorted(str(p.relative_to(home)) for p in home.rglob("*") if p.is_file())
    assert left == ["exports/e1/manifest.json", "models/base/hf/model.bin", "registry.sqlite3"]
