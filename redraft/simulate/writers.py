"""A simulated writer edits one draft by its client's rules: pure and deterministic.

Rules run in RULE_ORDER; each checks the email as the earlier rules left it and fixes it only
when it does not follow the rule. The verdict records the final email, what changed, the issue
tags and feedback a writer would give, and a 1-5 rating that drops with each change.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from redraft.emailparts import render_email
from redraft.label_config import ISSUE_TAGS
from redraft.simulate.rules import WriterRules
from redraft.simulate.steps import RULE_ORDER, STEPS, applies, has_rule, parse_draft, task_facts

ISSUE_OF = {
    "content": "off-brief",
    "greeting": "voice",
    "banned_phrase": "tone",
    "exclamations": "tone",
    "tone": "tone",
    "company": "personalisation",
    "fact": "off-brief",
    "call_to_action": "call to action",
    "length": "too long",
    "sign_off": "voice",
    "postscript": "structure",
}
# Rating points each change costs: style fixes half a point, a missing CTA or an overlong
# draft one, a missing company or fact two, a body that ignores the brief four.
COST = {"content": 4.0, "company": 2.0, "fact": 2.0, "call_to_action": 1.0, "length": 1.0}
STYLE_COST = 0.5


@dataclass(frozen=True)
class WriterVerdict:
    """What the writer made of a draft: the email sent, a 1-5 rating, issue tags, feedback, and
    the rules that changed something (in RULE_ORDER)."""

    final: str
    rating: int
    issues: tuple[str, ...]
    feedback: str
    changed: tuple[str, ...]


def simulate_edit(rules: WriterRules, data: Mapping[str, Any], draft: str) -> WriterVerdict:
    """Edit a draft the way the client's writer would; the same input gives the same verdict.

    >>> from redraft.simulate.rules import WriterRules
    >>> rules = WriterRules("Acme", "Hi {first_name},", "Best,\\nAnn", "Free on Friday?", 60)
    >>> data = {"recipient": "Bo Li, CTO", "company": "Lumo", "brief": "Lumo ships weekly."}
    >>> simulate_edit(rules, data, "Hello Bo,\\n\\nLumo ships weekly now.\\n\\nBest,\\nAnn")
    ... # doctest: +NORMALIZE_WHITESPACE
    WriterVerdict(final='Hi Bo,\\n\\nLumo ships weekly now.\\n\\nFree on Friday?\\n\\nBest,\\nAnn',
                  rating=3, issues=('voice', 'call to action'),
                  feedback="Open with 'Hi Bo,'; close with 'Free on Friday?'.",
                  changed=('greeting', 'call_to_action'))
    """
    task = task_facts(rules, data)
    email = parse_draft(rules, task, draft)
    changed: list[str] = []
    clauses: list[str] = []
    for name in RULE_ORDER:
        rule = STEPS[name]
        if not applies(rules, task, name) or rule.follows(rules, task, email):
            continue
        email, clause = rule.fix(rules, task, email)
        changed.append(name)
        clauses.append(clause)
    if not changed:
        return WriterVerdict(draft, 5, (), "", ())
    cost = sum(COST.get(name, STYLE_COST) for name in changed)
    tags = {ISSUE_OF[name] for name in changed}
    feedback = "; ".join(clauses)
    return WriterVerdict(
        final=render_email(email),
        rating=max(1, 5 - math.ceil(cost)),
        issues=tuple(tag for tag in ISSUE_TAGS if tag in tags),
        feedback=f"{feedback[0].upper()}{feedback[1:]}.",
        changed=tuple(changed),
    )


def rule_checks(rules: WriterRules, data: Mapping[str, Any], draft: str) -> dict[str, bool]:
    """For each rule this writer has, whether the draft as written already follows it.

    >>> from redraft.simulate.rules import WriterRules
    >>> rules = WriterRules("Acme", "Hi {first_name},", "Best,\\nAnn", "Free on Friday?", 60)
    >>> data = {"recipient": "Bo Li, CTO", "brief": "Lumo ships weekly."}
    >>> rule_checks(rules, data, "Hi Bo,\\n\\nLumo ships weekly. Free on Friday?\\n\\nThanks")
    ... # doctest: +NORMALIZE_WHITESPACE
    {'content': True, 'greeting': True, 'call_to_action': True, 'length': True,
     'sign_off': False}
    """
    task = task_facts(rules, data)
    email = parse_draft(rules, task, draft)
    return {
        name: STEPS[name].follows(rules, task, email)
        for name in RULE_ORDER
        if has_rule(rules, name)
    }
