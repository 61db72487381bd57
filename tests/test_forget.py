"""`redraft forget`: a recipient is masked in Label Studio, exports, the cache and reports, and
the versions trained on their data are named (real Label Studio on loopback)."""

from __future__ import annotations

import csv
import json
import os
import re
import sqlite3
import unicodedata
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from label_studio_sdk import LabelStudio

from redraft.backend.cache import DraftCache
from redraft.exporters.manifest import ExportManifest
from redraft.exporters.sinks import file_sha256
from redraft.label_config import FINAL, read_label_config
from redraft.label_config.results import annotation_result, draft_prediction, text_of
from redraft.labelstudio.client import session
from redraft.loop.forget import ForgetError, Needle, annotation_recency
from redraft.loop.forgetfiles import mask_file
from redraft.report.judge import JudgeScore, judged_meta
from redraft.settings import Settings
from redraft.training.exportdir import load_export
from redraft.training.registry import ModelVersion, Registry
from tests.fixtures.labelstudio import LabelStudioInstance, run_cli

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
    ls_client: LabelStudio, ls_settings: Settings, label_studio: LabelStudioInstance
) -> None:
    on_disk = {"LABEL_STUDIO_BASE_DATA_DIR": str(label_studio.server.data_dir)}
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
        "would mask 'Ada Lovelace' in 1 Label Studio task (1 prediction, 1 annotation, 0 "
        "drafts), 7 lines of 1 export folder, 1 cached draft (would drop), 1 other file in "
        "REDRAFT_HOME; trained on data that included them: v1 — their weights still do: "
        "retrain from a masked export, then retire them"
    )
    assert "Lovelace" in everything_text(ls_client, project.id)  # a dry run changes nothing

    done = run_cli(["forget", "Ada Lovelace", "--project", str(project.id)], ls_settings, on_disk)
    assert done.exit_code == 0, done.output
    assert done.stderr.splitlines()[-1].startswith("masked 'Ada Lovelace' in 1 Label Studio task")
    stored = everything_text(ls_client, project.id)
    assert ("Ada" in stored, "Lovelace" in stored, "Bob" in stored) == (False, False, True)
    # A name does not cut into an address; the address goes when it is forgotten too.
    assert "Offer [removed] (ada@example.com) a demo." in stored
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
    again = run_cli(
        ["forget", "ada@example.com", "--project", str(project.id)], ls_settings, on_disk
    )
    assert again.stderr.splitlines()[-1].startswith("masked 'ada@example.com' in 1 Label Studio")
    assert "Offer [removed] ([removed]) a demo." in everything_text(ls_client, project.id)


# --- matching as people are written -------------------------------------------------------------

NFD = "NFD"


@pytest.mark.parametrize(
    ("person", "text", "everything", "expected"),
    [
        # A surname after a title is the person, even without the first name.
        ("Ada Lovelace", "Dear Ms. Lovelace, thanks.", False, ("Dear Ms. [removed], thanks.", 1)),
        ("José García", "Dear Mr. García,", False, ("Dear Mr. [removed],", 1)),
        ("José García", "Prof García and Dr García", False, ("Prof [removed] and Dr [removed]", 2)),
        # Decomposed Unicode (NFD) is found, whichever form the needle was typed in.
        (
            "José García",
            unicodedata.normalize(NFD, "Hola José García."),
            False,
            ("Hola [removed].", 1),
        ),
        (
            unicodedata.normalize(NFD, "José García"),
            "Hola José García.",
            False,
            ("Hola [removed].", 1),
        ),
        # The first name and surname alone only with `everything` (inside a unit that matched).
        (
            "Ada Lovelace",
            "Hi Ada, Lovelace here; Adam stays.",
            False,
            ("Hi Ada, Lovelace here; Adam stays.", 0),
        ),
        (
            "Ada Lovelace",
            "Hi Ada, Lovelace here; Adam stays.",
            True,
            ("Hi [removed], [removed] here; Adam stays.", 2),
        ),
        # Addresses are matched whole: other people's addresses are not cut into.
        (
            "ada@example.com",
            "lada@example.com, ada@example.com.au",
            False,
            ("lada@example.com, ada@example.com.au", 0),
        ),
        (
            "ada@example.com",
            "<ADA@Example.com>; ada@example.com.",
            False,
            ("<[removed]>; [removed].", 2),
        ),
        # A name never cuts into an address: one made of the name goes whole, others stay.
        (
            "Ada Lovelace",
            "ada.lovelace@example.com, ada@example.com",
            True,
            ("[removed], ada@example.com", 1),
        ),
        ("Ada Lovelace", "alovelace@example.com", False, ("[removed]", 1)),
    ],
)
def test_needles_match_people_as_they_are_written(
    person: str, text: str, everything: bool, expected: tuple[str, int]
) -> None:
    assert Needle.parse(person).mask(text, everything=everything) == expected


@pytest.mark.parametrize(
    "order", [("Ada Lovelace", "ada@example.com"), ("ada@example.com", "Ada Lovelace")]
)
def test_forgetting_by_name_and_by_email_in_either_order_leaves_nothing(
    order: tuple[str, str],
) -> None:
    text = "Hi Ada, Ada Lovelace <ada.lovelace@example.com> also reads ada@example.com."
    for person in order:
        text = Needle.parse(person).mask(text, everything=True)[0]
    assert text == "Hi [removed], [removed] <[removed]> also reads [removed]."


def test_a_csv_is_masked_record_by_record(tmp_path: Path) -> None:
    path = tmp_path / "records.csv"
    rows = [["task_id", "feedback", "final"], ["1", "Ada Lovelace liked it", "Hi\nAda\nBest"]]
    rows.append(["2", "Bob", "Hi\nAda\n"])  # another Ada, in a row that does not name the person
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    assert mask_file(path, Needle.parse("Ada Lovelace"), dry_run=False) == 1
    with open(path, newline="", encoding="utf-8") as handle:
        assert list(csv.reader(handle)) == [
            ["task_id", "feedback", "final"],
            ["1", "[removed] liked it", "Hi\n[removed]\nBest"],
            ["2", "Bob", "Hi\nAda\n"],
        ]


def sealed_export(folder: Path, rows: list[dict[str, str]]) -> ExportManifest:
    """A minimal export folder: one dataset file and its manifest."""
    folder.mkdir(parents=True)
    data = folder / "trl_sft.train.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    files = {data.name: {"rows": len(rows), "sha256": file_sha256(data)}}
    return ExportManifest("2026-11-20T10:00:00Z", files, source={"project_id": 1}).write(folder)


def test_the_versions_trained_on_a_person_are_named_after_a_re_seal(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = settings.exports_dir / "20261120-100000"
    rows = [{"text": "Offer Ada Lovelace a demo."}, {"text": "Offer Bob Babbage a demo."}]
    manifest = sealed_export(folder, rows)
    Registry(settings.registry_path).add(
        ModelVersion(
            name="v1",
            model_id="ft:x",
            trainer="openai",
            manifest_sha256=manifest.sha256,
            # relative to where `redraft train` ran (REDRAFT_HOME here)
            export_dir="exports/20261120-100000",
        )
    )
    monkeypatch.chdir(settings.home.parent)  # forget runs from elsewhere
    first = run_cli(["forget", "Ada Lovelace", "--skip-label-studio"], settings)
    second = run_cli(["forget", "Bob Babbage", "--skip-label-studio"], settings)
    tail = (
        "0 cached drafts (dropped), 0 other files in REDRAFT_HOME; trained on data that included "
        "them: v1 — their weights still do: retrain from a masked export, then retire them"
    )
    assert (first.exit_code, first.stderr.splitlines()) == (
        0,
        [
            "masked 'Ada Lovelace' in 0 Label Studio tasks (0 predictions, 0 annotations, 0 "
            f"drafts), 1 line of 1 export folder, {tail}"
        ],
    )
    assert second.stderr.splitlines() == [
        "masked 'Bob Babbage' in 0 Label Studio tasks (0 predictions, 0 annotations, 0 "
        f"drafts), 1 line of 1 export folder, {tail}"
    ]
    resealed = load_export(folder)  # still a valid export, its manifest knows what it was
    assert resealed.manifest.source["resealed_from"][0] == manifest.sha256
    assert len(resealed.manifest.source["resealed_from"]) == 2


# --- nothing written outside REDRAFT_HOME -------------------------------------------------------


def test_forget_never_writes_outside_home_nor_follows_symlinks(
    settings: Settings, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "victim_outside.csv"
    victim.write_text("name\nAda Lovelace\n")
    linked = outside / "linked.csv"
    linked.write_text("name\nAda Lovelace\n")
    folder = settings.exports_dir / "20261120-100000"
    manifest = sealed_export(folder, [{"text": "Offer Ada Lovelace a demo."}])
    escape = os.path.relpath(victim, folder)  # ../../../outside/victim_outside.csv
    files = {**manifest.files, escape: {"rows": 1, "sha256": file_sha256(victim)}}
    replace(manifest, files=files).write(folder)
    reports = settings.home / "reports" / "r1"
    reports.mkdir(parents=True)
    (reports / "clients.csv").symlink_to(linked)
    (settings.home / "reports" / "elsewhere").symlink_to(outside, target_is_directory=True)

    done = run_cli(["forget", "Ada Lovelace", "--skip-label-studio"], settings)

    assert done.exit_code == 0, done.output
    assert (victim.read_text(), linked.read_text()) == (
        "name\nAda Lovelace\n",
        "name\nAda Lovelace\n",
    )
    assert done.stderr.splitlines() == [
        f"not touched: {settings.home / 'reports' / 'elsewhere'}: a symlinked folder — not "
        "followed",
        f"not touched: {reports / 'clients.csv'}: a symlink — not followed; check its target "
        "by hand",
        f"not touched: {folder / escape}: outside {folder} — not touched",
        "masked 'Ada Lovelace' in 0 Label Studio tasks (0 predictions, 0 annotations, 0 drafts), "
        "1 line of 1 export folder, 0 cached drafts (dropped), 0 other files in REDRAFT_HOME",
    ]
    assert "[removed]" in (folder / "trl_sft.train.jsonl").read_text()


@pytest.mark.e2e
def test_forget_keeps_which_annotation_is_latest(
    ls_client: LabelStudio, ls_settings: Settings
) -> None:
    project = ls_client.projects.create(title="forget latest", label_config=read_label_config())
    ls_client.projects.import_tasks(id=project.id, request=[{"data": BOB}])
    (task,) = ls_client.tasks.list(project=project.id, fields="all")
    older = ls_client.annotations.create(
        task.id, result=annotation_result(final="Hi Bob, Ada Lovelace says hello.", rating=3)
    )
    newer = ls_client.annotations.create(
        task.id, result=annotation_result(final="Hi Bob, shall I show you a demo?", rating=4)
    )

    def latest() -> int:
        annotations = ls_client.tasks.get(task.id).model_dump(mode="json")["annotations"]
        return int(max(annotations, key=annotation_recency)["id"])

    assert latest() == newer.id
    done = run_cli(["forget", "Ada Lovelace", "--project", str(project.id)], ls_settings)
    assert done.exit_code == 0, done.output
    assert done.stderr.splitlines()[-1].startswith(
        "masked 'Ada Lovelace' in 1 Label Studio task (0 predictions, 1 annotation, 0 drafts)"
    )
    url = ls_settings.label_studio_url
    assert done.stderr.splitlines()[:-1] == [  # no --label-studio-data: the operator's part
        f"not reached: Label Studio at {url} keeps every export snapshot as a file on its disk, "
        "also after redraft deletes the snapshot: delete project-*-at-* under <its data "
        "directory>/media/export/ and export/ (or run forget on that machine with "
        "--label-studio-data DIR)",
        "not reached: Label Studio's database keeps edited rows' old text in free space until "
        "it is vacuumed: run VACUUM on its database (SQLite: label_studio.sqlite3 in its data "
        "directory; PostgreSQL: VACUUM FULL), or pass --label-studio-data DIR here",
    ]
    masked = ls_client.annotations.get(older.id).result
    assert text_of(masked, FINAL) == "Hi Bob, [removed] says hello."
    assert latest() == newer.id  # masking the older one did not make it the latest


# --- done when: one person seeded everywhere, forgotten, found nowhere -------------------------

TRACES = re.compile(r"lovelace|ada@example\.com|\bAda\b", re.IGNORECASE)


def traces_in_files(root: Path) -> list[str]:
    """Every file under `root` whose bytes still name the person."""
    return sorted(
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file()
        and not p.is_symlink()
        and TRACES.search(p.read_bytes().decode("utf-8", "replace"))
    )


def traces_in_database(path: Path) -> list[str]:
    """Lines of the SQLite database's dump that name the person."""
    with sqlite3.connect(path) as db:
        found = [line[:160] for line in db.iterdump() if TRACES.search(line)]
    db.close()
    return found


@pytest.mark.e2e
@pytest.mark.parametrize(
    "order", [("Ada Lovelace", "ada@example.com"), ("ada@example.com", "Ada Lovelace")]
)
def test_forget_leaves_no_trace_in_label_studio_nor_redraft_home(
    settings: Settings, own_label_studio: LabelStudioInstance, order: tuple[str, str]
) -> None:
    label_studio = own_label_studio  # the whole database is searched: no other test's data
    ls_settings = settings.with_overrides(
        label_studio_url=label_studio.url, label_studio_api_key=label_studio.login.token
    )
    with session(label_studio.url, label_studio.login.token) as ls_client:
        _seed_forget_and_search(ls_client, ls_settings, label_studio, order)


def _seed_forget_and_search(
    ls_client: LabelStudio,
    ls_settings: Settings,
    label_studio: LabelStudioInstance,
    order: tuple[str, str],
) -> None:
    data_dir = label_studio.server.data_dir
    http = ls_client._client_wrapper.httpx_client
    project = ls_client.projects.create(
        title=f"forget everywhere {order[0][0]}", label_config=read_label_config()
    )
    ls_client.projects.import_tasks(
        id=project.id,
        request=[
            {
                "data": {**ADA, "brief": "Offer Ada Lovelace (ada@example.com) a demo."},
                "predictions": [draft_prediction("Dear Ms. Lovelace,\n\nA demo?", "v0")],
            },
            {"data": BOB, "predictions": [draft_prediction("Hi Bob,\n\nA demo?", "v0")]},
        ],
    )
    ada, bob = sorted(
        (t.model_dump(mode="json") for t in ls_client.tasks.list(project=project.id, fields="all")),
        key=lambda t: t["id"],
    )
    made = ls_client.annotations.create(
        ada["id"],
        result=annotation_result(final="Hi Ada,\n\nShall I show you a demo?", rating=2),
        parent_prediction=ada["predictions"][0]["id"],
    )
    ls_client.annotations.update(  # an edited annotation, feedback naming them
        made.id,
        result=annotation_result(
            final="Hi Ada,\n\nA demo, Ms. Lovelace?",
            rating=2,
            feedback="Ada Lovelace prefers ada@example.com",
        ),
    )
    ls_client.annotations.create(
        bob["id"], result=annotation_result(final="Hi Bob,\n\nA demo?", rating=4)
    )
    for path in (
        f"api/tasks/{bob['id']}/drafts",
        f"api/tasks/{ada['id']}/annotations/{made.id}/drafts",
    ):
        autosaved = annotation_result(final="Hi Bob, Ada Lovelace asked about you.", rating=3)
        http.request(
            path, method="POST", json={"result": autosaved, "lead_time": 1}
        ).raise_for_status()
    score = JudgeScore(ada["id"], 2, "Ada Lovelace is addressed too formally.")
    ls_client.tasks.update(str(ada["id"]), meta=judged_meta({}, score, "judge-model"))
    second = ["-o", str(ls_settings.exports_dir / "second")]
    for extra in ([], ["--keep-snapshot", "--records-format", "csv", *second]):
        exported = run_cli(
            ["export", "--project", str(project.id), "--validation-ratio", "0", *extra],
            ls_settings,
        )
        assert exported.exit_code == 0, exported.output
    export_dir = Path(exported.stdout.strip())
    reported = run_cli(["report", "--export", str(export_dir)], ls_settings)
    assert reported.exit_code == 0, reported.output
    (ls_settings.home / "styles.toml").write_text(
        '[clients.Acme]\nlearned = [{rule = "Copy Ada Lovelace at ada@example.com"}]\n'
    )
    templates = ls_settings.home / "templates"
    templates.mkdir(exist_ok=True)
    (templates / "ours-123.toml").write_text('system = "Write to Ms. Lovelace politely."\n')
    cache = DraftCache(ls_settings.cache_path)  # held open, as the running backend does
    cache.put("k-ada", "m", "Dear Ms. Lovelace, a demo?")
    cache.put("k-ada", "m", "Dear Ada Lovelace, a demo?")  # replaced: the old row is freed
    assert traces_in_files(data_dir / "media" / "export")  # the snapshots are on disk
    # Every place the person was seeded holds them before forget.
    dump = traces_in_database(data_dir / "label_studio.sqlite3")
    assert {line.split('"')[1] for line in dump} == {
        "task",  # data, and meta with the judge's reason
        "prediction",
        "task_completion",  # the annotation
        "tasks_annotationdraft",  # two autosaved drafts
    }
    held = [
        re.sub(r"^exports/\d{8}T\d{6}Z/", "exports/FIRST/", p)
        for p in traces_in_files(ls_settings.home)
    ]
    datasets = [
        f"{n}.train.jsonl" for n in ("openai_dpo", "openai_sft", "trl_dpo", "trl_kto", "trl_sft")
    ]
    assert held == [
        "cache.sqlite3-wal",
        *(f"exports/FIRST/{n}" for n in [*datasets[:2], "records.parquet", *datasets[2:]]),
        *(f"exports/second/{n}" for n in [*datasets[:2], "records.csv", *datasets[2:]]),
        "styles.toml",
        "templates/ours-123.toml",
    ]

    extra = {"LABEL_STUDIO_BASE_DATA_DIR": str(data_dir)}
    runs = [run_cli(["forget", person], ls_settings, extra) for person in order]
    cache.close()

    assert [r.exit_code for r in runs] == [0, 0], [r.output for r in runs]
    assert [r.stderr.splitlines()[:-1] for r in runs] == [[], []]  # nothing out of reach
    assert traces_in_database(data_dir / "label_studio.sqlite3") == []
    assert traces_in_files(data_dir) == []
    assert traces_in_files(ls_settings.home) == []
    load_export(export_dir)  # still a valid export
