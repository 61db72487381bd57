"""The Label Studio result codec: what redraft builds, it reads back; what it cannot trust, it
says why. Validated against the labeling config by Label Studio's own LabelInterface."""

from __future__ import annotations

import pytest
from label_studio_sdk.label_interface import LabelInterface

from redraft.label_config import DRAFT, FEEDBACK, FINAL, ISSUES, read_label_config
from redraft.label_config.results import (
    annotation_result,
    choices_of,
    draft_of,
    draft_prediction,
    malformed,
    rating_of,
    text_of,
)


@pytest.fixture(scope="module")
def interface() -> LabelInterface:
    return LabelInterface(read_label_config())


def test_an_annotation_reads_back_whole(interface: LabelInterface) -> None:
    result = annotation_result(
        final="Hi Ada,\nA demo?",
        draft="Hi,\nDemo?",
        rating=3,
        issues=["tone", "call to action"],
        feedback="Warmer, name her.",
    )
    assert interface.validate_annotation({"result": result}) is True
    assert malformed(result) is None
    assert (
        text_of(result, DRAFT),
        text_of(result, FINAL),
        rating_of(result),
        choices_of(result, ISSUES),
        text_of(result, FEEDBACK),
    ) == ("Hi,\nDemo?", "Hi Ada,\nA demo?", 3, ("tone", "call to action"), "Warmer, name her.")


def test_a_draft_prediction_reads_back_and_validates(interface: LabelInterface) -> None:
    prediction = draft_prediction("Subject: Hi\n\nHello", "v2", score=0.5)
    assert interface.validate_prediction(prediction, return_errors=True) == []
    assert (draft_of(prediction), prediction["model_version"], prediction["score"]) == (
        "Subject: Hi\n\nHello",
        "v2",
        0.5,
    )


def test_the_editor_s_extra_keys_and_older_shapes_read_the_same() -> None:
    # The editor adds "id" and "origin"; older exports hold a bare string as the text.
    stored = [
        {"id": "a1", "origin": "prediction", "from_name": "final", "to_name": "brief",
         "type": "textarea", "value": {"text": "Hello"}},
        "not an item",
        {"from_name": "rating", "value": {"rating": 4.0}},
    ]  # fmt: skip
    assert (text_of(stored, FINAL), rating_of(stored), draft_of({"result": stored})) == (
        "Hello",
        4,
        "Hello",
    )


@pytest.mark.parametrize(
    ("result", "reason"),
    [
        ([{"from_name": "final", "value": {"text": [None, 3]}}],
         "final text is not text ([None, 3])"),
        ([{"from_name": "feedback", "value": {"text": {"a": 1}}}],
         "feedback text is not text ({'a': 1})"),
        ([{"from_name": "rating", "value": {"rating": 0}}], "rating 0 is not 1-5"),
        ([{"from_name": "rating", "value": {"rating": True}}], "rating True is not 1-5"),
        ([{"from_name": "rating", "value": {"rating": "5"}}], "rating 5 is not 1-5"),
    ],
)  # fmt: skip
def test_malformed_says_why(result: list, reason: str) -> None:
    assert malformed(result) == reason
    assert rating_of(result) is None


def test_blank_and_missing_controls_read_as_nothing() -> None:
    result = annotation_result(final="  \n ")
    assert (text_of(result, FINAL), text_of(None, FINAL), choices_of("x", ISSUES)) == (
        None,
        None,
        (),
    )
