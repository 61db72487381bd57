"""Scoring and the verdict of `redraft eval` (pure): edit distance, accept-as-is, intervals.

The sent email was edited from the active version's draft, so comparing drafts with it
favours the active version. The gate therefore refuses only a candidate that is *clearly*
worse: one whose paired difference in normalised edit distance has a 95% interval lying
entirely above `margin` (default 0.05: five points more of each email rewritten).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from redraft.editdistance import normalise_whitespace, normalised_edit_distance
from redraft.report.stats import Estimate, mean_interval, wilson_interval

DEFAULT_MARGIN = 0.05
FAILED_COST = 1.0  # a version that cannot draft a brief leaves the writer everything to write


@dataclass(frozen=True)
class EvalItem:
    """One pinned evaluation brief: its task data and the email the writers sent."""

    task_id: int
    client: str
    data: Mapping[str, Any]
    final: str


@dataclass(frozen=True)
class Outcome:
    """What the writer would do with one version's draft of one brief."""

    draft: str | None
    cost: float  # normalised edit distance from the draft to the writer's final, 0..1
    accepted: bool  # the writer would send it as is


# (item, draft) -> the final the writer would send from that draft.
FinalFor = Callable[[EvalItem, str], str]


def sent_final(item: EvalItem, draft: str) -> str:
    """The proxy: the email the writers actually sent, whatever the draft."""
    return item.final


def outcome(item: EvalItem, draft: str | None, final_for: FinalFor = sent_final) -> Outcome:
    """Score one draft against the final the writer would send.

    >>> item = EvalItem(1, "Acme", {}, "Hi Ann, see you Monday.")
    >>> outcome(item, "Hi Ann, see you Monday.")
    Outcome(draft='Hi Ann, see you Monday.', cost=0.0, accepted=True)
    >>> outcome(item, None)
    Outcome(draft=None, cost=1.0, accepted=False)
    """
    if draft is None:
        return Outcome(None, FAILED_COST, False)
    final = final_for(item, draft)
    same = normalise_whitespace(draft) == normalise_whitespace(final)
    return Outcome(draft, normalised_edit_distance(draft, final), same)


@dataclass(frozen=True)
class Comparison:
    """Two versions on the same briefs: mean cost, accept rate, and their paired difference."""

    label: str
    n: int
    candidate_cost: Estimate
    against_cost: Estimate
    difference: Estimate  # candidate minus against, paired per brief; negative is better
    candidate_accepted: Estimate
    against_accepted: Estimate
    candidate_failed: int = 0
    against_failed: int = 0


def compare(label: str, pairs: Sequence[tuple[Outcome, Outcome]]) -> Comparison:
    """Compare (candidate, against) outcomes brief by brief.

    >>> a, b = Outcome("x", 0.1, False), Outcome("y", 0.3, False)
    >>> c = compare("all", [(a, b), (a, b)])
    >>> c.n, round(c.difference.value, 3), c.candidate_accepted.value
    (2, -0.2, 0.0)
    """
    cand = [c.cost for c, _ in pairs]
    other = [o.cost for _, o in pairs]
    return Comparison(
        label=label,
        n=len(pairs),
        candidate_cost=mean_interval(cand, bounds=(0.0, 1.0)),
        against_cost=mean_interval(other, bounds=(0.0, 1.0)),
        difference=mean_interval([c - o for c, o in zip(cand, other, strict=True)]),
        candidate_accepted=wilson_interval(sum(c.accepted for c, _ in pairs), len(pairs)),
        against_accepted=wilson_interval(sum(o.accepted for _, o in pairs), len(pairs)),
        candidate_failed=sum(c.draft is None for c, _ in pairs),
        against_failed=sum(o.draft is None for _, o in pairs),
    )


@dataclass(frozen=True)
class Verdict:
    """The gate's answer: overall and per-client comparisons, and whether to refuse."""

    candidate: str
    against: str
    overall: Comparison
    clients: list[Comparison] = field(default_factory=list)
    margin: float = DEFAULT_MARGIN
    measure: str = "the emails the writers sent"

    @property
    def clearly_worse(self) -> bool:
        """The whole 95% interval of the paired difference lies above the margin."""
        low = self.overall.difference.low
        return low is not None and low > self.margin

    @property
    def passed(self) -> bool:
        return not self.clearly_worse


def judge(
    candidate: str,
    against: str,
    items: Sequence[EvalItem],
    pairs: Sequence[tuple[Outcome, Outcome]],
    margin: float = DEFAULT_MARGIN,
    measure: str = "the emails the writers sent",
) -> Verdict:
    """The verdict over all items and per client."""
    by_client: dict[str, list[tuple[Outcome, Outcome]]] = {}
    for item, pair in zip(items, pairs, strict=True):
        by_client.setdefault(item.client or "(no client)", []).append(pair)
    clients = [compare(name, rows) for name, rows in sorted(by_client.items())]
    return Verdict(candidate, against, compare("all", pairs), clients, margin, measure)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _interval(e: Estimate) -> str:
    if e.low is None or e.high is None:
        return ""
    return f" (95% CI {100 * e.low:+.1f} to {100 * e.high:+.1f} points)"


def describe(verdict: Verdict) -> list[str]:
    """The verdict in plain words, one line per figure.

    >>> a, b = Outcome("x", 0.1, True), Outcome("y", 0.3, False)
    >>> v = judge("v2", "v1", [EvalItem(1, "A", {}, "f"), EvalItem(2, "A", {}, "f")],
    ...           [(a, b), (a, b)])
    >>> describe(v)[-1]
    'verdict: v2 passes the gate — it is closer to what the writers send than v1 (margin 5 points)'
    """
    c = verdict.overall
    lines = [
        f"{c.n} pinned evaluation briefs; drafts compared with {verdict.measure}",
        f"  edit distance  {verdict.candidate}: {_pct(c.candidate_cost.value)}   "
        f"{verdict.against}: {_pct(c.against_cost.value)}   difference "
        f"{100 * (c.difference.value or 0):+.1f} points{_interval(c.difference)}",
        f"  accepted as is {verdict.candidate}: {_pct(c.candidate_accepted.value)}   "
        f"{verdict.against}: {_pct(c.against_accepted.value)}",
    ]
    if c.candidate_failed or c.against_failed:
        lines.append(
            f"  no draft: {verdict.candidate} {c.candidate_failed}, {verdict.against} "
            f"{c.against_failed} (each counted as fully rewritten)"
        )
    for client in verdict.clients:
        lines.append(
            f"  {client.label} ({client.n}): {_pct(client.candidate_cost.value)} vs "
            f"{_pct(client.against_cost.value)}, difference "
            f"{100 * (client.difference.value or 0):+.1f} points{_interval(client.difference)}"
        )
    better = c.difference.high is not None and c.difference.high < 0
    if verdict.clearly_worse:
        lines.append(
            f"verdict: {verdict.candidate} is clearly worse than {verdict.against} — its drafts "
            f"need more editing by more than {100 * verdict.margin:.0f} points with 95% "
            "confidence; promote refuses it (--force overrides)"
        )
    else:
        lines.append(
            f"verdict: {verdict.candidate} passes the gate — it is "
            + ("closer to what the writers send than" if better else "not clearly worse than")
            + f" {verdict.against} (margin {100 * verdict.margin:.0f} points)"
        )
    return lines
