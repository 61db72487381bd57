"""The docs' command lines match the CLI: every `redraft …` line in a code block of README.md
and docs/*.md (```bash blocks, and plain ``` blocks, where `$ redraft` is a prompt) names a
command that exists, and every flag it passes is an option of that command.

Checked with click's own command objects, not by running anything. A line that is not a command
(a program's output that starts with "redraft") is listed in NOT_COMMANDS with the reason; a
listed line that no longer appears in the docs fails the test, so the list cannot hide a line
silently."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

from redraft.cli.main import cli

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
SHELL = ("", "bash", "sh", "shell", "console")  # code blocks whose lines may be commands
ENV = re.compile(r"^[A-Z_][A-Z0-9_]*=\S*$")

# Lines in code blocks that start with "redraft" but are not commands, as command_lines gives
# them, and why.
NOT_COMMANDS: dict[str, str] = {
    "redraft commands in another shell (export, train, prefill…) need this demo's setup": (
        "what `redraft demo` prints (docs/walkthrough.md)"
    ),
}


def code_blocks(text: str) -> list[str]:
    """The text of each fenced code block in a shell language (or none)."""
    blocks, language, lines = [], None, []
    for line in text.splitlines():
        if line.startswith("```"):
            if language is None:
                language, lines = line[3:].strip(), []
            else:
                if language in SHELL:
                    blocks.append("\n".join(lines) + "\n")
                language = None
        elif language is not None:
            lines.append(line)
    return blocks


def command_lines(text: str) -> list[str]:
    """Each `redraft` command in the text's bash blocks: continuation lines joined, a leading
    `$ `, environment assignments and everything after `&`, `&&`, `|` or `;` left out."""
    found = []
    for block in code_blocks(text):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.strip().removeprefix("$ ")
            try:
                words = shlex.split(line, comments=True)
            except ValueError:  # unbalanced quotes: checked as is, so it fails or is listed
                if line.startswith("redraft "):
                    found.append(line)
                continue
            while words and ENV.match(words[0]):
                words = words[1:]
            for cut in ("&", "&&", "|", ";", ">", "2>"):
                if cut in words:
                    words = words[: words.index(cut)]
            if words and words[0] == "redraft":
                found.append(shlex.join(words))
    return found


def doc_commands() -> list[tuple[str, str]]:
    return [
        (doc.relative_to(REPO).as_posix(), line)
        for doc in DOCS
        for line in command_lines(doc.read_text("utf-8"))
    ]


def problems(line: str) -> list[str]:
    """What in `line` the CLI does not have: an unknown command or an unknown option."""
    try:
        words = shlex.split(line)[1:]
    except ValueError as exc:
        return [f"not a shell command line ({exc})"]
    command: click.Command = cli
    path = ["redraft"]
    found: list[str] = []
    ctx = click.Context(cli, info_name="redraft")
    while words:
        word = words.pop(0)
        if word in ("-h", "--help"):
            continue
        if word.startswith("-") and word != "-":
            name = word.split("=", 1)[0]
            option = next((p for p in command.params if name in p.opts + p.secondary_opts), None)
            if option is None:
                found.append(f"{' '.join(path)} has no option {name}")
                if "=" not in word and words and not words[0].startswith("-"):
                    words.pop(0)  # most likely its value
                continue
            takes = 0 if isinstance(option, click.Option) and option.is_flag else option.nargs
            if "=" not in word:
                del words[: max(takes, 0)]
            continue
        if isinstance(command, click.Group):
            sub = command.get_command(ctx, word)
            if sub is None:
                found.append(f"{' '.join(path)} has no command {word!r}")
                return found
            command, path = sub, [*path, word]
            continue
        # A positional argument of the command: nothing to check but that it takes some.
        if not any(isinstance(p, click.Argument) for p in command.params):
            found.append(f"{' '.join(path)} takes no argument {word!r}")
    if isinstance(command, click.Group):
        found.append(f"{' '.join(path)} needs a command")
    return found


def test_the_docs_have_command_lines_to_check() -> None:
    lines = doc_commands()
    assert len(lines) > 50
    assert {doc for doc, _ in lines} >= {"README.md", "docs/training.md", "docs/labelstudio.md"}


@pytest.mark.parametrize(("doc", "line"), doc_commands())
def test_a_documented_command_line_matches_the_cli(doc: str, line: str) -> None:
    if line in NOT_COMMANDS:
        pytest.skip(f"not a command: {NOT_COMMANDS[line]}")
    assert problems(line) == [], f"{doc}: {line}"


def test_every_listed_non_command_is_still_in_the_docs() -> None:
    shown = {line for _, line in doc_commands()}
    assert sorted(set(NOT_COMMANDS) - shown) == []


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("redraft export --project 3 -o out", []),
        ("redraft export --projcet 3", ["redraft export has no option --projcet"]),
        ("redraft modles list", ["redraft has no command 'modles'"]),
        ("redraft models", ["redraft models needs a command"]),
        ("redraft train trl x --fresh --max-steps=2", []),
        ("redraft status extra", ["redraft status takes no argument 'extra'"]),
    ],
)
def test_the_checker_finds_what_is_wrong(line: str, expected: list[str]) -> None:
    assert problems(line) == expected
