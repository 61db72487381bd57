"""Feedback records: one completed annotation, with the prompt it answers and the draft it edits.

`task_records(task, template)` is pure: a Label Studio task dict in, records and rejects out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from redraft.editdistance import normalise_whitespace
from redraft.errors import TaskDataError
from redraft.label_config import FEEDBACK, FINAL, ISSUES
from redraft.label_config.results import (
    choices_of,
    confidence_of,
    draft_of,
    malformed,
    rating_of,
    text_of,
)
from redraft.prompting import Message, PromptTemplate, build_messages


@dataclass(frozen=True)
class FeedbackRecord:
    """One completed annotation turned into the facts every dataset row and report needs."""

    task_id: int
    annotation_id: int
    messages: list[Message]
    final: str
    draft: str | None = None
    rating: int | None = None
    issues: tuple[str, ...] = ()
    feedback: str | None = None
    model_version: str | None = None
    prediction_id: int | None = None
    annotator: str | None = None
    lead_time: float | None = None
    created_at: str | None = None
    updated_at: str | None = None
    client: str | None = None
    external_id: str | None = None
    project_id: int | None = None
    template_sha256: str | None = None
    # True when `final` was written by an LLM from the feedback (a "golden sample"), not a person.
    machine_written: bool = False
    data: dict[str, Any] = field(default_factory=dict)
    # How the draft was found: "parent" (the prediction the annotation started from),
    # "model_version" (the task's prediction for that version), "latest", or None (no draft).
    draft_source: str | None = None
    ground_truth: bool = False
    # The person's final text when `final` was replaced by a machine-written golden sample.
    human_final: str | None = None
    # The draft's confidence score (0-1) and its signals (redraft.scoring.confidence).
    draft_score: float | None = None
    draft_signals: dict[str, Any] | None = None

    @cached_property  # asked several times per record (rows, case, golden)
    def accepted_as_is(self) -> bool:
        """The annotator sent the draft unchanged (whitespace aside)."""
        return self.draft is not None and (
            self.draft == self.final  # the usual case, with nothing to normalise
            or normalise_whitespace(self.draft) == normalise_whitespace(self.final)
        )


@dataclass(frozen=True)
class Reject:
    """A task or annotation that is not exported, and why."""

    task_id: int | None
    reason: str
    annotation_id: int | None = None

    @property
    def line(self) -> str:
        """One line for people: `task 42: annotation 7 was cancelled (skipped) — rejected`."""
        task = f"task {self.task_id}" if self.task_id is not None else "task (no id)"
        where = f"annotation {self.annotation_id} " if self.annotation_id is not None else ""
        return f"{task}: {where}{self.reason} — rejected"

    def as_dict(self) -> dict[str, Any]:
        """The rejects.jsonl row."""
        return {
            "task_id": self.task_id,
            "annotation_id": self.annotation_id,
            "reason": self.reason,
            "line": self.line,
        }


@dataclass(frozen=True)
class TaskOutcome:
    """What one task yields: records for completed annotations, rejects for everything else."""

    task_id: int | None
    client: str | None
    records: list[FeedbackRecord]
    rejects: list[Reject]


def task_records(
    task: Mapping[str, Any],
    template: PromptTemplate,
    model_version: str | None = None,
    project_id: int | None = None,
) -> TaskOutcome:
    """Turn one exported Label Studio task into feedback records and rejects (pure).

    `model_version` is the version to prefer when an annotation does not say which prediction
    it started from.

    >>> from redraft.prompting import parse_template
    >>> t = parse_template('system = "Be brief."\\nuser = "{brief}"')
    >>> task = {"id": 42, "data": {"brief": "Offer a demo."},
    ...   "predictions": [{"id": 3, "model_version": "v1", "result": [
    ...     {"from_name": "draft", "type": "textarea", "value": {"text": ["Hi, demo?"]}}]}],
    ...   "annotations": [
    ...     {"id": 7, "was_cancelled": True, "result": []},
    ...     {"id": 8, "completed_by": 1, "parent_prediction": 3, "result": [
    ...       {"from_name": "rating", "type": "rating", "value": {"rating": 2}},
    ...       {"from_name": "final", "type": "textarea", "value": {"text": ["Hi Ada, a demo?"]}}]}]}
    >>> outcome = task_records(task, t)
    >>> [r.line for r in outcome.rejects]
    ['task 42: annotation 7 was cancelled (skipped) — rejected']
    >>> r = outcome.records[0]
    >>> (r.annotation_id, r.draft, r.final, r.rating, r.model_version, r.annotator)
    (8, 'Hi, demo?', 'Hi Ada, a demo?', 2, 'v1', '1')
    """
    raw_id = task.get("id")
    data = task.get("data") if isinstance(task.get("data"), Mapping) else {}
    client = _text_or_none(data.get("client"))
    if not isinstance(raw_id, int) or isinstance(raw_id, bool):
        # Every record and reject is keyed by the task id: without one, tasks would collapse.
        why = "has no id" if raw_id is None else f"has id {raw_id!r}, not a whole number"
        return TaskOutcome(None, client, [], [Reject(None, why)])
    task_id: int = raw_id
    annotations = [a for a in task.get("annotations") or [] if isinstance(a, Mapping)]
    try:
        messages = build_messages(data, template)
    except TaskDataError:
        return TaskOutcome(task_id, client, [], [Reject(task_id, "no brief")])
    if not annotations:
        return TaskOutcome(task_id, client, [], [Reject(task_id, "no completed annotation")])
    predictions = [p for p in task.get("predictions") or [] if isinstance(p, Mapping)]
    records: list[FeedbackRecord] = []
    rejects: list[Reject] = []
    for annotation in annotations:
        annotation_id = _int_or_none(annotation.get("id"))
        if annotation.get("was_cancelled") or annotation.get("skipped"):
            rejects.append(Reject(task_id, "was cancelled (skipped)", annotation_id))
            continue
        result = annotation.get("result") or []
        problem = malformed(result)
        if problem:
            rejects.append(Reject(task_id, problem, annotation_id))
            continue
        final = text_of(result, FINAL)
        if not final:
            rejects.append(Reject(task_id, "has no final text", annotation_id))
            continue
        prediction, source = pick_prediction(annotation, predictions, model_version)
        score, signals = confidence_of(prediction) if prediction else (None, None)
        records.append(
            FeedbackRecord(
                task_id=task_id,
                annotation_id=annotation_id if annotation_id is not None else -1,
                messages=messages,
                final=final,
                draft=draft_of(prediction) if prediction else None,
                rating=rating_of(result),
                issues=choices_of(result, ISSUES),
                feedback=text_of(result, FEEDBACK),
                model_version=_text_or_none(prediction.get("model_version"))
                if prediction
                else None,
                prediction_id=_int_or_none(prediction.get("id")) if prediction else None,
                annotator=_annotator(annotation.get("completed_by")),
                lead_time=_float_or_none(annotation.get("lead_time")),
                created_at=_text_or_none(annotation.get("created_at")),
                updated_at=_text_or_none(annotation.get("updated_at")),
                client=client,
                external_id=_text_or_none(data.get("external_id")),
                project_id=project_id if project_id is not None else _project(task, annotation),
                template_sha256=template.sha256,
                data=dict(data),
                draft_source=source if prediction else None,
                ground_truth=bool(annotation.get("ground_truth")),
                draft_score=score,
                draft_signals=signals,
            )
        )
    return TaskOutcome(task_id, client, records, rejects)


def pick_prediction(
    annotation: Mapping[str, Any],
    predictions: Sequence[Mapping[str, Any]],
    model_version: str | None = None,
) -> tuple[Mapping[str, Any] | None, str | None]:
    """The prediction an annotation edited: its parent, else same model version, else latest."""
    by_id = {p.get("id"): p for p in predictions if draft_of(p)}
    parent = annotation.get("parent_prediction")
    if isinstance(parent, Mapping):
        if draft_of(parent):
            return parent, "parent"
        parent = parent.get("id")
    if parent is not None and parent in by_id:
        return by_id[parent], "parent"
    viewed = annotation.get("prediction")
    if isinstance(viewed, Mapping):
        if draft_of(viewed):
            return viewed, "parent"
        model_version = _text_or_none(viewed.get("model_version")) or model_version
    usable = list(by_id.values())
    if model_version:
        same = [p for p in usable if p.get("model_version") == model_version]
        if same:
            return _latest(same), "model_version"
    if usable:
        return _latest(usable), "latest"
    return None, None


def _latest(predictions: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
    return max(predictions, key=lambda p: (str(p.get("created_at") or ""), p.get("id") or 0))


def _annotator(completed_by: Any) -> str | None:
    if isinstance(completed_by, Mapping):
        return _text_or_none(completed_by.get("email")) or _text_or_none(completed_by.get("id"))
    return _text_or_none(completed_by)


def _project(task: Mapping[str, Any], annotation: Mapping[str, Any]) -> int | None:
    return _int_or_none(annotation.get("project")) or _int_or_none(task.get("project"))


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _float_or_none(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _text_or_none(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None
