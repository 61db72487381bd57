"""An email as its parts (subject, greeting, body, sign-off, P.S.) and its recipient's names;
pure text handling, shared by the simulated writers and style mining.

A draft looks like "Subject: ...\\n\\nHi Maria,\\n\\nbody...\\n\\nBest,\\nPriya\\n\\nP.S. ...".
`parse_email` splits it into subject, greeting, body sentences, sign-off and postscript;
`render_email` puts the parts back together.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, NamedTuple

_SUBJECT = re.compile(r"^\s*subject\s*:\s*(.*?)\s*$", re.IGNORECASE)
_GREETING = re.compile(
    r"^(?:hi|hello|hey|hiya|dear|greetings|good (?:morning|afternoon|evening)|morning)\b"
    r"(?:\b(?:dr|mrs?|ms|mx|prof)\.|[^,!.:?\n]){0,40}(?:[,!:]|$)",  # "Dear Dr. Weber,"
    re.IGNORECASE,
)
_CLOSING = re.compile(
    r"^(?:best|regards|kind regards|warm regards|warmest regards|best regards|thanks|thank you|"
    r"many thanks|cheers|sincerely|yours sincerely|yours faithfully|yours truly|all the best|"
    r"talk soon|speak soon|warmly|with thanks|take care)\b|^[—–]\s*\w",
    re.IGNORECASE,
)
_POSTSCRIPT = re.compile(r"^p\.?\s?s\.?(?:[:\s]|$)", re.IGNORECASE)
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])")
_ABBREVIATIONS = ("Mr.", "Mrs.", "Ms.", "Dr.", "e.g.", "i.e.", "etc.", "vs.", "St.", "approx.")
_WORD = re.compile(r"\S+")
# Titles written before a name: part of how a person is greeted, never their first name.
NAME_TITLES = frozenset({"dr", "ms", "mr", "mrs", "mx", "miss", "prof", "professor", "sir", "dame"})
CLOSING_MAX_WORDS = 4
SIGN_OFF_MAX_LINES = 5  # a closing line plus at most four lines of name, title, company, phone


class Sentence(NamedTuple):
    """One body sentence and the gap before it: " " (same paragraph), "\\n" or "\\n\\n"."""

    text: str
    gap: str = " "


@dataclass(frozen=True)
class Email:
    """A draft's parts; empty strings for the parts it lacks, None for no subject line."""

    subject: str | None
    greeting: str
    sentences: tuple[Sentence, ...]
    sign_off: str
    postscript: str

    @property
    def body(self) -> str:
        """The sentences between greeting and sign-off, with their paragraph breaks."""
        return join_sentences(self.sentences)

    @property
    def word_count(self) -> int:
        """Words from the greeting through the last body sentence (no subject, sign-off, P.S.)."""
        return count_words(self.greeting) + count_words(self.body)


def count_words(text: str) -> int:
    """Whitespace-separated words.

    >>> count_words("Hi Maria,  thanks!")
    3
    """
    return len(_WORD.findall(text))


def join_sentences(sentences: tuple[Sentence, ...]) -> str:
    """The sentences as text: each one's gap before it, except the first's."""
    return "".join(s.text if i == 0 else s.gap + s.text for i, s in enumerate(sentences))


def split_sentences(text: str) -> list[str]:
    """Sentences of one paragraph or line (a break after '.', '!' or '?' and before a capital).

    >>> split_sentences("Hi there. Mr. Chen asked for 4.1% churn figures! Free Thursday?")
    ['Hi there.', 'Mr. Chen asked for 4.1% churn figures!', 'Free Thursday?']
    """
    pieces: list[str] = []
    for piece in _SENTENCE_BREAK.split(text.strip()):
        if pieces and pieces[-1].endswith(_ABBREVIATIONS):
            pieces[-1] = f"{pieces[-1]} {piece}"
        elif piece:
            pieces.append(piece)
    return pieces


def parse_email(text: str, greeting_hint: str = "", sign_off_hint: str = "") -> Email:
    """Split a draft into its parts; the hints (the expected greeting and sign-off) are found
    even when they do not look like the usual ones.

    >>> draft = "Subject: Churn\\n\\nHi Maria, churn is up.\\nAre you free?\\n\\nBest,\\nPriya"
    >>> e = parse_email(draft)
    >>> (e.subject, e.greeting, e.sentences, e.sign_off, e.postscript)
    ... # doctest: +NORMALIZE_WHITESPACE
    ('Churn', 'Hi Maria,', (Sentence(text='Churn is up.', gap=' '),
                            Sentence(text='Are you free?', gap='\\n')), 'Best,\\nPriya', '')
    """
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").strip().split("\n")]
    subject = None
    if lines and (match := _SUBJECT.match(lines[0])):
        subject = match.group(1)
        lines = lines[1:]
    ps_at = next((i for i, line in enumerate(lines) if _POSTSCRIPT.match(line.strip())), None)
    postscript = "" if ps_at is None else "\n".join(lines[ps_at:]).strip()
    lines = _trim_blank(lines if ps_at is None else lines[:ps_at])
    sign_at = _sign_off_start(lines, sign_off_hint)
    sign_off = "" if sign_at is None else "\n".join(lines[sign_at:]).strip()
    lines = _trim_blank(lines if sign_at is None else lines[:sign_at])
    greeting = ""
    if lines:
        first = lines[0].strip()
        hint = greeting_hint.strip()
        match = _GREETING.match(first)
        if hint and first.startswith(hint):
            greeting = hint
        elif match:
            greeting = match.group(0).strip()
        if greeting:
            rest = first[len(greeting) :].strip()
            lines = _trim_blank([rest[:1].upper() + rest[1:], *lines[1:]])
    return Email(subject, greeting, _sentences(lines), sign_off, postscript)


def names_from_recipient(recipient: Any) -> dict[str, str]:
    """first_name, last_name and full_name from "First Last, Title"; a title before the name
    (Dr., Ms., Prof.) is no name: it stays in the text that greets them ("Dear Dr. Weber,").

    >>> names_from_recipient("Maria Lopez, Head of Customer Success")
    {'first_name': 'Maria', 'last_name': 'Lopez', 'full_name': 'Maria Lopez'}
    >>> names_from_recipient("Dr. Anna Weber, CTO"), names_from_recipient("Prof Weber")
    ... # doctest: +NORMALIZE_WHITESPACE
    ({'first_name': 'Anna', 'last_name': 'Weber', 'full_name': 'Anna Weber'},
     {'first_name': '', 'last_name': 'Weber', 'full_name': 'Weber'})
    """
    full = str(recipient or "").split(",")[0].strip()
    words = full.split()
    while len(words) > 1 and words[0].rstrip(".").casefold() in NAME_TITLES:
        words = words[1:]
    full = " ".join(words)
    if len(words) == 1 and len(full) < len(str(recipient or "").split(",")[0].strip()):
        return {"first_name": "", "last_name": full, "full_name": full}  # "Dr. Weber"
    if not words:
        return {"first_name": "there", "last_name": "", "full_name": "there"}
    return {
        "first_name": words[0],
        "last_name": words[-1] if len(words) > 1 else "",
        "full_name": full,
    }


def render_email(email: Email) -> str:
    """The draft text of an Email: subject line, then greeting, body, sign-off and P.S.

    >>> render_email(Email("Hi", "Hi Ann,", (Sentence("Thanks."),), "Best,\\nBo", ""))
    'Subject: Hi\\n\\nHi Ann,\\n\\nThanks.\\n\\nBest,\\nBo'
    """
    parts = [email.greeting, email.body, email.sign_off, email.postscript]
    body = "\n\n".join(part for part in parts if part)
    return body if email.subject is None else f"Subject: {email.subject}\n\n{body}"


def _trim_blank(lines: list[str]) -> list[str]:
    while lines and not lines[0].strip():
        lines = lines[1:]
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    return lines


def _sign_off_start(lines: list[str], hint: str) -> int | None:
    """Index of the line where the sign-off starts, or None when the draft has none."""
    hint_lines = [line.strip() for line in hint.strip().split("\n")] if hint.strip() else []
    stripped = [line.strip() for line in lines]
    if hint_lines and len(stripped) >= len(hint_lines):
        if stripped[len(stripped) - len(hint_lines) :] == hint_lines:
            return len(stripped) - len(hint_lines)
    for at in range(len(stripped) - 1, max(-1, len(stripped) - 1 - SIGN_OFF_MAX_LINES), -1):
        line = stripped[at]
        if not line:
            return None
        if (
            _CLOSING.match(line)
            and count_words(line) <= CLOSING_MAX_WORDS
            and not line.endswith((".", "?"))
        ):
            return at
    return None


def _sentences(lines: list[str]) -> tuple[Sentence, ...]:
    sentences: list[Sentence] = []
    gap = " "
    for line in lines:
        if not line.strip():
            gap = "\n\n"
            continue
        for i, text in enumerate(split_sentences(line)):
            sentences.append(Sentence(text, gap if i == 0 else " "))
        gap = "\n"
    return tuple(sentences)
