"""The loop's Label Studio side once more, on Label Studio backed by a real PostgreSQL server:
init, import, retrieve (Label Studio calls the backend), prefill, annotate and export, with text
that tends to differ between databases (accents, emoji, long text, a NUL character)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from redraft.label_config.results import annotation_result, draft_of
from redraft.labelstudio.client import project_tasks, session
from redraft.settings import Settings
from tests.fixtures.labelstudio import LabelStudioInstance, retrieve, run_cli

pytestmark = pytest.mark.e2e

BRIEFS = [
    {"external_id": f"PG-{i}", "client": "Zoë & Co — café ✓", "brief": f"Brief {i}: 🚀 {text}"}
    for i, text in enumerate(
        ["naïve façade", "日本語のテキスト", "x" * 5000, "tabs\tand\nnewlines", "quotes \"'`"], 1
    )
]


def test_the_loop_on_label_studio_with_postgresql(
    label_studio_pg: LabelStudioInstance,
    settings: Settings,
    standin: Any,
    backend_server: Any,
    tmp_path: Path,
) -> None:
    settings = settings.with_overrides(
        label_studio_url=label_studio_pg.url,
        label_studio_api_key=label_studio_pg.login.token,
        openai_base_url=standin.base_url,
        model_version="pg-v1",
    )
    backend = backend_server(settings)
    made = run_cli(["init", "--title", "postgres e2e", "--backend-url", backend.url], settings)
    assert made.exit_code == 0, made.output
    project_id = int(made.stdout.strip())

    # A NUL character: PostgreSQL's text type cannot hold it (SQLite can), so the importer
    # refuses the row on both, naming it, before anything reaches Label Studio.
    source = tmp_path / "briefs.jsonl"
    source.write_text("".join(json.dumps(b) + "\n" for b in [*BRIEFS, {"brief": "a\x00b"}]))
    refused = run_cli(["import", str(source), "--project", str(project_id)], settings)
    assert refused.exit_code == 1
    assert "row 6: `brief` holds a NUL character" in refused.stderr
    source.write_text("".join(json.dumps(b) + "\n" for b in BRIEFS))
    imported = run_cli(["import", str(source), "--project", str(project_id)], settings)
    assert imported.exit_code == 0, imported.output

    with session(label_studio_pg.url, label_studio_pg.login.token) as client:
        tasks = sorted(project_tasks(client, project_id), key=lambda t: t["id"])
        # Stored exactly, in import order (ids ascend as rows were sent).
        assert [t["data"] for t in tasks] == BRIEFS
        retrieve(client, project_id, [tasks[0]["id"], tasks[1]["id"]])
        prefilled = run_cli(["prefill", "--project", str(project_id)], settings)
        assert prefilled.exit_code == 0, prefilled.output
        assert prefilled.stderr.splitlines()[-1] == (
            "prefilled 3 of 5 tasks with 'pg-v1' (0 from cache); 2 already had a draft"
        )
        tasks = sorted(project_tasks(client, project_id), key=lambda t: t["id"])
        assert [[p["model_version"] for p in t["predictions"]] for t in tasks] == [["pg-v1"]] * 5
        finals = {}
        for task in tasks[:3]:
            draft = draft_of(task["predictions"][0])
            assert draft is not None
            finals[task["data"]["external_id"]] = f"{draft}\n\nP.S. Zoë says hi 👋 — ✓"
            client.annotations.create(
                task["id"],
                result=annotation_result(
                    final=finals[task["data"]["external_id"]], draft=draft, rating=4
                ),
                parent_prediction=task["predictions"][0]["id"],
            )

    exported = run_cli(
        ["export", "--project", str(project_id), "--validation-ratio", "0", "--records-format",
         "csv"], settings,
    )  # fmt: skip
    assert exported.exit_code == 0, exported.output
    folder = Path(exported.stdout.strip())
    rows = [
        json.loads(line) for line in (folder / "openai_sft.train.jsonl").read_text().splitlines()
    ]
    sent = {row["messages"][-1]["content"] for row in rows}
    assert sent == set(finals.values())
    rejects = [json.loads(line) for line in (folder / "rejects.jsonl").read_text().splitlines()]
    assert sorted(r["reason"] for r in rejects) == ["no completed annotation"] * 2
