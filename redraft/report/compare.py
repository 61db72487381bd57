"""Comparing two model versions: each difference with a 95% interval, a test, and a sentence.

- rating: difference of means (B - A), Welch t-interval and Welch's t-test;
- accepted as is: difference of proportions (B - A), Newcombe's hybrid score interval
  (built from the two Wilson intervals) and the pooled two-proportion z-test;
- edit distance: relative change of the mean (B / A - 1), percentile bootstrap interval with a
  fixed seed, and a two-sided permutation test with the same seed.
The unit is the task, not the annotation: several annotations of one draft are not independent,
so each task's annotations are averaged into one value per version first (its mean rating, its
share accepted as is, its mean edit distance), and every n below counts tasks.
A difference is called significant when p < 0.05. Fewer than 30 tasks per side draws a warning.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from redraft.exporters.records import FeedbackRecord
from redraft.report.metrics import task_accepted, task_distances, task_ratings, version_of
from redraft.report.stats import CONFIDENCE, format_p, t_critical, wilson_interval

ALPHA = 0.05
SMALL_N = 30
RESAMPLES = 10_000


@dataclass(frozen=True)
class Difference:
    """One compared figure: B's estimate relative to A's, with interval, p-value and sentence."""

    metric: str
    a: str
    b: str
    n_a: int
    n_b: int
    sentence: str
    value_a: float | None = None
    value_b: float | None = None
    estimate: float | None = None
    low: float | None = None
    high: float | None = None
    p_value: float | None = None

    @property
    def warning(self) -> str | None:
        """A caution when either side is too small to call a result."""
        if min(self.n_a, self.n_b) < SMALL_N:
            return f"small samples (n={self.n_a} vs {self.n_b}): treat this as a hint, not a result"
        return None

    @property
    def significant(self) -> bool:
        """True when the test rejects 'no difference' at the 5% level."""
        return self.p_value is not None and self.p_value < ALPHA

    def as_row(self) -> dict[str, object]:
        """One CSV row."""
        return {
            "metric": self.metric,
            "a": self.a,
            "b": self.b,
            "n_a": self.n_a,
            "n_b": self.n_b,
            "value_a": self.value_a,
            "value_b": self.value_b,
            "estimate": self.estimate,
            "low": self.low,
            "high": self.high,
            "p_value": self.p_value,
            "significant": self.significant,
            "sentence": self.sentence,
            "warning": self.warning or "",
        }


def compare_versions(
    records: Sequence[FeedbackRecord], a: str, b: str, seed: int = 0, resamples: int = RESAMPLES
) -> list[Difference]:
    """Compare version `b` against version `a` on rating, accepted-as-is and edit distance.

    Each task is one observation: its annotations are averaged first (see the module notes).
    """
    rec_a = [r for r in records if version_of(r) == a]
    rec_b = [r for r in records if version_of(r) == b]
    ratings_a, ratings_b = task_ratings(rec_a), task_ratings(rec_b)
    dist_a, dist_b = task_distances(rec_a), task_distances(rec_b)
    acc_a, acc_b = task_accepted(rec_a), task_accepted(rec_b)
    return [
        compare_ratings(ratings_a, ratings_b, a, b),
        compare_proportions(math.fsum(acc_a), len(acc_a), math.fsum(acc_b), len(acc_b), a, b),
        compare_edit_distance(dist_a, dist_b, a, b, seed=seed, resamples=resamples),
    ]


def _missing(metric: str, a: str, b: str, n_a: int, n_b: int, what: str) -> Difference:
    sentence = f"{what}: not enough data to compare {b} with {a} (n={n_a} vs {n_b})"
    return Difference(metric, a, b, n_a, n_b, sentence)


def compare_ratings(
    ratings_a: Sequence[float], ratings_b: Sequence[float], a: str, b: str
) -> Difference:
    """Mean rating difference B - A with Welch's interval and t-test."""
    n_a, n_b = len(ratings_a), len(ratings_b)
    if n_a < 2 or n_b < 2:
        return _missing("rating", a, b, n_a, n_b, "rating")
    mean_a, mean_b = float(np.mean(ratings_a)), float(np.mean(ratings_b))
    var_a, var_b = float(np.var(ratings_a, ddof=1)), float(np.var(ratings_b, ddof=1))
    diff = mean_b - mean_a
    se2 = var_a / n_a + var_b / n_b
    if se2 == 0:
        low = high = diff
        p = 1.0 if diff == 0 else 0.0
    else:
        df = se2**2 / ((var_a / n_a) ** 2 / (n_a - 1) + (var_b / n_b) ** 2 / (n_b - 1))
        se = math.sqrt(se2)
        half = t_critical(df) * se
        low, high = diff - half, diff + half
        p = float(2 * stats.t.sf(abs(diff) / se, df))
    tail = f"n={n_a} vs {n_b}; {format_p(p)}"
    if p < ALPHA:
        word = "higher" if diff > 0 else "lower"
        sentence = (
            f"{b} drafts were rated {abs(diff):.2f} points {word} than {a} "
            f"({mean_b:.2f} vs {mean_a:.2f} of 5; 95% CI {_signed(low)} to {_signed(high)}; "
            f"{tail})"
        )
    else:
        sentence = (
            f"no significant difference in rating between {b} and {a} "
            f"({mean_b:.2f} vs {mean_a:.2f} of 5; difference {_signed(diff)}, "
            f"95% CI {_signed(low)} to {_signed(high)}; {tail})"
        )
    return Difference(
        "rating",
        a,
        b,
        n_a,
        n_b,
        sentence,
        value_a=mean_a,
        value_b=mean_b,
        estimate=diff,
        low=low,
        high=high,
        p_value=p,
    )


def newcombe_interval(
    x_a: float, n_a: int, x_b: float, n_b: int, confidence: float = CONFIDENCE
) -> tuple[float, float]:
    """Interval for p_b - p_a by Newcombe's hybrid score method (from two Wilson intervals).

    >>> tuple(round(v, 4) for v in newcombe_interval(5, 10, 8, 10))
    (-0.1067, 0.5999)
    """
    wa, wb = wilson_interval(x_a, n_a, confidence), wilson_interval(x_b, n_b, confidence)
    assert wa.low is not None and wa.high is not None and wb.low is not None
    assert wb.high is not None and wa.value is not None and wb.value is not None
    diff = wb.value - wa.value
    low = diff - math.sqrt((wb.value - wb.low) ** 2 + (wa.high - wa.value) ** 2)
    high = diff + math.sqrt((wb.high - wb.value) ** 2 + (wa.value - wa.low) ** 2)
    return low, high


def compare_proportions(x_a: float, n_a: int, x_b: float, n_b: int, a: str, b: str) -> Difference:
    """Accepted-as-is rate difference B - A (percentage points), Newcombe interval, z-test.

    `x` may be fractional: the sum of per-task shares when a task has several annotations.
    """
    if n_a == 0 or n_b == 0:
        return _missing("accepted", a, b, n_a, n_b, "accepted as is")
    p_a, p_b = x_a / n_a, x_b / n_b
    diff = p_b - p_a
    low, high = newcombe_interval(x_a, n_a, x_b, n_b)
    pooled = (x_a + x_b) / (n_a + n_b)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    p = 1.0 if se == 0 else float(2 * stats.norm.sf(abs(diff) / se))
    tail = f"n={n_a} vs {n_b}; {format_p(p)}"
    points = f"{_pp(low)} to {_pp(high)} points"
    if p < ALPHA:
        word = "more" if diff > 0 else "less"
        sentence = (
            f"{b} drafts were accepted as is {abs(diff) * 100:.0f} points {word} often than {a} "
            f"({p_b:.0%} vs {p_a:.0%}; 95% CI {points}; {tail})"
        )
    else:
        sentence = (
            f"no significant difference in accepted-as-is rate between {b} and {a} "
            f"({p_b:.0%} vs {p_a:.0%}; 95% CI {points}; {tail})"
        )
    return Difference(
        "accepted",
        a,
        b,
        n_a,
        n_b,
        sentence,
        value_a=p_a,
        value_b=p_b,
        estimate=diff,
        low=low,
        high=high,
        p_value=p,
    )


def compare_edit_distance(
    dist_a: Sequence[float],
    dist_b: Sequence[float],
    a: str,
    b: str,
    seed: int = 0,
    resamples: int = RESAMPLES,
) -> Difference:
    """Relative change of mean edit distance (B / A - 1): bootstrap interval, permutation test."""
    n_a, n_b = len(dist_a), len(dist_b)
    if n_a < 2 or n_b < 2:
        return _missing("edit_distance", a, b, n_a, n_b, "edit distance")
    xa, xb = np.asarray(dist_a, dtype=float), np.asarray(dist_b, dtype=float)
    mean_a, mean_b = float(xa.mean()), float(xb.mean())
    tail_n = f"n={n_a} vs {n_b}"
    if mean_a == 0:
        sentence = f"edit distance: every {a} draft was sent unchanged, so no relative change"
        return Difference("edit_distance", a, b, n_a, n_b, sentence, value_a=mean_a, value_b=mean_b)
    rng = np.random.default_rng(seed)
    ratios = np.empty(resamples)
    chunk = max(1, 2_000_000 // max(n_a, n_b))
    for start in range(0, resamples, chunk):
        size = min(chunk, resamples - start)
        boot_a = xa[rng.integers(0, n_a, (size, n_a))].mean(axis=1)
        boot_b = xb[rng.integers(0, n_b, (size, n_b))].mean(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratios[start : start + size] = boot_b / boot_a - 1
    finite = ratios[np.isfinite(ratios)]
    low, high = (float(v) for v in np.percentile(finite, [2.5, 97.5]))
    p = permutation_p(xa, xb, rng, resamples)
    change = mean_b / mean_a - 1
    means = f"mean normalised edit distance {mean_b:.3f} vs {mean_a:.3f}"
    tail = f"{tail_n}; {format_p(p)}"
    if p < ALPHA:
        word = "fewer" if change < 0 else "more"
        # Print the interval as magnitudes in the same direction as the headline when it can.
        lo, hi = (-high, -low) if change < 0 else (low, high)
        sentence = (
            f"{b} drafts needed {abs(change):.0%} {word} edits than {a} "
            f"({means}; 95% CI {lo:.0%} to {hi:.0%} {word}; {tail})"
        )
    else:
        sentence = (
            f"no significant difference in edits between {b} and {a} "
            f"({means}; change {_percent(change)}, 95% CI {_percent(low)} to {_percent(high)}; "
            f"{tail})"
        )
    return Difference(
        "edit_distance",
        a,
        b,
        n_a,
        n_b,
        sentence,
        value_a=mean_a,
        value_b=mean_b,
        estimate=change,
        low=low,
        high=high,
        p_value=p,
    )


def permutation_p(
    xa: np.ndarray, xb: np.ndarray, rng: np.random.Generator, resamples: int = RESAMPLES
) -> float:
    """Two-sided permutation test p-value for a difference of means ((hits + 1) / (R + 1))."""
    pooled = np.concatenate([xa, xb])
    n_a = len(xa)
    observed = abs(xb.mean() - xa.mean())
    hits = 0
    chunk = max(1, 2_000_000 // len(pooled))
    for start in range(0, resamples, chunk):
        size = min(chunk, resamples - start)
        order = rng.permuted(np.broadcast_to(pooled, (size, len(pooled))), axis=1)
        diffs = np.abs(order[:, n_a:].mean(axis=1) - order[:, :n_a].mean(axis=1))
        hits += int(np.count_nonzero(diffs >= observed - 1e-12))
    return (hits + 1) / (resamples + 1)


def _signed(value: float) -> str:
    return f"{value:+.2f}"


def _pp(value: float) -> str:
    return f"{value * 100:+.0f}"


def _percent(share: float) -> str:
    """A signed whole percentage with no negative zero.

    >>> _percent(-0.004), _percent(0.123), _percent(-0.2)
    ('0%', '+12%', '-20%')
    """
    rounded = round(share * 100)
    return "0%" if rounded == 0 else f"{rounded:+d}%"
