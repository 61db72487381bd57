"""The rules a simulated writer applies, in order: each checks an email and fixes it.

A step's `follows` says whether the email already follows the rule; its `fix` returns the
edited email and the clause of feedback a writer would write about it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from redraft.emailparts import (
    Email,
    Sentence,
    names_from_recipient,
    parse_email,
    split_sentences,
)
from redraft.simulate.rules import WriterRules, placeholders
from redraft.simulate.text import (
    cased,
    content_words,
    drop_empty,
    find_phrases,
    insert_sentence,
    mentions_company,
    mentions_fact,
    one_line,
    phrase_pattern,
    quote_list,
    remove_sentence,
    text_lines,
    tidy,
)

MIN_SHARED_WORDS = 2  # content words a body must share with the brief to count as on-brief

# A closing sentence that asks for something; the writer puts its own call to action there.
_CTA_LIKE = re.compile(
    r"\b(?:let me know|would you|could we|can we|can i|are you|do you|shall we|happy to|"
    r"free (?:for|to|on|this|next)|worth a|open to|interested in|set up a|arrange a|book a|"
    r"hop on|jump on|reply to this)\b",
    re.IGNORECASE,
)
_PARENTHETICAL = re.compile(r"\s*\([^)]*\)")


@dataclass(frozen=True)
class Task:
    """What the rules need from one task's data."""

    values: dict[str, str]
    company: str
    fact: str
    brief_words: frozenset[str]
    brief_sentences: tuple[str, ...]


def fill(pattern: str, values: Mapping[str, str]) -> str:
    """A pattern with its {placeholders} filled in; a missing value is left empty.

    >>> fill("Hi {first_name}, about {company}?", {"first_name": "Bo"})
    'Hi Bo, about ?'
    """
    text = pattern
    for name in placeholders(pattern):
        text = text.replace(f"{{{name}}}", values.get(name, ""))
    return text


@dataclass(frozen=True)
class Step:
    """One rule: whether an email follows it, and the fix with its clause of feedback."""

    follows: Callable[[WriterRules, Task, Email], bool]
    fix: Callable[[WriterRules, Task, Email], tuple[Email, str]]


def _content_follows(rules: WriterRules, task: Task, email: Email) -> bool:
    needed = min(MIN_SHARED_WORDS, len(task.brief_words))
    return bool(email.sentences) and len(content_words(email.body) & task.brief_words) >= needed


def _content_fix(rules: WriterRules, task: Task, email: Email) -> tuple[Email, str]:
    opening = task.brief_sentences[0] if task.brief_sentences else _company_sentence(task)
    return replace(email, sentences=(Sentence(opening),)), "write about the brief"


def _greeting_follows(rules: WriterRules, task: Task, email: Email) -> bool:
    return email.greeting == fill(rules.greeting, task.values)


def _greeting_fix(rules: WriterRules, task: Task, email: Email) -> tuple[Email, str]:
    expected = fill(rules.greeting, task.values)
    return replace(email, greeting=expected), f"open with '{expected}'"


def _banned_follows(rules: WriterRules, task: Task, email: Email) -> bool:
    return not find_phrases(rules.banned_phrases, email.body)


def _banned_fix(rules: WriterRules, task: Task, email: Email) -> tuple[Email, str]:
    found = find_phrases(rules.banned_phrases, email.body)
    sentences = list(email.sentences)
    for phrase in found:
        # "innovative, reliable trucks" loses "innovative," with its comma.
        pattern = re.compile(rf"{phrase_pattern(phrase).pattern}(?:\s*,)?", re.IGNORECASE)
        sentences = [
            s._replace(text=tidy(pattern.sub("", s.text))) if pattern.search(s.text) else s
            for s in sentences
        ]
    return replace(email, sentences=drop_empty(tuple(sentences))), "cut " + quote_list(found)


def _exclamations_follows(rules: WriterRules, task: Task, email: Email) -> bool:
    return "!" not in email.body


def _exclamations_fix(rules: WriterRules, task: Task, email: Email) -> tuple[Email, str]:
    sentences = [
        s._replace(text=re.sub(r"!+", ".", re.sub(r"\?!+", "?", s.text))) for s in email.sentences
    ]
    return replace(email, sentences=tuple(sentences)), "no exclamation marks"


def _tone_follows(rules: WriterRules, task: Task, email: Email) -> bool:
    return not find_phrases(tuple(rules.tone_words), email.body)


def _tone_fix(rules: WriterRules, task: Task, email: Email) -> tuple[Email, str]:
    found = find_phrases(tuple(rules.tone_words), email.body)
    sentences = list(email.sentences)
    for word in found:
        new = rules.tone_words[word]
        pattern = phrase_pattern(word)
        sentences = [s._replace(text=pattern.sub(cased(new), s.text)) for s in sentences]
    pairs = ", ".join(f"'{rules.tone_words[w]}' not '{w}'" for w in found)
    return replace(email, sentences=tuple(sentences)), f"say {pairs}"


def _company_follows(rules: WriterRules, task: Task, email: Email) -> bool:
    return mentions_company(task.company, email.body)


def _company_fix(rules: WriterRules, task: Task, email: Email) -> tuple[Email, str]:
    at = 1 if len(email.sentences) >= 2 else 0
    sentences = insert_sentence(email.sentences, at, _company_sentence(task))
    return replace(email, sentences=sentences), f"mention {task.company}"


def _fact_follows(rules: WriterRules, task: Task, email: Email) -> bool:
    return mentions_fact(task.fact, email.body)


def _fact_fix(rules: WriterRules, task: Task, email: Email) -> tuple[Email, str]:
    sentence = next(
        (s for s in task.brief_sentences if mentions_fact(task.fact, s)),
        f"{task.fact[0].upper()}{task.fact[1:].rstrip('.')}.",
    )
    # Before the closing sentence; after a lone sentence (the call to action comes next).
    at = len(email.sentences) - 1 if len(email.sentences) >= 2 else len(email.sentences)
    return replace(email, sentences=insert_sentence(email.sentences, at, sentence)), (
        f"say that {task.fact.rstrip('.')}"
    )


def _cta_follows(rules: WriterRules, task: Task, email: Email) -> bool:
    return bool(email.sentences) and email.sentences[-1].text == _cta(rules, task)


def _cta_fix(rules: WriterRules, task: Task, email: Email) -> tuple[Email, str]:
    cta = _cta(rules, task)
    sentences = list(email.sentences)
    if sentences and (sentences[-1].text.endswith("?") or _CTA_LIKE.search(sentences[-1].text)):
        sentences[-1] = sentences[-1]._replace(text=cta)
    else:
        sentences.append(Sentence(cta, "\n\n"))
    return replace(email, sentences=tuple(sentences)), f"close with '{cta}'"


def _length_follows(rules: WriterRules, task: Task, email: Email) -> bool:
    return email.word_count <= rules.max_words


def _length_fix(rules: WriterRules, task: Task, email: Email) -> tuple[Email, str]:
    sentences = email.sentences
    # The first sentence naming the company and the first stating the fact stay; so does the
    # call to action. The others go, from the one before the call to action backwards.
    keep = {
        _first(sentences, lambda text: mentions_company(task.company, text), rules.require_company),
        _first(sentences, lambda text: mentions_fact(task.fact, text), bool(task.fact)),
    }
    for at in range(len(sentences) - 2, -1, -1):
        if replace(email, sentences=sentences).word_count <= rules.max_words:
            break
        if at not in keep:
            sentences = remove_sentence(sentences, at)
    return replace(email, sentences=sentences), f"keep it to {rules.max_words} words"


def _first(sentences: tuple[Sentence, ...], test: Callable[[str], bool], wanted: bool) -> int:
    """Index of the first sentence that passes test, or -1 (also when not wanted)."""
    if wanted:
        return next((i for i, s in enumerate(sentences) if test(s.text)), -1)
    return -1


def _sign_off_follows(rules: WriterRules, task: Task, email: Email) -> bool:
    return text_lines(email.sign_off) == text_lines(rules.sign_off)


def _sign_off_fix(rules: WriterRules, task: Task, email: Email) -> tuple[Email, str]:
    return replace(email, sign_off=rules.sign_off), f"sign off as '{one_line(rules.sign_off)}'"


def _postscript_follows(rules: WriterRules, task: Task, email: Email) -> bool:
    return email.postscript == fill(rules.postscript or "", task.values)


def _postscript_fix(rules: WriterRules, task: Task, email: Email) -> tuple[Email, str]:
    expected = fill(rules.postscript or "", task.values)
    return replace(email, postscript=expected), f"end with '{expected}'"


STEPS = {
    "content": Step(_content_follows, _content_fix),
    "greeting": Step(_greeting_follows, _greeting_fix),
    "banned_phrase": Step(_banned_follows, _banned_fix),
    "exclamations": Step(_exclamations_follows, _exclamations_fix),
    "tone": Step(_tone_follows, _tone_fix),
    "company": Step(_company_follows, _company_fix),
    "fact": Step(_fact_follows, _fact_fix),
    "call_to_action": Step(_cta_follows, _cta_fix),
    "length": Step(_length_follows, _length_fix),
    "sign_off": Step(_sign_off_follows, _sign_off_fix),
    "postscript": Step(_postscript_follows, _postscript_fix),
}
RULE_ORDER = tuple(STEPS)  # the order a writer applies its rules in, and names them in feedback


def has_rule(rules: WriterRules, name: str) -> bool:
    """Whether this writer has the rule at all (the optional ones are switched on in TOML)."""
    optional = {
        "banned_phrase": bool(rules.banned_phrases),
        "exclamations": rules.no_exclamations,
        "tone": bool(rules.tone_words),
        "company": rules.require_company,
        "fact": rules.require_fact_field is not None,
        "postscript": rules.postscript is not None,
    }
    return optional.get(name, True)


def applies(rules: WriterRules, task: Task, name: str) -> bool:
    """A content rule whose field the task lacks has nothing to ask for."""
    if name == "company" and not task.company:
        return False
    if name == "fact" and not task.fact:
        return False
    return has_rule(rules, name)


def task_facts(rules: WriterRules, data: Mapping[str, Any]) -> Task:
    """What the rules need from a task's data: placeholder values, company, fact, the brief."""
    values = {k: _text(v) for k, v in data.items() if isinstance(v, str | int | float)}
    values = {**names_from_recipient(data.get("recipient")), **values}
    brief = _text(data.get("brief"))
    sentences = tuple(
        tidy(_PARENTHETICAL.sub("", s)) for s in split_sentences(brief.replace("\n", " "))
    )
    fact_field = rules.require_fact_field
    words = " ".join([brief, values.get("company", ""), values.get("goal", "")])
    return Task(
        values=values,
        company=values.get("company", ""),
        fact=values.get(fact_field, "") if fact_field else "",
        brief_words=frozenset(content_words(words)),
        brief_sentences=tuple(s for s in sentences if s),
    )


def parse_draft(rules: WriterRules, task: Task, draft: str) -> Email:
    """The draft's parts, with this writer's greeting and sign-off as hints."""
    return parse_email(draft or "", fill(rules.greeting, task.values), rules.sign_off)


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _cta(rules: WriterRules, task: Task) -> str:
    return fill(rules.call_to_action, task.values)


def _company_sentence(task: Task) -> str:
    return next(
        (s for s in task.brief_sentences if mentions_company(task.company, s)),
        f"I am writing with {task.company or 'your team'} in mind.",
    )
