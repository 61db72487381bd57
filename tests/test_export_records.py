"""Feedback records from Label Studio tasks: draft choice, rejects, annotator policies."""

from __future__ import annotations

from typing import Any

import pytest

from redraft.exporters.records import FeedbackRecord, Reject, task_records
from redraft.exporters.selection import select_annotations
from redraft.prompting import PromptTemplate
from tests.fixtures.exports import annotation, prediction, task

MESSAGES = [
    {"role": "system", "content": "Write for Acme."},
    {"role": "user", "content": "Brief: Offer Ada a demo of the CRM cleanup."},
]


def test_record_has_every_field(export_template: PromptTemplate) -> None:
    t = task(
        42,
        external_id="crm-7",
        predictions=[prediction(3, "Hi Ada, demo?")],
        annotations=[
            annotation(
                7,
                final="Hi Ada, want a 20-minute demo on Thursday?",
                score=2,
                issues=["tone", "too short"],
                feedback="Be specific.",
                parent=3,
                completed_by={"id": 5, "email": "writer@agency.example"},
            )
        ],
    )
    outcome = task_records(t, export_template)
    assert outcome.rejects == []
    assert outcome.records == [
        FeedbackRecord(
            task_id=42,
            annotation_id=7,
            messages=MESSAGES,
            final="Hi Ada, want a 20-minute demo on Thursday?",
            draft="Hi Ada, demo?",
            rating=2,
            issues=("tone", "too short"),
            feedback="Be specific.",
            model_version="v1",
            prediction_id=3,
            annotator="writer@agency.example",
            lead_time=42.5,
            created_at="2026-11-20T10:00:30.000000Z",
            updated_at="2026-11-20T10:00:30.000000Z",
            client="Acme",
            external_id="crm-7",
            project_id=1,
            template_sha256=export_template.sha256,
            data={
                "brief": "Offer Ada a demo of the CRM cleanup.",
                "client": "Acme",
                "external_id": "crm-7",
            },
            draft_source="parent",
        )
    ]


def _draft_of(t: dict[str, Any], template: PromptTemplate, version: str | None = None) -> tuple:
    record = task_records(t, template, model_version=version).records[0]
    return record.draft, record.prediction_id, record.draft_source


def test_draft_comes_from_the_parent_prediction(export_template: PromptTemplate) -> None:
    preds = [prediction(1, "old draft", "v1", 1), prediction(2, "new draft", "v2", 2)]
    t = task(1, predictions=preds, annotations=[annotation(9, final="x", parent=1)])
    assert _draft_of(t, export_template) == ("old draft", 1, "parent")


def test_draft_from_the_viewed_prediction_when_parent_is_missing(
    export_template: PromptTemplate,
) -> None:
    preds = [prediction(1, "v1 draft", "v1", 1), prediction(2, "v2 draft", "v2", 2)]
    viewed = annotation(9, final="x")
    viewed["prediction"] = {"model_version": "v1"}
    t = task(1, predictions=preds, annotations=[viewed])
    assert _draft_of(t, export_template) == ("v1 draft", 1, "model_version")


def test_draft_for_the_requested_model_version_else_latest(
    export_template: PromptTemplate,
) -> None:
    preds = [prediction(1, "v1 draft", "v1", 1), prediction(2, "v2 draft", "v2", 2)]
    t = task(1, predictions=preds, annotations=[annotation(9, final="x")])
    assert _draft_of(t, export_template, "v1") == ("v1 draft", 1, "model_version")
    assert _draft_of(t, export_template, "v9") == ("v2 draft", 2, "latest")
    assert _draft_of(t, export_template) == ("v2 draft", 2, "latest")


def test_prediction_ids_only_means_no_draft(export_template: PromptTemplate) -> None:
    t = task(1, annotations=[annotation(9, final="x", parent=4)])
    t["predictions"] = [4]  # a plain (non-snapshot) export lists prediction ids only
    assert _draft_of(t, export_template) == (None, None, None)


@pytest.mark.parametrize(
    ("t", "lines"),
    [
        (
            task(42, annotations=[annotation(7, final="Hi", cancelled=True)]),
            ["task 42: annotation 7 was cancelled (skipped) — rejected"],
        ),
        (
            task(42, annotations=[{**annotation(8, final="Hi"), "skipped": True}]),
            ["task 42: annotation 8 was cancelled (skipped) — rejected"],
        ),
        (
            task(42, annotations=[annotation(9, score=3), annotation(10, final="  \n ")]),
            [
                "task 42: annotation 9 has no final text — rejected",
                "task 42: annotation 10 has no final text — rejected",
            ],
        ),
        (task(43), ["task 43: no completed annotation — rejected"]),
        (
            task(44, brief="   ", annotations=[annotation(1, final="Hi")]),
            ["task 44: no brief — rejected"],
        ),
        ({"data": {}}, ["task (no id): has no id — rejected"]),
        (
            {"id": "abc", "data": {"brief": "b"}, "annotations": [annotation(1, final="Hi")]},
            ["task (no id): has id 'abc', not a whole number — rejected"],
        ),
        (
            task(45, annotations=[annotation(2, final="Hi", score=7)]),
            ["task 45: annotation 2 rating 7 is not 1-5 — rejected"],
        ),
        (
            task(
                46,
                annotations=[
                    {
                        "id": 3,
                        "result": [
                            {"from_name": "final", "type": "textarea", "value": {"text": [None, 3]}}
                        ],
                    }
                ],
            ),
            ["task 46: annotation 3 final text is not text ([None, 3]) — rejected"],
        ),
    ],
)
def test_rejects_name_the_reason(
    export_template: PromptTemplate, t: dict[str, Any], lines: list[str]
) -> None:
    outcome = task_records(t, export_template)
    assert outcome.records == []
    assert [r.line for r in outcome.rejects] == lines


def test_unicode_and_html_pass_through_untouched(export_template: PromptTemplate) -> None:
    brief = "Grüße an Zoë — <b>bold</b> & 東京 🎉"
    final = "<p>Hallo Zoë,</p>\n<p>Termin am <em>Donnerstag</em>? 🎉</p>"
    t = task(5, brief=brief, client="Ünïcode GmbH", annotations=[annotation(1, final=final)])
    record = task_records(t, export_template).records[0]
    assert record.messages == [
        {"role": "system", "content": "Write for Ünïcode GmbH."},
        {"role": "user", "content": f"Brief: {brief}"},
    ]
    assert record.final == final


def _three_annotators(export_template: PromptTemplate) -> list[FeedbackRecord]:
    t = task(
        8,
        predictions=[prediction(1, "draft")],
        annotations=[
            annotation(1, final="one", score=4, second=10, completed_by=1),
            annotation(2, final="two", score=5, second=20, completed_by=2),
            annotation(3, final="three", score=2, second=30, completed_by=3),
        ],
    )
    return task_records(t, export_template).records


@pytest.mark.parametrize(
    ("policy", "kept", "lines"),
    [
        ("all", [1, 2, 3], []),
        (
            "latest",
            [3],
            [
                "task 8: annotation 1 not selected (--annotators latest keeps annotation 3)"
                " — rejected",
                "task 8: annotation 2 not selected (--annotators latest keeps annotation 3)"
                " — rejected",
            ],
        ),
        (
            "best-rated",
            [2],
            [
                "task 8: annotation 1 not selected (--annotators best-rated keeps annotation 2)"
                " — rejected",
                "task 8: annotation 3 not selected (--annotators best-rated keeps annotation 2)"
                " — rejected",
            ],
        ),
    ],
)
def test_annotator_policies(
    export_template: PromptTemplate, policy: str, kept: list[int], lines: list[str]
) -> None:
    records, rejects = select_annotations(_three_annotators(export_template), policy)
    assert [r.annotation_id for r in records] == kept
    assert [r.line for r in rejects] == lines


def test_reject_as_dict() -> None:
    assert Reject(42, "has no final text", 9).as_dict() == {
        "task_id": 42,
        "annotation_id": 9,
        "reason": "has no final text",
        "line": "task 42: annotation 9 has no final text — rejected",
    }
