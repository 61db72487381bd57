"""LLM-as-judge pre-rating: a judge model scores a draft 1-5 against the client's style notes.

The judge sees the same system and user messages the drafter saw (built by the one prompt
builder, so the client's style notes are included), then the draft, and answers a JSON object.
Scores are stored as their own Label Studio prediction (`model_version` "judge:<model>") and
the report compares them with people's ratings before anyone relies on them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from redraft.label_config import FEEDBACK, OBJECT, RATING
from redraft.prompting import Message, PromptTemplate, build_messages
from redraft.report.errors import JudgeError

logger = logging.getLogger(__name__)

JUDGE_SYSTEM = (
    "You review outreach email drafts for an agency before a writer sees them. Score how "
    "usable the draft is as the email to send, judged against the writer's instructions and "
    "the client's style notes below: 5 = send as is, 4 = small touches, 3 = clear edits, "
    "2 = major rewrite, 1 = unusable. Answer only with a JSON object: "
    '{"score": <integer 1-5>, "reason": "<one sentence>"}.'
)


@dataclass(frozen=True)
class JudgeScore:
    """One judged draft."""

    task_id: int
    score: int
    reason: str


def judge_messages(data: Mapping[str, Any], draft: str, template: PromptTemplate) -> list[Message]:
    """The judge's messages: its rubric, then the drafter's own prompt, then the draft.

    >>> from redraft.prompting import parse_template
    >>> t = parse_template('system = "Write warmly."\\nuser = "{brief}"')
    >>> print(judge_messages({"brief": "Offer a demo."}, "Hi!", t)[1]["content"])
    Instructions the writer was given:
    Write warmly.
    <BLANKLINE>
    Brief:
    Offer a demo.
    <BLANKLINE>
    Draft to score:
    Hi!
    """
    prompt = build_messages(data, template)
    system = next((m["content"] for m in prompt if m["role"] == "system"), "(none)")
    user = next(m["content"] for m in prompt if m["role"] == "user")
    content = (
        f"Instructions the writer was given:\n{system}\n\nBrief:\n{user}\n\n"
        f"Draft to score:\n{draft}"
    )
    return [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": content}]


def parse_judgement(text: str) -> tuple[int, str]:
    """Score and reason from the judge's JSON answer; JudgeError when unusable.

    >>> parse_judgement('{"score": 4, "reason": "Good."}')
    (4, 'Good.')
    >>> parse_judgement('{"stand_in": true, "score": 2, "text": "meh"}')
    (2, 'meh')
    """
    try:
        answer = json.loads(text)
    except json.JSONDecodeError:
        raise JudgeError(
            "the judge did not answer JSON — use a model that supports response_format json_object"
        ) from None
    score = answer.get("score") if isinstance(answer, dict) else None
    if isinstance(score, bool) or not isinstance(score, (int, float)) or score != int(score):
        raise JudgeError(f"the judge's answer has no whole-number score: {text[:120]!r}")
    if not 1 <= score <= 5:
        raise JudgeError(f"the judge's score {score} is outside 1-5")
    reason = str(answer.get("reason") or answer.get("text") or "").strip()
    return int(score), reason


def judge_prediction(score: JudgeScore, judge_model: str) -> dict[str, Any]:
    """The Label Studio prediction that stores a judge score beside (not over) the draft.

    >>> judge_prediction(JudgeScore(5, 4, "Fine."), "gpt-4o")["model_version"]
    'judge:gpt-4o'
    """
    result = [
        {"from_name": RATING, "to_name": OBJECT, "type": "rating", "value": {"rating": score.score}}
    ]
    if score.reason:
        result.append(
            {
                "from_name": FEEDBACK,
                "to_name": OBJECT,
                "type": "textarea",
                "value": {"text": [score.reason]},
            }
        )
    return {
        "task": score.task_id,
        "model_version": f"judge:{judge_model}",
        "score": score.score / 5,
        "result": result,
    }


def judge_drafts(
    client: Any,
    judge_model: str,
    items: Sequence[tuple[int, Mapping[str, Any], str]],
    template: PromptTemplate,
    max_workers: int = 8,
) -> list[JudgeScore]:
    """Score (task id, task data, draft) items concurrently with an OpenAI-compatible client."""

    def one(item: tuple[int, Mapping[str, Any], str]) -> JudgeScore:
        task_id, data, draft = item
        reply = client.chat.completions.create(
            model=judge_model,
            messages=judge_messages(data, draft, template),
            response_format={"type": "json_object"},
            temperature=0,
        )
        score, reason = parse_judgement(reply.choices[0].message.content or "")
        return JudgeScore(task_id, score, reason)

    with ThreadPoolExecutor(max_workers=max_workers) as pool:
        return list(pool.map(one, items))


def store_judgements(ls_client: Any, scores: Sequence[JudgeScore], judge_model: str) -> int:
    """Write each score to Label Studio as its own prediction; return how many were written."""
    for score in scores:
        body = judge_prediction(score, judge_model)
        ls_client.predictions.create(
            task=body["task"],
            result=body["result"],
            model_version=body["model_version"],
            score=body["score"],
        )
    return len(scores)
