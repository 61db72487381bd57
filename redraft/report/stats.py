"""Small, exact statistics the report stands on: t-intervals, Wilson intervals, medians.

Intervals are 95% by default. A mean's interval is Student's t-interval (not a bootstrap), so
its figures can be checked by hand with a t-table; a proportion's is the Wilson score interval,
which stays inside [0, 1] and behaves at 0% and 100%.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass

from scipy import stats

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Estimate:
    """A figure with its interval; `low`/`high` are None where n is too small for one."""

    value: float | None
    low: float | None
    high: float | None
    n: int

    def as_row(self, prefix: str) -> dict[str, float | int | None]:
        """Flatten into CSV columns named after `prefix`.

        >>> Estimate(0.5, 0.2, 0.8, 10).as_row("rate")
        {'rate': 0.5, 'rate_low': 0.2, 'rate_high': 0.8, 'rate_n': 10}
        """
        return {
            prefix: self.value,
            f"{prefix}_low": self.low,
            f"{prefix}_high": self.high,
            f"{prefix}_n": self.n,
        }


def z_critical(confidence: float = CONFIDENCE) -> float:
    """Two-sided normal critical value (1.959964 for 95%)."""
    return float(stats.norm.ppf(0.5 + confidence / 2))


def t_critical(df: float, confidence: float = CONFIDENCE) -> float:
    """Two-sided Student t critical value for `df` degrees of freedom."""
    return float(stats.t.ppf(0.5 + confidence / 2, df))


def mean_interval(
    values: Sequence[float],
    confidence: float = CONFIDENCE,
    bounds: tuple[float, float] | None = None,
) -> Estimate:
    """Mean with Student's t-interval, clipped to `bounds`; no interval below two values.

    >>> e = mean_interval([3, 4, 5])
    >>> round(e.value, 3), round(e.low, 3), round(e.high, 3), e.n
    (4.0, 1.516, 6.484, 3)
    """
    n = len(values)
    if n == 0:
        return Estimate(None, None, None, 0)
    mean = math.fsum(values) / n
    if n == 1:
        return Estimate(mean, None, None, 1)
    variance = math.fsum((v - mean) ** 2 for v in values) / (n - 1)
    half = t_critical(n - 1, confidence) * math.sqrt(variance / n)
    low, high = mean - half, mean + half
    if bounds is not None:
        low, high = max(bounds[0], low), min(bounds[1], high)
    return Estimate(mean, low, high, n)


def wilson_interval(successes: float, n: int, confidence: float = CONFIDENCE) -> Estimate:
    """Proportion with its Wilson score interval (`successes` may be a sum of task shares).

    >>> e = wilson_interval(8, 10)
    >>> round(e.value, 3), round(e.low, 4), round(e.high, 4)
    (0.8, 0.4902, 0.9433)
    """
    if n == 0:
        return Estimate(None, None, None, 0)
    p = successes / n
    z = z_critical(confidence)
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return Estimate(p, max(0.0, centre - half), min(1.0, centre + half), n)


def median(values: Sequence[float]) -> float | None:
    """Median, or None for no values.

    >>> median([4, 1, 3, 2])
    2.5
    """
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return float(ordered[mid])
    return (ordered[mid - 1] + ordered[mid]) / 2


def unit_means(values: Iterable[tuple[Hashable, float]]) -> list[float]:
    """One mean per unit (a task) from (unit, value) pairs, in first-seen order.

    Several annotations of one task are not independent observations; tests and intervals
    that compare versions use one value per task instead.

    >>> unit_means([(1, 4.0), (2, 3.0), (1, 2.0)])
    [3.0, 3.0]
    """
    grouped: dict[Hashable, list[float]] = defaultdict(list)
    for unit, value in values:
        grouped[unit].append(float(value))
    # Shifted by the first value, so a task whose annotations agree keeps that exact value.
    return [v[0] + math.fsum(x - v[0] for x in v) / len(v) for v in grouped.values()]


def format_p(p: float | None) -> str:
    """p-value as people read it: `p<0.001`, else two significant figures.

    >>> format_p(0.00002), format_p(0.0437), format_p(0.5)
    ('p<0.001', 'p=0.044', 'p=0.50')
    """
    if p is None:
        return "p=n/a"
    if p < 0.001:
        return "p<0.001"
    return f"p={p:.2g}" if p < 0.01 else f"p={p:.2f}" if p >= 0.1 else f"p={p:.3f}"
