"""The one prompt builder: task data + template -> chat messages, for drafting and training alike.

Pure functions only; reading the template file is the single I/O step (`load_template`).
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

from redraft.emailparts import names_from_recipient
from redraft.errors import TaskDataError, TemplateError

Message = dict[str, str]

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_BLANK_RUNS = re.compile(r"\n{3,}")
REQUIRED_FIELD = "brief"


@dataclass(frozen=True)
class LearnedNote:
    """A style rule mined from the writers' edits (`redraft styles learn`), with its evidence.

    `rule` may hold {placeholders} ({first_name}, {company}, any task field), filled per task.
    """

    rule: str
    kind: str = ""
    evidence: str = ""
    example: str = ""


LEARNED_KEYS = frozenset({"rule", "kind", "evidence", "example"})


@dataclass(frozen=True)
class ClientStyle:
    """Per-client overrides: a replacement system prompt, style notes a person wrote, and
    learned rules (`[[clients."Name".learned]]`, replaced by each `redraft styles apply`)."""

    system: str | None = None
    style_notes: str | None = None
    learned: tuple[LearnedNote, ...] = ()


@dataclass(frozen=True)
class PromptTemplate:
    """A parsed prompt template; `sha256` identifies it in manifests and the model registry."""

    system: str
    user: str
    name: str = "default"
    style_notes_heading: str = "Client style notes:"
    clients: Mapping[str, ClientStyle] = field(default_factory=dict)

    @cached_property  # asked for every record an export writes; the template never changes
    def sha256(self) -> str:
        """Hash of the template's content (not its formatting), stable across runs."""
        canonical = {
            "name": self.name,
            "system": self.system,
            "user": self.user,
            "style_notes_heading": self.style_notes_heading,
            "clients": {key: _canonical(style) for key, style in sorted(self.clients.items())},
        }
        blob = json.dumps(canonical, sort_keys=True, ensure_ascii=False).encode()
        return hashlib.sha256(blob).hexdigest()

    def client_style(self, client: str | None) -> ClientStyle:
        """The style for a client name (case-insensitive), or an empty one."""
        if not client:
            return ClientStyle()
        return self.clients.get(client.strip().casefold(), ClientStyle())


def _canonical(style: ClientStyle) -> dict[str, Any]:
    canonical: dict[str, Any] = {"system": style.system, "style_notes": style.style_notes}
    if style.learned:  # only the rules reach the prompt; evidence does not change the hash
        canonical["learned"] = [note.rule for note in style.learned]
    return canonical


def parse_template(text: str, source: str = "<template>") -> PromptTemplate:
    """Parse template TOML text into a PromptTemplate.

    >>> t = parse_template('system = "Be brief."\\nuser = "{brief}"')
    >>> (t.system, t.user, t.name)
    ('Be brief.', '{brief}', 'default')
    """
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TemplateError(f"{source}: not valid TOML ({exc})") from None
    for key in ("system", "user"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise TemplateError(f'{source}: missing the `{key}` text — add {key} = """..."""')
    if "{" + REQUIRED_FIELD + "}" not in raw["user"]:
        raise TemplateError(f"{source}: the `user` text must contain {{{REQUIRED_FIELD}}}")
    clients: dict[str, ClientStyle] = {}
    for name, entry in (raw.get("clients") or {}).items():
        if not isinstance(entry, dict) or set(entry) - {"system", "style_notes", "learned"}:
            raise TemplateError(
                f"{source}: [clients.{name!r}] may only set `system`, `style_notes` and `learned`"
            )
        clients[name.strip().casefold()] = ClientStyle(
            system=_clean(entry.get("system")),
            style_notes=_clean(entry.get("style_notes")),
            learned=_learned(entry.get("learned", []), f"{source}: clients.{name!r}.learned"),
        )
    return PromptTemplate(
        system=raw["system"].strip(),
        user=raw["user"].strip(),
        name=str(raw.get("name", "default")),
        style_notes_heading=str(raw.get("style_notes_heading", "Client style notes:")).strip(),
        clients=MappingProxyType(clients),
    )


def _learned(entries: Any, where: str) -> tuple[LearnedNote, ...]:
    if not isinstance(entries, list):
        raise TemplateError(f"{where}: expected [[...learned]] tables, each with a `rule`")
    notes = []
    for entry in entries:
        if not isinstance(entry, dict) or set(entry) - LEARNED_KEYS:
            raise TemplateError(
                f"{where}: each learned rule may only set {', '.join(sorted(LEARNED_KEYS))}"
            )
        values = {key: entry.get(key, "") for key in LEARNED_KEYS}
        if not all(isinstance(value, str) for value in values.values()):
            raise TemplateError(f"{where}: learned rule fields must be text")
        if not values["rule"].strip():
            raise TemplateError(f"{where}: a learned rule has no `rule` text")
        notes.append(LearnedNote(**{key: value.strip() for key, value in values.items()}))
    return tuple(notes)


TEMPLATES = "templates"  # under REDRAFT_HOME: prompt templates, also those copied from one


def template_file(recorded: str, home: Path) -> Path:
    """The template a version drafts with on this host: the recorded path when this host sees
    it, else a copy of the same file under REDRAFT_HOME/templates (names carry the content's
    hash, so a copy by name is the same template).

    >>> template_file("/trainer/home/templates/export-1a2b.toml", Path("/srv/home"))  # no copy
    PosixPath('/trainer/home/templates/export-1a2b.toml')
    """
    path = Path(recorded)
    if path.is_file():
        return path
    copied = home / TEMPLATES / path.name
    return copied if copied.is_file() else path


def template_text(path: Path | None = None) -> str:
    """A template file's text, or the default template shipped with redraft when path is None."""
    if path is None:
        return resources.files("redraft.templates").joinpath("default.toml").read_text("utf-8")
    try:
        return Path(path).read_text("utf-8")
    except OSError as exc:
        raise TemplateError(f"cannot read prompt template {path}: {exc.strerror}") from None


def load_template(path: Path | None = None) -> PromptTemplate:
    """Read a template file, or the default template shipped with redraft when path is None."""
    return parse_template(template_text(path), "default.toml" if path is None else str(path))


def build_messages(data: Mapping[str, Any], template: PromptTemplate) -> list[Message]:
    """Turn one task's data into chat messages: system (unless empty), then user.

    >>> t = parse_template('system = "Be brief."\\nuser = "To: {recipient}\\\\n{brief}"')
    >>> build_messages({"brief": "Offer a demo."}, t)
    [{'role': 'system', 'content': 'Be brief.'}, {'role': 'user', 'content': 'Offer a demo.'}]
    """
    fields = {key: _checked_field(key, value) for key, value in data.items()}
    if not fields.get(REQUIRED_FIELD):
        raise TaskDataError("task data has no `brief` text — every task needs a non-empty brief")
    if fields.get("recipient"):  # {first_name}, {last_name}, {full_name} for learned rules
        fields = {**names_from_recipient(fields["recipient"]), **fields}
    style = template.client_style(fields.get("client"))
    system = _render(style.system or template.system, fields)
    learned = _render("\n".join(f"- {note.rule}" for note in style.learned), fields)
    notes = "\n".join(n for n in (fields.get("style_notes") or style.style_notes, learned) if n)
    if notes:
        system = f"{system}\n\n{template.style_notes_heading}\n{notes}"
    user = {"role": "user", "content": _render(template.user, fields)}
    # A system text made only of empty placeholders is left out rather than sent empty.
    return [{"role": "system", "content": system}, user] if system else [user]


def _render(text: str, fields: Mapping[str, str]) -> str:
    """Fill placeholders; drop a line whose placeholders are all empty; squeeze blank runs."""
    lines = []
    values = _Blank(fields)
    for line, names in _template_lines(text):
        if not names:
            lines.append(line)
        elif any(map(fields.get, names)):
            lines.append(line.format_map(values))
    rendered = "\n".join(lines)
    if "\n\n\n" in rendered:  # a fast test; the regex scans slowly even when nothing matches
        rendered = _BLANK_RUNS.sub("\n\n", rendered)
    return rendered.strip()


class _Blank(dict[str, str]):
    """Task fields for `str.format_map`: a placeholder with no field becomes empty."""

    def __missing__(self, key: str) -> str:
        return ""


@lru_cache(maxsize=256)
def _template_lines(text: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """A template text's lines, parsed once per text: each line with the placeholders it names;
    a line that names any is kept as a format string (its other braces doubled)."""
    lines = []
    for line in text.splitlines():
        parts = _PLACEHOLDER.split(line)  # text, name, text, name, ..., text
        names = tuple(parts[1::2])
        if names:
            literal = [part.replace("{", "{{").replace("}", "}}") for part in parts[::2]]
            line = literal[0] + "".join(
                f"{{{name}}}{text}" for name, text in zip(names, literal[1:], strict=True)
            )
        lines.append((line, names))
    return tuple(lines)


MAX_FIELD_DEPTH = 8  # lists inside lists: deeper than any brief's data needs


def _checked_field(key: str, value: Any) -> str:
    """A task field as text, or TaskDataError for data no prompt can hold: a lone surrogate
    (not encodable text) or lists nested deeper than MAX_FIELD_DEPTH.

    >>> _checked_field("brief", "Hi \\ud83d")
    Traceback (most recent call last):
    redraft.errors.TaskDataError: task field `brief` holds a lone surrogate (not valid Unicode text)
    """
    text = _field_text(value, key)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise TaskDataError(
            f"task field `{key}` holds a lone surrogate (not valid Unicode text)"
        ) from None
    return text


def _field_text(value: Any, key: str = "", depth: int = 0) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        if depth >= MAX_FIELD_DEPTH:
            raise TaskDataError(f"task field `{key}` is nested deeper than {MAX_FIELD_DEPTH} lists")
        return ", ".join(_field_text(item, key, depth + 1) for item in value if item is not None)
    return str(value).strip()


def _clean(value: Any) -> str | None:
    text = _field_text(value)
    return text or None
