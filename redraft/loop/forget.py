"""Forgetting a person: find a recipient (an email address or a name) everywhere redraft caused
text to exist and mask it — Label Studio (task data and meta, predictions, annotations,
autosaved drafts, and the export snapshot files on its disk), and every file under
REDRAFT_HOME (export folders, re-sealed; the draft cache; reports, templates, styles files,
A/B folders) — then name the trained versions whose data included them and what forget could
not reach.

Matching is pure (`redraft.loop.needle`); the files are walked by `redraft.loop.forgetfiles`, which
never follows a symlink nor writes outside the folder it cleans. Masking, not deleting: the
writers' feedback on the email stays useful for training, without the person in it. Model
weights cannot be masked; the versions trained on the person's data are listed so they can
be retrained or retired.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from redraft.exporters.manifest import MANIFEST, ExportManifest, ManifestError
from redraft.exporters.sinks import file_sha256
from redraft.loop.forgetfiles import (
    SQLITE_SUFFIXES,
    PathRefusals,
    contains_bytes,
    mask_file,
    mask_sqlite,
    safe_path,
    walk_files,
)
from redraft.loop.needle import MASK, ForgetError, Needle, mask, mask_value
from redraft.wording import counted

__all__ = ["MASK", "ForgetError", "ForgetSummary", "Needle", "mask", "mask_value"]

logger = logging.getLogger(__name__)

# Manifests re-sealed by forget keep the hashes they replaced here (in `source`), so the
# versions trained on the folder are still found after it changed.
RESEALED_FROM = "resealed_from"
# Label Studio keeps every export snapshot as a file here, even after the snapshot is deleted
# through its API (DELAYED_EXPORT_DIR), and its older synchronous exports in export/.
LS_EXPORT_FOLDERS = ("media/export", "export")
LARGEST_CHECKED = 64 << 20  # files of unknown kinds bigger than this are not searched
SQLITE_HEADER = b"SQLite format 3\0"


@dataclass
class ForgetSummary:
    """What was found (and, unless a dry run, masked), and what forget could not reach."""

    tasks: int = 0
    predictions: int = 0
    annotations: int = 0
    drafts: int = 0
    export_folders: list[Path] = field(default_factory=list)
    export_lines: int = 0
    cache_entries: int = 0
    home_files: int = 0
    label_studio_files: int = 0
    versions: list[str] = field(default_factory=list)
    task_ids: set[int] = field(default_factory=set)
    # Annotations whose stored copy of the draft they started from (Label Studio's
    # annotation.prediction: no API shows or changes it) belongs to the person's tasks.
    draft_copies: list[int] = field(default_factory=list)
    remains: list[str] = field(default_factory=list)
    refusals: PathRefusals = field(default_factory=PathRefusals)

    def line(self, needle: Needle, dry_run: bool) -> str:
        """The summary line: counts of what was masked, and the versions trained on them."""
        verb = "would mask" if dry_run else "masked"
        tasks = counted(self.tasks, "Label Studio task")
        inside = ", ".join(
            counted(n, what)
            for n, what in (
                (self.predictions, "prediction"),
                (self.annotations, "annotation"),
                (self.drafts, "draft"),
            )
        )
        exports = f"{counted(self.export_lines, 'line')} of "
        exports += counted(len(self.export_folders), "export folder")
        cache = counted(self.cache_entries, "cached draft")
        dropped = "would drop" if dry_run else "dropped"
        files = counted(self.home_files, "other file")
        found = f"{verb} {needle.text!r} in {tasks} ({inside}), {exports}, {cache} ({dropped}), "
        found += f"{files} in REDRAFT_HOME"
        if self.label_studio_files:
            ls_files = counted(self.label_studio_files, "export file")
            found += f" and {ls_files} on Label Studio's disk"
        if self.versions:
            found += (
                f"; trained on data that included them: {', '.join(self.versions)} — their "
                "weights still do: retrain from a masked export, then retire them"
            )
        return found

    def notes(self) -> list[str]:
        """One line for each thing forget could not reach or would not touch, with the fix."""
        return [f"not reached: {r}" for r in self.remains] + [
            f"not touched: {r}" for r in self.refusals.lines
        ]


# --- Label Studio ------------------------------------------------------------------------------


class TaskStore(Protocol):
    """Where masked task parts are written back (Label Studio's API, or nothing in a dry run)."""

    def update_task(self, task_id: int, changes: Mapping[str, Any]) -> None: ...
    def update_prediction(self, prediction_id: int, result: list[Any]) -> None: ...
    def update_annotation(self, annotation_id: int, result: list[Any]) -> None: ...
    def drafts(self, task: Mapping[str, Any]) -> list[dict[str, Any]]: ...
    def update_draft(self, draft_id: int, result: list[Any]) -> None: ...


def forget_in_tasks(
    tasks: Iterable[dict[str, Any]], needle: Needle, summary: ForgetSummary, store: TaskStore
) -> None:
    """Mask the person in every task that names them: its data and meta (the judge's reasons),
    its predictions', annotations' and autosaved drafts' results (the first name and surname
    too, within those tasks).

    When one annotation of a task changes, all of them are saved again, oldest first: Label
    Studio stamps each save, and this keeps the order `--annotators latest` picks by."""
    for task in tasks:
        drafts = store.drafts(task)
        parts = [task.get("data"), task.get("meta")]
        parts += [p.get("result") for p in task.get("predictions") or []]
        parts += [a.get("result") for a in task.get("annotations") or []]
        parts += [d.get("result") for d in drafts]
        if not any(needle.found_in(part) for part in parts):
            continue
        summary.tasks += 1
        summary.task_ids.add(int(task["id"]))
        summary.draft_copies += [
            int(a["id"]) for a in task.get("annotations") or [] if a.get("parent_prediction")
        ]
        changes = {}
        for key in ("data", "meta"):
            value, count = mask_value(task.get(key) or {}, needle)
            if count:
                changes[key] = value
        if changes:
            store.update_task(int(task["id"]), changes)
        for prediction in task.get("predictions") or []:
            result, count = mask_value(prediction.get("result") or [], needle)
            if count and prediction.get("id") is not None:
                store.update_prediction(int(prediction["id"]), result)
                summary.predictions += 1
        _forget_in_annotations(task.get("annotations") or [], needle, summary, store)
        for draft in drafts:
            result, count = mask_value(draft.get("result") or [], needle)
            if count and draft.get("id") is not None:
                store.update_draft(int(draft["id"]), result)
                summary.drafts += 1


def _forget_in_annotations(
    annotations: list[dict[str, Any]], needle: Needle, summary: ForgetSummary, store: TaskStore
) -> None:
    masked = [
        (a, *mask_value(a.get("result") or [], needle))
        for a in annotations
        if a.get("id") is not None
    ]
    if not any(count for _, _, count in masked):
        return
    for annotation, result, count in sorted(masked, key=lambda m: annotation_recency(m[0])):
        store.update_annotation(int(annotation["id"]), result)
        summary.annotations += 1 if count else 0


def annotation_recency(annotation: Mapping[str, Any]) -> tuple[str, int]:
    """The order `--annotators latest` ranks annotations by (redraft.exporters.selection).

    >>> annotation_recency({"id": 7, "created_at": "2026-01-02T00:00:00Z", "updated_at": None})
    ('2026-01-02T00:00:00Z', 7)
    """
    return (
        str(annotation.get("updated_at") or annotation.get("created_at") or ""),
        int(annotation["id"]),
    )


def forget_in_label_studio_files(
    data_dir: Path, needle: Needle, summary: ForgetSummary, *, dry_run: bool
) -> None:
    """Mask the person in Label Studio's export files on its disk (each snapshot's JSON task
    by task), which its API cannot delete."""
    for folder in LS_EXPORT_FOLDERS:
        root = data_dir / folder
        for path in walk_files(root, summary.refusals):
            if not safe_path(data_dir, path, summary.refusals):
                continue
            if mask_file(path, needle, dry_run=dry_run):
                summary.label_studio_files += 1
            elif not dry_run and _unreadable_mention(path, needle):
                summary.remains.append(
                    f"{path} names them in a form forget cannot mask — delete it by hand"
                )


# --- REDRAFT_HOME ------------------------------------------------------------------------------


def forget_in_home(
    home: Path,
    needle: Needle,
    summary: ForgetSummary,
    *,
    cache_path: Path,
    dry_run: bool,
    skip: Iterable[Path] = (),
) -> dict[str, Path]:
    """Mask the person in every file under REDRAFT_HOME: export folders (manifests re-sealed),
    the draft cache (its rows dropped), other SQLite files, and every text, JSON, CSV and
    Parquet file. Symlinks are not followed and nothing outside `home` is written.

    Returns {manifest sha256 the folder had (now or before a re-seal): folder} for each export
    folder that held them, for `trained_on`."""
    touched: dict[str, Path] = {}
    skipped = [Path(p) for p in skip]
    files = [
        p
        for p in walk_files(home, summary.refusals)
        if not any(p.is_relative_to(s) for s in skipped)
    ]
    sealed = sorted({p.parent for p in files if p.name == MANIFEST})
    handled: set[Path] = set()
    for folder in sealed:
        handled |= _forget_in_export(home, folder, needle, summary, touched, dry_run=dry_run)
    for path in files:
        if path in handled or (path.name == MANIFEST and path.parent in sealed):
            continue
        if path.name.endswith(("-wal", "-shm")):
            continue  # a SQLite database's log: handled with its database
        if not safe_path(home, path, summary.refusals):
            continue
        if path == cache_path:
            _drop_cached_signals(path, needle, dry_run=dry_run)
            summary.cache_entries += mask_sqlite(
                path, needle, dry_run=dry_run, drop=frozenset({"drafts"})
            )
        elif path.suffix in SQLITE_SUFFIXES or _is_sqlite(path):
            if mask_sqlite(path, needle, dry_run=dry_run):
                summary.home_files += 1
        elif mask_file(path, needle, dry_run=dry_run):
            summary.home_files += 1
        if not dry_run:
            _check_left(path, needle, summary)
    return touched


def _forget_in_export(
    home: Path,
    folder: Path,
    needle: Needle,
    summary: ForgetSummary,
    touched: dict[str, Path],
    *,
    dry_run: bool,
) -> set[Path]:
    """One export folder: mask its listed files and re-seal the manifest with the new hashes.
    Returns the files it handled."""
    try:
        manifest = ExportManifest.load(folder)
    except ManifestError:
        summary.remains.append(f"{folder / MANIFEST} cannot be read — check that folder by hand")
        return set()
    lines = 0
    handled: set[Path] = set()
    files = dict(manifest.files)
    for name in sorted(files):
        path = folder / name
        if Path(name).is_absolute() or not safe_path(folder, path, summary.refusals):
            continue
        if not path.is_file():
            continue
        handled.add(path)
        found = mask_file(path, needle, dry_run=dry_run)
        if found and not dry_run:
            files[name] = {**files[name], "sha256": file_sha256(path)}
            _check_left(path, needle, summary)
        lines += found
    if lines:
        summary.export_folders.append(folder)
        summary.export_lines += lines
        earlier = [*(manifest.source.get(RESEALED_FROM) or []), manifest.sha256]
        for digest in earlier:
            touched[str(digest)] = folder
        if not dry_run:
            source = {**manifest.source, RESEALED_FROM: earlier}
            resealed = replace(manifest, files=files, source=source).write(folder)
            touched[resealed.sha256] = folder
    return handled


def _is_sqlite(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(len(SQLITE_HEADER)) == SQLITE_HEADER
    except OSError:
        return False


def _unreadable_mention(path: Path, needle: Needle) -> bool:
    try:
        small = path.stat().st_size <= LARGEST_CHECKED
    except OSError:
        return False
    return small and contains_bytes(path, needle)


def _check_left(path: Path, needle: Needle, summary: ForgetSummary) -> None:
    """After masking, a file whose bytes still name the person is reported, with the fix."""
    if not _unreadable_mention(path, needle):
        return
    if path.suffix in SQLITE_SUFFIXES or _is_sqlite(path):
        summary.remains.append(
            f"{path} (SQLite) still holds them: a process keeps its log open — stop the "
            "backend (`redraft serve`) and run forget again"
        )
    elif ".corrupt-" in path.name:
        path.unlink()  # a damaged draft cache moved aside: disposable
    else:
        summary.remains.append(
            f"{path} names them in a form forget cannot mask — delete it or edit it by hand"
        )


def trained_on(
    versions: Iterable[Any], touched: Mapping[str, Path], home: Path, exports_dir: Path
) -> list[str]:
    """Names of the versions trained on an export folder that held the person: by the
    manifest hash they recorded (before or after a re-seal), or by their export folder
    (a relative one is tried against the working directory, REDRAFT_HOME and its exports)."""
    folders = {_resolved(p) for p in touched.values()}
    names = []
    for version in versions:
        if version.manifest_sha256 in touched:
            names.append(version.name)
            continue
        if version.export_dir and folders & set(
            _candidates(Path(version.export_dir), home, exports_dir)
        ):
            names.append(version.name)
    return names


def _candidates(path: Path, home: Path, exports_dir: Path) -> Iterator[Path]:
    if path.is_absolute():
        yield _resolved(path)
        return
    for base in (Path.cwd(), home, exports_dir):
        yield _resolved(base / path)
    yield _resolved(exports_dir / path.name)


def _resolved(path: Path) -> Path:
    return Path(os.path.realpath(path))


def _drop_cached_signals(path: Path, needle: Needle, *, dry_run: bool) -> None:
    """A cached draft that names the person is dropped; its confidence signals (keyed like it,
    in their own table) go with it, so no row is left behind for a draft that is gone."""
    try:
        db = sqlite3.connect(f"file:{path}?mode=rw", uri=True)
    except sqlite3.Error:
        return
    try:
        keys = [
            (key,)
            for key, text in db.execute("SELECT key, text FROM drafts")
            if needle.found_in(text)
        ]
        if keys and not dry_run:
            db.executemany("DELETE FROM draft_signals WHERE key = ?", keys)
            db.commit()
    except sqlite3.DatabaseError:  # an older cache without the table, or a damaged file
        pass
    finally:
        db.close()
