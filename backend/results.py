"""Pure builders: a draft becomes the Label Studio prediction that fills `draft` and `final`.

Label Studio stores a prediction's `result` list as given (it only adds ids in the editor), so
what we build here is exactly what annotators see and what the exporters read back.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from redraft.label_config import DRAFT, FINAL, OBJECT

Prediction = dict[str, Any]


class Drafted(Protocol):
    """What a results builder needs from a drafting outcome."""

    @property
    def text(self) -> str | None: ...


def textarea_result(
    from_name: str, text: str, to_name: str = OBJECT, *, readonly: bool = False
) -> dict[str, Any]:
    """One TextArea result item, as Label Studio stores it for a textarea prediction.

    `readonly` marks the item itself read-only: Label Studio 1.23's TextArea tag has no
    read-only attribute, so this is what keeps an annotator from editing or deleting the draft.

    >>> textarea_result("final", "Subject: Hi")  # doctest: +NORMALIZE_WHITESPACE
    {'from_name': 'final', 'to_name': 'brief', 'type': 'textarea',
     'value': {'text': ['Subject: Hi']}}
    >>> textarea_result("draft", "Hi", readonly=True)["readonly"]
    True
    """
    item: dict[str, Any] = {"from_name": from_name, "to_name": to_name, "type": "textarea"}
    if readonly:
        item["readonly"] = True
    item["value"] = {"text": [text]}
    return item


def build_prediction(text: str, model_version: str, score: float | None = None) -> Prediction:
    """The prediction for one draft: the same text in `draft` (read-only) and `final` (editable).

    >>> build_prediction("Subject: Hi", "v1")  # doctest: +NORMALIZE_WHITESPACE
    {'model_version': 'v1',
     'result': [{'from_name': 'draft', 'to_name': 'brief', 'type': 'textarea',
                 'readonly': True, 'value': {'text': ['Subject: Hi']}},
                {'from_name': 'final', 'to_name': 'brief', 'type': 'textarea',
                 'value': {'text': ['Subject: Hi']}}]}
    """
    prediction: Prediction = {
        "model_version": model_version,
        "result": [textarea_result(DRAFT, text, readonly=True), textarea_result(FINAL, text)],
    }
    if score is not None:
        prediction["score"] = score
    return prediction


def build_results(outcomes: Iterable[Drafted], model_version: str) -> list[Prediction | list[Any]]:
    """The `/predict` `results` list: one entry per task, in task order.

    A task without a draft gets an empty list, not a missing entry: Label Studio pairs results
    with tasks by position and drops *every* prediction when the counts differ, while an empty
    list simply creates no prediction for that task (so it is retried on the next retrieve).

    >>> from types import SimpleNamespace as O
    >>> build_results([O(text=None), O(text="Hi")], "v1")  # doctest: +NORMALIZE_WHITESPACE
    [[],
     {'model_version': 'v1',
      'result': [{'from_name': 'draft', 'to_name': 'brief', 'type': 'textarea',
                  'readonly': True, 'value': {'text': ['Hi']}},
                 {'from_name': 'final', 'to_name': 'brief', 'type': 'textarea',
                  'value': {'text': ['Hi']}}]}]
    """
    return [[] if o.text is None else build_prediction(o.text, model_version) for o in outcomes]


def prediction_text(prediction: Prediction, from_name: str = DRAFT) -> str | None:
    """The text a prediction (ours, or as Label Studio returns it) holds for one control.

    >>> prediction_text(build_prediction("Hi", "v1"))
    'Hi'
    >>> prediction_text({"result": []}) is None
    True
    """
    for item in prediction.get("result") or []:
        if item.get("from_name") == from_name and item.get("type") == "textarea":
            texts = (item.get("value") or {}).get("text") or []
            return "\n".join(str(t) for t in texts) if texts else None
    return None
