"""The `/predict` results list: one entry per task, built with the label config's codec."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from redraft.label_config.results import draft_prediction
from redraft.scoring.confidence import Calibration, Signals, confidence

Prediction = dict[str, Any]


class Drafted(Protocol):
    """What a results builder needs from a drafting outcome."""

    @property
    def text(self) -> str | None: ...

    @property
    def signals(self) -> Signals | None: ...


def scored_prediction(
    text: str, model_version: str, signals: Signals | None, calibration: Calibration | None = None
) -> Prediction:
    """One draft's prediction with its confidence score and reason (none without signals).

    >>> p = scored_prediction("Hi", "v1", Signals(1.0))
    >>> p["score"], p["result"][2]["value"]
    (1.0, {'text': ['1.00 — likely sent as is (no history yet)']})
    """
    if signals is None:
        return draft_prediction(text, model_version)
    scored = confidence(signals, calibration)
    return draft_prediction(text, model_version, scored.score, scored.reason, signals.as_json())


def build_results(
    outcomes: Iterable[Drafted], model_version: str, calibration: Calibration | None = None
) -> list[Prediction | list[Any]]:
    """The `/predict` `results` list: one entry per task, in task order.

    A task without a draft gets an empty list, not a missing entry: Label Studio pairs results
    with tasks by position and drops *every* prediction when the counts differ, while an empty
    list simply creates no prediction for that task (so it is retried on the next retrieve).

    >>> from types import SimpleNamespace as O
    >>> build_results([O(text=None), O(text="Hi", signals=None)], "v1")
    ... # doctest: +NORMALIZE_WHITESPACE
    [[],
     {'model_version': 'v1',
      'result': [{'from_name': 'draft', 'to_name': 'brief', 'type': 'textarea',
                  'readonly': True, 'value': {'text': ['Hi']}},
                 {'from_name': 'final', 'to_name': 'brief', 'type': 'textarea',
                  'value': {'text': ['Hi']}}]}]
    """
    return [
        [] if o.text is None else scored_prediction(o.text, model_version, o.signals, calibration)
        for o in outcomes
    ]
