"""Forgetting a person: find a recipient (an email address or a name) everywhere redraft keeps
text and mask it — Label Studio tasks, exports (datasets, records, rejects), the draft cache and
report files — and name the trained versions whose data included them.

The matching and masking are pure (`Needle`, `mask`); the stores are walked at the edges.
Masking, not deleting: the writers' feedback on the email stays useful for training, without
the person in it. Model weights cannot be masked; the versions trained on the person's data
are listed so they can be retrained or retired.
"""

from __future__ import annotations

import html
import logging
import re
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from redraft.errors import RedraftError
from redraft.exporters.manifest import MANIFEST, ExportManifest, ManifestError
from redraft.exporters.sinks import file_sha256
from redraft.wording import counted

logger = logging.getLogger(__name__)

MASK = "[removed]"
TEXT_SUFFIXES = (".jsonl", ".csv", ".html", ".json")


class ForgetError(RedraftError):
    """What to forget cannot be matched safely (too short, empty)."""


@dataclass(frozen=True)
class Needle:
    """What identifies the person: the full email or name, and (for a name) the first name,
    which is masked only where the full name or email matched (a greeting `Hi Ada,`).

    >>> n = Needle.parse("Ada Lovelace")
    >>> mask("Hi Ada, Ada LOVELACE here; Adam stays.", n.full)
    ('Hi Ada, [removed] here; Adam stays.', 1)
    >>> mask("Hi Ada, Ada LOVELACE here; Adam stays.", n.everything)
    ('Hi [removed], [removed] here; Adam stays.', 2)
    >>> mask("write to ADA@example.com", Needle.parse("ada@example.com").full)
    ('write to [removed]', 1)
    """

    text: str
    full: re.Pattern[str]
    everything: re.Pattern[str]

    @classmethod
    def parse(cls, text: str) -> Needle:
        text = " ".join(text.split())
        if len(text) < 3:
            raise ForgetError(
                f"{text!r} is too short to find a person by — pass their email or full name"
            )
        if "@" in text:
            full = re.compile(re.escape(text), re.IGNORECASE)
            return cls(text, full, full)
        parts = text.split(" ")
        words = r"\s+".join(re.escape(p) for p in parts)
        full = re.compile(rf"(?<!\w){words}(?!\w)", re.IGNORECASE)
        if len(parts) == 1:
            return cls(text, full, full)
        everything = re.compile(rf"(?<!\w)(?:{words}|{re.escape(parts[0])})(?!\w)", re.IGNORECASE)
        return cls(text, full, everything)

    def found_in(self, value: Any) -> bool:
        """Whether the full email or name occurs anywhere in a JSON-like value."""
        return any(self.full.search(text) for text in _strings(value))


def mask(text: str, pattern: re.Pattern[str]) -> tuple[str, int]:
    """`text` with every match replaced by MASK, and how many there were."""
    return pattern.subn(MASK, text)


def mask_value(value: Any, pattern: re.Pattern[str]) -> tuple[Any, int]:
    """A JSON-like value with every string masked, and the number of matches.

    >>> mask_value({"a": ["Ada Lovelace", 3], "b": "x"}, Needle.parse("Ada Lovelace").full)
    ({'a': ['[removed]', 3], 'b': 'x'}, 1)
    """
    if isinstance(value, str):
        return mask(value, pattern)
    if isinstance(value, list):
        pairs = [mask_value(v, pattern) for v in value]
        return [v for v, _ in pairs], sum(n for _, n in pairs)
    if isinstance(value, dict):
        masked, total = {}, 0
        for key, item in value.items():
            masked[key], count = mask_value(item, pattern)
            total += count
        return masked, total
    return value, 0


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)


@dataclass
class ForgetSummary:
    """What was found (and, unless a dry run, masked)."""

    tasks: int = 0
    predictions: int = 0
    annotations: int = 0
    export_folders: list[Path] = field(default_factory=list)
    export_lines: int = 0
    cache_entries: int = 0
    report_files: int = 0
    versions: list[str] = field(default_factory=list)

    def line(self, needle: Needle, dry_run: bool) -> str:
        verb = "would mask" if dry_run else "masked"
        tasks = counted(self.tasks, "Label Studio task")
        inside = f"{counted(self.predictions, 'prediction')}, "
        inside += counted(self.annotations, "annotation")
        exports = f"{counted(self.export_lines, 'line')} of "
        exports += counted(len(self.export_folders), "export folder")
        cache = counted(self.cache_entries, "cached draft")
        dropped = "would drop" if dry_run else "dropped"
        reports = counted(self.report_files, "report file")
        found = (
            f"{verb} {needle.text!r} in {tasks} ({inside}), {exports}, {cache} ({dropped}) "
            f"and {reports}"
        )
        if self.versions:
            found += (
                f"; trained on data that included them: {', '.join(self.versions)} — their "
                "weights still do: retrain from a masked export, then retire them"
            )
        return found


# --- the stores ---------------------------------------------------------------------------------


def forget_in_tasks(
    tasks: Iterator[dict[str, Any]],
    needle: Needle,
    summary: ForgetSummary,
    *,
    update_task: Callable[[int, dict[str, Any]], None],
    update_prediction: Callable[[int, list[Any]], None],
    update_annotation: Callable[[int, list[Any]], None],
) -> None:
    """Mask the person in every task that names them: its data, its predictions' and its
    annotations' results (the first name too, within those tasks)."""
    for task in tasks:
        parts = [task.get("data"), *(p.get("result") for p in task.get("predictions") or [])]
        parts += [a.get("result") for a in task.get("annotations") or []]
        if not any(needle.found_in(part) for part in parts):
            continue
        summary.tasks += 1
        data, count = mask_value(task.get("data") or {}, needle.everything)
        if count:
            update_task(int(task["id"]), data)
        for kind, items, update in (
            ("prediction", task.get("predictions") or [], update_prediction),
            ("annotation", task.get("annotations") or [], update_annotation),
        ):
            for item in items:
                result, count = mask_value(item.get("result") or [], needle.everything)
                if count and item.get("id") is not None:
                    update(int(item["id"]), result)
                    if kind == "prediction":
                        summary.predictions += 1
                    else:
                        summary.annotations += 1


def forget_in_exports(
    exports_dir: Path, needle: Needle, summary: ForgetSummary, *, dry_run: bool
) -> dict[str, Path]:
    """Mask the person in every export folder's files and re-seal its manifest with the new
    hashes. Returns {original manifest sha256: folder} of the folders that held them."""
    touched: dict[str, Path] = {}
    if not exports_dir.is_dir():
        return touched
    for folder in sorted(p for p in exports_dir.iterdir() if (p / MANIFEST).is_file()):
        try:
            manifest = ExportManifest.load(folder)
        except ManifestError:
            logger.warning("forget: %s has an unreadable manifest — check it by hand", folder)
            continue
        lines = 0
        files = dict(manifest.files)
        for name in sorted(files):
            path = folder / name
            if not path.is_file():
                continue
            found = _mask_file(path, needle, dry_run=dry_run)
            if found and not dry_run:
                files[name] = {**files[name], "sha256": file_sha256(path)}
            lines += found
        if lines:
            summary.export_folders.append(folder)
            summary.export_lines += lines
            touched[manifest.sha256] = folder
            if not dry_run:
                replace(manifest, files=files).write(folder)
    return touched


def _mask_file(path: Path, needle: Needle, *, dry_run: bool) -> int:
    """Mask one export file in place; returns how many lines (rows) named the person."""
    if path.suffix == ".parquet":
        return _mask_parquet(path, needle, dry_run=dry_run)
    if path.suffix not in TEXT_SUFFIXES:
        return 0
    text = path.read_text("utf-8")
    patterns = [needle.everything]
    escaped = html.escape(needle.text)
    if path.suffix == ".html" and escaped != needle.text:  # names are HTML-escaped there
        patterns.append(Needle.parse(escaped).everything)
    found, out = 0, []
    for line in text.splitlines(keepends=True):
        if needle.found_in(line) or needle.found_in(html.unescape(line)):
            found += 1
            for pattern in patterns:
                line = pattern.sub(MASK, line)
        out.append(line)
    if found and not dry_run:
        path.write_text("".join(out), encoding="utf-8")
    return found


def _mask_parquet(path: Path, needle: Needle, *, dry_run: bool) -> int:
    import pandas as pd

    frame = pd.read_parquet(path)
    found = 0
    for index, row in frame.iterrows():
        texts = [v for v in row.to_list() if isinstance(v, str)]
        if not any(needle.full.search(t) for t in texts):
            continue
        found += 1
        for column in frame.columns:
            value = frame.at[index, column]
            if isinstance(value, str):
                frame.at[index, column] = needle.everything.sub(MASK, value)
    if found and not dry_run:
        frame.to_parquet(path, index=False)
    return found


def forget_in_cache(
    cache_path: Path, needle: Needle, summary: ForgetSummary, *, dry_run: bool
) -> None:
    """Drop cached drafts that name the person (they are drafted again when needed)."""
    if not cache_path.is_file():
        return
    with sqlite3.connect(cache_path) as db:
        keys = [
            key for key, text in db.execute("SELECT key, text FROM drafts") if needle.found_in(text)
        ]
        summary.cache_entries += len(keys)
        if keys and not dry_run:
            db.executemany("DELETE FROM drafts WHERE key = ?", [(k,) for k in keys])
    db.close()


def forget_in_reports(
    reports_dir: Path, needle: Needle, summary: ForgetSummary, *, dry_run: bool
) -> None:
    """Mask the person in written report files (CSV, HTML)."""
    if not reports_dir.is_dir():
        return
    for path in sorted(reports_dir.rglob("*")):
        if (
            path.is_file()
            and path.suffix in (".csv", ".html")
            and _mask_file(path, needle, dry_run=dry_run)
        ):
            summary.report_files += 1


def trained_on(versions: list[Any], touched: dict[str, Path]) -> list[str]:
    """Names of the versions trained on an export that held the person."""
    folders = {str(p) for p in touched.values()}
    return [
        v.name
        for v in versions
        if v.manifest_sha256 in touched or (v.export_dir and str(v.export_dir) in folders)
    ]
