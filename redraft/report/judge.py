"""LLM-as-judge pre-rating: a judge model scores a draft 1-5 against the client's style notes.

The judge sees the same system and user messages the drafter saw (built by the one prompt
builder, so the client's style notes are included), then the draft, and answers a JSON object.
Scores are stored in the task's `meta` (`{"redraft_judge": {"<model>": {"score", "reason"}}}`),
which Label Studio never uses to pre-fill an annotation: a prediction holding the judge's
rating and reason would be pre-filled into the writer's form as if it were theirs. The report
compares the scores with people's ratings before anyone relies on them. Judge predictions
written by earlier versions are moved into `meta` and deleted (`legacy_judgements`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import openai

from redraft.errors import RedraftError
from redraft.exporters.records import pick_prediction
from redraft.label_config import FEEDBACK
from redraft.label_config.results import draft_of, rating_of, text_of
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


@dataclass(frozen=True)
class JudgeFailure:
    """A draft the judge could not score, and why."""

    task_id: int
    reason: str


JUDGE_PREFIX = "judge:"
JUDGE_META = "redraft_judge"  # the task meta key: judge model -> {"score", "reason"}

# One item to judge: (task id, task data, draft text).
JudgeItem = tuple[int, Mapping[str, Any], str]


@dataclass
class JudgePlan:
    """What a judge run has to do for a project's tasks."""

    items: list[JudgeItem] = field(default_factory=list)
    total: int = 0
    already: int = 0
    no_draft: int = 0
    metas: dict[int, dict[str, Any]] = field(default_factory=dict)  # task id -> its meta


def judge_version(judge_model: str) -> str:
    """The `model_version` judge scores of `judge_model` are stored under.

    >>> judge_version("gpt-4o")
    'judge:gpt-4o'
    """
    return f"{JUDGE_PREFIX}{judge_model}"


def plan_judging(tasks: Sequence[Mapping[str, Any]], judge_model: str) -> JudgePlan:
    """The tasks still to judge, each with the draft people rated (or will see) (pure).

    A task is done once it has a prediction with `judge:<model>`. The draft is the one the
    task's first annotation edited, else the newest draft prediction.

    >>> draft = {"id": 9, "model_version": "v1",
    ...          "result": [{"from_name": "draft", "value": {"text": ["Hi"]}}]}
    >>> plan = plan_judging([{"id": 1, "data": {"brief": "b"}, "predictions": [draft]},
    ...                      {"id": 2, "data": {"brief": "c"}, "predictions": []},
    ...                      {"id": 3, "data": {}, "predictions": [{"model_version": "judge:m"}]}],
    ...                     "m")
    >>> plan.items, plan.total, plan.already, plan.no_draft
    ([(1, {'brief': 'b'}, 'Hi')], 3, 1, 1)
    """
    plan = JudgePlan(total=len(tasks))
    done_version = judge_version(judge_model)
    for task in tasks:
        predictions = [p for p in task.get("predictions") or [] if isinstance(p, Mapping)]
        meta = task.get("meta") if isinstance(task.get("meta"), Mapping) else {}
        if judge_model in (meta.get(JUDGE_META) or {}) or any(
            p.get("model_version") == done_version for p in predictions
        ):
            plan.already += 1
            continue
        plan.metas[int(task["id"])] = dict(meta)
        drafts = [
            p for p in predictions if not str(p.get("model_version") or "").startswith(JUDGE_PREFIX)
        ]
        annotations = [a for a in task.get("annotations") or [] if isinstance(a, Mapping)]
        chosen, _ = pick_prediction(annotations[0] if annotations else {}, drafts)
        text = draft_of(chosen) if chosen is not None else None
        if text is None:
            plan.no_draft += 1
            continue
        plan.items.append((int(task["id"]), dict(task.get("data") or {}), text))
    return plan


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


def judged_meta(meta: Mapping[str, Any], score: JudgeScore, judge_model: str) -> dict[str, Any]:
    """The task meta with this judge's verdict added (other keys and judges kept).

    >>> judged_meta({"source": "crm"}, JudgeScore(5, 4, "Fine."), "gpt-4o")
    {'source': 'crm', 'redraft_judge': {'gpt-4o': {'score': 4, 'reason': 'Fine.'}}}
    """
    verdicts = dict(meta.get(JUDGE_META) or {})
    verdicts[judge_model] = {"score": score.score, "reason": score.reason}
    return {**meta, JUDGE_META: verdicts}


def meta_scores(meta: Any) -> dict[str, int]:
    """judge model_version ("judge:<model>") -> score, from a task's meta.

    >>> meta_scores({"redraft_judge": {"m": {"score": 4}, "bad": {"score": 9}}})
    {'judge:m': 4}
    """
    verdicts = meta.get(JUDGE_META) if isinstance(meta, Mapping) else None
    scores = {}
    for model, verdict in (verdicts or {}).items():
        score = verdict.get("score") if isinstance(verdict, Mapping) else None
        if isinstance(score, int) and not isinstance(score, bool) and 1 <= score <= 5:
            scores[judge_version(str(model))] = score
    return scores


def judge_one(
    client: Any, judge_model: str, item: JudgeItem, template: PromptTemplate
) -> JudgeScore:
    """Score one (task id, task data, draft) item with an OpenAI-compatible client."""
    task_id, data, draft = item
    reply = client.chat.completions.create(
        model=judge_model,
        messages=judge_messages(data, draft, template),
        response_format={"type": "json_object"},
        temperature=0,
    )
    score, reason = parse_judgement(reply.choices[0].message.content or "")
    return JudgeScore(task_id, score, reason)


def judge_each(
    client: Any,
    judge_model: str,
    items: Sequence[JudgeItem],
    template: PromptTemplate,
    max_workers: int = 8,
    on_done: Callable[[JudgeScore | JudgeFailure], None] | None = None,
) -> tuple[list[JudgeScore], list[JudgeFailure]]:
    """Score (task id, task data, draft) items concurrently with an OpenAI-compatible client;
    one item's failure is recorded (a JudgeFailure) instead of failing the rest."""

    def one(item: JudgeItem) -> JudgeScore | JudgeFailure:
        outcome: JudgeScore | JudgeFailure
        try:
            outcome = judge_one(client, judge_model, item, template)
        except (RedraftError, openai.OpenAIError) as exc:
            outcome = JudgeFailure(item[0], failure_reason(exc))
            logger.warning("task %s: not judged (%s)", item[0], outcome.reason)
        if on_done is not None:
            on_done(outcome)
        return outcome

    with ThreadPoolExecutor(max_workers=max_workers) as pool:
        outcomes = list(pool.map(one, items))
    scores = [o for o in outcomes if isinstance(o, JudgeScore)]
    return scores, [o for o in outcomes if isinstance(o, JudgeFailure)]


def failure_reason(exc: Exception) -> str:
    """One short line for a failed judgement (no request bodies, no keys).

    >>> failure_reason(JudgeError("the judge's score 7 is outside 1-5"))
    "the judge's score 7 is outside 1-5"
    """
    if isinstance(exc, openai.APIStatusError):
        return f"the judge endpoint answered HTTP {exc.status_code}"
    if isinstance(exc, openai.APITimeoutError):
        return "the judge endpoint timed out (REDRAFT_REQUEST_TIMEOUT)"
    if isinstance(exc, openai.APIConnectionError):
        return "cannot reach the judge endpoint — check --base-url / OPENAI_BASE_URL"
    return str(exc) or type(exc).__name__


def store_judgements(
    ls_client: Any, scores: Sequence[JudgeScore], judge_model: str, metas: Mapping[int, Any]
) -> int:
    """Write each score into its task's meta (`metas`: the meta each task had when read, so
    other keys survive); return how many were written."""
    for score in scores:
        meta = judged_meta(metas.get(score.task_id) or {}, score, judge_model)
        ls_client.tasks.update(str(score.task_id), meta=meta)
    return len(scores)


def legacy_judgements(tasks: Sequence[Mapping[str, Any]]) -> list[tuple[int, int, dict[str, Any]]]:
    """(task id, prediction id, the task's meta with the verdict moved in) for every judge
    prediction an earlier redraft stored, which Label Studio would pre-fill into the form.

    >>> old = {"id": 7, "model_version": "judge:m",
    ...        "result": [{"from_name": "rating", "value": {"rating": 2}}]}
    >>> legacy_judgements([{"id": 1, "meta": {}, "predictions": [old]}])
    [(1, 7, {'redraft_judge': {'m': {'score': 2, 'reason': ''}}})]
    """
    moves = []
    for task in tasks:
        meta = dict(task.get("meta") or {}) if isinstance(task.get("meta"), Mapping) else {}
        for prediction in task.get("predictions") or []:
            version = str(prediction.get("model_version") or "")
            if not version.startswith(JUDGE_PREFIX) or prediction.get("id") is None:
                continue
            model = version[len(JUDGE_PREFIX) :]
            score = rating_of(prediction.get("result"))
            reason = text_of(prediction.get("result"), FEEDBACK) or ""
            if score is not None and model not in (meta.get(JUDGE_META) or {}):
                meta = judged_meta(meta, JudgeScore(int(task["id"]), score, reason), model)
            moves.append((int(task["id"]), int(prediction["id"]), meta))
    return moves
