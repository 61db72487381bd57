"""Is the draft confidence score any good? Per model version (pure).

- rank correlation: Spearman's rho between each draft's score and how little the writers
  changed it (1 - edit distance), so +1 means the score orders the drafts exactly as the
  writers' edits do; 95% interval by Fisher's z with Fieller's standard error
  sqrt(1.06 / (n - 3)) (an interval needs 4 tasks);
- precision at a threshold: of the drafts scored at or above it, the share sent as is (Wilson
  interval), and the coverage: how many drafts the threshold picks, and their share.

The unit is the task, as everywhere in the report: a task's annotations are averaged first.
Drafts without a score (imported history, drafts from before scores) and machine-written
finals are left out.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from redraft.editdistance import normalised_edit_distance
from redraft.exporters.records import FeedbackRecord
from redraft.report.stats import CONFIDENCE, Estimate, wilson_interval, z_critical

THRESHOLD = 0.7  # the score the drafts' reason calls "likely sent as is"
UNKNOWN = "(unknown)"


@dataclass(frozen=True)
class ScoreCalibration:
    """How well one version's draft scores foretold the writers' edits."""

    model_version: str
    tasks: int  # tasks with a scored draft that a person edited (or sent)
    spearman: Estimate  # rho(score, 1 - edit distance) with its interval
    threshold: float
    covered: int  # tasks whose draft scored >= threshold
    precision: Estimate  # share of those sent as is

    @property
    def coverage(self) -> float | None:
        """Share of the scored tasks the threshold picks."""
        return self.covered / self.tasks if self.tasks else None

    def as_row(self) -> dict[str, object]:
        """One flat CSV row."""
        return {
            "model_version": self.model_version,
            "tasks": self.tasks,
            **self.spearman.as_row("spearman"),
            "threshold": self.threshold,
            "covered": self.covered,
            "coverage": self.coverage,
            **self.precision.as_row("precision"),
        }

    @property
    def sentence(self) -> str:
        """One line for the terminal."""
        rho = self.spearman
        corr = "n/a" if rho.value is None else f"{rho.value:+.2f}"
        if rho.low is not None and rho.high is not None:
            corr += f" ({rho.low:+.2f} to {rho.high:+.2f})"
        prec = "n/a" if self.precision.value is None else f"{self.precision.value:.0%}"
        share = "" if self.coverage is None else f", {self.coverage:.0%}"
        return (
            f"{self.model_version}: score vs edits rank correlation {corr} over {self.tasks} "
            f"tasks; score >= {self.threshold:.2f}: {prec} sent as is "
            f"({self.covered} drafts{share})"
        )


def spearman_interval(
    scores: list[float], kept: list[float], confidence: float = CONFIDENCE
) -> Estimate:
    """Spearman's rho with a Fisher-z interval (Fieller's standard error); no value when
    either list is constant or shorter than 2, no interval below 4 pairs.

    >>> e = spearman_interval([0.9, 0.8, 0.5, 0.3, 0.2], [1.0, 0.9, 0.7, 0.75, 0.1])
    >>> round(e.value, 3), round(e.low, 3), round(e.high, 3), e.n
    (0.9, 0.045, 0.994, 5)
    >>> spearman_interval([0.5, 0.5], [0.1, 0.2]).value is None
    True
    """
    n = len(scores)
    if n < 2 or len(set(scores)) < 2 or len(set(kept)) < 2:
        return Estimate(None, None, None, n)
    from scipy import stats

    rho = float(stats.spearmanr(scores, kept).statistic)
    if n < 4:
        return Estimate(rho, None, None, n)
    clipped = max(-0.999999, min(0.999999, rho))
    half = z_critical(confidence) * math.sqrt(1.06 / (n - 3))
    z = math.atanh(clipped)
    return Estimate(rho, math.tanh(z - half), math.tanh(z + half), n)


def score_calibration(
    records: Iterable[FeedbackRecord], threshold: float = THRESHOLD
) -> list[ScoreCalibration]:
    """Per model version: rank correlation of score and edits, precision and coverage at
    `threshold`; versions without scored drafts are left out, first-seen order.

    >>> from redraft.exporters.records import FeedbackRecord as R
    >>> rs = [R(i, i, [], "Hi" if i < 3 else "Rewritten", draft="Hi", model_version="v1",
    ...         draft_score=s) for i, s in enumerate([0.9, 0.8, 0.75, 0.3, 0.2])]
    >>> c, = score_calibration(rs)
    >>> c.tasks, round(c.spearman.value, 3), c.covered, c.precision.value
    (5, 0.866, 3, 1.0)
    """
    per_task: dict[str, dict[int, list[tuple[float, float, bool]]]] = defaultdict(dict)
    for r in records:
        if r.draft is None or r.draft_score is None or r.machine_written:
            continue
        version = r.model_version or UNKNOWN
        distance = normalised_edit_distance(r.draft, r.final)
        per_task[version].setdefault(r.task_id, []).append(
            (r.draft_score, distance, r.accepted_as_is)
        )
    out = []
    for version, tasks in per_task.items():
        scores, kept, accepted = [], [], []
        for values in tasks.values():
            scores.append(values[0][0])
            kept.append(1.0 - math.fsum(d for _, d, _ in values) / len(values))
            accepted.append(sum(a for _, _, a in values) / len(values))
        above = [a for s, a in zip(scores, accepted, strict=True) if s >= threshold]
        out.append(
            ScoreCalibration(
                version,
                len(scores),
                spearman_interval(scores, kept),
                threshold,
                len(above),
                wilson_interval(math.fsum(above), len(above)),
            )
        )
    return out
