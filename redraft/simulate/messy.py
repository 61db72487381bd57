"""Messier simulated writers, closer to how people really edit: pure and deterministic.

The clean writers of `writers.py` make only the edits their rules ask for. Real writers also
rewrite whole sentences, disagree with a colleague on the same client, accept a weak draft
as is on a busy day, and leave typos and small changes of wording that follow no rule. A
`Messiness` adds each of these, at a share you set, on top of a clean writer's verdict:

- **rewrites**: a body sentence the writer edited is rewritten whole (its words reordered
  around a comma and swapped for near synonyms), so its rule edits sit inside a rewrite;
- **second writer**: some tasks go to a colleague whose rules differ (`disagreeing`: another
  greeting, half the banned phrases and tone words, a looser word limit);
- **accepted weak drafts**: a draft the writer would rate 3 or lower is sent as is;
- **churn**: a typo (two letters swapped) or a small change of wording unrelated to any rule.

Which tasks get what is decided by a hash of the seed and the task, so a run repeats exactly.
These are simulated writers: figures measured with them say so.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Mapping, Set
from dataclasses import dataclass, replace
from typing import Any

from redraft.emailparts import Sentence, parse_email, render_email
from redraft.simulate.rules import WriterRules
from redraft.simulate.steps import fill, task_facts
from redraft.simulate.writers import WriterVerdict, simulate_edit

# Near synonyms a rewriting writer reaches for; never words a shipped writer's rules edit.
SYNONYMS = {
    "help": "support",
    "can": "could",
    "show": "walk you through",
    "team": "people",
    "this week": "in the next few days",
    "next week": "in the coming days",
    "saw": "noticed",
    "because": "since",
    "also": "as well",
    "many": "plenty of",
    "start": "begin",
    "ask": "check",
    "happy": "pleased",
}
# Stylistic churn: small changes a writer makes on a whim, both ways.
CHURN = (("do not", "don't"), ("it is", "it's"), ("we are", "we're"), (" and ", " & "))
_GREETINGS = ("Hi {first_name},", "Hello {first_name},", "Dear {full_name},")
WEAK_RATING = 3
_WORD = re.compile(r"[A-Za-z]{5,}")


@dataclass(frozen=True)
class Messiness:
    """Shares (0 to 1) of the messy behaviours; all zero is the clean writer."""

    rewrite_share: float = 0.0  # of the edited body sentences, rewritten whole
    second_writer_share: float = 0.0  # of the tasks, edited by a colleague who disagrees
    accept_weak_share: float = 0.0  # of the drafts rated WEAK_RATING or lower, sent as is
    churn_share: float = 0.0  # of the edits, with a typo or a change that follows no rule
    seed: int = 0


MESSY = Messiness(0.5, 0.3, 0.15, 0.3)  # a messy team: the shares the tests and docs use


def disagreeing(rules: WriterRules) -> WriterRules:
    """The colleague on the same client: another greeting, every other banned phrase and tone
    word, and a word limit a fifth looser; sign-off and call to action stay (they are the
    client's, not the writer's).

    >>> colleague = disagreeing(WriterRules("Acme", "Hi {first_name},", "Best,\\nAnn",
    ...     "Free on Friday?", 100, ("just", "really", "very"), tone_words={"a": "b", "c": "d"}))
    >>> (colleague.greeting, colleague.banned_phrases, colleague.tone_words, colleague.max_words)
    ('Hello {first_name},', ('just', 'very'), {'a': 'b'}, 120)
    """
    at = _GREETINGS.index(rules.greeting) if rules.greeting in _GREETINGS else -1
    tone = dict(list(rules.tone_words.items())[::2])
    return replace(
        rules,
        greeting=_GREETINGS[(at + 1) % len(_GREETINGS)],
        banned_phrases=rules.banned_phrases[::2],
        tone_words=tone,
        max_words=rules.max_words + rules.max_words // 5,
    )


def messy_edit(
    rules: WriterRules, data: Mapping[str, Any], draft: str, mess: Messiness
) -> WriterVerdict:
    """Edit a draft as the client's writer would, with the messy behaviours of `mess`."""
    rng = random.Random(_seed(mess.seed, data, draft))
    writer = disagreeing(rules) if rng.random() < mess.second_writer_share else rules
    verdict = simulate_edit(writer, data, draft)
    if verdict.rating <= WEAK_RATING and rng.random() < mess.accept_weak_share:
        return WriterVerdict(draft, WEAK_RATING + 1, (), "", ())
    if not verdict.changed:
        return verdict
    final = verdict.final
    if mess.rewrite_share:
        own = fill(writer.call_to_action, task_facts(writer, data).values)  # never reworded
        final = rewritten(draft, final, rng, mess.rewrite_share, keep={own})
    if rng.random() < mess.churn_share:
        final = churned(final, rng)
    return replace(verdict, final=final)


def rewritten(
    draft: str, final: str, rng: random.Random, share: float, keep: Set[str] = frozenset()
) -> str:
    """The final with `share` of the body sentences the writer changed (other than those in
    `keep`) rewritten whole.

    >>> rewritten("Hi Bo,\\n\\nWe help teams grow, really.", "Hi Bo,\\n\\nWe help teams grow.",
    ...           random.Random(1), 1.0)
    'Hi Bo,\\n\\nWe support teams grow.'
    """
    before = {s.text for s in parse_email(draft).sentences}
    email = parse_email(final)
    sentences = tuple(
        Sentence(rewrite_sentence(s.text), s.gap)
        if s.text not in before and s.text not in keep and rng.random() < share
        else s
        for s in email.sentences
    )
    return render_email(replace(email, sentences=sentences))


def rewrite_sentence(text: str) -> str:
    """One sentence said another way: clauses around the first comma swapped, near synonyms.

    >>> rewrite_sentence("Because churn rose, we can help your team this week.")
    'We could support your people in the next few days, since churn rose.'
    >>> rewrite_sentence("It works.")
    'Put simply, it works.'
    """
    body, end = (text[:-1], text[-1]) if text[-1:] in ".?!" else (text, ".")
    if ", " in body:
        first, rest = body.split(", ", 1)
        body = f"{rest[0].upper()}{rest[1:]}, {first[0].lower()}{first[1:]}"
    for old, new in SYNONYMS.items():
        body = re.sub(rf"\b{re.escape(old)}\b", new, body, flags=re.IGNORECASE)
    if not body:
        return text
    if f"{body}{end}" == text:  # nothing to reorder or swap: said more plainly
        body = f"Put simply, {body[0].lower()}{body[1:]}"
    return f"{body[0].upper()}{body[1:]}{end}"


def churned(final: str, rng: random.Random) -> str:
    """A typo (two letters of a long word swapped) or a small change of wording.

    >>> churned("We do not ship on Sundays.", random.Random(0))
    "We don't ship on Sundays."
    """
    for old, new in rng.sample(CHURN, len(CHURN)):
        if old in final:
            return final.replace(old, new, 1)
    words = list(_WORD.finditer(final))
    if not words:
        return final
    word = words[rng.randrange(len(words))]
    at = word.start() + rng.randrange(1, len(word.group(0)) - 2)
    return final[:at] + final[at + 1] + final[at] + final[at + 2 :]


def _seed(seed: int, data: Mapping[str, Any], draft: str) -> int:
    key = f"{seed}\x00{data.get('brief', '')}\x00{data.get('recipient', '')}\x00{draft}"
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big")
