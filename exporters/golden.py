"""Golden samples: an LLM rewrites a low-rated draft with the feedback applied.

The result is marked machine-written. With `--golden-review` it goes back into Label Studio as a
new task for a person to approve instead of straight into the datasets.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from redraft.errors import RedraftError
from redraft.exporters.records import FeedbackRecord
from redraft.exporters.rows import RowPolicy, classify
from redraft.label_config.results import draft_prediction
from redraft.prompting import Message

logger = logging.getLogger(__name__)

GOLDEN_PREFIX = "golden:"
GOLDEN_OF_ANNOTATION = "golden_of_annotation"  # review task data: the annotation it rewrites
REWRITE_SYSTEM = (
    "You are a senior editor at a lead-generation agency. Rewrite the draft email so that it"
    " fixes every point in the reviewer's feedback, keeps to the writing instructions below,"
    " and invents no facts that are not in the brief. Reply with the email only: a subject line"
    ' starting with "Subject:", a blank line, then the body.'
)


class GoldenError(RedraftError):
    """The LLM that writes golden samples failed or returned nothing."""


def is_golden_candidate(record: FeedbackRecord, policy: RowPolicy) -> bool:
    """A low-rated draft with feedback and no real rewrite.

    >>> r = FeedbackRecord(1, 2, [], final="Hi", draft="Hi", rating=1, feedback="Too short")
    >>> is_golden_candidate(r, RowPolicy())
    True
    """
    return classify(record, policy) == "low_no_rewrite"


def rewrite_messages(record: FeedbackRecord) -> list[Message]:
    """The rewrite prompt: the drafting instructions and brief, the draft, and the feedback.

    >>> r = FeedbackRecord(1, 2, [{"role": "system", "content": "Be brief."},
    ...     {"role": "user", "content": "Offer a demo."}], final="Hi", draft="Hi",
    ...     rating=1, issues=("too short",), feedback="Say what the demo shows.")
    >>> print(rewrite_messages(r)[1]["content"])
    Writing instructions:
    Be brief.
    <BLANKLINE>
    Brief:
    Offer a demo.
    <BLANKLINE>
    Draft:
    Hi
    <BLANKLINE>
    What was wrong: too short
    Feedback: Say what the demo shows.
    <BLANKLINE>
    Rewrite the draft with the feedback applied.
    """
    system = "\n\n".join(m["content"] for m in record.messages if m["role"] == "system")
    brief = "\n\n".join(m["content"] for m in record.messages if m["role"] == "user")
    parts = []
    if system:
        parts.append(f"Writing instructions:\n{system}")
    parts += [f"Brief:\n{brief}", f"Draft:\n{record.draft or ''}"]
    critique = []
    if record.issues:
        critique.append(f"What was wrong: {', '.join(record.issues)}")
    if record.feedback:
        critique.append(f"Feedback: {record.feedback}")
    parts += ["\n".join(critique), "Rewrite the draft with the feedback applied."]
    return [
        {"role": "system", "content": REWRITE_SYSTEM},
        {"role": "user", "content": "\n\n".join(p for p in parts if p)},
    ]


def golden_record(record: FeedbackRecord, text: str, model: str) -> FeedbackRecord:
    """The record with `final` replaced by the machine-written rewrite, marked as such.

    >>> r = FeedbackRecord(1, 2, [], final="Hi", draft="Hi", rating=1, feedback="Longer")
    >>> g = golden_record(r, "Hi Ada, longer.", "gpt-4o-mini")
    >>> (g.final, g.human_final, g.machine_written, g.data["golden_model"])
    ('Hi Ada, longer.', 'Hi', True, 'gpt-4o-mini')
    """
    return replace(
        record,
        final=text,
        human_final=record.final,
        machine_written=True,
        data={**record.data, "golden_model": model},
    )


def review_task(record: FeedbackRecord, text: str, model: str) -> dict[str, Any]:
    """A Label Studio task that shows the golden rewrite as the draft, for a person to approve.

    >>> r = FeedbackRecord(42, 7, [], final="Hi", draft="Hi", rating=1, feedback="Longer",
    ...                    data={"brief": "Offer a demo."})
    >>> task = review_task(r, "Hi Ada.", "gpt-4o-mini")
    >>> task["data"]
    {'brief': 'Offer a demo.', 'golden_of_task': 42, 'golden_of_annotation': 7, \
'golden_feedback': 'Longer'}
    >>> task["predictions"][0]["model_version"]
    'golden:gpt-4o-mini'
    """
    data = {
        **record.data,
        "golden_of_task": record.task_id,
        GOLDEN_OF_ANNOTATION: record.annotation_id,
        "golden_feedback": record.feedback or "",
    }
    data.pop("golden_model", None)
    return {"data": data, "predictions": [draft_prediction(text, GOLDEN_PREFIX + model)]}


class GoldenWriter:
    """Asks an OpenAI-compatible chat model for golden rewrites; the client is passed in."""

    def __init__(self, client: Any, model: str, temperature: float = 0.3) -> None:
        self.client = client
        self.model = model
        self.temperature = temperature
        self.calls = 0

    def rewrite(self, record: FeedbackRecord) -> str:
        """One rewrite; raises GoldenError naming the task when the model fails."""
        import openai

        where = f"task {record.task_id} annotation {record.annotation_id}"
        try:
            response = self.client.chat.completions.create(
                model=self.model,
                messages=rewrite_messages(record),
                temperature=self.temperature,
            )
        except openai.OpenAIError as exc:
            raise GoldenError(
                f"golden rewrite for {where} failed ({type(exc).__name__}: {exc})"
                " — check --golden-model / OPENAI_BASE_URL / OPENAI_API_KEY, or drop --golden"
            ) from None
        self.calls += 1
        text = (response.choices[0].message.content or "").strip() if response.choices else ""
        if not text:
            raise GoldenError(f"golden rewrite for {where}: the model returned no text — retry")
        logger.debug("golden rewrite for %s: %s", where, text)
        return text
