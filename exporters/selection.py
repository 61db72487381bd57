"""Pure per-task decisions: which annotations to keep, and which split a task lands in."""

from __future__ import annotations

from collections.abc import Sequence

from redraft.exporters.records import FeedbackRecord, Reject

ANNOTATOR_POLICIES = ("all", "best-rated", "latest")


def select_annotations(
    records: Sequence[FeedbackRecord], policy: str
) -> tuple[list[FeedbackRecord], list[Reject]]:
    """Apply the several-annotators policy to one task's records.

    all: every completed annotation; latest: the most recently updated one; best-rated: the
    highest rating (ties go to the latest).

    >>> a = FeedbackRecord(5, 1, [], final="A", rating=4, updated_at="2026-01-02T00:00:00Z")
    >>> b = FeedbackRecord(5, 2, [], final="B", rating=2, updated_at="2026-01-03T00:00:00Z")
    >>> kept, rejects = select_annotations([a, b], "best-rated")
    >>> [r.annotation_id for r in kept]
    [1]
    >>> [r.line for r in rejects]
    ['task 5: annotation 2 not selected (--annotators best-rated keeps annotation 1) — rejected']
    """
    if policy not in ANNOTATOR_POLICIES:
        raise ValueError(f"unknown annotator policy {policy!r}")
    if policy == "all" or len(records) < 2:
        return list(records), []

    def recency(r: FeedbackRecord) -> tuple[str, int]:
        return (r.updated_at or r.created_at or "", r.annotation_id)

    if policy == "latest":
        kept = max(records, key=recency)
    else:
        kept = max(records, key=lambda r: (r.rating if r.rating is not None else -1, recency(r)))
    rejects = [
        Reject(
            r.task_id,
            f"not selected (--annotators {policy} keeps annotation {kept.annotation_id})",
            r.annotation_id,
        )
        for r in records
        if r is not kept
    ]
    return [kept], rejects
