"""Feedback records: one completed annotation, with the prompt it answers and the draft it edits."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from redraft.prompting import Message


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

    @property
    def accepted_as_is(self) -> bool:
        """The annotator sent the draft unchanged (whitespace aside)."""
        return self.draft is not None and _normalise(self.draft) == _normalise(self.final)


def _normalise(text: str) -> str:
    return " ".join(text.split())
