"""The Label Studio result format for redraft's controls, both ways (pure).

Label Studio stores a prediction's or an annotation's `result` as a list of items, one per
control: `{"from_name": control, "to_name": "brief", "type": ..., "value": {...}}`. Everything
redraft sends to Label Studio is built here, and everything it reads back is read here, so the
format has one home next to the control names.

Reading is lenient about shape (a result from an older Label Studio, a hand-written export):
items that are not mappings are skipped; `malformed` says when an annotation cannot be trusted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from redraft.label_config import CONFIDENCE, DRAFT, FEEDBACK, FINAL, ISSUES, OBJECT, RATING

ResultItem = dict[str, Any]
Result = list[ResultItem]

RATING_SCALE = range(1, 6)
SIGNALS_KEY = "redraft_signals"  # on the confidence item: the parts the score is made of


# --- building -------------------------------------------------------------------------------


def textarea_item(control: str, text: str, *, readonly: bool = False) -> ResultItem:
    """One TextArea item. `readonly` marks the item itself read-only: Label Studio 1.23's
    TextArea tag has no read-only attribute, so this is what keeps the draft as drafted.

    >>> textarea_item(FINAL, "Subject: Hi")  # doctest: +NORMALIZE_WHITESPACE
    {'from_name': 'final', 'to_name': 'brief', 'type': 'textarea',
     'value': {'text': ['Subject: Hi']}}
    >>> textarea_item(DRAFT, "Hi", readonly=True)["readonly"]
    True
    """
    item: ResultItem = {"from_name": control, "to_name": OBJECT, "type": "textarea"}
    if readonly:
        item["readonly"] = True
    item["value"] = {"text": [text]}
    return item


def rating_item(rating: int) -> ResultItem:
    """The star rating item.

    >>> rating_item(4)
    {'from_name': 'rating', 'to_name': 'brief', 'type': 'rating', 'value': {'rating': 4}}
    """
    return {"from_name": RATING, "to_name": OBJECT, "type": "rating", "value": {"rating": rating}}


def choices_item(control: str, choices: Iterable[str]) -> ResultItem:
    """A Choices item (the issue tags, an A/B preference).

    >>> choices_item(ISSUES, ("tone",))
    {'from_name': 'issues', 'to_name': 'brief', 'type': 'choices', 'value': {'choices': ['tone']}}
    """
    return {
        "from_name": control,
        "to_name": OBJECT,
        "type": "choices",
        "value": {"choices": list(choices)},
    }


def draft_result(text: str, *, readonly: bool = True) -> Result:
    """What a draft prediction holds: the text in `draft` (read-only) and in `final` (editable,
    so the writer edits it into the email that is sent).

    >>> [(i["from_name"], i.get("readonly", False)) for i in draft_result("Hi")]
    [('draft', True), ('final', False)]
    """
    return [textarea_item(DRAFT, text, readonly=readonly), textarea_item(FINAL, text)]


def confidence_item(reason: str, signals: Mapping[str, Any] | None = None) -> ResultItem:
    """The read-only confidence item: the score's one-line reason for writers, and the signals
    it was made of (kept with the prediction, so export can refit the score on them).

    >>> confidence_item("0.80 — likely sent as is", {"structure": 1.0})
    ... # doctest: +NORMALIZE_WHITESPACE
    {'from_name': 'confidence', 'to_name': 'brief', 'type': 'textarea', 'readonly': True,
     'value': {'text': ['0.80 — likely sent as is']}, 'redraft_signals': {'structure': 1.0}}
    """
    item = textarea_item(CONFIDENCE, reason, readonly=True)
    if signals is not None:
        item[SIGNALS_KEY] = dict(signals)
    return item


def draft_prediction(
    text: str,
    model_version: str,
    score: float | None = None,
    reason: str | None = None,
    signals: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The prediction for one draft, as `/predict` returns it and the import API takes it;
    with `score` (0-1, Label Studio's prediction score) and `reason`, a confidence item too.

    >>> draft_prediction("Subject: Hi", "v1")  # doctest: +NORMALIZE_WHITESPACE
    {'model_version': 'v1',
     'result': [{'from_name': 'draft', 'to_name': 'brief', 'type': 'textarea',
                 'readonly': True, 'value': {'text': ['Subject: Hi']}},
                {'from_name': 'final', 'to_name': 'brief', 'type': 'textarea',
                 'value': {'text': ['Subject: Hi']}}]}
    >>> p = draft_prediction("Hi", "v1", 0.8, "0.80 — likely sent as is", {"structure": 1.0})
    >>> p["score"], [i["from_name"] for i in p["result"]]
    (0.8, ['draft', 'final', 'confidence'])
    """
    built: dict[str, Any] = {"model_version": model_version, "result": draft_result(text)}
    if score is not None:
        built["score"] = score
    if reason is not None:
        built["result"].append(confidence_item(reason, signals))
    return built


def annotation_result(
    *,
    final: str,
    draft: str | None = None,
    rating: int | None = None,
    issues: Iterable[str] = (),
    feedback: str | None = None,
) -> Result:
    """A writer's annotation `result`, in the labeling config's order (draft, rating, issues,
    feedback, final); empty controls are left out, as the editor leaves them out.

    >>> [i["from_name"] for i in annotation_result(final="Hello", draft="Hi", rating=4,
    ...                                            issues=["tone"], feedback="warmer")]
    ['draft', 'rating', 'issues', 'feedback', 'final']
    >>> annotation_result(final="Hi")  # doctest: +NORMALIZE_WHITESPACE
    [{'from_name': 'final', 'to_name': 'brief', 'type': 'textarea', 'value': {'text': ['Hi']}}]
    """
    result: Result = []
    if draft is not None:
        result.append(textarea_item(DRAFT, draft))
    if rating is not None:
        result.append(rating_item(rating))
    issues = list(issues)
    if issues:
        result.append(choices_item(ISSUES, issues))
    if feedback:
        result.append(textarea_item(FEEDBACK, feedback))
    result.append(textarea_item(FINAL, final))
    return result


# --- reading --------------------------------------------------------------------------------


def items(result: Any, control: str) -> list[Mapping[str, Any]]:
    """The items of `result` for one control that carry a value.

    >>> items([{"from_name": "final", "value": {"text": ["Hi"]}}, "junk"], "final")
    [{'from_name': 'final', 'value': {'text': ['Hi']}}]
    """
    if not isinstance(result, list):
        return []
    # `type(item) is dict` first: a parsed export holds dicts, and the Mapping check is slow.
    return [
        item
        for item in result
        if (type(item) is dict or isinstance(item, Mapping))
        and item.get("from_name") == control
        and isinstance(item.get("value"), Mapping)
    ]


def text_of(result: Any, control: str) -> str | None:
    """A TextArea's text (lines joined, stripped), or None when it is absent or blank.

    >>> text_of([{"from_name": "final", "value": {"text": ["Hi", "there "]}}], "final")
    'Hi\\nthere'
    >>> text_of([{"from_name": "final", "value": {"text": ["  "]}}], "final") is None
    True
    """
    for item in items(result, control):
        text = item["value"].get("text")
        if isinstance(text, str):
            text = [text]
        if isinstance(text, list):
            joined = "\n".join(str(t) for t in text if t is not None).strip()
            if joined:
                return joined
    return None


def rating_of(result: Any) -> int | None:
    """The 1-5 star rating, or None when absent or off the scale.

    >>> rating_of([rating_item(4)]), rating_of([rating_item(7)]), rating_of([])
    (4, None, None)
    """
    for item in items(result, RATING):
        value = item["value"].get("rating")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        return int(value) if value == int(value) and int(value) in RATING_SCALE else None
    return None


def choices_of(result: Any, control: str) -> tuple[str, ...]:
    """A Choices control's picks, in order.

    >>> choices_of([choices_item(ISSUES, ["tone", "grammar"])], ISSUES)
    ('tone', 'grammar')
    """
    for item in items(result, control):
        choices = item["value"].get("choices")
        if isinstance(choices, list):
            return tuple(str(c) for c in choices)
    return ()


def draft_of(prediction: Mapping[str, Any]) -> str | None:
    """The draft a prediction holds: its `draft` text, else its `final` text.

    >>> draft_of({"result": draft_result("Hi")}), draft_of({"result": []})
    ('Hi', None)
    """
    result = prediction.get("result")
    return text_of(result, DRAFT) or text_of(result, FINAL)


def confidence_of(prediction: Mapping[str, Any]) -> tuple[float | None, dict[str, Any] | None]:
    """A prediction's score (0-1, else None) and the signals stored with it (else None).

    >>> confidence_of(draft_prediction("Hi", "v1", 0.8, "why", {"structure": 1.0}))
    (0.8, {'structure': 1.0})
    >>> confidence_of({"score": True, "result": []}), confidence_of({"score": 7})
    ((None, None), (None, None))
    """
    score = prediction.get("score")
    if isinstance(score, bool) or not isinstance(score, (int, float)) or not 0 <= score <= 1:
        score = None
    signals = None
    for item in items(prediction.get("result"), CONFIDENCE):
        if isinstance(item.get(SIGNALS_KEY), Mapping):
            signals = dict(item[SIGNALS_KEY])
    return (None if score is None else float(score)), signals


def malformed(result: Any) -> str | None:
    """Why an annotation's result cannot be trusted (a text that is not text, a rating off the
    1-5 scale), or None.

    >>> malformed([{"from_name": "final", "value": {"text": [None, 3]}}])
    'final text is not text ([None, 3])'
    >>> malformed([{"from_name": "rating", "value": {"rating": 7}}])
    'rating 7 is not 1-5'
    >>> malformed(annotation_result(final="Hi", rating=5)) is None
    True
    """
    for control in (FINAL, DRAFT, FEEDBACK):
        for item in items(result, control):
            text = item["value"].get("text")
            if text is None or isinstance(text, str):
                continue
            if not isinstance(text, list) or not all(isinstance(t, str) for t in text):
                return f"{control} text is not text ({str(text)[:40]})"
    for item in items(result, RATING):
        rating = item["value"].get("rating")
        if rating is not None and (
            isinstance(rating, bool) or not isinstance(rating, int) or rating not in RATING_SCALE
        ):
            return f"rating {str(rating)[:20]} is not 1-5"
    return None
