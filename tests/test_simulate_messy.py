"""Messier simulated writers: whole-sentence rewrites, a colleague who disagrees, weak drafts
accepted as is, typos and churn; each on its own, then all of them, then mined."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bench.briefs import make_briefs
from redraft.simulate.messy import MESSY, Messiness, disagreeing, messy_edit
from redraft.simulate.rules import WriterRules, load_rules
from redraft.simulate.writers import WriterVerdict, simulate_edit
from redraft.styles.mining import EditRecord, MiningOptions, learn_styles
from tests.fixtures.writers import naive_draft

RULES = WriterRules(
    "Acme",
    "Hi {first_name},",
    "Best,\nAnn",
    "Free on Friday?",
    60,
    banned_phrases=("really", "just"),
)
DATA = {"recipient": "Bo Li, CTO", "company": "Lumo", "brief": "Lumo ships weekly."}
DRAFT = (
    "Hello Bo,\n\nBecause Lumo ships weekly, we can really help your team.\n\n"
    "Could we talk?\n\nBest,\nAnn"
)


@pytest.mark.parametrize("client", sorted(load_rules()))
def test_no_mess_is_the_clean_writer(client: str) -> None:
    rules = load_rules()[client]
    for data in make_briefs(client, 6, seed=4):
        draft = naive_draft(data)
        assert messy_edit(rules, data, draft, Messiness(seed=9)) == simulate_edit(
            rules, data, draft
        )


def test_a_rewriting_writer_rewrites_the_sentences_it_edits_but_not_its_own_call() -> None:
    verdict = messy_edit(RULES, DATA, DRAFT, Messiness(rewrite_share=1.0))
    clean = simulate_edit(RULES, DATA, DRAFT)
    assert clean.final == (
        "Hi Bo,\n\nBecause Lumo ships weekly, we can help your team.\n\nFree on Friday?"
        "\n\nBest,\nAnn"
    )
    assert verdict == replace(
        clean,
        final="Hi Bo,\n\nWe could support your people, since Lumo ships weekly."
        "\n\nFree on Friday?\n\nBest,\nAnn",
    )


def test_a_colleague_on_the_same_client_greets_and_cuts_differently() -> None:
    colleague = disagreeing(RULES)
    assert (colleague.greeting, colleague.banned_phrases, colleague.max_words) == (
        "Hello {first_name},",
        ("really",),
        72,
    )
    verdict = messy_edit(RULES, DATA, DRAFT, Messiness(second_writer_share=1.0))
    assert verdict == simulate_edit(colleague, DATA, DRAFT)
    assert verdict.final.startswith("Hello Bo,\n\n")


def test_a_busy_writer_sends_a_weak_draft_as_is() -> None:
    assert simulate_edit(RULES, DATA, DRAFT).rating == 3  # weak: greeting, phrase and call
    verdict = messy_edit(RULES, DATA, DRAFT, Messiness(accept_weak_share=1.0))
    assert verdict == WriterVerdict(DRAFT, 4, (), "", ())
    good = "Hi Bo,\n\nLumo ships weekly.\n\nFree on Friday?\n\nBest,\nAnn"
    assert messy_edit(RULES, DATA, good, Messiness(accept_weak_share=1.0)).final == good


def test_churn_changes_wording_no_rule_asks_for() -> None:
    verdict = messy_edit(RULES, DATA, DRAFT, Messiness(churn_share=1.0, seed=1))
    clean = simulate_edit(RULES, DATA, DRAFT)
    assert verdict == replace(clean, final=clean.final.replace("ships", "shpis"))


def test_messy_writers_repeat_exactly_and_mix_in_the_set_shares() -> None:
    rules = load_rules()["Northwind Analytics"]
    briefs = make_briefs("Northwind Analytics", 40, seed=3)
    first = [messy_edit(rules, d, naive_draft(d), MESSY) for d in briefs]
    again = [messy_edit(rules, d, naive_draft(d), MESSY) for d in briefs]
    assert first == again
    clean = [simulate_edit(rules, d, naive_draft(d)) for d in briefs]
    accepted = sum(v.final == naive_draft(d) for v, d in zip(first, briefs, strict=True))
    colleague = sum(v.final.split("\n\n")[1].startswith("Hello ") for v in first)
    changed = sum(v.final != c.final for v, c in zip(first, clean, strict=True))
    assert (accepted, colleague, changed) == (8, 12, 37)


def test_what_mining_finds_through_the_mess() -> None:
    """Simulated writers, 30 edits with MESSY: the sign-off (24 of 30) is still found. The main
    writer's greeting is in 17 finals (the colleague's in 8, accepted drafts keep 5): under the
    default 60% share it is no rule, at 50% it is. The defaults are not tuned to this."""
    rules = load_rules()["Northwind Analytics"]
    records = []
    for data in make_briefs("Northwind Analytics", 30, seed=5):
        draft = naive_draft(data)
        verdict = messy_edit(rules, data, draft, MESSY)
        records.append(EditRecord("Northwind Analytics", draft, verdict.final, data))
    found = learn_styles(records)["Northwind Analytics"]
    assert [(r.example, r.evidence) for r in found.rules if r.kind == "sign_off"] == [
        ("Best,\nPriya Raman\nNorthwind Analytics", "24 of 30 edits")
    ]
    assert [r for r in found.rules if r.kind == "greeting"] == []
    looser = learn_styles(records, MiningOptions(min_share=0.5))["Northwind Analytics"]
    assert [(r.rule, r.evidence) for r in looser.rules if r.kind == "greeting"] == [
        ('Open with "Hi {first_name},"', "17 of 30 edits")
    ]
