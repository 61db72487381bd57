"""Blind A/B between two model versions (pure): side-by-side tasks, tallies, preference rows.

Each brief is drafted by both versions; a seeded shuffle puts version A on the left for exactly
half of the briefs. The left/right -> version mapping lives in a sidecar file, not in the task
data, so annotators (who can see every data field in Label Studio's data manager) stay blind.

The unit is the task (one brief's pair), not the annotation: several judgments of one pair are
not independent, so each task's judgments are a vote, the side with more votes wins the task,
and equal votes (or only "about the same") make the task a tie. Win rate, interval and sign
test count tasks.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from scipy import stats

from redraft.label_config.results import choices_of
from redraft.report.errors import ABError
from redraft.report.stats import Estimate, format_p, wilson_interval

PREFERENCE = "preference"
LEFT, RIGHT, TIE = "left", "right", "tie"
# Data fields the A/B project adds to a brief; left out again when rebuilding the prompt.
AB_FIELDS = ("left", "right", "pair_id")

AB_LABEL_CONFIG = """<View>
  <Header value="Which email would you rather send? (the two are in random order)" size="4"/>
  <Text name="brief" value="$brief"/>
  <View style="display: grid; grid-template-columns: 1fr 1fr; gap: 16px;">
    <View style="border: 1px solid #ddd; border-radius: 6px; padding: 8px;">
      <Header value="Left" size="5"/>
      <Text name="left" value="$left"/>
    </View>
    <View style="border: 1px solid #ddd; border-radius: 6px; padding: 8px;">
      <Header value="Right" size="5"/>
      <Text name="right" value="$right"/>
    </View>
  </View>
  <Choices name="preference" toName="brief" choice="single" required="true" showInline="true">
    <Choice value="Left is better" alias="left"/>
    <Choice value="Right is better" alias="right"/>
    <Choice value="About the same" alias="tie"/>
  </Choices>
</View>
"""


def assign_sides(pair_ids: Sequence[str], seed: int) -> dict[str, str]:
    """Which version goes left for each pair ("a" or "b"): balanced halves, seeded shuffle.

    >>> assign_sides(["p1", "p2", "p3", "p4"], seed=1)
    {'p1': 'b', 'p2': 'a', 'p3': 'a', 'p4': 'b'}
    """
    sides = ["a" if i % 2 == 0 else "b" for i in range(len(pair_ids))]
    random.Random(seed).shuffle(sides)
    return dict(zip(pair_ids, sides, strict=True))


def build_ab_tasks(
    briefs: Sequence[Mapping[str, Any]],
    drafts_a: Sequence[str],
    drafts_b: Sequence[str],
    version_a: str,
    version_b: str,
    seed: int,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Tasks to import (brief data + left/right drafts + pair_id) and the sidecar mapping.

    >>> tasks, side = build_ab_tasks([{"brief": "B"}], ["from a"], ["from b"], "v1", "v2", 0)
    >>> tasks
    [{'data': {'brief': 'B', 'left': 'from a', 'right': 'from b', 'pair_id': 'ab-0001'}}]
    >>> side["pairs"]
    {'ab-0001': {'left': 'v1', 'right': 'v2'}}
    """
    if not len(briefs) == len(drafts_a) == len(drafts_b):
        raise ABError("every brief needs one draft from each version")
    pair_ids = [f"ab-{i + 1:04d}" for i in range(len(briefs))]
    sides = assign_sides(pair_ids, seed)
    tasks, pairs = [], {}
    for pair_id, brief, draft_a, draft_b in zip(pair_ids, briefs, drafts_a, drafts_b, strict=True):
        a_left = sides[pair_id] == "a"
        data = {k: v for k, v in brief.items() if k not in AB_FIELDS}
        data |= {
            "left": draft_a if a_left else draft_b,
            "right": draft_b if a_left else draft_a,
            "pair_id": pair_id,
        }
        tasks.append({"data": data})
        pairs[pair_id] = {
            "left": version_a if a_left else version_b,
            "right": version_b if a_left else version_a,
        }
    sidecar = {"version_a": version_a, "version_b": version_b, "seed": seed, "pairs": pairs}
    return tasks, sidecar


def preference_of(annotation: Mapping[str, Any]) -> str | None:
    """left / right / tie from one annotation's result; None when cancelled or missing.

    >>> preference_of({"result": [{"from_name": "preference", "value": {"choices": ["right"]}}]})
    'right'
    """
    if annotation.get("was_cancelled"):
        return None
    for choice in choices_of(annotation.get("result"), PREFERENCE):
        word = choice.strip().lower().split(" ")[0]
        if word in (LEFT, RIGHT):
            return word
        if word in (TIE, "about", "same"):
            return TIE
    return None


@dataclass(frozen=True)
class ABResult:
    """The tally of an A/B project, one outcome per judged task (its judgments vote)."""

    version_a: str
    version_b: str
    wins_a: int
    wins_b: int
    ties: int
    unmatched: int = 0
    decided_pairs: list[dict[str, Any]] = field(default_factory=list)
    judgments: int = 0
    tied_tasks: list[Any] = field(default_factory=list)

    @property
    def decided(self) -> int:
        """Tasks won by one side (ties left out)."""
        return self.wins_a + self.wins_b

    @property
    def win_rate_b(self) -> Estimate:
        """B's share of decided tasks, Wilson 95% interval."""
        return wilson_interval(self.wins_b, self.decided)

    @property
    def win_rate_b_ties_half(self) -> float | None:
        """B's share when a tie counts as half a win for each side."""
        total = self.decided + self.ties
        return (self.wins_b + self.ties / 2) / total if total else None

    @property
    def p_value(self) -> float | None:
        """Two-sided exact binomial (sign) test of B's wins against 50%, ties left out."""
        if not self.decided:
            return None
        return float(stats.binomtest(self.wins_b, self.decided, 0.5).pvalue)

    def sentence(self) -> str:
        """The result in plain words, with the interval, the ties and the test."""
        a, b = self.version_a, self.version_b
        if not self.decided:
            return f"no decided task between {b} and {a} yet ({self.ties} ties)"
        rate = self.win_rate_b
        assert rate.value is not None and rate.low is not None and rate.high is not None
        p = self.p_value
        half = self.win_rate_b_ties_half or 0.0
        detail = (
            f"{rate.value:.0%}, 95% CI {rate.low:.0%}-{rate.high:.0%}; {self.ties} ties left "
            f"out, {half:.0%} counting ties as half; {format_p(p)}"
        )
        if p is not None and p < 0.05:
            winner, loser = (b, a) if self.wins_b > self.wins_a else (a, b)
            wins = max(self.wins_a, self.wins_b)
            return f"{winner} beat {loser} in {wins} of {self.decided} decided tasks ({detail})"
        return (
            f"no significant preference between {b} and {a}: {b} won {self.wins_b} of "
            f"{self.decided} decided tasks ({detail})"
        )


def tally(tasks: Iterable[Mapping[str, Any]], sidecar: Mapping[str, Any]) -> ABResult:
    """One outcome per judged task: the side with more votes wins it, equal votes tie it."""
    version_a, version_b = sidecar["version_a"], sidecar["version_b"]
    pairs = sidecar["pairs"]
    counts: Counter[str] = Counter()
    unmatched = judgments = 0
    decided_pairs, tied_tasks = [], []
    for task in tasks:
        data = task.get("data") or {}
        mapping = pairs.get(data.get("pair_id"))
        prefs = [p for p in map(preference_of, task.get("annotations") or []) if p]
        if not prefs:
            continue
        if mapping is None:
            unmatched += 1
            continue
        judgments += len(prefs)
        task_votes: Counter[str] = Counter(TIE if p == TIE else mapping[p] for p in prefs)
        sides = {v: task_votes[v] for v in (version_a, version_b)}
        if sides[version_a] == sides[version_b]:
            counts[TIE] += 1
            tied_tasks.append(task.get("id"))
        else:
            winner = max(sides, key=lambda v: sides[v])
            counts[winner] += 1
            win_side = LEFT if mapping[LEFT] == winner else RIGHT
            lose_side = RIGHT if win_side == LEFT else LEFT
            decided_pairs.append(
                {
                    "task_id": task.get("id"),
                    "pair_id": data.get("pair_id"),
                    "winner": winner,
                    "chosen": data.get(win_side),
                    "rejected": data.get(lose_side),
                    "data": {k: v for k, v in data.items() if k not in AB_FIELDS},
                }
            )
    return ABResult(
        version_a,
        version_b,
        counts[version_a],
        counts[version_b],
        counts[TIE],
        unmatched,
        decided_pairs,
        judgments,
        tied_tasks,
    )


def pair_problem(pair: Mapping[str, Any]) -> str | None:
    """Why a decided pair cannot be a preference row (a draft is empty, or both are the same).

    >>> pair_problem({"chosen": "Hi", "rejected": "Hi"})
    'both drafts are the same — no preference pair'
    """
    if not pair.get("chosen") or not pair.get("rejected"):
        return "a draft of the pair is empty — no preference pair"
    if pair["chosen"] == pair["rejected"]:
        return "both drafts are the same — no preference pair"
    return None
