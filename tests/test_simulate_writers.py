"""Simulated writers (pure): each rule's edit, ratings, issues, feedback, rule checks, TOML."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from redraft.label_config import ISSUE_TAGS
from redraft.simulate.rules import WriterRules, WriterRulesError, load_rules, parse_rules
from redraft.simulate.writers import ISSUE_OF, WriterVerdict, rule_checks, simulate_edit

RULES = WriterRules(
    client="Acme Support",
    greeting="Hi {first_name},",
    sign_off="Best,\nAnn Lee\nAcme Support",
    call_to_action="Could I show you a demo on Friday, {first_name}?",
    max_words=40,
    banned_phrases=("I hope this finds you well", "just"),
    no_exclamations=True,
    tone_words={"excited": "glad", "quick call": "short demo"},
    require_company=True,
    require_fact_field="key_fact",
)
DATA = {
    "client": "Acme Support",
    "recipient": "Bo Li, Head of Support",
    "company": "Lumo Labs",
    "brief": "Lumo Labs doubled its support team (job board). Acme's inbox triage cuts reply "
    "times by 40%. Offer a demo.",
    "key_fact": "cuts reply times by 40%",
}
OPENING = "Lumo Labs doubled its support team this year."
FACT = "Acme's inbox triage cuts reply times by 40%."
CTA = "Could I show you a demo on Friday, Bo?"
SIGN_OFF = "Best,\nAnn Lee\nAcme Support"
GOOD = f"Subject: Reply times\n\nHi Bo,\n\n{OPENING} {FACT}\n\n{CTA}\n\n{SIGN_OFF}"


def verdict(final: str, rating: int, issues: tuple[str, ...], feedback: str, *changed: str):
    return WriterVerdict(final, rating, issues, feedback, tuple(changed))


@pytest.mark.parametrize(
    ("draft", "expected"),
    [
        pytest.param(GOOD, verdict(GOOD, 5, (), ""), id="accepted as is"),
        pytest.param(
            GOOD.replace("Hi Bo,", "Hello Bo!"),
            verdict(GOOD, 4, ("voice",), "Open with 'Hi Bo,'.", "greeting"),
            id="greeting",
        ),
        pytest.param(
            GOOD.replace(OPENING, f"I hope this finds you well. {OPENING}"),
            verdict(GOOD, 4, ("tone",), "Cut 'I hope this finds you well'.", "banned_phrase"),
            id="banned sentence",
        ),
        pytest.param(
            GOOD.replace("triage cuts", "triage just cuts"),
            verdict(GOOD, 4, ("tone",), "Cut 'just'.", "banned_phrase"),
            id="banned word",
        ),
        pytest.param(
            GOOD.replace("by 40%.", "by 40%!"),
            verdict(GOOD, 4, ("tone",), "No exclamation marks.", "exclamations"),
            id="exclamation",
        ),
        pytest.param(
            GOOD.replace(OPENING, "Excited to see Lumo Labs double its support team."),
            verdict(
                GOOD.replace(OPENING, "Glad to see Lumo Labs double its support team."),
                4,
                ("tone",),
                "Say 'glad' not 'excited'.",
                "tone",
            ),
            id="tone word",
        ),
        pytest.param(
            GOOD.replace(OPENING, "Your support team doubled this year."),
            verdict(
                GOOD.replace(
                    OPENING,
                    "Your support team doubled this year. Lumo Labs doubled its support team.",
                ),
                3,
                ("personalisation",),
                "Mention Lumo Labs.",
                "company",
            ),
            id="company",
        ),
        pytest.param(
            GOOD.replace(" by 40%.", "."),
            verdict(
                GOOD.replace(" by 40%.", ".").replace(f"\n\n{CTA}", f"\n\n{FACT} {CTA}"),
                3,
                ("off-brief",),
                "Say that cuts reply times by 40%.",
                "fact",
            ),
            id="fact",
        ),
        pytest.param(
            GOOD.replace(CTA, "Want to chat?"),
            verdict(GOOD, 4, ("call to action",), f"Close with '{CTA}'.", "call_to_action"),
            id="call to action replaced",
        ),
        pytest.param(
            GOOD.replace(f"\n\n{CTA}", ""),
            verdict(GOOD, 4, ("call to action",), f"Close with '{CTA}'.", "call_to_action"),
            id="call to action added",
        ),
        pytest.param(
            GOOD.replace(
                FACT,
                f"We work with many support teams. {FACT} Setup takes a single day. "
                "Agents like it.",
            ),
            verdict(
                GOOD.replace(
                    FACT, f"We work with many support teams. {FACT} Setup takes a single day."
                ),
                4,
                ("too long",),
                "Keep it to 40 words.",
                "length",
            ),
            id="length",
        ),
        pytest.param(
            GOOD.replace(SIGN_OFF, "Thanks!\nAnn"),
            verdict(
                GOOD,
                4,
                ("voice",),
                "Sign off as 'Best, Ann Lee, Acme Support'.",
                "sign_off",
            ),
            id="sign-off replaced",
        ),
        pytest.param(
            GOOD.replace(f"\n\n{SIGN_OFF}", ""),
            verdict(
                GOOD,
                4,
                ("voice",),
                "Sign off as 'Best, Ann Lee, Acme Support'.",
                "sign_off",
            ),
            id="sign-off added",
        ),
    ],
)
def test_each_rule_edits_the_draft(draft: str, expected: WriterVerdict) -> None:
    assert simulate_edit(RULES, DATA, draft) == expected


def test_many_changes_cost_more_and_feedback_follows_the_rule_order() -> None:
    draft = (
        "Hello Bo!\n\nI hope this finds you well! Your support team doubled and we are "
        "excited.\n\nCan we set up a quick call?\n\nCheers,\nAnn"
    )
    assert simulate_edit(RULES, DATA, draft) == verdict(
        "Hi Bo,\n\nYour support team doubled and we are glad.\n\nLumo Labs doubled its support "
        f"team. {FACT} {CTA}\n\n{SIGN_OFF}",
        1,
        ("tone", "voice", "personalisation", "call to action", "off-brief"),
        "Open with 'Hi Bo,'; cut 'I hope this finds you well'; say 'glad' not 'excited', "
        "'short demo' not 'quick call'; mention Lumo Labs; say that cuts reply times by 40%; "
        f"close with '{CTA}'; sign off as 'Best, Ann Lee, Acme Support'.",
        "greeting",
        "banned_phrase",
        "tone",
        "company",
        "fact",
        "call_to_action",
        "sign_off",
    )


@pytest.mark.parametrize("draft", ["", "   \n", "asdf qwer zxcv", "Subject: Hi\n\nlorem ipsum"])
def test_an_empty_or_off_brief_draft_is_rewritten_from_the_brief(draft: str) -> None:
    result = simulate_edit(RULES, DATA, draft)
    subject = "Subject: Hi\n\n" if draft.startswith("Subject") else ""
    body = f"Hi Bo,\n\nLumo Labs doubled its support team. {FACT}\n\n{CTA}\n\n{SIGN_OFF}"
    assert result == verdict(
        subject + body,
        1,
        ("voice", "call to action", "off-brief"),
        f"Write about the brief; open with 'Hi Bo,'; say that cuts reply times by 40%; close "
        f"with '{CTA}'; sign off as 'Best, Ann Lee, Acme Support'.",
        "content",
        "greeting",
        "fact",
        "call_to_action",
        "sign_off",
    )


def test_postscript_is_required_and_replaced() -> None:
    rules = dataclasses.replace(RULES, postscript="P.S. {company} gets the first month free.")
    expected = f"{GOOD}\n\nP.S. Lumo Labs gets the first month free."
    assert simulate_edit(rules, DATA, expected) == verdict(expected, 5, (), "")
    assert simulate_edit(rules, DATA, f"{GOOD}\n\nPS: call me") == verdict(
        expected,
        4,
        ("structure",),
        "End with 'P.S. Lumo Labs gets the first month free.'.",
        "postscript",
    )


def test_a_task_without_company_or_fact_is_not_asked_for_them() -> None:
    data = {"recipient": "Bo Li", "brief": "Support teams drown in tickets. Offer a demo."}
    draft = f"Hi Bo,\n\nSupport teams drown in tickets.\n\n{CTA}\n\n{SIGN_OFF}"
    assert simulate_edit(RULES, data, draft) == verdict(draft, 5, (), "")


def test_the_writer_accepts_its_own_final_and_is_deterministic() -> None:
    shipped = load_rules()
    brief_lines = Path("redraft/samples/demo_briefs.jsonl").read_text("utf-8").splitlines()
    drafts = ["", "asdf", "Hi there!\n\nWe are excited. {brief}\n\nThanks,\nAlex", "{brief} " * 6]
    for line in brief_lines:
        data = json.loads(line)
        data["key_fact"] = data["brief"].split(". ")[1]
        for template in drafts:
            draft = template.format(brief=data["brief"])
            first = simulate_edit(shipped[data["client"]], data, draft)
            assert simulate_edit(shipped[data["client"]], data, draft) == first
            again = simulate_edit(shipped[data["client"]], data, first.final)
            assert again == verdict(first.final, 5, (), ""), (data["external_id"], template)


@pytest.mark.parametrize(
    ("draft", "expected"),
    [
        pytest.param(
            GOOD,
            {
                "content": True,
                "greeting": True,
                "banned_phrase": True,
                "exclamations": True,
                "tone": True,
                "company": True,
                "fact": True,
                "call_to_action": True,
                "length": True,
                "sign_off": True,
            },
            id="all followed",
        ),
        pytest.param(
            "Hey Bo! I hope this finds you well! We are excited about your team.",
            {
                "content": False,
                "greeting": False,
                "banned_phrase": False,
                "exclamations": False,
                "tone": False,
                "company": False,
                "fact": False,
                "call_to_action": False,
                "length": True,
                "sign_off": False,
            },
            id="none but length",
        ),
    ],
)
def test_rule_checks_judge_the_draft_as_written(draft: str, expected: dict[str, bool]) -> None:
    assert rule_checks(RULES, DATA, draft) == expected


def test_rule_checks_list_only_the_writers_rules() -> None:
    rules = WriterRules("Zed", "Dear {full_name},", "Regards,\nZed", "Shall we talk?", 50)
    assert rule_checks(rules, DATA, "Dear Bo Li,\n\nLumo Labs triage.\n\nShall we talk?") == {
        "content": True,
        "greeting": True,
        "call_to_action": True,
        "length": True,
        "sign_off": False,
    }


def test_issue_tags_come_from_the_labeling_config() -> None:
    assert set(ISSUE_OF.values()) <= set(ISSUE_TAGS)


def test_shipped_writers() -> None:
    shipped = load_rules()
    assert {name: rules.tuned for name, rules in shipped.items()} == {
        "Northwind Analytics": True,
        "Harbor & Pine Interiors": True,
        "Kestrel Freight": True,
        "Larkspur Legal": False,
        "Quarry Bikes": False,
    }
    assert shipped["Quarry Bikes"] == WriterRules(
        client="Quarry Bikes",
        greeting="Hey {first_name}!",
        sign_off="Cheers, Sam",
        call_to_action="Fancy a free test ride this Saturday?",
        max_words=70,
        banned_phrases=(
            "kind regards",
            "per my last email",
            "please do not hesitate to contact me",
            "leverage",
        ),
        tone_words={
            "bicycle": "bike",
            "bicycles": "bikes",
            "employees": "riders",
            "get in touch": "give us a shout",
        },
        require_fact_field="key_fact",
        postscript="P.S. Every bike comes with a free first service.",
        tuned=False,
    )


VALID = '[clients.Acme]\ngreeting = "Hi {first_name},"\nsign_off = "Best"\n'
VALID += 'call_to_action = "Free Friday?"\nmax_words = 80\n'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("clients = [", "w.toml: not valid TOML (Invalid value (at end of document))"),
        ('title = "x"', 'w.toml: no [clients."Name"] tables — add one per client'),
        (
            VALID.replace("max_words = 80", "max_words = 'ninety'"),
            "w.toml: clients.Acme.max_words: expected a whole number of at least 20, got 'ninety'",
        ),
        (VALID.replace("max_words = 80\n", ""), "w.toml: clients.Acme: missing field 'max_words'"),
        (
            VALID + "colour = 'blue'\n",
            "w.toml: clients.Acme: unknown field 'colour' (known: banned_phrases, "
            "call_to_action, greeting, max_words, no_exclamations, postscript, require_company, "
            "require_fact_field, sign_off, tone_words, tuned)",
        ),
        (
            VALID.replace("{first_name}", "{nickname}"),
            "w.toml: clients.Acme.greeting: unknown placeholder {nickname} — use {first_name}, "
            "{last_name} or {full_name}",
        ),
        (
            VALID.replace('sign_off = "Best"', 'sign_off = ""'),
            "w.toml: clients.Acme.sign_off: expected non-empty text, got ''",
        ),
        (
            VALID + "tuned = 'yes'\n",
            "w.toml: clients.Acme.tuned: expected true or false, got 'yes'",
        ),
        (
            VALID + "banned_phrases = ['Friday']\n",
            "w.toml: clients.Acme.call_to_action: contains 'Friday', which banned_phrases or "
            "tone_words would edit — reword one of them",
        ),
        (
            VALID.replace("Free Friday?", "Free Friday!") + "no_exclamations = true\n",
            "w.toml: clients.Acme.call_to_action: has '!' but no_exclamations is true",
        ),
        (
            VALID.replace("[clients.Acme]", '[clients."Acme & Co"]'),
            None,
        ),
    ],
)
def test_rules_file_errors_name_file_and_field(text: str, message: str | None) -> None:
    if message is None:
        assert list(parse_rules(text, "w.toml")) == ["Acme & Co"]
        return
    with pytest.raises(WriterRulesError) as raised:
        parse_rules(text, "w.toml")
    assert str(raised.value) == message


def test_a_missing_rules_file_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(WriterRulesError) as raised:
        load_rules(tmp_path / "nope.toml")
    assert str(raised.value) == f"cannot read writer rules {tmp_path / 'nope.toml'}: " + (
        'No such file or directory — check the path; a rules file has one [clients."Name"] '
        "table per client, like redraft/samples/simulated_writers.toml "
        "(docs/local.md#simulated-writers)"
    )
