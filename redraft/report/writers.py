"""Per-writer figures: what each writer's annotations say, and where each writer stands against
the others on the tasks they share (pure).

A project with overlap (`redraft init --overlap 2`) gives tasks to several writers; the report's
agreement says how far writers agree overall, these figures say who differs: a writer who
rates a point above colleagues on the same drafts, or sends drafts unchanged that others
rewrite.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from statistics import fmean
from typing import Any

from redraft.exporters.records import FeedbackRecord
from redraft.report.metrics import GroupMetrics, group_metrics

UNKNOWN_WRITER = "(unknown)"


@dataclass(frozen=True)
class WriterFigures:
    """One writer's figures over every version (their own annotations), and how they compare
    with the other writers of the same tasks."""

    writer: str
    tasks: int
    shared_tasks: int  # tasks another writer annotated too
    figures: GroupMetrics  # rating, accepted as is, edit distance, feedback, lead time
    rating_offset: float | None  # mean of (own rating - the others' mean) on shared tasks
    accept_pairs: int  # (this writer, another writer) annotation pairs on shared tasks
    accept_agreement: float | None  # share of those pairs agreeing on accepted-as-is

    def as_row(self) -> dict[str, Any]:
        """One flat CSV row."""
        figures = self.figures.as_row()
        for name in ("model_version", "client", "week", "drafts"):
            del figures[name]
        return {
            "writer": self.writer,
            "tasks": self.tasks,
            "shared_tasks": self.shared_tasks,
            **figures,
            "rating_offset": self.rating_offset,
            "accept_pairs": self.accept_pairs,
            "accept_agreement": self.accept_agreement,
        }


def writer_of(record: FeedbackRecord) -> str:
    """Who wrote the annotation (Label Studio's email, else user id), or `(unknown)`."""
    return record.annotator or UNKNOWN_WRITER


def writer_figures(records: Iterable[FeedbackRecord]) -> list[WriterFigures]:
    """Figures per writer, sorted by writer; machine-written (golden) finals are nobody's.

    >>> from redraft.exporters.records import FeedbackRecord as R
    >>> rows = [R(1, 11, [], "Hi", draft="Hi", rating=4, annotator="ann@x"),
    ...         R(1, 12, [], "Hey", draft="Hi", rating=2, annotator="bob@x"),
    ...         R(2, 21, [], "Yo", draft="Yo", rating=5, annotator="ann@x")]
    >>> [(w.writer, w.tasks, w.shared_tasks, w.rating_offset, w.accept_agreement)
    ...  for w in writer_figures(rows)]
    [('ann@x', 2, 1, 2.0, 0.0), ('bob@x', 1, 1, -2.0, 0.0)]
    """
    human = [r for r in records if not r.machine_written]
    by_writer: dict[str, list[FeedbackRecord]] = defaultdict(list)
    by_task: dict[int, dict[str, list[FeedbackRecord]]] = defaultdict(lambda: defaultdict(list))
    for r in human:
        by_writer[writer_of(r)].append(r)
        by_task[r.task_id][writer_of(r)].append(r)
    figures = []
    for writer in sorted(by_writer):
        own = by_writer[writer]
        shared = [t for t in {r.task_id for r in own} if len(by_task[t]) >= 2]
        offsets = [_offset(by_task[t], writer) for t in shared]
        pairs = [
            mine.accepted_as_is == theirs.accepted_as_is
            for t in shared
            for other, theirs_list in by_task[t].items()
            if other != writer
            for mine, theirs in itertools.product(by_task[t][writer], theirs_list)
            if mine.draft is not None and theirs.draft is not None
        ]
        measured = [o for o in offsets if o is not None]
        figures.append(
            WriterFigures(
                writer=writer,
                tasks=len({r.task_id for r in own}),
                shared_tasks=len(shared),
                figures=group_metrics(own, drafts=0),
                rating_offset=fmean(measured) if measured else None,
                accept_pairs=len(pairs),
                accept_agreement=sum(pairs) / len(pairs) if pairs else None,
            )
        )
    return figures


def _offset(task: dict[str, list[FeedbackRecord]], writer: str) -> float | None:
    """This writer's mean rating of the task minus the other writers' mean; None without both."""
    mine = _ratings(task[writer])
    theirs = [x for other, rs in task.items() if other != writer for x in _ratings(rs)]
    return fmean(mine) - fmean(theirs) if mine and theirs else None


def _ratings(records: Sequence[FeedbackRecord]) -> list[float]:
    return [float(r.rating) for r in records if r.rating is not None]
