"""The whole loop against the real Label Studio, through the real `redraft` entry points.

briefs → init/import → drafts (backend retrieve, prefill) → annotations → export → train
(stand-in fine-tuning, tiny TRL model) → promote → new drafts carry the new version → report
→ status. These tests check the seams between areas; each area's own tests check the rest.
"""

from __future__ import annotations

import hashlib
import json
import math
import statistics
from pathlib import Path
from typing import Any

import pytest
import requests
import scipy.stats
from click.testing import Result
from label_studio_sdk import LabelStudio

from redraft.label_config.results import annotation_result, draft_of
from redraft.settings import Settings
from redraft.standin.server import StandinServer
from redraft.training.source import RegistryModelSource
from tests.fixtures.labelstudio import retrieve, run_cli

pytestmark = pytest.mark.e2e

VERSION_A = "writer-a"
MODEL_A = "gpt-4o-mini"


def ok(args: list[str], settings: Settings) -> Result:
    """run_cli, failing the test with the command's output when it exits non-zero."""
    result = run_cli(args, settings)
    assert result.exit_code == 0, f"redraft {' '.join(args)}\n{result.output}"
    return result


def write_briefs(path: Path, prefix: str, count: int, start: int = 1) -> Path:
    """A JSONL file of `count` briefs with external ids prefix-start …"""
    clients = ("Northwind Analytics", "Globex")
    rows = [
        {
            "external_id": f"{prefix}-{i}",
            "client": clients[i % 2],
            "recipient": f"Recipient {i}",
            "brief": f"Invite recipient {i} to a 20-minute demo of the churn dashboard ({prefix}).",
        }
        for i in range(start, start + count)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def tasks_by_ref(client: LabelStudio, project_id: int) -> dict[str, dict[str, Any]]:
    """external_id → the task as a plain dict, with its predictions and annotations."""
    return {
        t.data["external_id"]: t.model_dump()
        for t in client.tasks.list(project=project_id, fields="all")
    }


def versions_by_ref(client: LabelStudio, project_id: int) -> dict[str, list[str]]:
    """external_id → the sorted model versions of the task's stored predictions."""
    return {
        ref: sorted(p["model_version"] or "" for p in task["predictions"] or [])
        for ref, task in tasks_by_ref(client, project_id).items()
    }


def chat_models(standin: StandinServer) -> list[str]:
    """The model of every chat completion the stand-in answered, in order."""
    return [r["json"]["model"] for r in standin.requests if r["path"] == "/v1/chat/completions"]


def setup_version(url: str) -> str:
    """What the backend's /setup answers, as Label Studio asks it."""
    return requests.post(f"{url}/setup", json={}, timeout=10).json()["model_version"]


@pytest.fixture
def loop_settings(ls_settings: Settings, standin: StandinServer) -> Settings:
    """Label Studio plus the stand-in as the OpenAI-compatible endpoint; version A by settings."""
    return ls_settings.with_overrides(
        openai_base_url=standin.base_url, model=MODEL_A, model_version=VERSION_A
    )


def test_promotion_reaches_label_studio(
    ls_client: LabelStudio,
    loop_settings: Settings,
    standin: StandinServer,
    backend_server: Any,
    tmp_path: Path,
) -> None:
    # The backend as `redraft serve` builds it: it follows the registry (none yet: settings).
    backend = backend_server(loop_settings, model_source=RegistryModelSource(loop_settings))
    made = ok(["init", "--title", "loop promote", "--backend-url", backend.url], loop_settings)
    project_id = int(made.stdout)
    ok(
        ["import", str(write_briefs(tmp_path / "a.jsonl", "P", 3)), "--project", str(project_id)],
        loop_settings,
    )
    old = [t["id"] for t in tasks_by_ref(ls_client, project_id).values()]
    retrieve(ls_client, project_id, old)
    assert versions_by_ref(ls_client, project_id) == {f"P-{i}": [VERSION_A] for i in (1, 2, 3)}
    assert setup_version(backend.url) == VERSION_A

    # B: a model served by the same endpoint, registered and promoted through the CLI.
    added = ok(["models", "add", "writer-b", "--model-id", "gpt-4.1-mini"], loop_settings)
    assert added.stderr == "added writer-b as candidate\n"
    assert setup_version(backend.url) == VERSION_A  # a candidate drafts nothing yet
    # No export yet, so no evaluation set: the gate cannot judge B and refuses unless forced.
    refused = run_cli(["models", "promote", "writer-b"], loop_settings)
    assert (refused.exit_code, refused.stderr) == (
        1,
        "error: not promoted: the evaluation gate cannot judge writer-b: no export in "
        f"{loop_settings.exports_dir} yet — run `redraft export` first; or `redraft models "
        "promote writer-b --force`\n",
    )
    assert setup_version(backend.url) == VERSION_A
    promoted = ok(["models", "promote", "writer-b", "--force"], loop_settings)
    assert promoted.stderr.splitlines() == [
        f"evaluation gate: no export in {loop_settings.exports_dir} yet — run `redraft export` "
        "first",
        "--force: promoting writer-b without a verdict",
        "promoted writer-b (gpt-4.1-mini) as the default version",
    ]
    assert setup_version(backend.url) == "writer-b"

    # New tasks, and a re-retrieve of the old ones: Label Studio stores B next to A.
    ok(
        [
            "import",
            str(write_briefs(tmp_path / "b.jsonl", "P", 2, start=4)),
            "--project",
            str(project_id),
        ],
        loop_settings,
    )
    every = [t["id"] for t in tasks_by_ref(ls_client, project_id).values()]
    retrieve(ls_client, project_id, every)
    expected = {f"P-{i}": [VERSION_A, "writer-b"] for i in (1, 2, 3)} | {
        f"P-{i}": ["writer-b"] for i in (4, 5)
    }
    assert versions_by_ref(ls_client, project_id) == expected
    # Label Studio's record of the backend follows /setup (auto_update).
    [ml] = ls_client.ml.list(project=project_id)
    assert ml.model_version == "writer-b"

    # A second retrieve adds no duplicate B predictions and asks the model nothing.
    retrieve(ls_client, project_id, every)
    assert versions_by_ref(ls_client, project_id) == expected
    assert chat_models(standin) == [MODEL_A] * 3 + ["gpt-4.1-mini"] * 5


# --- the whole loop ---------------------------------------------------------------------------

PS = "\n\nP.S. I can send a two-minute video of the dashboard first, if that is easier."


def version_draft(task: dict[str, Any], version: str) -> tuple[int, str]:
    """(prediction id, draft text) of the task's prediction from `version`."""
    [prediction] = [p for p in task["predictions"] if p["model_version"] == version]
    text = draft_of(prediction)
    assert text
    return prediction["id"], text


def annotate(
    client: LabelStudio,
    task: dict[str, Any],
    version: str,
    *,
    rating: int,
    rewrite: bool,
    issues: tuple[str, ...] = (),
    feedback: str | None = None,
    lead_time: float = 60.0,
) -> str:
    """Submit an annotation as the editor does, started from `version`'s draft; returns final."""
    parent, draft = version_draft(task, version)
    final = draft + PS if rewrite else draft
    result = annotation_result(final=final, rating=rating, issues=issues, feedback=feedback)
    client.annotations.create(
        task["id"], result=result, lead_time=lead_time, parent_prediction=parent
    )
    return final


def next_task_versions(url: str, token: str, project_id: int) -> list[str]:
    """The model versions of the predictions the labeling stream shows with its next task."""
    answer = requests.get(
        f"{url}/api/projects/{project_id}/next",
        headers={"Authorization": f"Token {token}"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return sorted(p["model_version"] for p in answer.json()["predictions"])


def test_the_whole_loop(
    ls_client: LabelStudio,
    loop_settings: Settings,
    label_studio: Any,
    fast_standin: StandinServer,
    tmp_path: Path,
) -> None:
    settings = loop_settings.with_overrides(openai_base_url=fast_standin.base_url)
    project_id = int(ok(["init", "--title", "loop whole", "--no-backend"], settings).stdout)
    briefs = write_briefs(tmp_path / "first.jsonl", "W", 22)
    imported = ok(["import", str(briefs), "--project", str(project_id)], settings)
    assert imported.stderr == f"imported 22 tasks into project {project_id}\n"
    prefilled = ok(["prefill", "--project", str(project_id)], settings)
    assert prefilled.stderr.splitlines()[-1] == (
        f"prefilled 22 of 22 tasks with {VERSION_A!r} (0 from cache); 0 already had a draft"
    )
    assert next_task_versions(label_studio.url, label_studio.login.token, project_id) == [VERSION_A]

    # Writers: 14 rewrites, 4 accepted as is, 2 low ratings with feedback and no rewrite,
    # 1 skipped; W-22 stays open.
    tasks = tasks_by_ref(ls_client, project_id)
    finals_a: dict[str, str] = {}
    for i in range(1, 15):
        finals_a[f"W-{i}"] = annotate(
            ls_client,
            tasks[f"W-{i}"],
            VERSION_A,
            rating=3,
            rewrite=True,
            issues=("call to action",),
            lead_time=60.0,
        )
    for i in range(15, 19):
        finals_a[f"W-{i}"] = annotate(
            ls_client, tasks[f"W-{i}"], VERSION_A, rating=5, rewrite=False, lead_time=20.0
        )
    for i in (19, 20):
        finals_a[f"W-{i}"] = annotate(
            ls_client,
            tasks[f"W-{i}"],
            VERSION_A,
            rating=1,
            rewrite=False,
            issues=("tone",),
            feedback="Too generic: name their churn problem.",
            lead_time=90.0,
        )
    skipped = ls_client.annotations.create(tasks["W-21"]["id"], result=[], was_cancelled=True)

    # Export: every task read is accounted for; the datasets are ready.
    export_dir = tmp_path / "export-1"
    exported = ok(["export", "--project", str(project_id), "-o", str(export_dir)], settings)
    manifest = json.loads((export_dir / "manifest.json").read_text())
    counts = manifest["counts"]
    assert {
        k: counts[k]
        for k in ("tasks_read", "tasks_exported", "tasks_rejected", "records", "rejects", "cases")
    } == {
        "tasks_read": 22,
        "tasks_exported": 20,  # the low ratings yield KTO rows (draft: false)
        "tasks_rejected": 2,
        "records": 20,
        "rejects": 2,
        "cases": {"accepted": 4, "low_no_rewrite": 2, "rewritten": 14},
    }
    rows = {
        name: (d["train_rows"] + d["validation_rows"], d["ready"])
        for name, d in manifest["datasets"].items()
    }
    assert rows == {
        "openai_sft": (18, True),
        "openai_dpo": (14, True),
        "trl_sft": (18, True),
        "trl_dpo": (14, True),
        "trl_kto": (14 * 2 + 4 + 2, True),
    }
    assert manifest["ready"] is True
    listed = {name: entry["rows"] for name, entry in manifest["files"].items()}
    on_disk = {
        path.name: sum(1 for line in path.read_text().splitlines() if line.strip())
        for path in export_dir.glob("*.jsonl")
    }
    assert {k: v for k, v in listed.items() if k.endswith(".jsonl")} == on_disk
    assert (export_dir / "records.parquet").is_file()
    rejects = [json.loads(line) for line in (export_dir / "rejects.jsonl").read_text().splitlines()]
    w21, w22 = tasks["W-21"]["id"], tasks["W-22"]["id"]
    assert rejects == [
        {
            "task_id": w21,
            "annotation_id": skipped.id,
            "reason": "was cancelled (skipped)",
            "line": f"task {w21}: annotation {skipped.id} was cancelled (skipped) — rejected",
        },
        {
            "task_id": w22,
            "annotation_id": None,
            "reason": "no completed annotation",
            "line": f"task {w22}: no completed annotation — rejected",
        },
    ]
    assert exported.stderr.splitlines()[-1] == (
        "exported 18 SFT rows, 14 preference pairs from 20 of 22 tasks; "
        "rejected 2 tasks (2 lines in rejects.jsonl); ready"
    )

    # Train on the stand-in (fine-tuning moves a step every 20 ms), then promote the candidate.
    trained = ok(
        ["train", "openai", str(export_dir), "--suffix", "loop", "--poll-interval", "0.05"],
        settings,
    )
    candidate = trained.stdout.strip()
    [version] = [
        json.loads(line) for line in ok(["models", "list", "--json"], settings).stdout.splitlines()
    ]
    model_id = version["model_id"]
    assert model_id.startswith("ft:gpt-4o-mini:stand-in:loop:")
    assert {k: version[k] for k in ("name", "status", "trainer", "base_model", "export_dir")} == {
        "name": candidate,
        "status": "candidate",
        "trainer": "openai",
        "base_model": MODEL_A,
        "export_dir": str(export_dir),
    }
    assert trained.stderr.splitlines()[-1] == f"done: {candidate} is candidate ({model_id})"
    # The evaluation gate drafts the project's 2 pinned briefs with both versions first: too
    # few for a verdict, so it refuses and says how to grow the set.
    refused = run_cli(["models", "promote", candidate], settings)
    gate = refused.stderr.splitlines()
    assert refused.exit_code == 1
    assert gate[0] == (
        f"drafting 2 briefs from project {project_id}'s pinned set ({export_dir.name}) with "
        f"{candidate} and {VERSION_A}"
    )
    assert gate[-1] == (
        f"error: not promoted: the gate cannot judge {candidate} on 2 briefs: it needs 10 for a "
        f"verdict — grow project {project_id}'s set: `redraft evalset --project {project_id} "
        f"--grow 8`, annotate at least 8 more tasks, `redraft export --project {project_id}`, "
        f"or `redraft models promote {candidate} --project {project_id} --force`"
    )
    promoted = ok(["models", "promote", candidate, "--force"], settings)
    gate = promoted.stderr.splitlines()
    assert gate[-3:] == [
        f"verdict: none — the gate needs 10 briefs to judge {candidate} and has 2; promote "
        "refuses it (--force overrides)",
        f"--force: promoting {candidate} despite the verdict",
        f"promoted {candidate} ({model_id}) for project {project_id}",
    ]

    # New briefs: prefill drafts the open tasks with the fine-tuned model, stored as the
    # candidate's version, and annotators are shown those drafts; finished tasks are left alone.
    before = len(chat_models(fast_standin))
    new = write_briefs(tmp_path / "second.jsonl", "N", 4)
    ok(["import", str(new), "--project", str(project_id)], settings)
    second = ok(["prefill", "--project", str(project_id)], settings)
    assert second.stderr.splitlines()[-2:] == [
        f"project {project_id} now shows {candidate!r} drafts (was {VERSION_A!r})",
        f"prefilled 6 of 26 tasks with {candidate!r} (0 from cache); 0 already had a draft; "
        "20 finished tasks left alone",
    ]
    # A skipped task is not finished for Label Studio (it may come back): it gets a draft too.
    assert chat_models(fast_standin)[before:] == [model_id] * 6
    assert versions_by_ref(ls_client, project_id) == (
        {f"W-{i}": [VERSION_A] for i in range(1, 21)}
        | {f"W-{i}": [candidate, VERSION_A] for i in (21, 22)}
        | {f"N-{i}": [candidate] for i in range(1, 5)}
    )
    assert next_task_versions(label_studio.url, label_studio.login.token, project_id) == [candidate]

    tasks = tasks_by_ref(ls_client, project_id)
    finals_b = {
        "N-1": annotate(ls_client, tasks["N-1"], candidate, rating=4, rewrite=True, lead_time=30.0),
        "N-2": annotate(
            ls_client, tasks["N-2"], candidate, rating=5, rewrite=False, lead_time=10.0
        ),
        "N-3": annotate(
            ls_client, tasks["N-3"], candidate, rating=5, rewrite=False, lead_time=10.0
        ),
    }

    # The report shows both versions.
    report_dir = tmp_path / "report"
    reported = ok(["report", "--project", str(project_id), "-o", str(report_dir)], settings)
    drafts_a = {
        ref: version_draft(task, VERSION_A)[1] for ref, task in tasks.items() if ref in finals_a
    }
    drafts_b = {ref: version_draft(tasks[ref], candidate)[1] for ref in finals_b}
    lines = reported.stdout.splitlines()
    assert lines[:3] == [
        f"{'version':<22} {'drafts':>6} {'annot':>6} {'rating (95% CI)':>18} "
        f"{'accepted':>9} {'edit dist':>9} {'lead time':>9}",
        table_row(VERSION_A, 22, [3] * 14 + [5] * 4 + [1] * 2, drafts_a, finals_a, 60),
        table_row(candidate, 6, [4, 5, 5], drafts_b, finals_b, 10),
    ]
    assert lines[3].startswith(
        f"- {candidate} drafts were rated 1.47 points higher than {VERSION_A}"
    )
    assert sorted(p.name for p in report_dir.iterdir()) == [
        "agreement.csv",
        "calibration.csv",
        "clients.csv",
        "comparison.csv",
        "report.html",
        "style_rules.csv",  # the candidate drafts with the style notes its export learned
        "versions.csv",
        "weekly.csv",
    ]
    assert reported.stderr.splitlines()[-1] == (
        f"reported 23 annotations over 2 versions; wrote 8 files to {report_dir}"
    )

    # Where the loop stands: v1 drafts, 3 new annotations since its training.
    status = ok(["status", "--project", str(project_id)], settings)
    assert status.stdout.splitlines() == [
        "✓ 1. briefs imported — 26 tasks",
        "✓ 2. drafted — 26 drafted",
        "> 3. annotated since the last training — 3 of 50",
        "  4. ready to export",
        "  5. exported, ready to train",
        "  6. training",
        "  7. candidate awaiting review",
        f"  8. active — {candidate}",
        "next: annotate in Label Studio: 3 of 50 new annotations since the last training "
        "(export earlier with `redraft export`)",
    ]


def table_row(
    version: str,
    drafts: int,
    ratings: list[int],
    draft_by_ref: dict[str, str],
    final_by_ref: dict[str, str],
    lead_median: int,
) -> str:
    """The report's terminal row for a version, computed here from what the writers did.

    Rating: mean with a Student t 95% interval clipped to 1-5. Edit distance: a rewrite appends
    PS to the draft, so draft and final differ by a pure insertion at the end: the normalised
    Levenshtein distance is the inserted length over the final's (whitespace collapsed).
    """
    n = len(ratings)
    mean = statistics.fmean(ratings)
    half = scipy.stats.t.ppf(0.975, n - 1) * statistics.stdev(ratings) / math.sqrt(n)
    rating = f"{mean:.2f} ({max(1.0, mean - half):.2f}-{min(5.0, mean + half):.2f})"
    distances = []
    for ref, final in final_by_ref.items():
        draft, final = " ".join(draft_by_ref[ref].split()), " ".join(final.split())
        assert final.startswith(draft)
        distances.append((len(final) - len(draft)) / len(final))
    accepted = sum(d == 0 for d in distances) / len(distances)
    distance = statistics.fmean(distances)
    return (
        f"{version:<22} {drafts:>6} {len(distances):>6} {rating:>18} "
        f"{accepted:>9.0%} {distance:>9.3f} {f'{lead_median}s':>9}"
    )


@pytest.mark.train
# transformers 5 deprecates names that peft/trl still read; not ours to fix.
@pytest.mark.filterwarnings("ignore:.*is deprecated and will be removed in v6:FutureWarning")
def test_a_real_export_trains_with_trl(
    ls_client: LabelStudio,
    loop_settings: Settings,
    standin: StandinServer,
    tiny_model: Path,
    tmp_path: Path,
) -> None:
    project_id = int(ok(["init", "--title", "loop trl", "--no-backend"], loop_settings).stdout)
    briefs = write_briefs(tmp_path / "briefs.jsonl", "T", 12)
    ok(["import", str(briefs), "--project", str(project_id)], loop_settings)
    ok(["prefill", "--project", str(project_id)], loop_settings)
    for task in tasks_by_ref(ls_client, project_id).values():
        annotate(ls_client, task, VERSION_A, rating=3, rewrite=True)
    export_dir = tmp_path / "export"
    ok(["export", "--project", str(project_id), "-o", str(export_dir)], loop_settings)

    trained = ok(
        [
            "train",
            "trl",
            str(export_dir),
            "--base-model",
            str(tiny_model),
            "--max-steps",
            "2",
            "--batch-size",
            "2",
            "--lora-r",
            "4",
            "--serve-url",
            standin.base_url,
        ],
        loop_settings,
    )
    assert trained.stdout == "v1\n"
    [version] = [
        json.loads(line)
        for line in ok(["models", "list", "--json"], loop_settings).stdout.splitlines()
    ]
    manifest_sha = hashlib.sha256((export_dir / "manifest.json").read_bytes()).hexdigest()
    assert {
        k: version[k]
        for k in (
            "name",
            "model_id",
            "status",
            "trainer",
            "base_model",
            "manifest_sha256",
            "export_dir",
        )
    } == {
        "name": "v1",
        "model_id": "v1",
        "status": "candidate",
        "trainer": "trl",
        "base_model": str(tiny_model),
        "manifest_sha256": manifest_sha,
        "export_dir": str(export_dir),
    }
    assert (version["metrics"]["sft"]["steps"], version["metrics"]["dpo"]["steps"]) == (2, 2)
    adapter = loop_settings.home / "adapters" / "v1" / "adapter"
    assert (adapter / "adapter_config.json").is_file()
    assert json.loads((adapter / "redraft.json").read_text())["base_model"] == str(tiny_model)

    # Served as vLLM would serve the adapter (`--lora-modules v1=ADAPTER`): the stand-in plays
    # that server and answers for model "v1". Promoted, it drafts the next briefs.
    standin.state.apply_config({"models": [*standin.state.models, "v1"]})
    ok(["models", "promote", "v1", "--force"], loop_settings)  # too few briefs for a verdict
    more = write_briefs(tmp_path / "more.jsonl", "T", 2, start=13)
    ok(["import", str(more), "--project", str(project_id)], loop_settings)
    before = len(chat_models(standin))
    prefilled = ok(["prefill", "--project", str(project_id)], loop_settings)
    assert prefilled.stderr.splitlines()[-1] == (
        "prefilled 2 of 14 tasks with 'v1' (0 from cache); 0 already had a draft; "
        "12 finished tasks left alone"
    )
    assert chat_models(standin)[before:] == ["v1", "v1"]
    assert versions_by_ref(ls_client, project_id) == (
        {f"T-{i}": [VERSION_A] for i in range(1, 13)} | {"T-13": ["v1"], "T-14": ["v1"]}
    )
