"""Words for counts in messages: `1 task`, `3 tasks` — never `1 tasks` or `task(s)`."""

from __future__ import annotations


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """`count` and `noun`, the noun in the plural unless the count is one (thousands grouped).

    >>> counted(1, "task"), counted(1200, "row"), counted(2, "entry", "entries")
    ('1 task', '1,200 rows', '2 entries')
    """
    return f"{count:,} {noun if count == 1 else plural or noun + 's'}"
