"""Pure parts of the backend: prediction shapes, cache keys, webhook helpers."""

from __future__ import annotations

import pytest

from redraft.backend.cache import DraftCache, cache_key
from redraft.backend.drafting import DraftOutcome
from redraft.backend.model import action_label, annotation_ids
from redraft.backend.results import build_results
from redraft.label_config.results import draft_prediction, text_of

# What Label Studio 1.23 stores for a TextArea prediction, as returned by its API for a
# prediction of ours (the editor adds an "id" per region and "origin": "prediction" only when
# an annotation is created from it; the prediction keeps what the backend sent).
LS_STORED_TEXTAREA = {
    "from_name": "final",
    "to_name": "brief",
    "type": "textarea",
    "value": {"text": ["Subject: Demo\n\nHi Ana,"]},
}


def test_prediction_fills_draft_and_final_with_the_same_text() -> None:
    text = "Subject: Demo\n\nHi Ana,"
    assert draft_prediction(text, "writer-v3") == {
        "model_version": "writer-v3",
        "result": [
            {
                "from_name": "draft",
                "to_name": "brief",
                "type": "textarea",
                "readonly": True,
                "value": {"text": [text]},
            },
            LS_STORED_TEXTAREA,
        ],
    }


def test_prediction_with_score() -> None:
    assert draft_prediction("x", "v1", score=0.5)["score"] == 0.5


def test_results_keep_task_positions_and_leave_failures_empty() -> None:
    outcomes = [
        DraftOutcome(1, "A"),
        DraftOutcome(2, None, "timeout", error_kind="timeout"),
        DraftOutcome(3, "C", cached=True),
    ]
    assert build_results(outcomes, "v1") == [
        draft_prediction("A", "v1"),
        [],
        draft_prediction("C", "v1"),
    ]


@pytest.mark.parametrize(
    ("prediction", "from_name", "expected"),
    [
        (draft_prediction("Hi", "v1"), "draft", "Hi"),
        (draft_prediction("Hi", "v1"), "final", "Hi"),
        (
            {"result": [{**LS_STORED_TEXTAREA, "id": "abc", "origin": "prediction"}]},
            "final",
            LS_STORED_TEXTAREA["value"]["text"][0],
        ),
        ({"result": [LS_STORED_TEXTAREA]}, "draft", None),
        ({"result": None}, "draft", None),
    ],
)
def test_text_of_reads_what_label_studio_stores(
    prediction: dict, from_name: str, expected: str | None
) -> None:
    assert text_of(prediction["result"], from_name) == expected


MESSAGES = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Offer a demo."},
]
BASE = ("http://127.0.0.1:1/v1", "m1", MESSAGES, 0.7, 600)


@pytest.mark.parametrize(
    "changed",
    [
        ("http://127.0.0.1:2/v1", "m1", MESSAGES, 0.7, 600),
        ("http://127.0.0.1:1/v1", "m2", MESSAGES, 0.7, 600),
        (
            "http://127.0.0.1:1/v1",
            "m1",
            [*MESSAGES[:1], {"role": "user", "content": "Offer a demo!"}],
            0.7,
            600,
        ),
        ("http://127.0.0.1:1/v1", "m1", MESSAGES[1:], 0.7, 600),
        ("http://127.0.0.1:1/v1", "m1", MESSAGES, 0.0, 600),
        ("http://127.0.0.1:1/v1", "m1", MESSAGES, 0.7, 601),
    ],
)
def test_cache_key_changes_with_every_input(changed: tuple) -> None:
    assert cache_key(*changed) != cache_key(*BASE)


def test_cache_key_ignores_a_trailing_slash_and_dict_order() -> None:
    reordered = [{"content": m["content"], "role": m["role"]} for m in MESSAGES]
    assert cache_key("http://127.0.0.1:1/v1/", "m1", reordered, 0.7, 600) == cache_key(*BASE)


def test_draft_cache_persists_across_connections(tmp_path) -> None:
    path = tmp_path / "cache.sqlite3"
    cache = DraftCache(path)
    cache.put("k1", "m1", "draft one")
    assert (cache.get("k1"), cache.get("k2"), len(cache)) == ("draft one", None, 1)
    cache.close()
    reopened = DraftCache(path)
    try:
        assert (reopened.get("k1"), len(reopened)) == ("draft one", 1)
    finally:
        reopened.close()


@pytest.mark.parametrize(
    ("payload", "ids"),
    [
        ({"action": "ANNOTATION_CREATED", "annotation": {"id": 9}, "task": {"id": 1}}, [9]),
        ({"action": "ANNOTATIONS_CREATED", "annotation": [{"id": 1}, {"id": 2}]}, [1, 2]),
        ({"action": "ANNOTATIONS_DELETED", "annotations": [{"id": 5}]}, [5]),
        ({"action": "START_TRAINING", "project": {"id": 3}}, []),
        ({"annotation": {"id": "7"}}, []),
    ],
)
def test_annotation_ids(payload: dict, ids: list[int]) -> None:
    assert annotation_ids(payload) == ids


@pytest.mark.parametrize(
    ("action", "label"),
    [
        ("ANNOTATION_UPDATED", "ANNOTATION_UPDATED"),
        ("SOMETHING_NEW_IN_1_24", "SOMETHING_NEW_IN_1_24"),
        ('x"} 1\nevil', "UNKNOWN"),
        (42, "UNKNOWN"),
        ("A" * 65, "UNKNOWN"),
    ],
)
def test_action_label(action: object, label: str) -> None:
    assert action_label(action) == label
