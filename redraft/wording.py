"""Words for counts in messages: `1 task`, `3 tasks` — never `1 tasks` or `task(s)`."""

from __future__ import annotations


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """`count` and `noun`, the noun in the plural unless the count is one (thousands grouped).

    >>> counted(1, "task"), counted(1200, "row"), counted(2, "entry", "entries")
    ('1 task', '1,200 rows', '2 entries')
    """
    return f"{count:,} {_noun(count, noun, plural)}"


def noun(count: int, singular: str, plural: str | None = None) -> str:
    """The noun alone, in the plural unless the count is one (for a list that follows).

    >>> noun(1, "key"), noun(3, "key")
    ('key', 'keys')
    """
    return _noun(count, singular, plural)


def _noun(count: int, singular: str, plural: str | None) -> str:
    return singular if count == 1 else plural or singular + "s"
