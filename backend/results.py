"""The `/predict` results list: one entry per task, built with the label config's codec."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from redraft.label_config.results import draft_prediction

Prediction = dict[str, Any]


class Drafted(Protocol):
    """What a results builder needs from a drafting outcome."""

    @property
    def text(self) -> str | None: ...


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
    return [[] if o.text is None else draft_prediction(o.text, model_version) for o in outcomes]
