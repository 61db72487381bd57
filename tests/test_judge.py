"""LLM-as-judge: prompt, parsing, the stored verdict (task meta), and a run against the stand-in."""

from __future__ import annotations

import openai
import pytest

from redraft.prompting import parse_template
from redraft.report.errors import JudgeError
from redraft.report.judge import (
    JUDGE_SYSTEM,
    JudgeScore,
    judge_each,
    judge_messages,
    judged_meta,
    legacy_judgements,
    parse_judgement,
)
from redraft.report.sources import from_tasks

TEMPLATE = parse_template(
    'system = "Write warmly."\nuser = "{brief}"\n'
    '[clients.acme]\nstyle_notes = "No exclamation marks."'
)


def test_judge_sees_the_client_style_notes_and_the_draft():
    messages = judge_messages({"brief": "Offer a demo.", "client": "Acme"}, "Hi!", TEMPLATE)
    assert messages == [
        {"role": "system", "content": JUDGE_SYSTEM},
        {
            "role": "user",
            "content": "Instructions the writer was given:\nWrite warmly.\n\n"
            "Client style notes:\nNo exclamation marks.\n\nBrief:\nOffer a demo.\n\n"
            "Draft to score:\nHi!",
        },
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "not json",
            "the judge did not answer JSON — use a model that supports response_format json_object",
        ),
        ('{"score": "4"}', 'the judge\'s answer has no whole-number score: \'{"score": "4"}\''),
        ('{"score": 3.5}', "the judge's answer has no whole-number score: '{\"score\": 3.5}'"),
        ('{"score": 7}', "the judge's score 7 is outside 1-5"),
    ],
)
def test_unusable_answers_are_named(text, message):
    with pytest.raises(JudgeError) as info:
        parse_judgement(text)
    assert str(info.value) == message


def test_a_verdict_goes_into_task_meta_never_into_a_prediction():
    """Label Studio pre-fills a writer's form from predictions, never from task meta."""
    meta = {"source": "crm", "redraft_judge": {"other": {"score": 5, "reason": "Good."}}}
    assert judged_meta(meta, JudgeScore(7, 2, "Too stiff."), "gpt-4o-mini") == {
        "source": "crm",
        "redraft_judge": {
            "other": {"score": 5, "reason": "Good."},
            "gpt-4o-mini": {"score": 2, "reason": "Too stiff."},
        },
    }


def test_judge_predictions_of_an_earlier_redraft_are_moved_into_meta():
    old = {
        "id": 31,
        "model_version": "judge:m",
        "result": [
            {"from_name": "rating", "value": {"rating": 2}},
            {"from_name": "feedback", "value": {"text": ["Too stiff."]}},
        ],
    }
    draft = {"id": 30, "model_version": "v1", "result": [{"from_name": "draft", "value": {}}]}
    tasks = [{"id": 3, "meta": {"a": 1}, "predictions": [draft, old]}, {"id": 4, "predictions": []}]
    assert legacy_judgements(tasks) == [
        (3, 31, {"a": 1, "redraft_judge": {"m": {"score": 2, "reason": "Too stiff."}}})
    ]


def test_judge_drafts_through_an_openai_compatible_server(standin):
    client = openai.OpenAI(base_url=standin.base_url, api_key="sk-test", max_retries=0)
    items = [(i, {"brief": f"Brief number {i}", "client": "Acme"}, f"Draft {i}") for i in (1, 2, 3)]
    scores, failures = judge_each(client, "gpt-4o-mini", items, TEMPLATE, max_workers=2)
    assert failures == []
    assert [s.task_id for s in scores] == [1, 2, 3]
    assert all(1 <= s.score <= 5 for s in scores)
    assert all(s.reason.startswith("[stand-in judgement from gpt-4o-mini]") for s in scores)
    # Deterministic: the same request gets the same score.
    again, _ = judge_each(client, "gpt-4o-mini", items, TEMPLATE, max_workers=2)
    assert again == scores


def test_stored_judge_scores_reach_the_report():
    task = {
        "id": 5,
        "data": {"brief": "Offer a demo."},
        "predictions": [
            {
                "id": 1,
                "model_version": "v1",
                "result": [{"from_name": "draft", "value": {"text": ["Hi"]}}],
            },
            {  # an earlier redraft stored verdicts as predictions: still read
                "id": 2,
                "model_version": "judge:old",
                "result": [{"from_name": "rating", "value": {"rating": 3}}],
            },
        ],
        "meta": {"redraft_judge": {"m": {"score": 4, "reason": ""}}},
        "annotations": [],
    }
    data = from_tasks([task], TEMPLATE)
    assert data.judge_scores == {"judge:m": {5: 4}, "judge:old": {5: 3}}
    assert [(d.task_id, d.model_version) for d in data.drafts] == [(5, "v1")]
    assert (data.records, data.rejected) == ([], 0)
