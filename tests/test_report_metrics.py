"""Figures per version, client and week, and version comparison, on constructed records."""

from __future__ import annotations

import pytest

from redraft.report.agreement import annotator_agreement, judge_agreement
from redraft.report.compare import (
    compare_edit_distance,
    compare_proportions,
    compare_ratings,
    compare_versions,
)
from redraft.report.metrics import DraftSeen, summarise, version_order, week_of
from tests.fixtures.report import record

DRAFT = "Hello Ann"  # 9 characters


def _records():
    return [
        # v1: one accepted, one with 1 insertion (1/10), one fully rewritten (4/4 of "abcd").
        record(1, "v1", DRAFT, DRAFT, 5, issues=(), feedback=None, lead_time=10.0,
               client="Acme", created_at="2025-03-03T09:00:00Z"),
        record(2, "v1", DRAFT, "Hello Anna", 3, issues=("tone",), feedback="Warmer.",
               lead_time=30.0, client="Acme", created_at="2025-03-04T09:00:00Z"),
        record(3, "v1", "abcd", "wxyz", 1, issues=("tone", "too long"), feedback=" ",
               lead_time=20.0, client="Globex", created_at="2025-03-12T09:00:00Z"),
        # v2: machine-written final counts for rating only.
        record(4, "v2", DRAFT, "Other text", 4, machine_written=True,
               created_at="2025-03-17T09:00:00Z"),
        record(5, "v2", DRAFT, DRAFT, 4, created_at="2025-03-18T09:00:00Z"),
    ]  # fmt: skip


def test_version_figures_as_csv_rows():
    rows = [g.as_row() for g in summarise(_records())]
    assert rows[0] == {
        "model_version": "v1",
        "client": "(all)",
        "week": "(all)",
        "drafts": 3,
        "annotations": 3,
        # ratings 5, 3, 1: mean 3, sd 2, t(0.975, 2) * 2 / sqrt(3) = 4.968275 -> clipped to 1..5
        "rating": 3.0,
        "rating_low": 1.0,
        "rating_high": 5.0,
        "rating_n": 3,
        # 1 of 3 accepted: Wilson centre 0.973576 / 2.280486 = 0.426915, half 0.365424
        "accepted": pytest.approx(1 / 3),
        "accepted_low": pytest.approx(0.061492, abs=1e-6),
        "accepted_high": pytest.approx(0.792340, abs=1e-6),
        "accepted_n": 3,
        # distances 0, 0.1, 1.0: mean 0.366667, sd 0.550757, se 0.317980, t 4.302653
        "edit_distance": pytest.approx(0.366667, abs=1e-6),
        "edit_distance_low": 0.0,
        "edit_distance_high": 1.0,
        "edit_distance_n": 3,
        "edit_distance_median": 0.1,
        "feedback_count": 1,
        "feedback_rate": pytest.approx(1 / 3),
        "lead_time_median_s": 20.0,
        "issue:tone": pytest.approx(2 / 3),
        "issue:too long": pytest.approx(1 / 3),
    }
    v2 = rows[1]
    assert (v2["annotations"], v2["rating"], v2["accepted"], v2["accepted_n"]) == (2, 4.0, 1.0, 1)
    assert (v2["edit_distance"], v2["edit_distance_n"], v2["edit_distance_low"]) == (0.0, 1, None)


def test_groups_by_client_and_week_with_drafts_seen():
    drafts = [DraftSeen(1, "v1", "Acme"), DraftSeen(2, "v1", "Acme"), DraftSeen(9, "v1", "Acme"),
              DraftSeen(3, "v1", "Globex")]  # fmt: skip
    by_client = summarise(_records()[:3], drafts, by=("model_version", "client"))
    assert [(g.model_version, g.client, g.drafts, g.annotations) for g in by_client] == [
        ("v1", "Acme", 3, 2),
        ("v1", "Globex", 1, 1),
    ]
    weekly = summarise(_records(), by=("model_version", "week"))
    assert [(g.model_version, g.week, g.annotations, g.rating.value) for g in weekly] == [
        ("v1", "2025-03-03", 2, 4.0),
        ("v1", "2025-03-10", 1, 1.0),
        ("v2", "2025-03-17", 2, 4.0),
    ]


def test_week_and_version_order():
    assert week_of("2025-03-16T23:59:00+00:00") == "2025-03-10"  # a Sunday
    assert week_of("not a date") == "(unknown)"
    assert version_order(reversed(_records())) == ["v1", "v2"]


def test_compare_ratings_welch_by_hand():
    # v1 [2,3,4]: mean 3, var 1; v2 [3,4,5,4,4]: mean 4, var 0.5.
    # se^2 = 1/3 + 0.5/5 = 0.433333; df = 0.187778 / (0.055556 + 0.0025) = 3.234450;
    # t(0.975, 3.23445) = 3.055843 -> half 2.011602; t = 1.519109 -> p = 0.2196
    d = compare_ratings([2, 3, 4], [3, 4, 5, 4, 4], "v1", "v2")
    assert (round(d.estimate, 6), round(d.low, 4), round(d.high, 4), round(d.p_value, 4)) == (
        1.0,
        -1.0116,
        3.0116,
        0.2196,
    )
    assert not d.significant
    assert d.sentence == (
        "no significant difference in rating between v2 and v1 (4.00 vs 3.00 of 5; "
        "difference +1.00, 95% CI -1.01 to +3.01; n=3 vs 5; p=0.22)"
    )
    assert d.warning == "small samples (n=3 vs 5): treat this as a hint, not a result"


def test_compare_proportions_newcombe_and_z_test():
    # 10/40 vs 30/40: pooled 0.5, se sqrt(0.25 * 2/40) = 0.111803, z = 4.472136
    d = compare_proportions(10, 40, 30, 40, "v1", "v2")
    assert (d.estimate, round(d.low, 4), round(d.high, 4)) == (0.5, 0.2851, 0.6529)
    assert d.p_value == pytest.approx(7.744216e-06, rel=1e-5)
    assert d.sentence == (
        "v2 drafts were accepted as is 50 points more often than v1 (75% vs 25%; "
        "95% CI +29 to +65 points; n=40 vs 40; p<0.001)"
    )
    assert d.warning is None
    # Hand-computed Newcombe interval from Wilson(5/10) and Wilson(8/10): -0.1067 .. 0.5999
    small = compare_proportions(5, 10, 8, 10, "v1", "v2")
    assert (round(small.low, 4), round(small.high, 4)) == (-0.1067, 0.5999)
    assert small.sentence.startswith("no significant difference in accepted-as-is rate")


def test_compare_edit_distance_relative_change():
    d = compare_edit_distance([0.4, 0.5, 0.6] * 12, [0.2, 0.3, 0.4] * 12, "v1", "v2", seed=0)
    # 0.3 / 0.5 - 1 = -40%; every permutation of this split is further from the mean than
    # chance, so the permutation p is its floor 1 / 10001.
    assert round(d.estimate, 6) == -0.4
    assert -0.47 < d.low < -0.4 < d.high < -0.33
    assert d.p_value == pytest.approx(1 / 10_001)
    assert d.sentence.startswith(
        "v2 drafts needed 40% fewer edits than v1 (mean normalised edit distance 0.300 vs "
        "0.500; 95% CI "
    )
    assert d.sentence.endswith("fewer; n=36 vs 36; p<0.001)")
    same = compare_edit_distance([0.4, 0.5, 0.6], [0.6, 0.5, 0.4], "v1", "v2")
    assert (same.estimate, same.p_value) == (0.0, 1.0)
    assert same.sentence.startswith("no significant difference in edits between v2 and v1")


def test_compare_versions_names_missing_data():
    diffs = compare_versions(_records(), "v1", "v2")
    assert [d.metric for d in diffs] == ["rating", "accepted", "edit_distance"]
    assert diffs[2].sentence == ("edit distance: not enough data to compare v2 with v1 (n=3 vs 1)")


def _repeated(records, times):
    """Each record `times` times, as annotations of the same task by different people."""
    return [
        record(r.task_id, r.model_version, r.draft, r.final, r.rating,
               annotation_id=100 * r.task_id + k, machine_written=r.machine_written)
        for r in records
        for k in range(times)
    ]  # fmt: skip


def test_compare_versions_counts_tasks_not_annotations():
    once = [*_records(), record(6, "v2", "abcd", "abce", 5), record(7, "v2", DRAFT, DRAFT, 3)]
    thrice = _repeated(once, 3)
    assert len(thrice) == 21
    # Three identical annotations per task are one observation each: n and every figure agree.
    assert [d.as_row() for d in compare_versions(thrice, "v1", "v2")] == [
        d.as_row() for d in compare_versions(once, "v1", "v2")
    ]
    assert [(d.n_a, d.n_b) for d in compare_versions(thrice, "v1", "v2")] == [
        (3, 4),  # rating: 3 v1 tasks, 4 v2 tasks
        (3, 3),  # accepted: the machine-written task 4 is left out
        (3, 3),
    ]


def test_compare_versions_averages_a_tasks_annotations_first():
    records = [
        record(1, "v1", DRAFT, DRAFT, 2, annotation_id=11),
        record(1, "v1", DRAFT, "Hello Anna", 4, annotation_id=12),
        record(2, "v1", DRAFT, DRAFT, 3),
        record(3, "v1", "abcd", "wxyz", 5, annotation_id=31),
        record(3, "v1", DRAFT, "Hello Anna", 3, annotation_id=32),
        *[record(4, "v2", DRAFT, DRAFT, 4, annotation_id=40 + k) for k in range(3)],
        record(5, "v2", DRAFT, DRAFT, 5),
        record(6, "v2", DRAFT, DRAFT, 3, annotation_id=61),
        record(6, "v2", DRAFT, "Hello Anna", 5, annotation_id=62),
        record(7, "v2", DRAFT, "Hello Anna", 5),
    ]
    rating, accepted, distance = compare_versions(records, "v1", "v2")
    # Task means: v1 [3, 3, 4] (mean 3.333333, var 1/3), v2 [4, 5, 4, 5] (mean 4.5, var 1/3).
    # Welch: se^2 = 1/9 + 1/12 = 0.194444, se 0.440959, t = 1.166667 / se = 2.645751,
    # df = 0.037809 / (0.006173 + 0.002315) = 4.454545 -> p 0.0513, CI -0.0099 .. 2.3432
    # (scipy.stats.ttest_ind(equal_var=False) on the task means gives the same).
    assert (rating.n_a, rating.n_b) == (3, 4)
    assert (round(rating.estimate, 6), round(rating.low, 4), round(rating.high, 4)) == (
        1.166667,
        -0.0099,
        2.3432,
    )
    assert round(rating.p_value, 4) == 0.0513
    # Shares accepted per task: v1 [0.5, 1, 0] = 1.5 of 3, v2 [1, 1, 0.5, 0] = 2.5 of 4.
    # z-test: pooled 4/7, se sqrt(4/7 * 3/7 * 7/12) = 0.377964, z = 0.125 / se = 0.330719
    assert (accepted.n_a, accepted.n_b, accepted.value_a, accepted.value_b) == (3, 4, 0.5, 0.625)
    assert round(accepted.p_value, 4) == 0.7409
    # Edit distance per task: v1 [0.05, 0, 0.55] (mean 0.2), v2 [0, 0, 0.05, 0.1] (0.0375).
    assert (distance.n_a, distance.n_b) == (3, 4)
    assert (round(distance.value_a, 6), round(distance.value_b, 6)) == (0.2, 0.0375)


def test_annotator_agreement_on_shared_tasks():
    shared = [
        record(1, "v1", "a", "a", 4, annotation_id=11),
        record(1, "v1", "a", "a", 4, annotation_id=12),
        record(2, "v1", "a", "b", 2, annotation_id=21),
        record(2, "v1", "a", "a", 3, annotation_id=22),
        record(3, "v1", "a", "b", 5, annotation_id=31),  # single annotation: not a unit
    ]
    agreement = annotator_agreement(shared)
    # units [4,4], [2,3]: interval alpha = 1 - 3 * 2 / (2 * (2*1*4 + 1*1*1 + 2*1*1)) = 0.727273
    assert agreement.as_row() == {
        "tasks": 2,
        "annotations": 4,
        "pairs": 2,
        "alpha_ordinal": pytest.approx(agreement.alpha_ordinal),
        "alpha_interval": pytest.approx(0.727273, abs=1e-6),
        "accept_pairs": 2,
        "accept_agreement": 0.5,
    }


def test_judge_agreement_with_people():
    people = [record(i, "v1", "d", "f", r) for i, r in enumerate([5, 4, 3, 2, 1], 1)]
    judge = {1: 5, 2: 3, 3: 3, 4: 1, 5: 1}
    result = judge_agreement("judge:m", judge, people)
    # |diff| = 0,1,0,1,0: exact 3/5, within one 5/5, MAD 0.4
    assert (result.n, result.exact, result.within_one, result.mean_abs_diff) == (5, 0.6, 1.0, 0.4)
    # Spearman: judge ranks 5, 3.5, 3.5, 1.5, 1.5 vs 5..1: r = 9 / sqrt(10 * 9) = 0.948683
    assert round(result.spearman, 6) == 0.948683
    # Quadratic kappa: observed 2 * (1/16) / 5 = 0.025; expected 4.4 / 16 = 0.275
    assert round(result.kappa, 6) == 0.909091


def test_per_writer_figures_and_where_each_writer_stands_on_shared_tasks():
    from redraft.report.writers import writer_figures

    writers = [
        record(1, "v1", DRAFT, DRAFT, 4, annotator="ann@acme.test", annotation_id=11,
               lead_time=20.0, feedback="Fine."),
        record(1, "v1", DRAFT, "Hello Anna", 2, annotator="bob@acme.test", annotation_id=12,
               lead_time=40.0, issues=("tone",)),
        record(2, "v2", DRAFT, DRAFT, 5, annotator="ann@acme.test", annotation_id=21,
               lead_time=30.0),
        record(2, "v2", DRAFT, DRAFT, 5, annotator="bob@acme.test", annotation_id=22,
               lead_time=50.0),
        record(3, "v2", "abcd", "wxyz", 3, annotator="ann@acme.test", annotation_id=31,
               lead_time=10.0),
        # a golden rewrite is nobody's; an annotation without its writer is "(unknown)"'s
        record(4, "v2", DRAFT, "Other", 4, annotator="ann@acme.test", machine_written=True),
        record(5, "v2", DRAFT, DRAFT, 1),
    ]  # fmt: skip
    from redraft.report.build import build_report
    from redraft.report.html import render_html
    from redraft.report.sources import ReportInput

    html = render_html(build_report(ReportInput(writers), "2026-12-05 10:00 UTC"))
    table = html.split("<h2>Per writer</h2>")[1].split("<tbody>")[1].split("</tbody>")[0]
    assert table.strip().splitlines() == [
        "<tr><td>(unknown)</td><td>1</td><td>0</td><td>1</td><td>1.00</td><td>–</td>"
        "<td>100% (21%–100%)</td><td>0.000</td><td>–</td><td>0 (0%)</td><td>–</td></tr>",
        "<tr><td>ann@acme.test</td><td>3</td><td>2</td><td>3</td><td>4.00 (1.52–5.00)</td>"
        "<td>+1.00</td><td>67% (21%–94%)</td><td>0.333 (0.000–1.000)</td><td>50% of 2</td>"
        "<td>1 (33%)</td><td>20 s</td></tr>",
        "<tr><td>bob@acme.test</td><td>2</td><td>2</td><td>2</td><td>3.50 (1.00–5.00)</td>"
        "<td>-1.00</td><td>50% (9%–91%)</td><td>0.050 (0.000–0.685)</td><td>50% of 2</td>"
        "<td>0 (0%)</td><td>45 s</td></tr>",
    ]
    rows = [w.as_row() for w in writer_figures(writers)]
    assert rows == [
        {
            "writer": "(unknown)",
            "tasks": 1,
            "shared_tasks": 0,
            "annotations": 1,
            "rating": 1.0,
            "rating_low": None,
            "rating_high": None,
            "rating_n": 1,
            "accepted": 1.0,
            "accepted_low": pytest.approx(0.206549, abs=1e-6),  # Wilson, 1 of 1
            "accepted_high": 1.0,
            "accepted_n": 1,
            "edit_distance": 0.0,
            "edit_distance_low": None,
            "edit_distance_high": None,
            "edit_distance_n": 1,
            "edit_distance_median": 0.0,
            "feedback_count": 0,
            "feedback_rate": 0.0,
            "lead_time_median_s": None,
            "rating_offset": None,
            "accept_pairs": 0,
            "accept_agreement": None,
        },
        {
            "writer": "ann@acme.test",
            "tasks": 3,
            "shared_tasks": 2,
            "annotations": 3,
            # ratings 4, 5, 3: mean 4, sd 1, t(0.975, 2) / sqrt(3) = 2.484138
            "rating": 4.0,
            "rating_low": pytest.approx(1.515862, abs=1e-6),
            "rating_high": 5.0,
            "rating_n": 3,
            "accepted": pytest.approx(2 / 3),
            "accepted_low": pytest.approx(0.207660, abs=1e-6),
            "accepted_high": pytest.approx(0.938508, abs=1e-6),
            "accepted_n": 3,
            "edit_distance": pytest.approx(1 / 3),
            "edit_distance_low": 0.0,
            "edit_distance_high": 1.0,
            "edit_distance_n": 3,
            "edit_distance_median": 0.0,
            "feedback_count": 1,
            "feedback_rate": pytest.approx(1 / 3),
            "lead_time_median_s": 20.0,
            # task 1: 4 vs bob's 2 (+2); task 2: 5 vs 5 (0)
            "rating_offset": 1.0,
            # task 1: ann sent it unchanged, bob did not; task 2: both sent it unchanged
            "accept_pairs": 2,
            "accept_agreement": 0.5,
        },
        {
            "writer": "bob@acme.test",
            "tasks": 2,
            "shared_tasks": 2,
            "annotations": 2,
            "rating": 3.5,
            "rating_low": 1.0,
            "rating_high": 5.0,
            "rating_n": 2,
            "accepted": 0.5,
            "accepted_low": pytest.approx(0.094531, abs=1e-6),
            "accepted_high": pytest.approx(0.905469, abs=1e-6),
            "accepted_n": 2,
            # "Hello Ann" -> "Hello Anna": 1 of 10 characters; task 2: 0
            "edit_distance": pytest.approx(0.05),
            "edit_distance_low": 0.0,
            "edit_distance_high": pytest.approx(0.685310, abs=1e-6),
            "edit_distance_n": 2,
            "edit_distance_median": pytest.approx(0.05),
            "feedback_count": 0,
            "feedback_rate": 0.0,
            "lead_time_median_s": 45.0,
            "issue:tone": 0.5,
            "rating_offset": -1.0,
            "accept_pairs": 2,
            "accept_agreement": 0.5,
        },
    ]
