"""Agreement: between annotators who rated the same task, and between a judge model and people.

- Krippendorff's alpha (ordinal or interval) over ratings, from the coincidence matrix;
- exact agreement on accepted-as-is over every pair of annotations on the same task;
- quadratic-weighted Cohen's kappa, exact-match rate, mean absolute difference and Spearman's
  rho for two aligned series (judge vs human).
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats

from redraft.exporters.records import FeedbackRecord

Level = Literal["nominal", "ordinal", "interval"]


def krippendorff_alpha(units: Iterable[Sequence[float]], level: Level = "ordinal") -> float | None:
    """Krippendorff's alpha for units rated by several coders; None when it is undefined.

    Units with fewer than two values carry no pairs and are left out.

    >>> round(krippendorff_alpha([[1, 1], [2, 2], [3, 3], [3, 4]], "interval"), 4)
    0.8889
    """
    pairable = [list(u) for u in units if len(u) >= 2]
    if not pairable:
        return None
    values = sorted({v for u in pairable for v in u})
    index = {v: i for i, v in enumerate(values)}
    k = len(values)
    coincidence = np.zeros((k, k))
    for unit in pairable:
        weight = 1.0 / (len(unit) - 1)
        for x, y in itertools.permutations(unit, 2):
            coincidence[index[x], index[y]] += weight
    marginals = coincidence.sum(axis=1)
    total = marginals.sum()
    delta = _distance_matrix(values, marginals, level)
    observed = float((coincidence * delta).sum())
    expected = float((np.outer(marginals, marginals) * delta).sum()) / (total - 1)
    if expected == 0:
        return None
    return float(1.0 - observed / expected)


def _distance_matrix(values: list[float], marginals: np.ndarray, level: Level) -> np.ndarray:
    k = len(values)
    delta = np.zeros((k, k))
    for c, d in itertools.product(range(k), repeat=2):
        if c == d:
            continue
        if level == "nominal":
            delta[c, d] = 1.0
        elif level == "interval":
            delta[c, d] = (values[c] - values[d]) ** 2
        else:
            lo, hi = min(c, d), max(c, d)
            delta[c, d] = (marginals[lo : hi + 1].sum() - (marginals[c] + marginals[d]) / 2) ** 2
    return delta


def weighted_kappa(a: Sequence[int], b: Sequence[int], categories: Sequence[int]) -> float | None:
    """Cohen's kappa with quadratic weights for two aligned series over ordered categories.

    >>> round(weighted_kappa([1, 2, 3, 4], [1, 2, 4, 4], [1, 2, 3, 4]), 4)
    0.9167
    """
    if len(a) != len(b):
        raise ValueError("weighted_kappa needs two series of the same length")
    if not a:
        return None
    index = {c: i for i, c in enumerate(categories)}
    k = len(categories)
    observed = np.zeros((k, k))
    for x, y in zip(a, b, strict=True):
        observed[index[x], index[y]] += 1
    observed /= len(a)
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0))
    i, j = np.indices((k, k))
    weights = (i - j) ** 2 / (k - 1) ** 2
    denominator = float((weights * expected).sum())
    if denominator == 0:
        return None
    return 1.0 - float((weights * observed).sum()) / denominator


@dataclass(frozen=True)
class AnnotatorAgreement:
    """How far annotators agree on tasks that carry several completed annotations."""

    tasks: int
    annotations: int
    pairs: int
    alpha_ordinal: float | None
    alpha_interval: float | None
    accept_pairs: int
    accept_agreement: float | None

    def as_row(self) -> dict[str, object]:
        """One CSV row."""
        return dict(self.__dict__)


def annotator_agreement(records: Iterable[FeedbackRecord]) -> AnnotatorAgreement:
    """Alpha on ratings and exact agreement on accepted-as-is, over multiply-annotated tasks."""
    by_task: dict[int, list[FeedbackRecord]] = defaultdict(list)
    for r in records:
        if not r.machine_written:
            by_task[r.task_id].append(r)
    shared = {t: rs for t, rs in by_task.items() if len(rs) >= 2}
    units = [[float(r.rating) for r in rs if r.rating is not None] for rs in shared.values()]
    units = [u for u in units if len(u) >= 2]
    accept_pairs = agree = 0
    for rs in shared.values():
        flags = [r.accepted_as_is for r in rs if r.draft is not None]
        for x, y in itertools.combinations(flags, 2):
            accept_pairs += 1
            agree += x == y
    return AnnotatorAgreement(
        tasks=len(shared),
        annotations=sum(len(rs) for rs in shared.values()),
        pairs=sum(len(u) * (len(u) - 1) // 2 for u in units),
        alpha_ordinal=krippendorff_alpha(units, "ordinal"),
        alpha_interval=krippendorff_alpha(units, "interval"),
        accept_pairs=accept_pairs,
        accept_agreement=agree / accept_pairs if accept_pairs else None,
    )


@dataclass(frozen=True)
class JudgeAgreement:
    """How well a judge model's 1-5 scores match people's ratings of the same drafts."""

    judge: str
    n: int
    exact: float | None
    within_one: float | None
    mean_abs_diff: float | None
    spearman: float | None
    kappa: float | None

    def as_row(self) -> dict[str, object]:
        """One CSV row."""
        return dict(self.__dict__)


def judge_agreement(
    judge: str, scores: Mapping[int, int], records: Iterable[FeedbackRecord]
) -> JudgeAgreement:
    """Compare judge scores (by task id) with human ratings of the same task's draft.

    Where a task has several human ratings, each counts as its own pair.
    """
    pairs = [
        (scores[r.task_id], r.rating)
        for r in records
        if r.task_id in scores and r.rating is not None and not r.machine_written
    ]
    if not pairs:
        return JudgeAgreement(judge, 0, None, None, None, None, None)
    j = np.array([p[0] for p in pairs], dtype=float)
    h = np.array([p[1] for p in pairs], dtype=float)
    diff = np.abs(j - h)
    spearman = None
    if len(pairs) >= 3 and np.ptp(j) > 0 and np.ptp(h) > 0:
        spearman = float(stats.spearmanr(j, h).statistic)
    return JudgeAgreement(
        judge=judge,
        n=len(pairs),
        exact=float(np.mean(diff == 0)),
        within_one=float(np.mean(diff <= 1)),
        mean_abs_diff=float(diff.mean()),
        spearman=None if spearman is None or math.isnan(spearman) else spearman,
        kappa=weighted_kappa([p[0] for p in pairs], [p[1] for p in pairs], range(1, 6)),
    )
