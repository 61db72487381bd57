"""Learned rules as TOML: the reviewable fragment `styles learn` prints, and merging it into a
prompt template (`styles apply`) with tomlkit, so the template keeps its comments, its layout
and the notes a person wrote.

A fragment looks like:

    # Northwind Analytics: 48 edits; issue tags ticked most: tone 30, too long 21; ...
    [[clients."Northwind Analytics".learned]]
    kind = "greeting"
    rule = "Open with \\"Hi {first_name},\\""
    evidence = "45 of 48 edits"
    example = "Hi {first_name},"
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Mapping

import tomlkit
from tomlkit.items import AoT, Table

from redraft.errors import TemplateError
from redraft.prompting import LearnedNote, PromptTemplate, parse_template
from redraft.styles.mining import ClientFindings, MiningOptions


def notes_of(findings: ClientFindings) -> list[LearnedNote]:
    """The template notes for one client's findings (evidence kept beside each rule)."""
    return [
        LearnedNote(rule=r.rule, kind=r.kind, evidence=r.evidence, example=r.example)
        for r in findings.rules
    ]


def render_fragment(
    findings: Mapping[str, ClientFindings], source: str, options: MiningOptions
) -> str:
    """The TOML fragment for review: per client, a comment with the edits, issue tags and
    feedback themes, then one [[clients."Name".learned]] table per rule."""
    lines = [
        f"# Style rules learned by `redraft styles learn` from {source}",
        f"# (a rule needs {options.min_support}+ edits and {options.min_share:.0%} of a client's"
        " edits). Review, delete what is wrong, then: redraft styles apply THIS_FILE",
    ]
    for client, found in findings.items():
        tags = ", ".join(f"{tag} {count}" for tag, count in found.issue_tags[:5]) or "none"
        themes = ", ".join(f"{theme} {count}" for theme, count in found.feedback_themes) or "none"
        lines += [
            "",
            f"# {client}: {found.edits} edits; {len(found.rules)} rules",
            f"# issue tags ticked most: {tags}",
            f"# feedback themes: {themes}",
        ]
        if not found.rules:
            lines.append("# (no rule has enough evidence yet)")
        doc = tomlkit.document()
        clients = tomlkit.table(is_super_table=True)
        client_table = tomlkit.table(is_super_table=True)
        client_table.append("learned", _aot(notes_of(found)))
        clients.append(client, client_table)
        doc.append("clients", clients)
        if found.rules:
            lines.append(tomlkit.dumps(doc).strip())
    return "\n".join(lines) + "\n"


def read_fragment(text: str, source: str) -> dict[str, tuple[LearnedNote, ...]]:
    """Client name -> learned rules, from a fragment (or a whole template)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TemplateError(f"{source}: not valid TOML ({exc})") from None
    clients = raw.get("clients")
    if not isinstance(clients, dict):
        raise TemplateError(
            f'{source}: no [[clients."Name".learned]] rules — make one with `redraft styles learn`'
        )
    # Parse the rules with the template's own checks.
    wrapper = 'system = "-"\nuser = "{brief}"\n' + text
    template = parse_template(wrapper, source)
    return {
        name: template.client_style(name).learned
        for name, entry in clients.items()
        if isinstance(entry, dict) and "learned" in entry
    }


def apply_notes(template_text: str, learned: Mapping[str, tuple[LearnedNote, ...]]) -> str:
    """The template text with each client's learned rules replaced by `learned`'s.

    A client's `system` and `style_notes` (written by a person) stay as they are; a client the
    template lacks gets a table; clients not in `learned` keep their rules.
    """
    doc = tomlkit.parse(template_text)
    if "clients" not in doc:
        doc.append("clients", tomlkit.table(is_super_table=True))
    clients = doc["clients"]
    assert isinstance(clients, Table)
    existing = {str(key).strip().casefold(): str(key) for key in clients}
    for client, notes in learned.items():
        key = existing.get(client.strip().casefold())
        if key is None:
            clients.append(client, tomlkit.table(is_super_table=True))
            key = client
        table = clients[key]
        assert isinstance(table, Table)
        if "learned" in table:
            del table["learned"]
        if notes:
            table.append("learned", _aot(list(notes)))
    return _blank_before_headers(tomlkit.dumps(doc))


def _blank_before_headers(text: str) -> str:
    """One blank line before each [table] header (tomlkit leaves them uneven after edits), so
    that applying the same rules twice gives the same text.

    >>> q = '"' * 3  # a multi-line string, whose lines are never headers
    >>> text = f'a = 1\\n[t]\\nb = {q}\\n[x]\\n{q}\\n\\n\\n[u]\\n'
    >>> _blank_before_headers(text).replace(q, 'Q').split('\\n')
    ['a = 1', '', '[t]', 'b = Q', '[x]', 'Q', '', '[u]', '']
    """
    out: list[str] = []
    in_string = False
    for line in text.splitlines():
        header = not in_string and line.startswith("[")
        if line.count('"""') % 2:
            in_string = not in_string
        if header:
            while out and not out[-1].strip():
                out.pop()
            if out:
                out.append("")
        out.append(line)
    return "\n".join(out) + "\n"


def template_diff(old: str, new: str, old_name: str, new_name: str) -> str:
    """A unified diff of two template texts (empty when they are the same)."""
    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True), new.splitlines(keepends=True), old_name, new_name
        )
    )


def checked(text: str, source: str) -> PromptTemplate:
    """The merged text parsed as a template, so a broken merge is never written."""
    return parse_template(text, source)


def _aot(notes: list[LearnedNote]) -> AoT:
    tables = tomlkit.aot()
    for note in notes:
        table = tomlkit.table()
        table.append("kind", note.kind)
        rule = tomlkit.string(note.rule, multiline="\n" in note.rule)
        table.append("rule", rule)
        table.append("evidence", note.evidence)
        example = tomlkit.string(note.example, multiline="\n" in note.example)
        table.append("example", example)
        tables.append(table)
    return tables


def with_learned_notes(
    template_text: str, findings: Mapping[str, ClientFindings], source: str
) -> tuple[PromptTemplate, str, int] | None:
    """The template with the rules mined from one export in each client's notes: (template,
    its text, how many rules); None when nothing was learned. Used for the training prompts of
    the candidate trained on that export (a person reviews notes for other models' prompts
    with `styles learn` / `styles apply`)."""
    learned = {client: tuple(notes_of(found)) for client, found in findings.items() if found.rules}
    if not learned:
        return None
    text = apply_notes(template_text, learned)
    return parse_template(text, source), text, sum(len(notes) for notes in learned.values())
