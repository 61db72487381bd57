"""Pure per-task decisions: which annotations to keep, and which split a task lands in."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from redraft.exporters.records import FeedbackRecord, Reject

ANNOTATOR_POLICIES = ("all", "best-rated", "latest")
SPLIT_SALT = "redraft-split-v1"


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


def split_of(task_id: int | None, client: str | None, validation_ratio: float) -> str:
    """ "train" or "validation", decided by a hash of the client and task id alone.

    Every row of a task lands in the same split, the same task always lands in the same split,
    and each client's tasks are hashed on their own, so each client gets about the ratio.

    >>> [split_of(i, "Acme", 0.5) for i in range(6)]
    ['validation', 'train', 'train', 'train', 'validation', 'validation']
    """
    if validation_ratio <= 0:
        return "train"
    key = f"{SPLIT_SALT}\x00{(client or '').casefold()}\x00{task_id}".encode()
    fraction = int.from_bytes(hashlib.sha256(key).digest()[:8], "big") / 2**64
    return "validation" if fraction < validation_ratio else "train"
