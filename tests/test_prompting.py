"""The one prompt builder: task data + template -> messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from redraft.errors import TaskDataError, TemplateError
from redraft.prompting import build_messages, load_template, parse_template

TEMPLATE = '''
system = "You write for {client}."
user = """
Recipient: {recipient} at {company}
Goal: {goal}

{brief}"""
[clients."Acme Corp"]
style_notes = "Warm, no jargon."
[clients.Globex]
system = "Globex house style only."
'''


def test_full_task_fills_every_line() -> None:
    data = {
        "brief": "Invite to the spring webinar.",
        "client": "Initech",
        "recipient": "Dana",
        "company": "Hooli",
        "goal": "registration",
    }
    assert build_messages(data, parse_template(TEMPLATE)) == [
        {"role": "system", "content": "You write for Initech."},
        {
            "role": "user",
            "content": (
                "Recipient: Dana at Hooli\nGoal: registration\n\nInvite to the spring webinar."
            ),
        },
    ]


def test_missing_optional_fields_drop_their_lines_and_an_empty_system() -> None:
    messages = build_messages({"brief": "  Say hi.  ", "company": ""}, parse_template(TEMPLATE))
    assert messages == [{"role": "user", "content": "Say hi."}]


def test_client_style_notes_are_appended_case_insensitively() -> None:
    messages = build_messages({"brief": "b", "client": "ACME corp"}, parse_template(TEMPLATE))
    assert messages[0] == {
        "role": "system",
        "content": "You write for ACME corp.\n\nClient style notes:\nWarm, no jargon.",
    }


def test_client_system_prompt_replaces_default_and_task_notes_win() -> None:
    data = {"brief": "b", "client": "Globex", "style_notes": "Short sentences."}
    messages = build_messages(data, parse_template(TEMPLATE))
    assert messages[0] == {
        "role": "system",
        "content": "Globex house style only.\n\nClient style notes:\nShort sentences.",
    }


def test_non_string_values_are_rendered() -> None:
    template = parse_template('system = "s"\nuser = "{brief} / {tags} / {n}"')
    messages = build_messages({"brief": "b", "tags": ["a", "b"], "n": 3}, template)
    assert messages[1] == {"role": "user", "content": "b / a, b / 3"}


def test_braces_that_are_no_placeholder_stay_as_written() -> None:
    template = parse_template(
        'system = "Reply as JSON: {\\"a\\": 1} {0} {x.y} {}"\n'
        'user = "{{brief}} {brief:>9} {missing} {brief}!r}"'
    )
    messages = build_messages({"brief": "b", "note": "{client}"}, template)
    assert messages == [
        {"role": "system", "content": 'Reply as JSON: {"a": 1} {0} {x.y} {}'},
        {"role": "user", "content": "{b} {brief:>9}  b!r}"},
    ]


def test_a_dropped_line_leaves_at_most_one_blank_line() -> None:
    template = parse_template('system = "s"\nuser = "Hi\\n\\n{goal}\\n\\n\\n{brief}\\n\\nBye"')
    messages = build_messages({"brief": "b"}, template)
    assert messages[1] == {"role": "user", "content": "Hi\n\nb\n\nBye"}


@pytest.mark.parametrize("data", [{}, {"brief": ""}, {"brief": "   "}, {"brief": None}])
def test_task_without_brief_is_refused(data: dict) -> None:
    with pytest.raises(TaskDataError, match="no `brief` text"):
        build_messages(data, load_template())


def test_default_template_builds_a_prompt_and_has_a_stable_hash() -> None:
    template = load_template()
    messages = build_messages({"brief": "Follow up on the demo.", "client": "Acme"}, template)
    assert [m["role"] for m in messages] == ["system", "user"]
    assert messages[1]["content"] == "Client: Acme\n\nBrief:\nFollow up on the demo."
    assert template.sha256 == load_template().sha256
    assert len(template.sha256) == 64


def test_hash_changes_with_content_not_formatting() -> None:
    a = parse_template('system = "s"\nuser = "{brief}"')
    b = parse_template('user   =   "{brief}"\n\nsystem = "s"\n')
    c = parse_template('system = "t"\nuser = "{brief}"')
    assert a.sha256 == b.sha256
    assert a.sha256 != c.sha256


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("system = ", "not valid TOML"),
        ('user = "{brief}"', "missing the `system` text"),
        ('system = "s"\nuser = "no placeholder"', "must contain {brief}"),
        ('system = "s"\nuser = "{brief}"\n[clients.X]\ncolour = "red"', "may only set"),
    ],
)
def test_malformed_templates_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        parse_template(text, "t.toml")


def test_unreadable_template_file(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="cannot read prompt template"):
        load_template(tmp_path / "missing.toml")
