"""Does a draft already follow a learned rule? Per client, rule and model version (pure).

The report shows these shares so that a team sees which rules the drafts picked up (from the
notes in the prompt or from a fine-tune) and which they still miss.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from redraft.editdistance import levenshtein
from redraft.emailparts import Email, count_words, parse_email
from redraft.prompting import LearnedNote, PromptTemplate
from redraft.styles.mining import generalise, recipient_fields, tokens

_LIMIT = re.compile(r"(under|at least) (\d+) words")
_SPACE = re.compile(r"\s+")


def follows(note: LearnedNote, draft: str, data: Mapping[str, Any]) -> bool | None:
    """Whether `draft` follows the rule; None for a rule this check cannot read.

    >>> note = LearnedNote('Open with "Hi {first_name},"', "greeting", example="Hi {first_name},")
    >>> follows(note, "Hi Sam,\\n\\nHello.", {"recipient": "Sam Lee"})
    True
    >>> follows(LearnedNote("No exclamation marks", "avoid", example="!"), "Wow!", {})
    False
    """
    return _follows(note, _generalised(draft, data))


def _generalised(draft: str, data: Mapping[str, Any]) -> Email:
    return parse_email(generalise(draft, recipient_fields(data)))


def _follows(note: LearnedNote, email: Email) -> bool | None:
    example = _norm(note.example)
    if note.kind == "greeting":
        return _norm(email.greeting) == example
    if note.kind == "sign_off":
        return _norm(email.sign_off) == example
    if note.kind == "postscript":
        return example in _norm(email.postscript)
    if note.kind == "sentence":
        return example in {_norm(s.text) for s in email.sentences}
    if note.kind == "subject":
        return f" {example} " in f" {' '.join(tokens(email.subject or ''))} "
    if note.kind in ("avoid", "replace"):
        avoided = note.example.split(" -> ")[0].strip().lower()
        return f" {avoided} " not in f" {' '.join(tokens(email.body))} "
    if note.kind == "length":
        match = _LIMIT.search(note.rule)
        if match is None:
            return None
        limit = int(match.group(2))
        return email.word_count <= limit if match.group(1) == "under" else email.word_count >= limit
    return None


def edit_for(note: LearnedNote, draft: str, data: Mapping[str, Any]) -> int | None:
    """About how many characters a writer who keeps `note` changes in `draft`: 0 when the
    draft follows it, None for a rule this check cannot read.

    A rough count in the edit distance's own unit, so that the rules a draft breaks can be
    weighed against its length: a wrong greeting costs the distance to the rule's greeting, a
    missing sentence or P.S. its length, a phrase to avoid its length at each use, a length
    limit the words over it.

    >>> note = LearnedNote('Open with "Hi {first_name},"', "greeting", example="Hi {first_name},")
    >>> edit_for(note, "Dear Sam,\\n\\nHello.", {"recipient": "Sam Lee"})
    4
    >>> limit = LearnedNote("Keep the email under 5 words", "length")
    >>> edit_for(limit, "Hi Sam,\\n\\none two three four five six.", {"recipient": "Sam Lee"})
    14
    """
    email = _generalised(draft, data)
    verdict = _follows(note, email)
    if verdict is None or verdict:
        return None if verdict is None else 0
    example = _norm(note.example)
    if note.kind == "greeting":
        return levenshtein(_norm(email.greeting), example)
    if note.kind == "sign_off":
        return levenshtein(_norm(email.sign_off), example)
    if note.kind in ("postscript", "sentence", "subject"):
        return len(example)
    if note.kind in ("avoid", "replace"):
        avoided, _, instead = (part.strip() for part in note.example.partition(" -> "))
        uses = f" {' '.join(tokens(email.body))} ".count(f" {avoided.lower()} ")
        return max(1, uses) * max(len(avoided), len(instead))
    # A length limit (the only other kind `follows` reads): the words over or under it.
    match = _LIMIT.search(note.rule)
    assert match is not None  # follows() returned a verdict, so the rule names its limit
    chars_per_word = len(_norm(draft)) / max(1, count_words(draft))
    return round(abs(email.word_count - int(match.group(2))) * chars_per_word)


@dataclass(frozen=True)
class RuleAdherence:
    """How many of a version's drafts for a client follow one learned rule."""

    client: str
    rule: str
    model_version: str
    drafts: int
    following: int

    @property
    def share(self) -> float:
        return self.following / self.drafts if self.drafts else 0.0

    def as_row(self) -> dict[str, Any]:
        return {
            "client": self.client,
            "rule": self.rule,
            "model_version": self.model_version,
            "drafts": self.drafts,
            "following": self.following,
            "share": self.share,
        }


def adherence(
    drafts: Iterable[tuple[str | None, str | None, str, Mapping[str, Any]]],
    template: PromptTemplate,
) -> list[RuleAdherence]:
    """Per client, learned rule and model version: drafts that follow the rule.

    `drafts` are (client, model version, draft text, task data); clients without learned rules
    in `template` are left out.
    """
    counts: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0])
    order: dict[str, int] = {}
    for client, version, text, data in drafts:
        if not client:
            continue
        notes = template.client_style(client).learned
        for note in notes:
            verdict = follows(note, text, data)
            if verdict is None:
                continue
            key = (client, note.rule, version or "(unknown)")
            order.setdefault(note.rule, len(order))
            counts[key][0] += 1
            counts[key][1] += int(verdict)
    return [
        RuleAdherence(client, rule, version, drafts, following)
        for (client, rule, version), (drafts, following) in sorted(
            counts.items(), key=lambda kv: (kv[0][0], order[kv[0][1]], kv[0][2])
        )
    ]


def _norm(text: str) -> str:
    return _SPACE.sub(" ", text).strip()
