"""Token counts of chat examples: 3 per message, 3 for the reply, 1 for a name; cached counts
give what counting afresh gives."""

from __future__ import annotations

from typing import Any

import pytest

from redraft.exporters.tokens import TokenCounter


def fresh(messages: list[dict[str, Any]]) -> int:
    """The cookbook's count, written out: what the cached count must equal."""
    total = 3
    for message in messages:
        total += 3 + sum(len(v) for v in message.values() if isinstance(v, str))
        total += "name" in message
    return total


EXAMPLES: list[list[dict[str, Any]]] = [
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Offer a demo."}],
    [{"role": "user", "content": "Offer a demo."}, {"role": "assistant", "content": "Hi Ada"}],
    [{"role": "user", "name": "ada", "content": "Hi"}],
    [{"role": "user", "content": "Hi", "name": "ada"}],
    [{"role": "assistant", "content": None, "tool_calls": [{"id": "1"}]}],
    [{"role": "assistant", "content": "x", "weight": 1}],
    [{"role": "assistant", "content": "x", "weight": True}],
    [],
]


@pytest.mark.parametrize("rounds", [1, 3])
def test_count_messages_matches_a_fresh_count(rounds: int) -> None:
    counter = TokenCounter(count_text=len, encoding="chars", exact=False)
    for _ in range(rounds):
        assert [counter.count_messages(m) for m in EXAMPLES] == [fresh(m) for m in EXAMPLES]
    assert counter.count_messages(EXAMPLES[0]) == 3 + (3 + 6 + 9) + (3 + 4 + 13) == 41


def test_counters_do_not_share_cached_counts() -> None:
    chars = TokenCounter(count_text=len, encoding="chars", exact=False)
    ones = TokenCounter(count_text=lambda text: 1, encoding="ones", exact=False)
    assert chars.count_messages(EXAMPLES[0]) == 41
    assert ones.count_messages(EXAMPLES[0]) == 3 + 2 * (3 + 1 + 1) == 13
