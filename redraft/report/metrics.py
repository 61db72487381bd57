"""Quality figures per model version, per client and per week, from feedback records (pure).

Definitions (docs/report.md repeats them for readers of the report):
- drafts: drafts the version wrote (predictions seen in the source; else annotated drafts);
- annotations: completed annotations (feedback records) on that version's drafts;
- rating: mean 1-5 rating with a 95% Student t-interval;
- accepted: share of annotations sent unchanged (whitespace aside), 95% Wilson interval;
- edit distance: character Levenshtein(draft, final) / longer length, mean with t-interval;
  for these three the unit is the task: a task's annotations are averaged into one value
  first (they are not independent), so each interval's n counts tasks;
- issues: share of annotations that ticked each issue tag;
- feedback: annotations with a written critique, and their share;
- lead time: median seconds an annotator spent on the task.
Machine-written finals (golden rewrites) count for rating but not for accepted/edit distance:
no person edited that text.
"""

from __future__ import annotations

import functools
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from redraft.editdistance import normalised_edit_distance
from redraft.exporters.records import FeedbackRecord
from redraft.report.stats import Estimate, mean_interval, median, unit_means, wilson_interval

UNKNOWN_VERSION = "(unknown)"
NO_CLIENT = "(none)"
ALL = "(all)"


@dataclass(frozen=True)
class DraftSeen:
    """One draft a model version wrote for a task (a prediction), annotated or not."""

    task_id: int
    model_version: str | None
    client: str | None = None
    created_at: str | None = None


@dataclass(frozen=True)
class GroupMetrics:
    """Every figure for one group of records (a version, a version x client, a version x week)."""

    model_version: str
    client: str
    week: str
    drafts: int
    annotations: int
    rating: Estimate
    accepted: Estimate
    edit_distance: Estimate
    edit_distance_median: float | None
    issue_counts: dict[str, int] = field(default_factory=dict)
    feedback_count: int = 0
    lead_time_median: float | None = None

    @property
    def feedback_rate(self) -> float | None:
        """Share of annotations that carry written feedback."""
        return self.feedback_count / self.annotations if self.annotations else None

    def issue_rate(self, tag: str) -> float | None:
        """Share of annotations that ticked `tag`."""
        return self.issue_counts.get(tag, 0) / self.annotations if self.annotations else None

    def as_row(self) -> dict[str, Any]:
        """One flat CSV row; issue tags become `issue:<tag>` share columns."""
        row: dict[str, Any] = {
            "model_version": self.model_version,
            "client": self.client,
            "week": self.week,
            "drafts": self.drafts,
            "annotations": self.annotations,
        }
        row |= self.rating.as_row("rating")
        row |= self.accepted.as_row("accepted")
        row |= self.edit_distance.as_row("edit_distance")
        row["edit_distance_median"] = self.edit_distance_median
        row["feedback_count"] = self.feedback_count
        row["feedback_rate"] = self.feedback_rate
        row["lead_time_median_s"] = self.lead_time_median
        for tag in sorted(self.issue_counts):
            row[f"issue:{tag}"] = self.issue_rate(tag)
        return row


def version_of(record: FeedbackRecord) -> str:
    """The version a record's draft came from, or `(unknown)`."""
    return record.model_version or UNKNOWN_VERSION


def client_of(record: FeedbackRecord | DraftSeen) -> str:
    """The record's client, or `(none)`."""
    return record.client or NO_CLIENT


def week_of(timestamp: object) -> str:
    """The Monday (ISO date) of the week a timestamp falls in; `(unknown)` when unreadable.

    >>> week_of("2025-03-13T17:02:11.5Z"), week_of(None)
    ('2025-03-10', '(unknown)')
    """
    if not timestamp:
        return UNKNOWN_VERSION
    try:
        day = datetime.fromisoformat(str(timestamp)).date()
    except ValueError:
        return UNKNOWN_VERSION
    return (day - timedelta(days=day.weekday())).isoformat()


def edit_distance_of(record: FeedbackRecord) -> float | None:
    """Normalised edit distance from the record's draft to its final; None when not measurable."""
    if record.draft is None or record.machine_written:
        return None
    return _distance(record.draft, record.final)


@functools.lru_cache(maxsize=65536)
def _distance(draft: str, final: str) -> float:
    # Each record is grouped three ways (version, client, week); measure it once.
    return normalised_edit_distance(draft, final)


def task_ratings(records: Sequence[FeedbackRecord]) -> list[float]:
    """Mean rating per task."""
    return unit_means((r.task_id, float(r.rating)) for r in records if r.rating is not None)


def task_distances(records: Sequence[FeedbackRecord]) -> list[float]:
    """Mean normalised edit distance per task (person-edited drafts only)."""
    pairs = ((r.task_id, edit_distance_of(r)) for r in records)
    return unit_means((task, d) for task, d in pairs if d is not None)


def task_accepted(records: Sequence[FeedbackRecord]) -> list[float]:
    """Share of each task's person-edited annotations that sent the draft unchanged."""
    human = (r for r in records if r.draft is not None and not r.machine_written)
    return unit_means((r.task_id, float(r.accepted_as_is)) for r in human)


def group_metrics(
    records: Sequence[FeedbackRecord],
    drafts: int,
    model_version: str = ALL,
    client: str = ALL,
    week: str = ALL,
) -> GroupMetrics:
    """All figures for one group of records; rating, accepted and edit distance per task."""
    ratings = task_ratings(records)
    accepted = task_accepted(records)
    measured = task_distances(records)
    issues: Counter[str] = Counter(tag for r in records for tag in set(r.issues))
    leads = [r.lead_time for r in records if r.lead_time is not None]
    return GroupMetrics(
        model_version=model_version,
        client=client,
        week=week,
        drafts=drafts,
        annotations=len(records),
        rating=mean_interval(ratings, bounds=(1.0, 5.0)),
        accepted=wilson_interval(math.fsum(accepted), len(accepted)),
        edit_distance=mean_interval(measured, bounds=(0.0, 1.0)),
        edit_distance_median=median(measured),
        issue_counts=dict(sorted(issues.items())),
        feedback_count=sum(bool(r.feedback and r.feedback.strip()) for r in records),
        lead_time_median=median(leads),
    )


def drafts_from_records(records: Iterable[FeedbackRecord]) -> list[DraftSeen]:
    """The drafts records show, one per (task, version), when the source lists no predictions."""
    seen: dict[tuple[int, str | None], DraftSeen] = {}
    for r in records:
        if r.draft is not None:
            seen.setdefault(
                (r.task_id, r.model_version),
                DraftSeen(r.task_id, r.model_version, r.client, r.created_at),
            )
    return list(seen.values())


def summarise(
    records: Sequence[FeedbackRecord],
    drafts: Sequence[DraftSeen] | None = None,
    by: tuple[str, ...] = ("model_version",),
) -> list[GroupMetrics]:
    """Figures grouped by any of `model_version`, `client`, `week`, sorted by those keys."""
    keys: dict[str, Callable[[Any], str]] = {
        "model_version": lambda x: x.model_version or UNKNOWN_VERSION,
        "client": client_of,
        "week": lambda x: week_of(x.created_at),
    }
    unknown = set(by) - set(keys)
    if unknown:
        raise ValueError(f"cannot group by {sorted(unknown)}; use {sorted(keys)}")
    if drafts is None:
        drafts = drafts_from_records(records)

    def key(item: Any) -> tuple[str, ...]:
        return tuple(keys[name](item) for name in by)

    grouped: dict[tuple[str, ...], list[FeedbackRecord]] = defaultdict(list)
    for r in records:
        grouped[key(r)].append(r)
    draft_counts = Counter(key(d) for d in drafts)
    result = []
    for group in sorted(set(grouped) | set(draft_counts)):
        labels = dict(zip(by, group, strict=True))
        result.append(
            group_metrics(
                grouped.get(group, []),
                draft_counts.get(group, 0),
                model_version=labels.get("model_version", ALL),
                client=labels.get("client", ALL),
                week=labels.get("week", ALL),
            )
        )
    return result


def version_order(records: Iterable[FeedbackRecord]) -> list[str]:
    """Versions in the order they first appear in time (earliest annotation first)."""
    first: dict[str, str] = {}
    for r in records:
        name = version_of(r)
        stamp = r.created_at or ""
        if name not in first or stamp < first[name]:
            first[name] = stamp
    return sorted(first, key=lambda name: (first[name], name))


def week_span(weeks: Iterable[str]) -> list[str]:
    """Every Monday from the first to the last known week, so charts show gaps as gaps.

    >>> week_span(["2025-03-17", "2025-03-03", "(unknown)"])
    ['2025-03-03', '2025-03-10', '2025-03-17']
    """
    known = sorted(w for w in weeks if w != UNKNOWN_VERSION)
    if not known:
        return []
    day, last = date.fromisoformat(known[0]), date.fromisoformat(known[-1])
    span = []
    while day <= last:
        span.append(day.isoformat())
        day += timedelta(days=7)
    return span
