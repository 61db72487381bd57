"""Text helpers the simulated writers share: phrases, tidying, sentence edits, mention checks."""

from __future__ import annotations

import re
from collections.abc import Callable

from redraft.emailparts import Sentence

STOPWORDS = frozenset(
    "that this with from have will your their they them about what when which would could "
    "there were been into only also more than some just like want wanted week weeks team "
    "hope well best thanks regards offer book".split()
)
_TOKEN = re.compile(r"\d+(?:[.,]\d+)*%?|[a-z][a-z'-]*", re.IGNORECASE)
_ARTICLES = frozenset({"the", "a", "an"})


def tokens(text: str) -> list[str]:
    """Lower-cased words and numbers (with decimals and %).

    >>> tokens("Churn rose to 4.1% at Brightline's.")
    ['churn', 'rose', 'to', '4.1%', 'at', "brightline's"]
    """
    return _TOKEN.findall(text.casefold())


def content_words(text: str) -> set[str]:
    """Words of four letters or more that carry meaning (no stopwords).

    >>> sorted(content_words("Offer Brightline a walkthrough of their churn data."))
    ['brightline', 'churn', 'data', 'walkthrough']
    """
    words = (w.strip("'-") for w in tokens(text))
    return {w for w in words if len(w) >= 4 and w not in STOPWORDS}


def phrase_pattern(phrase: str) -> re.Pattern[str]:
    """A case-insensitive pattern for a phrase as whole words."""
    return re.compile(rf"(?<!\w){re.escape(phrase)}(?!\w)", re.IGNORECASE)


def find_phrases(phrases: tuple[str, ...], text: str) -> list[str]:
    """The phrases that occur in text, in the given order.

    >>> find_phrases(("just", "ASAP"), "I just wanted this asap.")
    ['just', 'ASAP']
    """
    return [p for p in phrases if phrase_pattern(p).search(text)]


def cased(new: str) -> Callable[[re.Match[str]], str]:
    """A re.sub replacement that capitalises `new` when the matched text was capitalised."""

    def replacement(match: re.Match[str]) -> str:
        return f"{new[0].upper()}{new[1:]}" if match.group(0)[0].isupper() else new

    return replacement


def quote_list(items: list[str]) -> str:
    """Quoted items for feedback: 'a', 'b' and 'c'.

    >>> quote_list(["just", "hey", "ASAP"])
    "'just', 'hey' and 'ASAP'"
    """
    quoted = [f"'{item}'" for item in items]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} and {quoted[-1]}"


def tidy(text: str) -> str:
    """A sentence after words were cut from it: no doubled spaces or stray punctuation; empty
    when nothing but punctuation is left.

    >>> tidy(", and  I wanted to ask ,.")
    'And I wanted to ask.'
    >>> tidy("!")
    ''
    """
    text = re.sub(r"\s{2,}", " ", text)
    text = re.sub(r"\s+([,.;:!?])", r"\1", text)
    text = re.sub(r"([,;:])[,;:]+", r"\1", text)
    text = re.sub(r"[,;:]([.!?])", r"\1", text)
    text = re.sub(r"^[\s,;:.!?—–-]+", "", text).strip()
    if not re.search(r"[A-Za-z0-9]{2,}", text):
        return ""
    return f"{text[0].upper()}{text[1:]}"


def remove_sentence(sentences: tuple[Sentence, ...], at: int) -> tuple[Sentence, ...]:
    """Drop one sentence; the next one inherits a paragraph break that started with it.

    >>> remove_sentence((Sentence("A."), Sentence("B.", "\\n\\n"), Sentence("C.")), 1)
    (Sentence(text='A.', gap=' '), Sentence(text='C.', gap='\\n\\n'))
    """
    rest = list(sentences[:at]) + list(sentences[at + 1 :])
    if at < len(rest):
        gaps = sorted((sentences[at].gap, rest[at].gap), key=len)
        rest[at] = rest[at]._replace(gap=gaps[-1])
    return tuple(rest)


def drop_empty(sentences: tuple[Sentence, ...]) -> tuple[Sentence, ...]:
    """The sentences without empty ones, paragraph breaks kept."""
    kept = sentences
    for at in range(len(sentences) - 1, -1, -1):
        if not sentences[at].text:
            kept = remove_sentence(kept, at)
    return kept


def insert_sentence(sentences: tuple[Sentence, ...], at: int, text: str) -> tuple[Sentence, ...]:
    """Insert a sentence where sentence `at` starts, in its paragraph (at the end: appended).

    >>> insert_sentence((Sentence("A."), Sentence("C.", "\\n\\n")), 1, "B.")
    (Sentence(text='A.', gap=' '), Sentence(text='B.', gap='\\n\\n'), Sentence(text='C.', gap=' '))
    """
    if at >= len(sentences):
        return (*sentences, Sentence(text))
    moved = sentences[at]
    return (
        *sentences[:at],
        Sentence(text, moved.gap),
        moved._replace(gap=" "),
        *sentences[at + 1 :],
    )


def mentions_company(company: str, text: str) -> bool:
    """The full name, or its first distinctive word ("Saltworks" for "The Saltworks Hotel").

    >>> mentions_company("The Saltworks Hotel", "The Saltworks lobby"), mentions_company("Ab", "")
    (True, False)
    """
    if not company or company.casefold() in text.casefold():
        return bool(company)
    words = [w for w in re.findall(r"[\w&'-]+", company) if w.casefold() not in _ARTICLES]
    key = words[0] if words else ""
    return len(key) >= 4 and re.search(rf"(?<!\w){re.escape(key)}", text, re.IGNORECASE) is not None


def mentions_fact(fact: str, text: str) -> bool:
    """Every number of the fact, and two thirds of its other words, appear in the text.

    >>> mentions_fact("pickup until 8pm from Coventry", "We collect until 8pm in Coventry.")
    True
    """
    wanted = tokens(fact)
    numbers = [t for t in wanted if t[0].isdigit()]
    words = [t for t in wanted if not t[0].isdigit() and len(t) >= 3 and t not in STOPWORDS]
    have = set(tokens(text))
    if any(n not in have for n in numbers):
        return False
    return not words or 3 * sum(w in have for w in words) >= 2 * len(words)


def text_lines(text: str) -> list[str]:
    """The stripped lines of a text."""
    return [line.strip() for line in text.strip().split("\n")]


def one_line(text: str) -> str:
    """A multi-line sign-off on one line.

    >>> one_line("Best,\\nPriya Raman\\nNorthwind Analytics")
    'Best, Priya Raman, Northwind Analytics'
    """
    out = ""
    for line in text_lines(text):
        out = line if not out else f"{out} {line}" if out.endswith(",") else f"{out}, {line}"
    return out
