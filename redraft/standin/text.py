"""Deterministic stand-in text: the same request always gets the same words."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

_TOKEN = re.compile(r"\w+|[^\w\s]")

_SUBJECTS = (
    "A quick idea for {topic}",
    "Re: {topic}",
    "{topic} — worth a look?",
    "15 minutes on {topic}?",
    "Following up on {topic}",
    "An easier way to handle {topic}",
)
_OPENERS = (
    "I noticed your team has been busy lately, so I will keep this short.",
    "I hope the quarter is treating you well.",
    "Your recent work caught my eye and I wanted to reach out.",
    "I will get straight to the point.",
    "A colleague suggested I get in touch with you.",
)
_MIDDLES = (
    "We help teams like yours spend less time on busywork and more on what matters.",
    "Several companies in your space cut their turnaround time in half with us.",
    "Our approach is simple, quick to set up and easy to measure.",
    "We would tailor everything to how your team already works.",
)
_CLOSERS = (
    "Would a short call next week make sense?",
    "Could I send over a two-page summary?",
    "Are you open to a 15-minute chat on Thursday?",
    "Who on your team would be the right person to talk to?",
)
_SIGNOFFS = ("Best regards", "Thanks", "Kind regards", "All the best")


def count_tokens(text: str) -> int:
    """A deterministic, offline token estimate: words and punctuation marks.

    >>> count_tokens("Hello, world!")
    4
    """
    return len(_TOKEN.findall(text))


def message_text(message: Mapping[str, Any]) -> str:
    """The plain text of one chat message (string content or a list of text parts)."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(part.get("text", "")) for part in content if isinstance(part, Mapping))
    return ""


def last_user_text(messages: Sequence[Mapping[str, Any]]) -> str:
    """The text of the last user message, or "" when there is none."""
    for message in reversed(messages):
        if message.get("role") == "user":
            return message_text(message)
    return ""


def brief_words(user_text: str, limit: int = 8) -> str:
    """The first words of the brief (text after a "Brief:" line when present).

    >>> brief_words("Client: Acme\\n\\nBrief:\\nOffer a free audit of their CRM data to the team")
    'Offer a free audit of their CRM data'
    """
    _, marker, after = user_text.partition("Brief:")
    source = after if marker else user_text
    return " ".join(source.split()[:limit])


def request_digest(model: str, messages: Any, params: Mapping[str, Any], index: int = 0) -> str:
    """A stable hex digest of everything that decides a completion's text."""
    payload = json.dumps(
        {"model": model, "messages": messages, "params": params, "index": index},
        sort_keys=True,
        ensure_ascii=True,
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def _pick(options: Sequence[str], digest: str, slot: int) -> str:
    return options[int(digest[slot * 4 : slot * 4 + 4], 16) % len(options)]


def draft_text(model: str, messages: Sequence[Mapping[str, Any]], digest: str) -> str:
    """An outreach-email-shaped draft that says plainly it comes from the stand-in.

    >>> text = draft_text("m", [{"role": "user", "content": "Pitch CRM cleanup"}], "0" * 64)
    >>> text.splitlines()[:4]
    ['Subject: A quick idea for Pitch CRM cleanup', '', 'Hi there,', '']
    >>> text.splitlines()[-1]
    '[stand-in draft from m]'
    """
    words = brief_words(last_user_text(messages)) or "your team"
    topic = " ".join(words.split()[:4])
    return (
        f"Subject: {_pick(_SUBJECTS, digest, 0).format(topic=topic)}\n\n"
        f"Hi there,\n\n"
        f'{_pick(_OPENERS, digest, 1)} Regarding "{words}": {_pick(_MIDDLES, digest, 2)}\n\n'
        f"{_pick(_CLOSERS, digest, 3)}\n\n"
        f"{_pick(_SIGNOFFS, digest, 4)}\n\n"
        f"[stand-in draft from {model}]"
    )


def judge_json(model: str, messages: Sequence[Mapping[str, Any]], digest: str) -> str:
    """A JSON object string for response_format json_object, with a score from 1 to 5.

    >>> judge_json("m", [{"role": "user", "content": "Rate this"}], "0" * 64)
    '{"stand_in": true, "score": 1, "text": "[stand-in judgement from m] Rate this"}'
    """
    score = int(digest[20:24], 16) % 5 + 1
    words = brief_words(last_user_text(messages))
    text = f"[stand-in judgement from {model}] {words}".rstrip()
    return json.dumps({"stand_in": True, "score": score, "text": text})


def truncate_tokens(text: str, max_tokens: int) -> str:
    """Cut `text` after `max_tokens` estimated tokens (keeps whole tokens and spacing).

    >>> truncate_tokens("one two, three", 3)
    'one two,'
    """
    matches = list(_TOKEN.finditer(text))
    if len(matches) <= max_tokens:
        return text
    return text[: matches[max_tokens - 1].end()]
