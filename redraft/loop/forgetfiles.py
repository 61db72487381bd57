"""Masking one person in files, without ever writing outside the folder being cleaned.

Each file is masked unit by unit: a JSONL line, a CSV record (a multi-line cell included), a
Parquet row, an item of a JSON array, an HTML line, or a whole small text file (a template, a
styles file). Within a unit that names the person, their first name and surname go too.

Paths are checked before anything is read: a symlink is never followed (it is skipped and
reported), and a path that resolves outside its root (`../../x.csv` in a manifest) is refused.
Files are rewritten through a temporary file in the same folder, replaced atomically.
"""

from __future__ import annotations

import csv
import html
import io
import json
import os
import sqlite3
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from redraft.loop.needle import Needle, mask_value

# Files masked as text, by suffix; a whole small text file is one unit.
LINE_SUFFIXES = (".jsonl", ".html", ".log")
WHOLE_SUFFIXES = (".toml", ".txt", ".md", ".yaml", ".yml", ".j2", ".jinja", ".env")
SQLITE_SUFFIXES = (".sqlite3", ".sqlite", ".db")
MAX_WHOLE_FILE = 64 << 20  # bigger text files are masked line by line


@dataclass
class PathRefusals:
    """Paths forget would not touch, each with the reason (shown to the operator)."""

    lines: list[str] = field(default_factory=list)

    def add(self, path: Path, why: str) -> None:
        self.lines.append(f"{path}: {why}")


def safe_path(root: Path, path: Path, refusals: PathRefusals) -> bool:
    """Whether `path` may be read and rewritten: no symlink between `root` and it, and it
    resolves inside `root`.

    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> safe_path(root, root / "a" / ".." / ".." / "x.csv", PathRefusals())
    False
    """
    try:
        relative = Path(os.path.normpath(path)).relative_to(os.path.normpath(root))
    except ValueError:
        refusals.add(path, f"outside {root} — not touched")
        return False
    here = Path(root)
    for part in relative.parts:
        here = here / part
        if here.is_symlink():
            refusals.add(path, f"{here} is a symlink — not followed; check its target by hand")
            return False
    try:
        inside = Path(path).resolve().is_relative_to(Path(root).resolve())
    except OSError:
        inside = False
    if not inside:
        refusals.add(path, f"resolves outside {root} — not touched")
        return False
    return True


def walk_files(root: Path, refusals: PathRefusals) -> Iterator[Path]:
    """Every regular file under `root`, sorted, without following symlinks (each symlink
    found is reported, not entered)."""
    if not root.is_dir() or root.is_symlink():
        return
    for folder, dirs, files in os.walk(root, followlinks=False):
        dirs.sort()
        here = Path(folder)
        for name in list(dirs):
            if (here / name).is_symlink():
                refusals.add(here / name, "a symlinked folder — not followed")
                dirs.remove(name)
        for name in sorted(files):
            path = here / name
            if path.is_symlink():
                refusals.add(path, "a symlink — not followed; check its target by hand")
            elif path.is_file():
                yield path


def write_atomically(path: Path, data: bytes) -> None:
    """Replace `path`'s bytes through a temporary file in its folder (keeping its mode)."""
    mode = path.stat().st_mode & 0o777
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def mask_file(path: Path, needle: Needle, *, dry_run: bool) -> int:
    """Mask the person in one file in place; returns how many units (lines, records, rows,
    items) named them. Files of other kinds are left alone (0)."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return _mask_parquet(path, needle, dry_run=dry_run)
    if suffix not in (".csv", ".json", *LINE_SUFFIXES, *WHOLE_SUFFIXES):
        return 0
    try:
        text = path.read_text("utf-8")
    except (UnicodeDecodeError, OSError):
        return 0
    if suffix == ".csv":
        found, out = _mask_csv(text, needle)
    elif suffix == ".json":
        found, out = _mask_json(text, needle)
    elif suffix in WHOLE_SUFFIXES and len(text) <= MAX_WHOLE_FILE:
        found, out = _mask_units([text], needle)
    else:
        found, out = _mask_units(text.splitlines(keepends=True), needle, html_too=suffix == ".html")
    if found and not dry_run:
        write_atomically(path, out.encode("utf-8"))
    return found


def _mask_units(units: list[str], needle: Needle, *, html_too: bool = False) -> tuple[int, str]:
    escaped = Needle.parse(html.escape(needle.text)) if html_too else None
    if escaped is not None and escaped.text == needle.text:
        escaped = None
    found, out = 0, []
    for unit in units:
        if needle.found_in(unit) or (html_too and needle.found_in(html.unescape(unit))):
            found += 1
            unit = needle.mask(unit, everything=True)[0]
            if escaped is not None:
                unit = escaped.mask(unit, everything=True)[0]
        out.append(unit)
    return found, "".join(out)


def _mask_csv(text: str, needle: Needle) -> tuple[int, str]:
    """Record by record, so a name on its own line inside a multi-line cell goes too."""
    terminator = "\r\n" if "\r\n" in text else "\n"
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=terminator)
    found = 0
    for row in csv.reader(io.StringIO(text, newline="")):
        if needle.found_in(row):
            found += 1
            row = [needle.mask(cell, everything=True)[0] for cell in row]
        writer.writerow(row)
    return found, buffer.getvalue()


def _mask_json(text: str, needle: Needle) -> tuple[int, str]:
    """Item by item for an array (of tasks, of rows); the whole value otherwise."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return _mask_units(text.splitlines(keepends=True), needle)
    items = value if isinstance(value, list) else [value]
    found, masked = 0, []
    for item in items:
        if needle.found_in(item):
            found += 1
            item = mask_value(item, needle)[0]
        masked.append(item)
    if not found:
        return 0, text
    result = masked if isinstance(value, list) else masked[0]
    indent = 2 if text[1:2] == "\n" else None
    return found, json.dumps(result, ensure_ascii=False, indent=indent) + (
        "\n" if text.endswith("\n") else ""
    )


def _mask_parquet(path: Path, needle: Needle, *, dry_run: bool) -> int:
    import pandas as pd

    frame = pd.read_parquet(path)
    found = 0
    for index, row in frame.iterrows():
        if not needle.found_in([v for v in row.to_list() if isinstance(v, str)]):
            continue
        found += 1
        for column in frame.columns:
            value = frame.at[index, column]
            if isinstance(value, str):
                frame.at[index, column] = needle.mask(value, everything=True)[0]
    if found and not dry_run:
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        write_atomically(path, buffer.getvalue())
    return found


def mask_sqlite(
    path: Path,
    needle: Needle,
    *,
    dry_run: bool,
    drop: frozenset[str] = frozenset(),
    keep: tuple[str, ...] = (),
    related: Mapping[str, tuple[str, frozenset[int]]] | None = None,
) -> int:
    """Mask the person in every text column of every table of a SQLite file (rows of the
    `drop` tables are deleted instead), then rebuild it so no freed page keeps old text and
    truncate its write-ahead log. Tables whose names start with one of `keep` are left alone.
    `related` names rows that belong to the person whatever they hold ({table: (column,
    values)}: the annotations of their tasks), masked with the first name and surname too.
    Returns the rows that named them; 0 for a file that is not a readable database.

    Rows replaced long ago can survive in free pages: the raw bytes (database and log) decide
    whether the file is rebuilt, not only the live rows."""
    try:
        db = sqlite3.connect(f"file:{path}?mode=rw", uri=True, isolation_level=None)
    except sqlite3.Error:
        return 0
    found = 0
    try:
        db.execute("PRAGMA busy_timeout=5000")
        db.execute("PRAGMA secure_delete=ON")
        tables = [
            name
            for (name,) in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        for table in (t for t in tables if not t.startswith(keep)):
            found += _mask_table(
                db, table, needle, dry_run=dry_run, drop=table in drop, related=related or {}
            )
        stale = any(contains_bytes(Path(f"{path}{s}"), needle) for s in ("", "-wal"))
        if (found or stale) and not dry_run:
            db.execute("VACUUM")
            checkpoint(db)
    except sqlite3.DatabaseError:
        return found
    finally:
        db.close()
    return found


def _mask_table(
    db: sqlite3.Connection,
    table: str,
    needle: Needle,
    *,
    dry_run: bool,
    drop: bool,
    related: Mapping[str, tuple[str, frozenset[int]]],
) -> int:
    quoted = '"' + table.replace('"', '""') + '"'
    columns = [row[1] for row in db.execute(f"PRAGMA table_info({quoted})")]
    column, owned = related.get(table, ("", frozenset()))
    found = 0
    rows = db.execute(f"SELECT rowid, * FROM {quoted}").fetchall()
    for rowid, *values in rows:
        row = dict(zip(columns, values, strict=True))
        texts = {c: v for c, v in row.items() if isinstance(v, str)}
        theirs = row.get(column) in owned
        if not theirs and not needle.found_in(list(texts.values())):
            continue
        found += 1
        if dry_run:
            continue
        if drop:
            db.execute(f"DELETE FROM {quoted} WHERE rowid = ?", (rowid,))
            continue
        masked = {c: needle.mask(v, everything=True)[0] for c, v in texts.items()}
        masked = {c: v for c, v in masked.items() if v != texts[c]}
        if not masked:
            continue
        sets = ", ".join('"' + c.replace('"', '""') + '" = ?' for c in masked)
        db.execute(f"UPDATE {quoted} SET {sets} WHERE rowid = ?", [*masked.values(), rowid])
    return found


def checkpoint(db: sqlite3.Connection) -> bool:
    """Copy the write-ahead log into the database and truncate it (True when it could: a
    reader in the middle of a transaction makes SQLite keep the log)."""
    busy, _, _ = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    return not busy


def contains_bytes(path: Path, needle: Needle) -> bool:
    """Whether a file's raw bytes (read as UTF-8, errors replaced) name the person."""
    try:
        return needle.found_in(path.read_bytes().decode("utf-8", "replace"))
    except OSError:
        return False
