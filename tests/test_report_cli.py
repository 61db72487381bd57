"""`redraft report` through the installed console script."""

from __future__ import annotations

import csv
import json

import pytest

from redraft.exporters.sinks import RecordsSink, record_row
from redraft.report.sources import from_export_dir
from tests.fixtures.report import finish_export, record, run_redraft


def test_report_from_a_label_studio_export(report_export_file, tmp_path, redraft_home):
    out = tmp_path / "out"
    done = run_redraft(
        "report", "--from-file", str(report_export_file), "-o", str(out), home=redraft_home
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[:5] == [
        "version                drafts  annot    rating (95% CI)  accepted edit dist lead time",
        # 44 annotations on 40 tasks per version: figures, intervals and tests count tasks
        # (a task's annotations are averaged first), so n=40.
        "v1                         42     44   2.71 (2.48-2.95)       25%     0.058       50s",
        "v2                         42     44   4.04 (3.78-4.29)       50%     0.016       60s",
        "- v2 drafts were rated 1.32 points higher than v1 (4.04 vs 2.71 of 5; "
        "95% CI +0.98 to +1.67; n=40 vs 40; p<0.001)",
        "- v2 drafts were accepted as is 25 points more often than v1 (50% vs 25%; "
        "95% CI +4 to +43 points; n=40 vs 40; p=0.021)",
    ]
    assert lines[5].startswith(
        "- v2 drafts needed 72% fewer edits than v1 (mean normalised edit distance 0.016 vs "
        "0.058; 95% CI "
    )
    assert len(lines) == 6
    assert done.stderr.strip().splitlines()[-1] == (
        f"reported 88 annotations over 2 versions; wrote 7 files to {out}"
    )
    assert sorted(p.name for p in out.iterdir()) == [
        "agreement.csv",
        "clients.csv",
        "comparison.csv",
        "report.html",
        "versions.csv",
        "weekly.csv",
        "writers.csv",
    ]
    with (out / "versions.csv").open() as handle:
        versions = list(csv.DictReader(handle))
    assert [
        (r["model_version"], r["drafts"], r["annotations"], r["accepted"]) for r in versions
    ] == [
        ("v1", "42", "44", "0.25"),
        ("v2", "42", "44", "0.5"),
    ]
    with (out / "agreement.csv").open() as handle:
        agreement = next(csv.DictReader(handle))
    assert (agreement["tasks"], agreement["annotations"], agreement["pairs"]) == ("8", "16", "8")
    # Writer 1 annotated every task, writer 2 a second time on 8 of them (Label Studio user ids).
    with (out / "writers.csv").open() as handle:
        writers = [
            (w["writer"], w["tasks"], w["shared_tasks"], w["annotations"], w["accept_pairs"])
            for w in csv.DictReader(handle)
        ]
    assert writers == [("1", "80", "8", "80", "8"), ("2", "8", "8", "8", "8")]
    html = (out / "report.html").read_text()
    assert "v2 compared with v1" in html
    # Self-contained: the SVG namespace is the only URL, and nothing is loaded from anywhere.
    assert "http" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "<script" not in html and "<link" not in html and "src=" not in html


def test_report_from_an_export_folder(tmp_path, redraft_home):
    folder = tmp_path / "export"
    folder.mkdir()
    rows = [
        record(1, "v1", "Hello Ann", "Hello Anna", 3, issues=("tone",)),
        record(2, "v1", "Hello Ann", "Hello Ann", 5),
    ]
    with (folder / "records.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(
            handle,
            fieldnames=[
                "task_id",
                "annotation_id",
                "final",
                "draft",
                "rating",
                "issues",
                "messages",
                "model_version",
            ],
        )
        writer.writeheader()
        for r in rows:
            writer.writerow(
                {
                    "task_id": r.task_id,
                    "annotation_id": r.annotation_id,
                    "final": r.final,
                    "draft": r.draft,
                    "rating": r.rating,
                    "issues": json.dumps(list(r.issues)),
                    "messages": json.dumps(r.messages),
                    "model_version": "v1",
                }
            )
    out = tmp_path / "out"
    finish_export(folder)
    done = run_redraft("report", "--export", str(folder), "-o", str(out), home=redraft_home)
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        "version                drafts  annot    rating (95% CI)  accepted edit dist lead time\n"
        "v1                          2      2   4.00 (1.00-5.00)       50%     0.050         -\n"
    )


def test_report_needs_exactly_one_source(tmp_path, redraft_home):
    """A usage error (exit 2), as `redraft export` gives for the same mistake."""
    usage = "Usage: redraft report [OPTIONS]\nTry 'redraft report --help' for help.\n\n"
    done = run_redraft("report", home=redraft_home)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == usage + (
        "Error: name exactly one source: --project ID|TITLE, --export DIR or --from-file "
        "EXPORT.json\n"
    )
    export_file = tmp_path / "x.json"
    export_file.write_text("[]")
    both = run_redraft(
        "report", "--export", str(tmp_path), "--from-file", str(export_file), home=redraft_home
    )
    assert (both.returncode, both.stderr) == (
        2,
        usage + "Error: name exactly one source: --project ID|TITLE, --export DIR or --from-file "
        "EXPORT.json (got --export and --from-file)\n",
    )


def test_report_errors_are_one_line(report_export_file, tmp_path, redraft_home):
    unknown = run_redraft(
        "report",
        "--from-file",
        str(report_export_file),
        "--compare",
        "v1",
        "v9",
        "-o",
        str(tmp_path / "o"),
        home=redraft_home,
    )
    assert (unknown.returncode, unknown.stderr) == (
        1,
        "error: cannot compare: no annotated drafts from v9 (versions in this source: v1, v2)\n",
    )
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    done = run_redraft("report", "--from-file", str(bad), home=redraft_home)
    assert done.stderr == (
        f"error: {bad} is not JSON (Expecting property name enclosed in double quotes, "
        "line 1) — export the project as JSON\n"
    )
    empty = run_redraft("report", "--export", str(tmp_path), home=redraft_home)
    assert empty.stderr == (
        f"error: {tmp_path} is not a complete export (no manifest.json) — pass a folder "
        "written by `redraft export`, or re-run the export\n"
    )


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_export_folder_written_by_the_exporter_reads_back(fmt, tmp_path):
    records = [
        record(
            1,
            "v1",
            "Hello Ann",
            "Hello Anna",
            3,
            issues=("tone", "grammar"),
            machine_written=False,
            created_at="2025-03-03T10:00:00Z",
        ),
        record(2, "v2", "Hi", "Hello", 2, machine_written=True, data={"brief": "B"}),
    ]
    sink = RecordsSink(tmp_path / f"records.{fmt}", fmt)
    for r in records:
        sink.write(record_row(r, "train", "rewrite"))
    sink.close()
    finish_export(tmp_path)
    assert from_export_dir(tmp_path).records == records


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (
            {"records.parquet": b"PAR1"},
            "is not a complete export (no manifest.json) — pass a folder written by "
            "`redraft export`, or re-run the export",
        ),
        ({"records.parquet": b"PAR1 damaged", "manifest.json": b""}, "cannot read the records of"),
        (
            {"records.parquet": b"PAR1", "manifest.json": b"", "records.parquet ": b"PAR1 edited"},
            "records.parquet changed since export (sha256 differs from the manifest) — re-run "
            "`redraft export` instead of editing exported files",
        ),
        ({"manifest.json": b"{}"}, "manifest.json lists no files — re-run `redraft export`"),
    ],
)
def test_a_half_written_export_folder_is_one_error_line(tmp_path, redraft_home, files, message):
    folder = tmp_path / "export"
    folder.mkdir()
    for name, content in files.items():
        if name == "manifest.json" and not content:
            finish_export(folder)  # the manifest lists the files written so far
        else:
            # A trailing space: the same file rewritten after the manifest.
            (folder / name.strip()).write_bytes(content)
    done = run_redraft("report", "--export", str(folder), home=redraft_home)
    assert done.returncode == 1
    assert done.stderr.startswith("error: ") and message in done.stderr
    assert len(done.stderr.splitlines()) == 1, done.stderr


def test_a_client_name_never_runs_as_a_spreadsheet_formula(tmp_path, redraft_home):
    from tests.fixtures.report import make_tasks

    tasks = make_tasks(per_version=3)
    formula = '=HYPERLINK("http://evil.example","Acme")'
    for task in tasks:
        task["data"]["client"] = formula
    source = tmp_path / "export.json"
    source.write_text(json.dumps(tasks))
    out = tmp_path / "out"
    done = run_redraft("report", "--from-file", str(source), "-o", str(out), home=redraft_home)
    assert done.returncode == 0, done.stderr
    with (out / "clients.csv").open() as handle:
        clients = {row["client"] for row in csv.DictReader(handle)}
    assert clients == {"'" + formula}


def test_an_unwritable_report_folder_is_one_error_line(report_export_file, tmp_path, redraft_home):
    out = report_export_file / "sub"  # under a file
    done = run_redraft(
        "report", "--from-file", str(report_export_file), "-o", str(out), home=redraft_home
    )
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == (
        f"error: cannot use {out}: Not a directory — check that the path is right and writable "
        "(see -o / REDRAFT_HOME)"
    )
