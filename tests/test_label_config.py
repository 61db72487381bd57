"""The labeling config, parsed by label-studio-sdk's own parser: every control the exporters use."""

from __future__ import annotations

import pytest
from label_studio_sdk.label_interface import LabelInterface

from redraft.label_config import (
    CONFIDENCE,
    DRAFT,
    FEEDBACK,
    FINAL,
    ISSUE_TAGS,
    ISSUES,
    OBJECT,
    RATING,
    read_label_config,
)
from redraft.label_config.results import draft_prediction
from redraft.labelstudio.briefs import Feedback
from redraft.labelstudio.tasks import feedback_results


@pytest.fixture(scope="module")
def interface() -> LabelInterface:
    return LabelInterface(read_label_config())


def test_one_object_the_brief(interface: LabelInterface) -> None:
    objects = {o.name: (o.tag, o.value) for o in interface.objects}
    assert objects == {OBJECT: ("Text", "$brief")}


def test_controls_and_where_they_point(interface: LabelInterface) -> None:
    controls = {c.name: (c.tag, c.to_name) for c in interface.controls}
    assert controls == {
        DRAFT: ("TextArea", [OBJECT]),
        CONFIDENCE: ("TextArea", [OBJECT]),
        RATING: ("Rating", [OBJECT]),
        ISSUES: ("Choices", [OBJECT]),
        FEEDBACK: ("TextArea", [OBJECT]),
        FINAL: ("TextArea", [OBJECT]),
    }


def test_draft_is_shown_not_edited(interface: LabelInterface) -> None:
    attrs = interface.get_control(DRAFT).attr
    assert (attrs.get("editable"), attrs.get("maxSubmissions")) == ("false", "1")
    # Label Studio 1.23 has no TextArea `readonly` attribute; one would be silently ignored.
    assert "readonly" not in attrs


def test_confidence_is_shown_not_edited(interface: LabelInterface) -> None:
    attrs = interface.get_control(CONFIDENCE).attr
    assert (attrs.get("editable"), attrs.get("maxSubmissions")) == ("false", "1")


def test_rating_one_to_five_required(interface: LabelInterface) -> None:
    attrs = interface.get_control(RATING).attr
    assert (attrs["maxRating"], attrs["required"]) == ("5", "true")


def test_issues_multiple_with_exact_aliases(interface: LabelInterface) -> None:
    control = interface.get_control(ISSUES)
    assert control.attr["choice"] == "multiple"
    assert tuple(control.labels) == ISSUE_TAGS
    assert [label.attr["alias"] for label in control.labels_attrs.values()] == list(ISSUE_TAGS)


def test_final_editable_and_required(interface: LabelInterface) -> None:
    attrs = interface.get_control(FINAL).attr
    assert (attrs["editable"], attrs["required"]) == ("true", "true")


def test_feedback_free_text(interface: LabelInterface) -> None:
    attrs = interface.get_control(FEEDBACK).attr
    assert (attrs["editable"], attrs.get("required", "false")) == ("true", "false")


def test_backend_prediction_is_valid(interface: LabelInterface) -> None:
    prediction = draft_prediction("Subject: Hi", "v1")
    assert interface.validate_prediction(prediction, return_errors=True) == []


def test_scored_prediction_is_valid(interface: LabelInterface) -> None:
    signals = {"structure": 0.5, "missing": ["sign-off"]}
    prediction = draft_prediction("Subject: Hi", "v1", 0.42, "0.42 — some edits likely", signals)
    assert interface.validate_prediction(prediction, return_errors=True) == []


def test_imported_feedback_annotation_is_valid(interface: LabelInterface) -> None:
    results = feedback_results(Feedback("Hi", "Hello", 2, ("tone", "call to action"), "Warmer."))
    assert interface.validate_annotation({"result": results}) is True


@pytest.mark.parametrize(
    "result",
    [
        {"from_name": ISSUES, "to_name": OBJECT, "type": "choices", "value": {"choices": ["Tone"]}},
        {"from_name": RATING, "to_name": OBJECT, "type": "rating", "value": {"rating": 6}},
    ],
    ids=["display-name-not-alias", "rating-out-of-range"],
)
def test_parser_rejects_what_the_exporters_would_misread(
    interface: LabelInterface, result: dict[str, object]
) -> None:
    assert interface.validate_annotation({"result": [result]}) is False
