"""Blind A/B, pure parts: balanced seeded sides, the tally, the sentence, preference rows."""

from __future__ import annotations

import pytest

from redraft.prompting import parse_template
from redraft.report.ab import (
    ABResult,
    assign_sides,
    build_ab_tasks,
    preference_of,
    preference_rows,
    tally,
)

TEMPLATE = parse_template('system = "Be brief."\nuser = "{brief}"')


def _vote(choice: str, cancelled: bool = False) -> dict:
    return {
        "was_cancelled": cancelled,
        "result": [{"from_name": "preference", "type": "choices", "value": {"choices": [choice]}}],
    }


def test_sides_are_balanced_and_seeded():
    ids = [f"p{i}" for i in range(10)]
    sides = assign_sides(ids, seed=3)
    assert sorted(sides.values()).count("a") == 5
    assert assign_sides(ids, seed=3) == sides
    assert assign_sides(ids, seed=4) != sides


def test_tasks_hide_the_versions_and_the_sidecar_maps_them():
    briefs = [{"brief": f"Brief {i}", "client": "Acme", "left": "stale"} for i in range(4)]
    tasks, sidecar = build_ab_tasks(
        briefs, [f"A{i}" for i in range(4)], [f"B{i}" for i in range(4)], "v1", "v2", seed=1
    )
    assert tasks[0] == {
        "data": {
            "brief": "Brief 0",
            "client": "Acme",
            "left": "B0",
            "right": "A0",
            "pair_id": "ab-0001",
        }
    }
    assert sidecar == {
        "version_a": "v1",
        "version_b": "v2",
        "seed": 1,
        "pairs": {
            "ab-0001": {"left": "v2", "right": "v1"},
            "ab-0002": {"left": "v1", "right": "v2"},
            "ab-0003": {"left": "v1", "right": "v2"},
            "ab-0004": {"left": "v2", "right": "v1"},
        },
    }
    for task in tasks:
        assert "v1" not in str(task) and "v2" not in str(task)


@pytest.mark.parametrize(
    ("annotation", "expected"),
    [
        (_vote("left"), "left"),
        (_vote("Right is better"), "right"),
        (_vote("tie"), "tie"),
        (_vote("About the same"), "tie"),
        (_vote("left", cancelled=True), None),
        ({"result": []}, None),
    ],
)
def test_preference_of(annotation, expected):
    assert preference_of(annotation) == expected


def _ab_tasks():
    tasks, sidecar = build_ab_tasks(
        [{"brief": f"Brief {i}"} for i in range(4)],
        [f"A{i}" for i in range(4)],
        [f"B{i}" for i in range(4)],
        "v1",
        "v2",
        seed=1,
    )
    # Sides from the sidecar above: pair 1 and 4 have v2 on the left.
    votes = [
        [_vote("left"), _vote("left")],  # ab-0001: v2 twice -> decided for v2
        [_vote("right")],  # ab-0002: v2 (right) -> decided for v2
        [_vote("left"), _vote("right")],  # ab-0003: v1 once, v2 once -> split, not decided
        [_vote("tie"), _vote("left", cancelled=True)],  # ab-0004: a tie; cancelled ignored
    ]
    for i, (task, task_votes) in enumerate(zip(tasks, votes, strict=True), 1):
        task["id"] = 100 + i
        task["annotations"] = task_votes
    tasks.append({"id": 999, "data": {"pair_id": "elsewhere"}, "annotations": [_vote("left")]})
    return tasks, sidecar


def test_tally_counts_judgments_and_decides_pairs():
    tasks, sidecar = _ab_tasks()
    result = tally(tasks, sidecar)
    assert (result.wins_a, result.wins_b, result.ties, result.unmatched) == (1, 4, 1, 1)
    assert [
        (p["pair_id"], p["winner"], p["chosen"], p["rejected"]) for p in result.decided_pairs
    ] == [
        ("ab-0001", "v2", "B0", "A0"),
        ("ab-0002", "v2", "B1", "A1"),
    ]
    # Wilson(4, 5): centre (0.8 + 0.384146) / 1.768292 = 0.669652, half 0.294121
    rate = result.win_rate_b
    assert (rate.value, round(rate.low, 4), round(rate.high, 4)) == (0.8, 0.3755, 0.9638)
    # Ties as half: (4 + 0.5) / 6 = 0.75; sign test: P(X >= 4 or X <= 1 | n=5) = 12/32
    assert result.win_rate_b_ties_half == 0.75
    assert result.p_value == 0.375
    assert result.sentence() == (
        "no significant preference between v2 and v1: v2 won 4 of 5 decided comparisons "
        "(80%, 95% CI 38%-96%; 1 ties left out, 75% counting ties as half; p=0.38)"
    )


def test_a_clear_winner_is_named():
    result = ABResult("v1", "v2", wins_a=3, wins_b=17, ties=4)
    # Binomial two-sided P(X <= 3 or X >= 17 | n=20) = 2 * 1351 / 2^20 = 0.002577
    assert result.sentence() == (
        "v2 beat v1 in 17 of 20 decided comparisons "
        "(85%, 95% CI 64%-95%; 4 ties left out, 79% counting ties as half; p=0.0026)"
    )
    assert ABResult("v1", "v2", 0, 0, 2).sentence() == (
        "no decided comparison between v2 and v1 yet (2 ties)"
    )


def test_decided_pairs_become_dpo_rows_with_the_winner_chosen():
    tasks, sidecar = _ab_tasks()
    rows = preference_rows(tally(tasks, sidecar), TEMPLATE)
    prompt = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Brief 0"}]
    assert rows["trl_dpo"][0] == {
        "prompt": prompt,
        "chosen": [{"role": "assistant", "content": "B0"}],
        "rejected": [{"role": "assistant", "content": "A0"}],
    }
    assert rows["openai_dpo"][0] == {
        "input": {"messages": prompt},
        "preferred_output": [{"role": "assistant", "content": "B0"}],
        "non_preferred_output": [{"role": "assistant", "content": "A0"}],
    }
    assert len(rows["trl_dpo"]) == len(rows["openai_dpo"]) == 2
