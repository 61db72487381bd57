"""Scoring and the verdict of `redraft eval` (pure): edit distance, accept-as-is, intervals.

The gate passes only what it can judge, in this order:

1. **Faulty drafts fail outright.** A candidate whose draft of some brief is empty, cut off,
   off-brief or missing (`faults.draft_fault`) where the other version's is not is refused,
   whatever the figures say.
2. **Too few briefs: no verdict.** On fewer than `MIN_EVAL_BRIEFS` briefs the interval says
   nothing (on 2 briefs a candidate that writes nothing at all is "not clearly worse"), so the
   gate refuses and says how many it has and needs.
3. **Clearly worse fails.** The sent email was edited from the active version's draft, so
   comparing drafts with it favours the active version. The gate therefore refuses only a
   candidate that is *clearly* worse: one whose paired difference in normalised edit distance
   has a 95% interval lying entirely above `margin` (default 0.05: five points more of each
   email rewritten).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from redraft.editdistance import normalise_whitespace, normalised_edit_distance
from redraft.evaluation.faults import draft_fault
from redraft.report.stats import Estimate, mean_interval, wilson_interval

DEFAULT_MARGIN = 0.05
# The fewest briefs the gate judges on: with 10 paired briefs the 95% interval is about
# ±2.3 standard deviations of the difference over √10 (±7 to ±14 points for typical edits).
MIN_EVAL_BRIEFS = 10
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
    fault: str | None = None  # why the draft fails the gate outright (`faults.draft_fault`)


# (item, draft) -> the final the writer would send from that draft.
FinalFor = Callable[[EvalItem, str], str]


def sent_final(item: EvalItem, draft: str) -> str:
    """The proxy: the email the writers actually sent, whatever the draft."""
    return item.final


def outcome(
    item: EvalItem,
    draft: str | None,
    final_for: FinalFor = sent_final,
    error: str | None = None,
    error_kind: str | None = None,
    truncated: bool = False,
) -> Outcome:
    """Score one draft against the final the writer would send; `error` and `error_kind`
    say why there is no draft, `truncated` that it stopped at max_tokens (the drafter's
    outcome).

    >>> item = EvalItem(1, "Acme", {}, "Hi Ann, see you Monday.")
    >>> outcome(item, "Hi Ann, see you Monday.")
    Outcome(draft='Hi Ann, see you Monday.', cost=0.0, accepted=True, fault=None)
    >>> outcome(item, None, error="the model returned an empty answer", error_kind="empty")
    Outcome(draft=None, cost=1.0, accepted=False, fault='empty')
    """
    fault = draft_fault(draft, item.data, item.final, error, error_kind, truncated)
    if draft is None:
        return Outcome(None, FAILED_COST, False, fault)
    final = final_for(item, draft)
    same = normalise_whitespace(draft) == normalise_whitespace(final)
    return Outcome(draft, normalised_edit_distance(draft, final), same, fault)


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
    candidate_faulty: int = 0  # empty, cut off, off-brief or missing drafts
    against_faulty: int = 0


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
        candidate_faulty=sum(c.fault is not None for c, _ in pairs),
        against_faulty=sum(o.fault is not None for _, o in pairs),
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
    # (task id, fault) where the candidate's draft is faulty and the other version's is not.
    faults: list[tuple[int, str]] = field(default_factory=list)
    minimum: int = MIN_EVAL_BRIEFS

    @property
    def clearly_worse(self) -> bool:
        """The whole 95% interval of the paired difference lies above the margin."""
        low = self.overall.difference.low
        return low is not None and low > self.margin

    @property
    def too_few(self) -> bool:
        """Fewer briefs than the gate needs to judge."""
        return self.overall.n < self.minimum

    @property
    def state(self) -> str:
        """ "faulty", "too few", "clearly worse" or "passed", checked in that order."""
        if self.faults:
            return "faulty"
        if self.too_few:
            return "too few"
        return "clearly worse" if self.clearly_worse else "passed"

    @property
    def passed(self) -> bool:
        return self.state == "passed"

    def refusal(self) -> str | None:
        """Why the gate refuses the candidate, in one line; None when it passes."""
        name, n = self.candidate, self.overall.n
        if self.state == "faulty":
            return (
                f"{faulty_summary(self.faults)} where {self.against}'s are not, so {name} fails "
                "the gate outright"
            )
        if self.state == "too few":
            return (
                f"the gate cannot judge {name} on {briefs(n)}: it needs {self.minimum} for a "
                "verdict"
            )
        if self.state == "clearly worse":
            return f"{name} is clearly worse than {self.against} on the evaluation briefs"
        return None


def briefs(n: int) -> str:
    """ "1 brief", "2 briefs"."""
    return f"{n} brief{'' if n == 1 else 's'}"


def faulty_summary(faults: Sequence[tuple[int, str]]) -> str:
    """The candidate's faulty drafts in a few words, with the first one.

    >>> faulty_summary([(4, "empty"), (9, "cut off"), (15, "empty")])
    '3 of its drafts are faulty (2 empty, 1 cut off; first: task 4, empty)'
    """
    kinds: dict[str, int] = {}
    for _, fault in faults:
        kind = fault.split(":")[0]
        kinds[kind] = kinds.get(kind, 0) + 1
    counts = ", ".join(f"{n} {kind}" for kind, n in kinds.items())
    drafts = "1 of its drafts is" if len(faults) == 1 else f"{len(faults)} of its drafts are"
    task, fault = faults[0]
    return f"{drafts} faulty ({counts}; first: task {task}, {fault})"


def judge(
    candidate: str,
    against: str,
    items: Sequence[EvalItem],
    pairs: Sequence[tuple[Outcome, Outcome]],
    margin: float = DEFAULT_MARGIN,
    measure: str = "the emails the writers sent",
    minimum: int = MIN_EVAL_BRIEFS,
) -> Verdict:
    """The verdict over all items and per client."""
    by_client: dict[str, list[tuple[Outcome, Outcome]]] = {}
    for item, pair in zip(items, pairs, strict=True):
        by_client.setdefault(item.client or "(no client)", []).append(pair)
    clients = [compare(name, rows) for name, rows in sorted(by_client.items())]
    faults = [
        (item.task_id, ours.fault)
        for item, (ours, theirs) in zip(items, pairs, strict=True)
        if ours.fault is not None and theirs.fault is None
    ]
    overall = compare("all", pairs)
    return Verdict(candidate, against, overall, clients, margin, measure, faults, minimum)


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
    ...           [(a, b), (a, b)], minimum=2)
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
    if c.candidate_faulty or c.against_faulty:
        lines.append(
            f"  faulty drafts (empty, cut off, off-brief, none): {verdict.candidate} "
            f"{c.candidate_faulty}, {verdict.against} {c.against_faulty}"
        )
    for client in verdict.clients:
        lines.append(
            f"  {client.label} ({client.n}): {_pct(client.candidate_cost.value)} vs "
            f"{_pct(client.against_cost.value)}, difference "
            f"{100 * (client.difference.value or 0):+.1f} points{_interval(client.difference)}"
        )
    refuses = "promote refuses it (--force overrides)"
    better = c.difference.high is not None and c.difference.high < 0
    if verdict.state == "faulty":
        lines.append(
            f"verdict: {verdict.candidate} fails the gate — {faulty_summary(verdict.faults)} "
            f"where {verdict.against}'s are not; {refuses}"
        )
    elif verdict.state == "too few":
        lines.append(
            f"verdict: none — the gate needs {verdict.minimum} briefs to judge "
            f"{verdict.candidate} and has {c.n}; {refuses}"
        )
    elif verdict.state == "clearly worse":
        lines.append(
            f"verdict: {verdict.candidate} is clearly worse than {verdict.against} — its drafts "
            f"need more editing by more than {100 * verdict.margin:.0f} points with 95% "
            f"confidence; {refuses}"
        )
    else:
        lines.append(
            f"verdict: {verdict.candidate} passes the gate — it is "
            + ("closer to what the writers send than" if better else "not clearly worse than")
            + f" {verdict.against} (margin {100 * verdict.margin:.0f} points)"
        )
    return lines
