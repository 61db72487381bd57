"""Each client's simulated writer as a frozen set of rules, loaded from TOML.

[clients."Northwind Analytics"]
tuned = true                       # the demo template's style notes cover this client
greeting = "Hi {first_name},"      # {first_name} {last_name} {full_name} from `recipient`
sign_off = "Best,\\nPriya Raman"    # exact text, may be several lines
call_to_action = "Would a walkthrough for {company} work next week?"  # any task field
max_words = 110                    # greeting + body, without subject, sign-off and P.S.
banned_phrases = ["I hope this finds you well", "just"]   # deleted, case-insensitive
no_exclamations = true             # "!" becomes "."
tone_words = { excited = "glad" }  # word or phrase -> replacement
require_company = true             # the body must name the task's `company`
require_fact_field = "key_fact"    # the body must state this task field's text
postscript = "P.S. ..."            # a required closing line after the sign-off
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from redraft.errors import RedraftError

SHIPPED = "simulated_writers.toml"
NAME_FIELDS = frozenset({"first_name", "last_name", "full_name"})
MIN_WORDS = 20
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_REQUIRED = ("greeting", "sign_off", "call_to_action", "max_words")
_KNOWN = frozenset(
    {
        *_REQUIRED,
        "tuned",
        "banned_phrases",
        "no_exclamations",
        "tone_words",
        "require_company",
        "require_fact_field",
        "postscript",
    }
)


class WriterRulesError(RedraftError):
    """A simulated-writers rules file cannot be read or holds an invalid field."""


@dataclass(frozen=True)
class WriterRules:
    """How one client's writer edits every draft (see the module docstring for each field)."""

    client: str
    greeting: str
    sign_off: str
    call_to_action: str
    max_words: int
    banned_phrases: tuple[str, ...] = ()
    no_exclamations: bool = False
    tone_words: dict[str, str] = field(default_factory=dict)
    require_company: bool = False
    require_fact_field: str | None = None
    postscript: str | None = None
    tuned: bool = False


def load_rules(path: Path | None = None) -> dict[str, WriterRules]:
    """Read a rules file, or the five sample writers shipped with redraft when path is None."""
    if path is None:
        text = resources.files("redraft.samples").joinpath(SHIPPED).read_text("utf-8")
        return parse_rules(text, SHIPPED)
    try:
        text = Path(path).read_text("utf-8")
    except OSError as exc:
        raise WriterRulesError(
            f"cannot read writer rules {path}: {exc.strerror} — check the path; a rules file "
            f'has one [clients."Name"] table per client, like redraft/samples/{SHIPPED} '
            "(docs/local.md#simulated-writers)"
        ) from None
    return parse_rules(text, str(path))


def parse_rules(text: str, source: str = "<rules>") -> dict[str, WriterRules]:
    """Parse rules TOML into client name → WriterRules, naming the file and field of an error.

    >>> rules = parse_rules('''[clients.Acme]
    ... greeting = "Hi {first_name},"
    ... sign_off = "Best, Ann"
    ... call_to_action = "Free on Friday?"
    ... max_words = 80''')
    >>> rules["Acme"]  # doctest: +NORMALIZE_WHITESPACE
    WriterRules(client='Acme', greeting='Hi {first_name},', sign_off='Best, Ann',
                call_to_action='Free on Friday?', max_words=80, banned_phrases=(),
                no_exclamations=False, tone_words={}, require_company=False,
                require_fact_field=None, postscript=None, tuned=False)
    """
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise WriterRulesError(f"{source}: not valid TOML ({exc})") from None
    clients = raw.get("clients")
    if not isinstance(clients, dict) or not clients:
        raise WriterRulesError(f'{source}: no [clients."Name"] tables — add one per client')
    rules = {}
    for name, table in clients.items():
        where = f"{source}: clients.{_quoted(name)}"
        if not isinstance(table, dict):
            raise WriterRulesError(f"{where}: expected a table of rules")
        rules[name] = _client_rules(name, table, where)
    return rules


def find_rules(rules: Mapping[str, WriterRules], client: Any) -> WriterRules | None:
    """The rules for a task's client name (case-insensitive), or None.

    >>> find_rules({"Acme": 1}, " acme ")
    1
    """
    if not isinstance(client, str) or not client.strip():
        return None
    wanted = client.strip().casefold()
    return next((r for name, r in rules.items() if name.strip().casefold() == wanted), None)


def placeholders(pattern: str) -> list[str]:
    """The {placeholder} names in a pattern, in order.

    >>> placeholders("Hi {first_name}, about {company}?")
    ['first_name', 'company']
    """
    return _PLACEHOLDER.findall(pattern)


def _client_rules(name: str, table: Mapping[str, Any], where: str) -> WriterRules:
    unknown = sorted(set(table) - _KNOWN)
    if unknown:
        raise WriterRulesError(
            f"{where}: unknown field {unknown[0]!r} (known: {', '.join(sorted(_KNOWN))})"
        )
    for key in _REQUIRED:
        if key not in table:
            raise WriterRulesError(f"{where}: missing field {key!r}")
    texts = {key: _text(table, key, where) for key in ("greeting", "sign_off", "call_to_action")}
    unknown_names = sorted(set(placeholders(texts["greeting"])) - NAME_FIELDS)
    if unknown_names:
        raise WriterRulesError(
            f"{where}.greeting: unknown placeholder {{{unknown_names[0]}}} — use "
            "{first_name}, {last_name} or {full_name}"
        )
    max_words = table["max_words"]
    if not isinstance(max_words, int) or isinstance(max_words, bool) or max_words < MIN_WORDS:
        raise WriterRulesError(
            f"{where}.max_words: expected a whole number of at least {MIN_WORDS}, got {max_words!r}"
        )
    banned = table.get("banned_phrases", [])
    if not isinstance(banned, list) or not all(isinstance(p, str) and p.strip() for p in banned):
        raise WriterRulesError(f"{where}.banned_phrases: expected a list of non-empty strings")
    tone = table.get("tone_words", {})
    if not isinstance(tone, dict) or not all(
        isinstance(v, str) and v.strip() and k.strip() for k, v in tone.items()
    ):
        raise WriterRulesError(
            f'{where}.tone_words: expected a table of word = "replacement" strings'
        )
    fact = table.get("require_fact_field")
    if fact is not None and (not isinstance(fact, str) or not fact.strip()):
        raise WriterRulesError(f"{where}.require_fact_field: expected a task field name")
    postscript = _text(table, "postscript", where) if "postscript" in table else None
    rules = WriterRules(
        client=name,
        greeting=texts["greeting"],
        sign_off=texts["sign_off"],
        call_to_action=texts["call_to_action"],
        max_words=max_words,
        banned_phrases=tuple(p.strip() for p in banned),
        no_exclamations=_flag(table, "no_exclamations", where),
        tone_words={k.strip(): v.strip() for k, v in tone.items()},
        require_company=_flag(table, "require_company", where),
        require_fact_field=fact.strip() if fact else None,
        postscript=postscript,
        tuned=_flag(table, "tuned", where),
    )
    _check_own_texts(rules, where)
    return rules


def _check_own_texts(rules: WriterRules, where: str) -> None:
    """The writer's own texts must pass its own rules, or it would edit what it just wrote."""
    own = {"call_to_action": rules.call_to_action, "postscript": rules.postscript or ""}
    for key, text in own.items():
        for phrase in (*rules.banned_phrases, *rules.tone_words):
            if re.search(rf"(?<!\w){re.escape(phrase)}(?!\w)", text, re.IGNORECASE):
                raise WriterRulesError(
                    f"{where}.{key}: contains {phrase!r}, which banned_phrases or tone_words "
                    "would edit — reword one of them"
                )
        if rules.no_exclamations and "!" in text:
            raise WriterRulesError(f"{where}.{key}: has '!' but no_exclamations is true")


def _text(table: Mapping[str, Any], key: str, where: str) -> str:
    value = table[key]
    if not isinstance(value, str) or not value.strip():
        raise WriterRulesError(f"{where}.{key}: expected non-empty text, got {value!r}")
    return value.strip()


def _flag(table: Mapping[str, Any], key: str, where: str) -> bool:
    value = table.get(key, False)
    if not isinstance(value, bool):
        raise WriterRulesError(f"{where}.{key}: expected true or false, got {value!r}")
    return value


def _quoted(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else f'"{name}"'
