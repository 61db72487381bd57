"""Drafts the gate fails outright, whatever the interval says (pure).

A draft is faulty when a writer could not start from it at all:

- **empty**: the model answered with no text;
- **no draft**: the model could not be asked (an HTTP error, a timeout, an unknown model);
- **cut off**: the model stopped at its token limit (finish_reason "length"), or the draft
  stops mid-sentence — its last line ends without closing punctuation and
  runs on past its last sentence for longer than a sign-off (`SIGN_OFF_MAX_WORDS`), the way a
  draft stopped at the token limit ends — while the email the writers sent for that brief
  does end;
- **off-brief**: it uses fewer than `OFF_BRIEF_MIN_SHARE` of the words of its brief (the
  brief, recipient, company and the task's other fields; words of three letters or more,
  common words left out).

The gate counts a fault against the candidate only on a brief the version it is compared with
drafted without one, so a fault both share (a base model that often runs long) decides nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

SIGN_OFF_MAX_WORDS = 4  # "Priya", "Best regards,", "Priya Shah, Acme": a line that may end bare
OFF_BRIEF_MIN_SHARE = 0.1  # a draft uses at least one in ten of its brief's words
OFF_BRIEF_MIN_WORDS = 3  # a brief with fewer words is too short to tell
CLOSERS = (".", "!", "?", "…", ")", "]", '"', "'", "”", "’", ":", ";")
_WORD = re.compile(r"[^\W\d_]{3,}")
_SENTENCE_END = re.compile(r"[.!?…]")
COMMON = frozenset(
    """the and for you your are was were but not with this that have has had from they them
    their there here what when where which who whom why how all any can could would should will
    shall may might must our ours out into onto over under about just also than then very more
    most some such only own same too its it's his her hers him she he we us i'm i've i'd i'll
    let let's get got hey dear hello thanks thank regards best kind hope well one two via per
    etc yes yet off each both few other""".split()
)


def words(text: str) -> set[str]:
    """The distinct words of three letters or more, lower-cased, common ones left out.

    >>> sorted(words("Hi Ann, the Q3 pilot at Acme is live!"))
    ['acme', 'ann', 'live', 'pilot']
    """
    return {w for w in _WORD.findall(text.lower()) if w not in COMMON}


def brief_words(data: Mapping[str, Any]) -> set[str]:
    """The words of a task's text fields (brief, recipient, company, goal, ...).

    >>> sorted(brief_words({"brief": "Invite Maria to the pilot", "company": "Acme", "n": 3}))
    ['acme', 'invite', 'maria', 'pilot']
    """
    found: set[str] = set()
    for value in data.values():
        if isinstance(value, str):
            found |= words(value)
    return found


def lacks_ending(text: str) -> bool:
    """Whether a text stops mid-sentence: its last line ends without closing punctuation, and
    what follows its last sentence is longer than a sign-off.

    >>> lacks_ending("Hi Ann,\\n\\nWould a call on Monday work?\\n\\nBest,\\nPriya")
    False
    >>> lacks_ending("Hi Ann, would a call on Monday work? Best, Priya")
    False
    >>> lacks_ending("Hi Ann,\\n\\nWe could help your team cut the time it takes to")
    True
    """
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return True
    last = lines[-1]
    if last.endswith(CLOSERS):
        return False
    return len(_SENTENCE_END.split(last)[-1].split()) > SIGN_OFF_MAX_WORDS


def off_brief(draft: str, data: Mapping[str, Any]) -> bool:
    """Whether a draft shares almost none of its brief's words.

    >>> data = {"brief": "Invite Maria at Acme to the analytics pilot next week"}
    >>> off_brief("Hi Maria, would Acme join our analytics pilot?", data)
    False
    >>> off_brief("Dear customer, our spring sale starts today.", data)
    True
    """
    expected = brief_words(data)
    if len(expected) < OFF_BRIEF_MIN_WORDS:
        return False
    return len(expected & words(draft)) < OFF_BRIEF_MIN_SHARE * len(expected)


def draft_fault(
    draft: str | None,
    data: Mapping[str, Any],
    final: str,
    error: str | None = None,
    error_kind: str | None = None,
    truncated: bool = False,
) -> str | None:
    """Why a draft fails the gate outright, in a few words; None for a usable draft.
    `truncated`: the model stopped at max_tokens.

    >>> data = {"brief": "Invite Maria at Acme to the analytics pilot"}
    >>> draft_fault(None, data, "Hi Maria.", "the model returned an empty answer", "empty")
    'empty'
    >>> draft_fault(None, data, "Hi Maria.", "model 'v2' not found at the endpoint (HTTP 404)")
    "no draft: model 'v2' not found at the endpoint (HTTP 404)"
    >>> draft_fault("Hi Maria, the Acme analytics pilot would suit your team because it", data,
    ...             "Hi Maria, join us.")
    'cut off'
    >>> draft_fault("Hi Maria, join the Acme pilot.", data, "Hi Maria, join us.") is None
    True
    """
    if error_kind == "empty" or (draft is not None and not draft.strip()):
        return "empty"
    if draft is None:
        return f"no draft: {error or 'the model did not answer'}"
    if truncated or (lacks_ending(draft) and not lacks_ending(final)):
        return "cut off"
    if off_brief(draft, data):
        return "off-brief"
    return None
