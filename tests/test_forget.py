"""`redraft forget`: a recipient is masked in Label Studio, exports, the cache and reports, and
the versions trained on their data are named (real Label Studio on loopback)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pandas as pd
import pytest
from label_studio_sdk import LabelStudio

from redraft.backend.cache import DraftCache
from redraft.forget import ForgetError, Needle
from redraft.label_config import read_label_config
from redraft.label_config.results import annotation_result, draft_prediction
from redraft.settings import Settings
from redraft.training.exportdir import load_export
from redraft.training.registry import ModelVersion, Registry
from tests.fixtures.labelstudio import run_cli

ADA = {
    "brief": "Offer Ada Lovelace (ada@example.com) a demo.",
    "client": "Acme",
    "recipient": "Ada Lovelace",
    "company": "Analytical Engines",
}
BOB = {"brief": "Offer Bob a demo.", "client": "Acme", "recipient": "Bob Babbage"}


def everything_text(client: LabelStudio, project_id: int) -> str:
    """Every text Label Studio holds for the project's tasks, as one string."""
    tasks = [t.model_dump(mode="json") for t in client.tasks.list(project=project_id, fields="all")]
    held = [
        (
            t["data"],
            [p["result"] for p in t["predictions"]],
            [a["result"] for a in t["annotations"]],
        )
        for t in tasks
    ]
    return json.dumps(held)


def test_needles_refuse_what_would_mask_too_much() -> None:
    with pytest.raises(ForgetError) as error:
        Needle.parse(" A ")
    assert (
        str(error.value) == "'A' is too short to find a person by — pass their email or full name"
    )


@pytest.mark.e2e
def test_forget_masks_the_person_everywhere_and_names_the_versions(
    ls_client: LabelStudio, ls_settings: Settings, tmp_path: Path
) -> None:
    project = ls_client.projects.create(title="forget e2e", label_config=read_label_config())
    ls_client.projects.import_tasks(
        id=project.id,
        request=[
            {"data": ADA, "predictions": [draft_prediction("Hi Ada,\n\nA demo?", "v0")]},
            {"data": BOB, "predictions": [draft_prediction("Hi Bob,\n\nA demo?", "v0")]},
        ],
    )
    tasks = sorted(
        (t.model_dump(mode="json") for t in ls_client.tasks.list(project=project.id, fields="all")),
        key=lambda t: t["id"],
    )
    for task, name in zip(tasks, ("Ada", "Bob"), strict=True):
        ls_client.annotations.create(
            task["id"],
            result=annotation_result(final=f"Hi {name},\n\nShall I show you a demo?", rating=3),
            parent_prediction=task["predictions"][0]["id"],
        )
    exported = run_cli(
        ["export", "--project", str(project.id), "--validation-ratio", "0"], ls_settings
    )
    assert exported.exit_code == 0, exported.output
    export_dir = Path(exported.stdout.strip())
    Registry(ls_settings.registry_path).add(
        ModelVersion(
            name="v1",
            model_id="ft:x",
            trainer="openai",
            manifest_sha256=load_export(export_dir).manifest_sha256,
            export_dir=str(export_dir),
        )
    )
    cache = DraftCache(ls_settings.cache_path)
    cache.put("k-ada", "m", "Hi Ada Lovelace, a demo?")
    cache.put("k-bob", "m", "Hi Bob, a demo?")
    cache.close()
    report = ls_settings.home / "reports" / "r1"
    report.mkdir(parents=True)
    (report / "clients.csv").write_text("client,recipient\nAcme,Ada Lovelace\nAcme,Bob Babbage\n")

    dry = run_cli(
        ["forget", "Ada Lovelace", "--project", str(project.id), "--dry-run"], ls_settings
    )
    assert dry.exit_code == 0, dry.output
    assert dry.stderr.splitlines()[-1] == (
        "would mask 'Ada Lovelace' in 1 Label Studio task (1 prediction, 1 annotation), 7 lines "
        "of 1 export folder, 1 cached draft (would drop) and 1 report file; trained on data "
        "that included them: v1 — their weights still do: retrain from a masked export, then "
        "retire them"
    )
    assert "Lovelace" in everything_text(ls_client, project.id)  # a dry run changes nothing

    done = run_cli(["forget", "Ada Lovelace", "--project", str(project.id)], ls_settings)
    assert done.exit_code == 0, done.output
    assert done.stderr.splitlines()[-1].startswith("masked 'Ada Lovelace' in 1 Label Studio task")
    stored = everything_text(ls_client, project.id)
    assert ("Ada" in stored, "Lovelace" in stored, "Bob" in stored) == (False, False, True)
    assert "Offer [removed] ([removed]@example.com) a demo." in stored
    # The export is still a valid export: every file matches its re-sealed manifest.
    sealed = load_export(export_dir)
    text = "".join(p.read_text() for p in export_dir.glob("*.jsonl"))
    records = pd.read_parquet(export_dir / "records.parquet").to_json()
    assert ("Ada" in text + records, "Bob" in text) == (False, True)
    assert sealed.manifest_sha256 != Registry(ls_settings.registry_path).get("v1").manifest_sha256
    with sqlite3.connect(ls_settings.cache_path) as db:
        assert [k for (k,) in db.execute("SELECT key FROM drafts ORDER BY key")] == ["k-bob"]
    db.close()
    assert (report / "clients.csv").read_text() == (
        "client,recipient\nAcme,[removed]\nAcme,Bob Babbage\n"
    )
    again = run_cli(["forget", "ada@example.com", "--project", str(project.id)], ls_settings)
    assert "in 0 Label Studio tasks" in again.stderr  # the email went with the name's rows
