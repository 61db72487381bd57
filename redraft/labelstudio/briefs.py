"""Briefs files → validated Label Studio tasks. Pure except `read_records` (the one file read).

CSV (read with pandas, every cell as text), JSONL, and JSON (a list of objects, or Label
Studio's own `[{"data": {...}}]` export shape). Columns are renamed with `--map col=field`;
every other column becomes a task data field as is.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from redraft.errors import BriefImportError
from redraft.label_config import ISSUE_TAGS
from redraft.prompting import REQUIRED_FIELD

BRIEF = REQUIRED_FIELD  # the one field every task needs: the prompt builder fills it in
EXTERNAL_ID = "external_id"
FEEDBACK_COLUMNS = ("draft", "rating", "issues", "feedback", "final")
_ISSUE_SPLIT = re.compile(r"[;,|]")


@dataclass(frozen=True)
class Feedback:
    """A past draft: what the model wrote and what the writer made of it (the email sent);
    the rating is None when the history has none."""

    draft: str
    final: str
    rating: int | None
    issues: tuple[str, ...] = ()
    feedback: str = ""


@dataclass(frozen=True)
class BriefRow:
    """One valid row: its 1-based row number, the task data, and feedback if imported with it."""

    row: int
    data: dict[str, Any]
    feedback: Feedback | None = None


@dataclass(frozen=True)
class RowError:
    """Why one row cannot be imported."""

    row: int
    message: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.message}"


@dataclass(frozen=True)
class ParsedBriefs:
    """Valid rows and errors, in file order."""

    rows: list[BriefRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


def parse_mapping(pairs: Iterable[str]) -> dict[str, str]:
    """Parse `col=field` options into a column → field mapping.

    >>> parse_mapping(["Brief text=brief", "ID=external_id"])
    {'Brief text': 'brief', 'ID': 'external_id'}
    """
    mapping: dict[str, str] = {}
    for pair in pairs:
        column, sep, name = pair.partition("=")
        if not sep or not column.strip() or not name.strip():
            raise BriefImportError(f"--map {pair!r} is not column=field — e.g. --map Notes=brief")
        mapping[column.strip()] = name.strip()
    return mapping


def read_records(path: Path) -> list[dict[str, Any]]:
    """Read a CSV, JSONL or JSON briefs file into plain records (the only I/O here)."""
    suffix = path.suffix.lower()
    try:
        if suffix in {".csv", ".tsv"}:
            import pandas as pd

            frame = pd.read_csv(
                path, dtype=str, keep_default_na=False, sep="\t" if suffix == ".tsv" else ","
            )
            _check_delimiter(path, list(frame.columns), suffix)
            return [dict(record) for record in frame.to_dict(orient="records")]
        text = path.read_text("utf-8")
    except FileNotFoundError:
        raise BriefImportError(f"{path}: no such file — check the path") from None
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise BriefImportError(f"{path}: cannot read it ({exc})") from None
    if suffix == ".jsonl":
        return [_json_line(path, number, line) for number, line in _lines(text)]
    if suffix == ".json":
        try:
            loaded = json.loads(text)
        except json.JSONDecodeError as exc:
            raise BriefImportError(f"{path}: not valid JSON ({exc})") from None
        if isinstance(loaded, dict) and isinstance(loaded.get("tasks"), list):
            loaded = loaded["tasks"]
        if not isinstance(loaded, list) or not all(isinstance(r, dict) for r in loaded):
            raise BriefImportError(f"{path}: expected a JSON list of objects, one per brief")
        return [_unwrap(record) for record in loaded]
    raise BriefImportError(f"{path}: unknown file type {suffix!r} — use .csv, .jsonl or .json")


def _check_delimiter(path: Path, columns: list[str], suffix: str) -> None:
    """A header read as one column holding another separator: name it instead of failing on
    a missing `brief` column in every row."""
    if len(columns) != 1:
        return
    for name, separator in (("semicolon", ";"), ("tab", "\t"), ("pipe", "|"), ("comma", ",")):
        if separator in columns[0]:
            fix = "save it comma-separated" if suffix == ".csv" else "save it tab-separated"
            raise BriefImportError(
                f"{path}: the header {columns[0][:60]!r} reads as one column — the file looks "
                f"{name}-separated; {fix} (Excel: CSV UTF-8, comma delimited)"
            )


def validate_records(
    records: Sequence[Mapping[str, Any]],
    mapping: Mapping[str, str] | None = None,
    *,
    with_feedback: bool = False,
    existing_ids: Mapping[str, int] | None = None,
) -> ParsedBriefs:
    """Map and check every record; each bad row gets one error naming what is wrong.

    `existing_ids` maps external ids already in the project to their task ids.

    >>> parsed = validate_records([{"Text": "Offer a demo", "id": "A1"}, {"Text": " "}],
    ...                           {"Text": "brief", "id": "external_id"})
    >>> parsed.rows
    [BriefRow(row=1, data={'brief': 'Offer a demo', 'external_id': 'A1'}, feedback=None)]
    >>> [str(e) for e in parsed.errors]
    ['row 2: the brief is empty — every task needs a non-empty brief']
    """
    mapping = mapping or {}
    existing_ids = existing_ids or {}
    seen: dict[str, int] = {}
    result = ParsedBriefs()
    for number, record in enumerate(records, start=1):
        data = _task_data(record, mapping)
        problems: list[str] = _not_text(data)
        brief = data.get(BRIEF)
        if brief is None:
            problems.append(f"no `{BRIEF}` column — map one with --map COLUMN=brief")
        elif not isinstance(brief, str) or not brief.strip():
            problems.append("the brief is empty — every task needs a non-empty brief")
        external_id = data.get(EXTERNAL_ID)
        if external_id is not None:
            if external_id in seen:
                problems.append(f"external_id {external_id!r} repeats row {seen[external_id]}")
            elif external_id in existing_ids:
                problems.append(
                    f"external_id {external_id!r} is already in the project "
                    f"(task {existing_ids[external_id]})"
                )
            else:
                seen[external_id] = number
        feedback = None
        if with_feedback:
            fields = {name: data.pop(name, None) for name in FEEDBACK_COLUMNS}
            feedback, feedback_problems = _feedback(fields)
            problems.extend(feedback_problems)
        if problems:
            result.errors.append(RowError(number, "; ".join(problems)))
        else:
            result.rows.append(BriefRow(number, data, feedback))
    return result


def _not_text(data: Mapping[str, Any]) -> list[str]:
    """Values no server stores, at any depth (a list or an object inside a field too): a lone
    surrogate (JSON can spell one, UTF-8 cannot); a NUL character, which Label Studio on
    PostgreSQL cannot store (refused on SQLite too, so a file imports the same everywhere); a
    number JSON cannot carry (NaN, Infinity).

    >>> _not_text({"brief": "Hi \\ud83d", "client": "Acme"})
    ['`brief` holds a lone surrogate (\\\\ud83d), not valid Unicode text']
    >>> _not_text({"brief": "a\\x00b"})
    ['`brief` holds a NUL character (\\\\x00), which Label Studio on PostgreSQL cannot store']
    >>> _not_text({"tags": ["ok", {"note": "x \\udc00"}], "score": float("inf")})
    ['`tags[1].note` holds a lone surrogate (\\\\udc00), not valid Unicode text', \
'`score` holds inf, a number JSON cannot carry']
    """
    problems = []
    for key, value in data.items():
        problem = _unstorable(key)
        if problem:
            problems.append(f"a column name (`{_shown(key)}`) {problem}")
        for where, leaf, is_key in _leaves(_shown(key), value):
            problem = _unstorable(leaf)
            if problem:
                problems.append(f"{'a key in ' if is_key else ''}`{where}` {problem}")
    return problems


def _leaves(where: str, value: Any) -> Iterator[tuple[str, Any, bool]]:
    """Every key and scalar inside a field: (its path, e.g. `tags[1].note`, it, is it a key)."""
    if isinstance(value, Mapping):
        for key, inner in value.items():
            yield where, key, True
            yield from _leaves(f"{where}.{_shown(key)}", inner)
    elif isinstance(value, (list, tuple)):
        for index, inner in enumerate(value):
            yield from _leaves(f"{where}[{index}]", inner)
    else:
        yield where, value, False


def _shown(key: Any) -> str:
    """A key as an error message can print it (a lone surrogate escaped)."""
    text = str(key)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def _unstorable(value: Any) -> str | None:
    if isinstance(value, float) and not math.isfinite(value):
        return f"holds {value}, a number JSON cannot carry"
    if not isinstance(value, str):
        return None
    if "\x00" in value:
        return "holds a NUL character (\\x00), which Label Studio on PostgreSQL cannot store"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = value[exc.start].encode("unicode_escape").decode()
        return f"holds a lone surrogate ({bad}), not valid Unicode text"
    return None


def parse_issues(value: Any) -> tuple[tuple[str, ...], list[str]]:
    """Issue tags from a list or a `;`/`,`/`|`-separated string; unknown tags are returned apart.

    >>> parse_issues("Tone; too long")
    (('tone', 'too long'), [])
    >>> parse_issues(["grammar", "spelling"])
    (('grammar',), ['spelling'])
    """
    if value is None or value == "":
        return (), []
    items = value if isinstance(value, (list, tuple)) else _ISSUE_SPLIT.split(str(value))
    known, unknown = [], []
    for item in items:
        tag = str(item).strip().casefold()
        if not tag:
            continue
        (known if tag in ISSUE_TAGS else unknown).append(tag if tag in ISSUE_TAGS else str(item))
    return tuple(dict.fromkeys(known)), unknown


def _feedback(fields: Mapping[str, Any]) -> tuple[Feedback | None, list[str]]:
    problems = []
    draft = _text(fields.get("draft"))
    final = _text(fields.get("final"))
    if not draft:
        problems.append("--with-feedback needs a non-empty `draft`")
    if not final:
        problems.append("--with-feedback needs a non-empty `final` (the email that was sent)")
    rating = None
    if fields.get("rating") is not None:  # optional: history is often a draft and a sent email
        rating = _rating(fields.get("rating"))
        if rating is None:
            problems.append(
                f"rating {fields.get('rating')!r} is not a whole number from 1 to 5 "
                "(leave it empty when there is none)"
            )
    issues, unknown = parse_issues(fields.get("issues"))
    if unknown:
        problems.append(f"unknown issues {unknown} — use: {', '.join(ISSUE_TAGS)}")
    if problems:
        return None, problems
    return Feedback(draft, final, rating, issues, _text(fields.get("feedback"))), []


def _rating(value: Any) -> int | None:
    try:
        number = float(str(value).strip())
    except ValueError:
        return None
    if not number.is_integer() or not 1 <= number <= 5:
        return None
    return int(number)


def _task_data(record: Mapping[str, Any], mapping: Mapping[str, str]) -> dict[str, Any]:
    """Rename mapped columns; drop empty cells; ids become text."""
    data: dict[str, Any] = {}
    for column, value in record.items():
        name = mapping.get(str(column), str(column))
        if value is None or (isinstance(value, str) and value.strip() == "" and name != BRIEF):
            continue
        if isinstance(value, float) and value != value:  # NaN from a numeric JSON column
            continue
        data[name] = value.strip() if isinstance(value, str) else value
    if EXTERNAL_ID in data:
        data[EXTERNAL_ID] = str(data[EXTERNAL_ID])
    return data


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _unwrap(record: dict[str, Any]) -> dict[str, Any]:
    data = record.get("data")
    return dict(data) if isinstance(data, dict) else record


def _lines(text: str) -> Iterable[tuple[int, str]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            yield number, line


def _json_line(path: Path, number: int, line: str) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise BriefImportError(f"{path}: line {number} is not valid JSON ({exc.msg})") from None
    if not isinstance(record, dict):
        raise BriefImportError(f"{path}: line {number} is not a JSON object")
    return _unwrap(record)
