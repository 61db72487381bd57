"""The report's calibration of the draft confidence score: per version, rank correlation of
score and edits with its interval, and precision and coverage at the threshold — pure, then
through an export folder written by the exporter's own sink and the `redraft report` script."""

from __future__ import annotations

import csv
import math

import pytest

from redraft.exporters.sinks import RecordsSink, record_row
from redraft.report.calibration import ScoreCalibration, score_calibration, spearman_interval
from redraft.report.sources import from_export_dir
from redraft.report.stats import Estimate, wilson_interval
from tests.fixtures.report import finish_export, record, run_redraft

DRAFT = "Hello Ann, a short demo next week?"
SIGNALS = {"structure": 1.0, "missing": [], "rules_followed": 0, "rules_checked": 0}


def _scored(task_id: int, version: str, score: float, final: str, **kw: object):
    return record(task_id, version, DRAFT, final, 4, draft_score=score, draft_signals=SIGNALS, **kw)


# v1: the score foretells the edits (high scores sent as is, low ones rewritten); task 3 has
# two annotations (one sent, one edited): averaged into one task. v2: the score is backwards.
RECORDS = [
    _scored(1, "v1", 0.9, DRAFT),
    _scored(2, "v1", 0.8, DRAFT),
    _scored(3, "v1", 0.75, DRAFT, annotation_id=31),
    _scored(3, "v1", 0.75, DRAFT + " Thanks.", annotation_id=32),
    _scored(4, "v1", 0.4, "Hi Ann, would a demo next week suit you?"),
    _scored(5, "v1", 0.2, "Dear Ann, our team would love to show you the product."),
    _scored(6, "v2", 0.9, "Dear Ann, our team would love to show you the product."),
    _scored(7, "v2", 0.3, DRAFT),
    record(8, "v2", DRAFT, DRAFT, 5),  # no score (imported history): left out
    _scored(9, "v2", 0.1, "Golden rewrite", machine_written=True),  # left out
]


def test_calibration_per_version() -> None:
    v1_scores = [0.9, 0.8, 0.75, 0.4, 0.2]
    (v1, v2) = score_calibration(RECORDS)
    kept_3 = 1 - (0 + len(" Thanks.") / len(DRAFT + " Thanks.")) / 2
    assert v1 == ScoreCalibration(
        "v1",
        5,
        spearman_interval(
            v1_scores,
            [1.0, 1.0, kept_3, 1 - _distance(4), 1 - _distance(5)],
        ),
        0.7,
        3,
        wilson_interval(2.5, 3),
    )
    assert (v1.spearman.value, v1.coverage) == (pytest.approx(0.9746794), 0.6)
    assert v2 == ScoreCalibration(
        "v2",
        2,
        spearman_interval([0.9, 0.3], [1 - _distance(6), 1.0]),
        0.7,
        1,
        wilson_interval(0, 1),
    )
    assert (v2.spearman.value, v2.spearman.low, v2.precision.value) == (
        pytest.approx(-1.0),
        None,
        0.0,
    )


def _distance(task_id: int) -> float:
    from redraft.editdistance import normalised_edit_distance

    [r] = [r for r in RECORDS if r.task_id == task_id]
    return normalised_edit_distance(r.draft or "", r.final)


@pytest.mark.parametrize(
    ("scores", "kept", "expected"),
    [
        ([0.5, 0.5, 0.5], [0.1, 0.2, 0.3], Estimate(None, None, None, 3)),  # constant score
        ([0.1], [0.2], Estimate(None, None, None, 1)),
        ([0.1, 0.2, 0.3], [0.1, 0.3, 0.2], Estimate(0.5, None, None, 3)),  # too few for a CI
    ],
)
def test_spearman_without_enough_to_say(scores, kept, expected) -> None:
    assert spearman_interval(scores, kept) == expected


def test_spearman_interval_by_hand() -> None:
    # rho = 1 - 6 * sum(d^2) / (n (n^2 - 1)) with ranks differing by one pair: 1 - 6*2/(6*35)
    e = spearman_interval([1, 2, 3, 4, 5, 6], [1, 2, 3, 5, 4, 6])
    rho = 1 - 12 / 210
    half = 1.959964 * math.sqrt(1.06 / 3)
    assert (e.value, e.low, e.high, e.n) == pytest.approx(
        (rho, math.tanh(math.atanh(rho) - half), math.tanh(math.atanh(rho) + half), 6)
    )


def test_report_shows_calibration_from_an_export_folder(tmp_path, redraft_home) -> None:
    folder = tmp_path / "export"
    folder.mkdir()
    sink = RecordsSink(folder / "records.parquet", "parquet")
    for r in RECORDS:
        sink.write(record_row(r, "train", "rewrite"))
    sink.close()
    finish_export(folder)
    assert from_export_dir(folder).records == RECORDS  # score and signals survive the export

    out = tmp_path / "out"
    done = run_redraft("report", "--export", str(folder), "-o", str(out), home=redraft_home)
    assert done.returncode == 0, done.stderr
    v1, v2 = score_calibration(RECORDS)
    low, high = v1.spearman.low, v1.spearman.high
    assert done.stdout.splitlines()[-2:] == [
        f"- confidence score, v1: score vs edits rank correlation +0.97 ({low:+.2f} to "
        f"{high:+.2f}) over 5 tasks; score >= 0.70: 83% sent as is (3 drafts, 60%)",
        "- confidence score, v2: score vs edits rank correlation -1.00 over 2 tasks; "
        "score >= 0.70: 0% sent as is (1 drafts, 50%)",
    ]
    with (out / "calibration.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert rows[1] == {
        "model_version": "v2",
        "tasks": "2",
        "spearman": "-1",
        "spearman_low": "",
        "spearman_high": "",
        "spearman_n": "2",
        "threshold": "0.7",
        "covered": "1",
        "coverage": "0.5",
        "precision": "0",
        "precision_low": "0",
        "precision_high": f"{v2.precision.high:.6g}",
        "precision_n": "1",
    }
    html = (out / "report.html").read_text()
    assert "<h2>Confidence score: did it foretell the edits?</h2>" in html
    assert (
        "<tr><td>v1</td><td>5</td>"
        f"<td>+0.97 ({low:+.2f}–{high:+.2f})</td><td>0.70</td><td>3 (60%)</td>"
    ) in html
