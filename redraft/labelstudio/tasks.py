"""Pure builders for what redraft sends to Label Studio: import payloads and annotation results."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TypeVar

from redraft.label_config.results import annotation_result, draft_prediction
from redraft.labelstudio.briefs import BriefRow, Feedback

IMPORTED_MODEL_VERSION = "imported"
T = TypeVar("T")


def feedback_results(feedback: Feedback) -> list[dict[str, Any]]:
    """The annotation `result` list for a past rated draft, in the labeling config's order.

    >>> feedback_results(Feedback("Hi", "Hello", 4, ("tone",), "warmer"))
    ... # doctest: +NORMALIZE_WHITESPACE
    [{'from_name': 'draft', 'to_name': 'brief', 'type': 'textarea', 'value': {'text': ['Hi']}},
     {'from_name': 'rating', 'to_name': 'brief', 'type': 'rating', 'value': {'rating': 4}},
     {'from_name': 'issues', 'to_name': 'brief', 'type': 'choices',
      'value': {'choices': ['tone']}},
     {'from_name': 'feedback', 'to_name': 'brief', 'type': 'textarea',
      'value': {'text': ['warmer']}},
     {'from_name': 'final', 'to_name': 'brief', 'type': 'textarea',
      'value': {'text': ['Hello']}}]
    """
    return annotation_result(
        final=feedback.final,
        draft=feedback.draft,
        rating=feedback.rating,
        issues=feedback.issues,
        feedback=feedback.feedback,
    )


def import_task(row: BriefRow, model_version: str = IMPORTED_MODEL_VERSION) -> dict[str, Any]:
    """The Label Studio import item for one row: data, plus prediction and annotation if rated.

    >>> import_task(BriefRow(1, {"brief": "Offer a demo"}))
    {'data': {'brief': 'Offer a demo'}}
    >>> sorted(import_task(BriefRow(1, {"brief": "b"}, Feedback("d", "f", 5)), "v0"))
    ['annotations', 'data', 'predictions']
    """
    item: dict[str, Any] = {"data": dict(row.data)}
    if row.feedback is not None:
        item["predictions"] = [draft_prediction(row.feedback.draft, model_version)]
        item["annotations"] = [{"result": feedback_results(row.feedback)}]
    return item


def task_external_ids(tasks: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """external_id → task id for tasks as Label Studio lists them ({"id", "data"}).

    >>> task_external_ids([{"id": 3, "data": {"external_id": "A1"}}, {"id": 4, "data": {}}])
    {'A1': 3}
    """
    ids: dict[str, int] = {}
    for task in tasks:
        external_id = (task.get("data") or {}).get("external_id")
        if external_id is not None:
            ids.setdefault(str(external_id), int(task["id"]))
    return ids


def batches(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """Consecutive slices of at most `size` items.

    >>> [list(b) for b in batches([1, 2, 3, 4, 5], 2)]
    [[1, 2], [3, 4], [5]]
    """
    for start in range(0, len(items), size):
        yield items[start : start + size]
