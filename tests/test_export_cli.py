"""`redraft export` and `redraft validate` through the real entry point."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner, Result

from redraft.cli.main import cli
from redraft.exporters.manifest import ExportManifest
from redraft.exporters.rows import FORMATS
from tests.fixtures.exports import annotation, prediction, read_jsonl, task, write_json

D1, F1 = (
    "Hi Ada, demo?",
    "Hi Ada, could I show you the CRM cleanup in a 20-minute demo on Thursday?",
)
D2 = "Hi Bob, here is the case study you asked for."
D3 = "Dear Sir, we do CRM things."
D8, F8 = (
    "Hi Cy, want a demo?",
    "Hi Cy, our CRM cleanup saved Globex 12 hours a week. Demo on Friday?",
)
D9 = "<p>Hallo Zoë, Termin?</p>"
F9 = "<p>Hallo Zoë,</p>\n<p>passt Ihnen ein <em>Termin</em> am Donnerstag? 🎉</p>"


def tasks() -> list[dict[str, Any]]:
    """One task per kind of annotation (accepted, rewritten, ...), and each kind of reject."""
    return [
        task(
            1,
            predictions=[prediction(11, D1)],
            annotations=[
                annotation(
                    101, final=F1, score=2, issues=["too short"], feedback="Be concrete.", parent=11
                )
            ],
        ),
        task(
            2,
            client="Globex",
            predictions=[prediction(21, D2)],
            annotations=[annotation(201, final=D2, score=5, parent=21)],
        ),
        task(
            3,
            predictions=[prediction(31, D3)],
            annotations=[
                annotation(
                    301, final=D3, score=1, issues=["tone"], feedback="Too generic.", parent=31
                )
            ],
        ),
        task(4, predictions=[prediction(41, "x")], annotations=[annotation(401, cancelled=True)]),
        task(5, predictions=[prediction(51, "x")]),
        task(6, brief="", annotations=[annotation(601, final="Hi")]),
        task(7, predictions=[prediction(71, "x")], annotations=[annotation(701, score=3)]),
        task(
            8,
            client="Globex",
            predictions=[prediction(81, D8)],
            annotations=[
                annotation(801, final=F8, score=2, parent=81, second=10, completed_by=1),
                annotation(802, final=D8, score=5, parent=81, second=20, completed_by=2),
            ],
        ),
        task(
            9,
            brief="Grüße an Zoë — <b>Termin</b>",
            client="Ünïcode GmbH",
            predictions=[prediction(91, D9)],
            annotations=[annotation(901, final=F9, score=3, parent=91)],
        ),
    ]


def prompt(tid: int) -> list[dict[str, str]]:
    t = {x["id"]: x for x in tasks()}[tid]
    return [
        {"role": "system", "content": f"Write for {t['data']['client']}."},
        {"role": "user", "content": f"Brief: {t['data']['brief']}"},
    ]


def a(text: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": text}]


def sft(tid: int, text: str) -> dict:
    return {"messages": prompt(tid) + a(text)}


def odpo(tid: int, good: str, bad: str) -> dict:
    return {
        "input": {"messages": prompt(tid)},
        "preferred_output": a(good),
        "non_preferred_output": a(bad),
    }


def tdpo(tid: int, good: str, bad: str) -> dict:
    return {"prompt": prompt(tid), "chosen": a(good), "rejected": a(bad)}


def kto(tid: int, text: str, label: bool) -> dict:
    return {"prompt": prompt(tid), "completion": a(text), "label": label}


REJECT_LINES = [
    "task 4: annotation 401 was cancelled (skipped) — rejected",
    "task 5: no completed annotation — rejected",
    "task 6: no brief — rejected",
    "task 7: annotation 701 has no final text — rejected",
]


def run(args: list[str], home: Path) -> Result:
    env = {"REDRAFT_HOME": str(home), "OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": ""}
    return CliRunner().invoke(cli, args, env=env, catch_exceptions=False)


@pytest.fixture
def export_file(tmp_path: Path) -> Path:
    return write_json(tmp_path / "project-1.json", tasks())


def export(export_file: Path, template_file: Path, out: Path, home: Path, *extra: str) -> Result:
    args = ["export", "--from-file", str(export_file), "--template", str(template_file)]
    return run([*args, "-o", str(out), "--validation-ratio", "0", *extra], home)


def test_export_writes_every_case_exactly(
    export_file: Path, template_file: Path, tmp_path: Path, redraft_home: Path
) -> None:
    out = tmp_path / "out"
    result = export(export_file, template_file, out, redraft_home)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["manifest.json", "rejects.jsonl", "records.parquet"]
        + [f"{n}.{s}.jsonl" for n in FORMATS for s in ("train", "validation")]
    )
    assert read_jsonl(out / "openai_sft.train.jsonl") == [
        sft(1, F1),
        sft(2, D2),
        sft(8, F8),
        sft(8, D8),
        sft(9, F9),
    ]
    assert read_jsonl(out / "trl_sft.train.jsonl") == read_jsonl(out / "openai_sft.train.jsonl")
    assert read_jsonl(out / "openai_dpo.train.jsonl") == [
        odpo(1, F1, D1),
        odpo(8, F8, D8),
        odpo(9, F9, D9),
    ]
    assert read_jsonl(out / "trl_dpo.train.jsonl") == [
        tdpo(1, F1, D1),
        tdpo(8, F8, D8),
        tdpo(9, F9, D9),
    ]
    assert read_jsonl(out / "trl_kto.train.jsonl") == [
        kto(1, F1, True),
        kto(1, D1, False),
        kto(2, D2, True),
        kto(3, D3, False),
        kto(8, F8, True),
        kto(8, D8, False),
        kto(8, D8, True),
        kto(9, F9, True),
        kto(9, D9, False),
    ]
    for name in FORMATS:
        assert (out / f"{name}.validation.jsonl").read_text() == ""
    assert [r["line"] for r in read_jsonl(out / "rejects.jsonl")] == REJECT_LINES
    # The file keeps non-ASCII text as it is (UTF-8), not as \u escapes.
    assert "Zoë" in (out / "openai_sft.train.jsonl").read_text("utf-8")


def test_every_task_is_accounted_for(
    export_file: Path, template_file: Path, tmp_path: Path, redraft_home: Path
) -> None:
    out = tmp_path / "out"
    assert export(export_file, template_file, out, redraft_home).exit_code == 0
    manifest = json.loads((out / "manifest.json").read_text())
    counts = manifest["counts"]
    rejected_ids = {r["task_id"] for r in read_jsonl(out / "rejects.jsonl")}
    assert counts["tasks_exported"] + counts["tasks_rejected"] == counts["tasks_read"] == 9
    assert rejected_ids == {4, 5, 6, 7}
    assert counts == {
        "tasks_read": 9,
        "tasks_exported": 5,
        "tasks_rejected": 4,
        "records": 6,
        "rejects": 4,
        "machine_written_records": 0,
        "golden_review_tasks": 0,
        "golden_review_already_sent": 0,
        "cases": {"accepted": 2, "low_no_rewrite": 1, "rewritten": 3},
        "left_out": {},
    }


def test_manifest_hashes_counts_and_readiness(
    export_file: Path, template_file: Path, tmp_path: Path, redraft_home: Path, export_template
) -> None:
    out = tmp_path / "out"
    result = export(export_file, template_file, out, redraft_home)
    manifest = json.loads((out / "manifest.json").read_text())
    for name, entry in manifest["files"].items():
        assert entry["sha256"] == hashlib.sha256((out / name).read_bytes()).hexdigest()
    assert manifest["files"]["openai_sft.train.jsonl"]["rows"] == 5
    assert manifest["template"] == {"name": "default", "sha256": export_template.sha256}
    assert manifest["source"] == {
        "kind": "file",
        "path": str(export_file.resolve()),
        # the template file the prompts came from: a version trained on them drafts with it
        "template_path": manifest["source"]["template_path"],
    }
    assert manifest["source"]["template_path"].endswith("template.toml")
    assert manifest["token_counts"] == "token counts exact (o200k_base)"
    assert manifest["options"]["policy"] == {
        "min_rating_sft": 3,
        "min_edit_chars": 10,
        "min_edit_ratio": 0.0,
        "include_accepted": True,
        "kto_threshold": 4,
        "low_rating": 2,
    }
    # Five SFT rows: under OpenAI's minimum of 10, so nothing is marked ready.
    assert manifest["ready"] is False
    assert manifest["datasets"]["openai_sft"] == {
        "ready": False,
        "train_rows": 5,
        "validation_rows": 0,
        "problems": [
            "openai_sft.train.jsonl: error: 5 examples: fine-tuning needs at least 10"
            " — aim for 50+ for a clear improvement"
        ],
        "warnings": [],
    }
    assert result.stderr.splitlines()[-1] == (
        "exported 5 SFT rows, 3 preference pairs from 5 of 9 tasks; rejected 4 tasks"
        " (4 lines in rejects.jsonl); NOT ready"
    )
    assert result.stdout == f"{out}\n"
    table = pq.read_table(out / "records.parquet").to_pylist()
    assert [(r["task_id"], r["annotation_id"], r["case"], r["split"]) for r in table] == [
        (1, 101, "rewritten", "train"),
        (2, 201, "accepted", "train"),
        (3, 301, "low_no_rewrite", "train"),
        (8, 801, "rewritten", "train"),
        (8, 802, "accepted", "train"),
        (9, 901, "rewritten", "train"),
    ]
    assert table[0]["issues"] == ["too short"] and table[0]["feedback"] == "Be concrete."


def test_ready_when_enough_rows(tmp_path: Path, template_file: Path, redraft_home: Path) -> None:
    many = [
        task(
            i,
            brief=f"Brief number {i}",
            predictions=[prediction(i, f"Draft {i}")],
            annotations=[
                annotation(i, final=f"A much better email number {i} for you.", score=2, parent=i)
            ],
        )
        for i in range(1, 31)
    ]
    source = write_json(tmp_path / "many.json", many)
    out = tmp_path / "out"
    result = export(source, template_file, out, redraft_home, "--validation-ratio", "0.2")
    manifest = json.loads((out / "manifest.json").read_text())
    assert result.exit_code == 0
    # KTO and SFT have rows; every non-empty dataset passed validation.
    assert manifest["ready"] is True
    train = read_jsonl(out / "openai_sft.train.jsonl")
    validation = read_jsonl(out / "openai_sft.validation.jsonl")
    assert len(train) + len(validation) == 30 and validation
    # All rows of one task land in the same split, in every format.
    briefs = {r["messages"][1]["content"] for r in validation}
    assert {
        r["prompt"][1]["content"] for r in read_jsonl(out / "trl_kto.validation.jsonl")
    } == briefs
    assert manifest["split"]["by_client"] == {
        "Acme": {"train": len(train), "validation": len(validation)}
    }


@pytest.mark.parametrize(
    ("policy", "sft_rows"),
    [("latest", [sft(8, D8)]), ("best-rated", [sft(8, D8)]), ("all", [sft(8, F8), sft(8, D8)])],
)
def test_annotator_policy_flag(
    tmp_path: Path, template_file: Path, redraft_home: Path, policy: str, sft_rows: list
) -> None:
    source = write_json(tmp_path / "t8.json", [tasks()[7]])
    out = tmp_path / "out"
    assert export(source, template_file, out, redraft_home, "--annotators", policy).exit_code == 0
    assert read_jsonl(out / "openai_sft.train.jsonl") == sft_rows
    rejects = [r["line"] for r in read_jsonl(out / "rejects.jsonl")]
    expected = (
        []
        if policy == "all"
        else [
            f"task 8: annotation 801 not selected (--annotators {policy} keeps annotation 802)"
            " — rejected"
        ]
    )
    assert rejects == expected


def test_exclude_accepted_and_thresholds(
    export_file: Path, template_file: Path, tmp_path: Path, redraft_home: Path
) -> None:
    out = tmp_path / "out"
    flags = ["--exclude-accepted", "--kto-threshold", "3", "--min-edit-chars", "200"]
    assert export(export_file, template_file, out, redraft_home, *flags).exit_code == 0
    assert read_jsonl(out / "openai_dpo.train.jsonl") == []
    assert read_jsonl(out / "trl_kto.train.jsonl") == [
        kto(1, F1, True),
        kto(1, D1, False),
        kto(3, D3, False),
        kto(8, F8, True),
        kto(8, D8, False),
        kto(9, F9, True),
        kto(9, D9, True),
    ]
    assert [r["line"] for r in read_jsonl(out / "rejects.jsonl")] == [
        "task 2: annotation 201 accepted as is (excluded by --exclude-accepted) — rejected",
        *REJECT_LINES,
        "task 8: annotation 802 accepted as is (excluded by --exclude-accepted) — rejected",
    ]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["tasks_exported"] + manifest["counts"]["tasks_rejected"] == 9
    assert manifest["counts"]["tasks_rejected"] == 5


def test_mask_pii_and_csv_records(tmp_path: Path, template_file: Path, redraft_home: Path) -> None:
    t = task(
        1,
        brief="Write to ada@example.com, +44 20 7946 0958.",
        predictions=[prediction(1, "Call me at 555-123-4567.")],
        annotations=[
            annotation(1, final="Mail bob.smith@corp.example or (212) 555-0199.", score=4, parent=1)
        ],
    )
    source = write_json(tmp_path / "pii.json", [t])
    out = tmp_path / "out"
    args = ["--mask-pii", "--records-format", "csv"]
    assert export(source, template_file, out, redraft_home, *args).exit_code == 0
    masked = [
        {"role": "system", "content": "Write for Acme."},
        {"role": "user", "content": "Brief: Write to [email], [phone]."},
    ]
    assert read_jsonl(out / "trl_dpo.train.jsonl") == [
        {
            "prompt": masked,
            "chosen": a("Mail [email] or [phone]."),
            "rejected": a("Call me at [phone]."),
        }
    ]
    text = (out / "records.csv").read_text("utf-8")
    assert "ada@example.com" not in text and "555-0199" not in text
    assert text.splitlines()[0].startswith("task_id,annotation_id,project_id,client,")


def test_golden_rewrites_through_the_standin(
    export_file: Path, template_file: Path, tmp_path: Path, redraft_home: Path, standin
) -> None:
    out = tmp_path / "out"
    env = {
        "REDRAFT_HOME": str(redraft_home),
        "OPENAI_API_KEY": "sk-test",
        "OPENAI_BASE_URL": standin.base_url,
    }
    args = [
        "export",
        "--from-file",
        str(export_file),
        "--template",
        str(template_file),
        "-o",
        str(out),
        "--validation-ratio",
        "0",
        "--golden",
        "--golden-model",
        "gpt-4o-mini",
    ]
    result = CliRunner().invoke(cli, args, env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    calls = [e for e in standin.state.request_log() if e["path"] == "/v1/chat/completions"]
    assert len(calls) == 1  # only task 3: low rating, feedback, no rewrite
    assert calls[0]["json"]["messages"][1]["content"].endswith(
        "Draft:\nDear Sir, we do CRM things.\n\nWhat was wrong: tone\nFeedback: Too generic."
        "\n\nRewrite the draft with the feedback applied."
    )
    table = pq.read_table(out / "records.parquet").to_pylist()
    golden = next(r for r in table if r["task_id"] == 3)
    assert (golden["machine_written"], golden["human_final"], golden["case"]) == (
        True,
        D3,
        "golden",
    )
    text = golden["final"]
    assert text and text != D3
    sft_rows = read_jsonl(out / "openai_sft.train.jsonl")
    assert sft_rows[2] == sft(3, text)
    assert read_jsonl(out / "openai_dpo.train.jsonl")[1] == odpo(3, text, D3)
    assert read_jsonl(out / "trl_kto.train.jsonl")[3] == kto(3, D3, False)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["machine_written_records"] == 1
    assert manifest["files"]["openai_sft.train.jsonl"]["machine_written_lines"] == [3]
    assert manifest["files"]["openai_dpo.train.jsonl"]["machine_written_lines"] == [2]
    assert manifest["files"]["trl_kto.train.jsonl"]["machine_written_lines"] == []
    assert "1 machine-written" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "Error: give exactly one of --project ID|TITLE or --from-file FILE"),
        (["--golden", "--golden-review"], "Error: use --golden or --golden-review, not both"),
        (["--golden-review"], "Error: --golden-review with --from-file needs --review-project ID"),
    ],
)
def test_usage_errors(export_file: Path, redraft_home: Path, args: list[str], message: str) -> None:
    source = [] if not args else ["--from-file", str(export_file)]
    result = run(["export", *source, *args], redraft_home)
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == message


def test_refuses_a_non_empty_folder(
    export_file: Path, template_file: Path, tmp_path: Path, redraft_home: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    result = export(export_file, template_file, out, redraft_home)
    assert result.exit_code == 1
    assert result.stderr == f"error: {out} is not empty — choose a new folder with -o\n"


def test_bad_export_file(tmp_path: Path, redraft_home: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('[{"id": 1, "data": {"brief": "x"}}, {"id": 2,')
    result = run(["export", "--from-file", str(bad), "-o", str(tmp_path / "out")], redraft_home)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == (
        f"error: {bad}: not valid JSON at character 45 (Expecting property name enclosed in"
        " double quotes) — give a Label Studio JSON export (an array of tasks) or JSONL"
    )


def test_default_folder_is_under_redraft_home(
    export_file: Path, template_file: Path, redraft_home: Path
) -> None:
    args = ["export", "--from-file", str(export_file), "--template", str(template_file)]
    result = run(args, redraft_home)
    assert result.exit_code == 0
    (folder,) = (redraft_home / "exports").iterdir()
    assert result.stdout == f"{folder}\n"
    assert (folder / "manifest.json").is_file()


def test_validate_names_lines_and_fails(tmp_path: Path, redraft_home: Path) -> None:
    good = {
        "messages": [
            {"role": "user", "content": "Brief"},
            {"role": "assistant", "content": "Email"},
        ]
    }
    rows = [good] * 10 + [{"messages": [{"role": "user", "content": "Brief"}]}]
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = run(
        ["validate", str(path), "--cost-model", "gpt-4o-mini-2024-07-18", "--epochs", "2"],
        redraft_home,
    )
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[:11] == [f"{path}:{n}: warning: duplicate of line 1" for n in range(2, 11)] + [
        f"{path}:11: error: missing assistant message — add the reply the model should learn",
        f"{path}: warning: 11 examples: enough to start, 50+ usually needed"
        " for a clear improvement",
    ]
    assert (
        lines[11]
        == "openai-sft: 11 examples, 130 billed tokens (12 per example; the longest sequence 13); "
        "token counts exact (o200k_base)"
    )
    assert lines[12] == (
        "estimated training cost: $0.00 for gpt-4o-mini-2024-07-18, 2 epochs (260 billed tokens)"
        " — an estimate, check current prices"
    )
    assert lines[13] == "1 error, 10 warnings"


def test_validate_passes_an_exported_file(
    tmp_path: Path, template_file: Path, redraft_home: Path
) -> None:
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"Brief {i}"},
                {"role": "assistant", "content": "Hi"},
            ]
        }
        for i in range(60)
    ]
    path = tmp_path / "ok.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = run(["validate", str(path)], redraft_home)
    assert result.exit_code == 0
    assert result.stdout.splitlines()[-1] == "0 errors, 0 warnings"


def test_every_file_of_a_ready_dataset_passes_validate(
    tmp_path: Path, template_file: Path, redraft_home: Path
) -> None:
    """What export calls ready, `redraft validate` passes too (validation files are small)."""
    tasks = [
        task(
            i,
            client="Acme" if i % 2 else "Globex",
            predictions=[prediction(i, f"Hi {i}.")],
            annotations=[annotation(i, final=f"A much longer and better email {i}.", parent=i)],
        )
        for i in range(1, 25)
    ]
    out, source = tmp_path / "out", write_json(tmp_path / "t.json", tasks)
    assert (
        export(source, template_file, out, redraft_home, "--validation-ratio", "0.2").exit_code == 0
    )
    manifest = json.loads((out / "manifest.json").read_text())
    checked = []
    for name, dataset in manifest["datasets"].items():
        if not dataset["ready"]:
            continue
        for split in ("train", "validation"):
            done = run(["validate", str(out / f"{name}.{split}.jsonl")], redraft_home)
            assert done.exit_code == 0, (name, split, done.stdout)
            checked.append(f"{name}.{split}")
    assert len(checked) == 10 and manifest["datasets"]["openai_sft"]["validation_rows"] >= 2


def test_over_long_task_is_flagged(tmp_path: Path, template_file: Path, redraft_home: Path) -> None:
    long_brief = "Mention every feature. " * 400
    many = [
        task(
            i,
            brief=long_brief if i == 3 else f"Brief {i}",
            predictions=[prediction(i, "Hi.")],
            annotations=[annotation(i, final=f"A much longer and better email {i}.", parent=i)],
        )
        for i in range(1, 13)
    ]
    source = write_json(tmp_path / "long.json", many)
    out = tmp_path / "out"
    # Without learned style notes, so the prompt's length is the template's alone.
    flags = ["--context-limit", "1000", "--no-style-notes"]
    assert export(source, template_file, out, redraft_home, *flags).exit_code == 0
    manifest = json.loads((out / "manifest.json").read_text())
    sft_file = manifest["files"]["openai_sft.train.jsonl"]["validation"]
    assert (sft_file["over_context_limit"], sft_file["ok"], manifest["ready"]) == (1, False, False)
    assert manifest["datasets"]["openai_sft"]["problems"] == [
        "openai_sft.train.jsonl:3: error: 1,631 tokens, over the 1,000-token context limit"
        " — shorten this example or drop it"
    ]


def test_golden_review_skips_annotations_already_sent(
    export_file: Path, tmp_path: Path, standin, export_template
) -> None:
    import openai

    from redraft.exporters.golden import GoldenWriter
    from redraft.exporters.pipeline import ExportOptions, run_export
    from redraft.exporters.reading import read_file_tasks
    from redraft.exporters.tokens import load_counter

    client = openai.OpenAI(base_url=standin.base_url, api_key="sk-test", max_retries=0)
    imported: list[list[dict[str, Any]]] = []

    def review_sink(batch: list[dict[str, Any]]) -> int:
        imported.append(batch)
        return len(batch)

    def export_once(out: Path, reviewed: set[int]) -> ExportManifest:
        return run_export(
            lambda: read_file_tasks(export_file),
            out,
            export_template,
            load_counter(),
            ExportOptions(golden="review", golden_model="gpt-4o-mini", validation_ratio=0),
            {"kind": "file"},
            GoldenWriter(client, "gpt-4o-mini"),
            review_sink,
            reviewed=reviewed,
        )

    first = export_once(tmp_path / "first", set())
    assert [[t["data"]["golden_of_annotation"] for t in batch] for batch in imported] == [[301]]
    # Task 3's annotation 301 now has a review task: the re-run neither rewrites nor imports it.
    second = export_once(tmp_path / "second", {301})
    calls = [e for e in standin.state.request_log() if e["path"] == "/v1/chat/completions"]
    assert len(calls) == 1 and len(imported) == 1
    assert [
        (m.counts["golden_review_tasks"], m.counts["golden_review_already_sent"])
        for m in (first, second)
    ] == [(1, 0), (0, 1)]


def test_help_names_the_flags_the_errors_point_to(redraft_home: Path) -> None:
    text = " ".join(run(["export", "--help"], redraft_home).stdout.split())
    assert "--timeout FLOAT RANGE Seconds to wait for Label Studio to build the project's" in text
    assert "--keep-snapshot Leave the snapshot export on the Label Studio server" in text
    assert "--min-edit-ratio FLOAT Those changed characters as a share of the longer text" in text


def test_what_redraft_writes_is_owner_only(tmp_path: Path) -> None:
    """REDRAFT_HOME holds tokens, recipients and emails: no other user may read it."""
    import os
    import stat
    import subprocess

    from tests.fixtures.common import REDRAFT, clean_env

    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    home.chmod(0o755)  # made before redraft ran, as a user might
    source = write_json(tmp_path / "export.json", tasks())
    env = clean_env() | {"REDRAFT_HOME": str(home)}
    done = subprocess.run(
        [REDRAFT, "export", "--from-file", str(source), "-o", str(home / "exports" / "one")],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    modes = {
        str(path.relative_to(home)): stat.S_IMODE(path.stat().st_mode)
        for path in [home, *home.rglob("*")]
    }
    assert modes["."] == 0o700
    shared = {name: oct(mode) for name, mode in modes.items() if mode & 0o077}
    assert shared == {}
    assert modes["exports/one/manifest.json"] == 0o600
    assert os.access(home / "exports" / "one" / "manifest.json", os.R_OK)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            '[{"name": "Ada", "email": "ada@example.com"}]',
            "is not a Label Studio export: none of its 1 items has a `data` object — export "
            "the project from Label Studio as JSON",
        ),
        ("[]", "holds no tasks"),
    ],
)
def test_an_input_that_is_not_a_label_studio_export_fails_and_leaves_nothing(
    tmp_path: Path, content: str, message: str
) -> None:
    source = tmp_path / "contacts.json"
    source.write_text(content)
    out = tmp_path / "exports" / "one"
    result = run(["export", "--from-file", str(source), "-o", str(out)], tmp_path / "home")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert list((tmp_path / "exports").iterdir()) == []  # no folder, no half-written files


def test_a_killed_export_leaves_no_export_and_its_debris_is_cleared(tmp_path: Path) -> None:
    exports = tmp_path / "exports"
    debris = exports / ".partial-20261130T000000Z.999999999"  # a run that was killed
    debris.mkdir(parents=True)
    (debris / "trl_sft.train.jsonl").write_text('{"half": ')
    source = write_json(tmp_path / "project-1.json", tasks())
    result = run(["export", "--from-file", str(source), "-o", str(exports / "new")], tmp_path)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in exports.iterdir()) == ["new"]
    assert (exports / "new" / "manifest.json").is_file()


def test_an_output_folder_that_cannot_be_made_is_one_error_line(tmp_path: Path) -> None:
    source = write_json(tmp_path / "project-1.json", tasks())
    out = source / "sub"  # under a file: no one can create it
    result = run(["export", "--from-file", str(source), "-o", str(out)], tmp_path / "home")
    assert (result.exit_code, result.stderr) == (
        1,
        f"error: cannot create {out}: a file is in the way — pass -o with a folder you can write\n",
    )
