"""Finding one person in text, as people are written (pure): an email address matched whole, or
a name matched with its titles ("Dear Ms. Lovelace"), in either Unicode form (NFC or NFD), and
never inside someone's email address.

`Needle.parse` builds the matcher; `Needle.mask` replaces what it finds with MASK.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from redraft.errors import RedraftError
from redraft.exporters.pii import EMAIL_ADDRESS

MASK = "[removed]"
# Titles and salutations a surname follows ("Dear Mr. García", "Prof Lovelace").
TITLES = (
    "mr mrs ms miss mx dr prof professor sir dame lady lord madam madame mme mlle m herr frau "
    "sr sra srta don doña dear"
).split()
# Combining marks continue a word in decomposed (NFD) text: "Ada" is not found in "Adá".
_AFTER = r"(?![\w\u0300-\u036f])"
_BEFORE = r"(?<!\w)"
_SEPARATORS = re.compile(r"[._+\-]")


class ForgetError(RedraftError):
    """What to forget cannot be matched safely (too short, empty)."""


def _literal(text: str) -> str:
    """A regex for `text` that matches it in NFC or NFD form.

    >>> bool(re.fullmatch(_literal("García"), unicodedata.normalize("NFD", "García")))
    True
    """
    out = []
    for char in unicodedata.normalize("NFC", text):
        decomposed = unicodedata.normalize("NFD", char)
        if decomposed != char:
            out.append(f"(?:{re.escape(char)}|{re.escape(decomposed)})")
        else:
            out.append(re.escape(char))
    return "".join(out)


def _fold(text: str) -> str:
    return unicodedata.normalize("NFC", text).casefold()


@dataclass(frozen=True)
class Needle:
    """What identifies the person. `full` finds them: the whole email address, or the full
    name, the surname after a title, or an address made of the name (ada.lovelace@…).
    `everything` also takes the first name and the surname alone, which are masked only in
    the texts (tasks, rows) where `full` matched ("Hi Ada,").

    >>> n = Needle.parse("Ada Lovelace")
    >>> n.mask("Hi Ada, Ada LOVELACE here; Adam stays.")
    ('Hi Ada, [removed] here; Adam stays.', 1)
    >>> n.mask("Hi Ada, Dear Ms. Lovelace; ada@example.com stays.", everything=True)
    ('Hi [removed], Dear Ms. [removed]; ada@example.com stays.', 2)
    >>> n.mask("write to ada.lovelace@example.com")
    ('write to [removed]', 1)
    >>> Needle.parse("ada@example.com").mask("lada@example.com ada@example.com.au ADA@example.com.")
    ('lada@example.com ada@example.com.au [removed].', 1)
    """

    text: str
    email: bool
    full_re: re.Pattern[str]
    every_re: re.Pattern[str]
    name_keys: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, text: str) -> Needle:
        """The needle for an email address or a name; ForgetError when it is too short."""
        text = unicodedata.normalize("NFC", " ".join(text.split()))
        if len(text) < 3:
            raise ForgetError(
                f"{text!r} is too short to find a person by — pass their email or full name"
            )
        if "@" in text:
            # No word boundary in an address: "lada@…" and "…com.au" are other people.
            full = re.compile(rf"(?<![\w.%+\-]){_literal(text)}(?![\w\-]|\.[\w\-])", re.IGNORECASE)
            return cls(text, True, full, full)
        parts = text.split(" ")
        words = r"\s+".join(_literal(p) for p in parts)
        if len(parts) == 1:
            one = re.compile(rf"{_BEFORE}(?P<name>{words}){_AFTER}", re.IGNORECASE)
            return cls(text, False, one, one)
        first, last = _literal(parts[0]), _literal(parts[-1])
        titles = "|".join(TITLES)
        titled = rf"{_BEFORE}(?P<title>(?:{titles})\.?\s+){last}{_AFTER}"
        full = rf"{_BEFORE}(?P<name>{words}){_AFTER}|{titled}"
        every = rf"{full}|{_BEFORE}(?:{first}|{last}){_AFTER}"
        first_key, last_key = _fold(parts[0]), _fold(parts[-1])
        keys = frozenset({first_key + last_key, last_key + first_key, first_key[:1] + last_key})
        return cls(
            text,
            False,
            re.compile(full, re.IGNORECASE),
            re.compile(every, re.IGNORECASE),
            keys,
        )

    def mask(self, text: str, *, everything: bool = False) -> tuple[str, int]:
        """`text` with the person replaced by MASK (a title is kept), and how many matches.

        With `everything`, the first name and surname alone are masked too."""
        if self.email:
            return self.full_re.subn(MASK, text)
        pattern = self.every_re if everything else self.full_re
        addresses = [m.span() for m in EMAIL_ADDRESS.finditer(text)]
        count = 0
        out: list[str] = []
        at = 0
        for start, end in addresses:
            piece, found = self._mask_words(text[at:start], pattern)
            out.append(piece)
            count += found
            address = text[start:end]
            if self._names_address(address):
                out.append(MASK)
                count += 1
            else:
                out.append(address)  # someone else's, or only a first name: left whole
            at = end
        piece, found = self._mask_words(text[at:], pattern)
        out.append(piece)
        return "".join(out), count + found

    def _mask_words(self, text: str, pattern: re.Pattern[str]) -> tuple[str, int]:
        def keep_title(match: re.Match[str]) -> str:
            return (match.groupdict().get("title") or "") + MASK

        return pattern.subn(keep_title, text)

    def _names_address(self, address: str) -> bool:
        local = _SEPARATORS.sub("", _fold(address.split("@", 1)[0]))
        return any(key and key in local for key in self.name_keys)

    def found_in(self, value: Any) -> bool:
        """Whether the person (`full`) occurs anywhere in a JSON-like value."""
        return any(self.mask(text)[1] for text in strings(value))


def mask(text: str, needle: Needle, *, everything: bool = False) -> tuple[str, int]:
    """`text` with the person masked, and how many matches (see `Needle.mask`)."""
    return needle.mask(text, everything=everything)


def mask_value(value: Any, needle: Needle, *, everything: bool = True) -> tuple[Any, int]:
    """A JSON-like value with every string masked (keys too), and the number of matches.

    >>> mask_value({"a": ["Ada Lovelace", 3], "b": "Hi Ada"}, Needle.parse("Ada Lovelace"))
    ({'a': ['[removed]', 3], 'b': 'Hi [removed]'}, 2)
    """
    if isinstance(value, str):
        return needle.mask(value, everything=everything)
    if isinstance(value, list):
        pairs = [mask_value(v, needle, everything=everything) for v in value]
        return [v for v, _ in pairs], sum(n for _, n in pairs)
    if isinstance(value, dict):
        masked, total = {}, 0
        for key, item in value.items():
            new_key, key_count = (
                needle.mask(key, everything=everything) if isinstance(key, str) else (key, 0)
            )
            masked[new_key], count = mask_value(item, needle, everything=everything)
            total += count + key_count
        return masked, total
    return value, 0


def strings(value: Any) -> Iterator[str]:
    """Every string in a JSON-like value (dict keys included)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str):
                yield key
            yield from strings(item)
