"""`redraft import`: validate a briefs file completely, then import it in batches via the SDK."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
from label_studio_sdk import LabelStudio
from label_studio_sdk.core.api_error import ApiError

from redraft.documents import Documents
from redraft.errors import BriefImportError, LabelStudioError
from redraft.labelstudio.briefs import (
    BriefRow,
    ParsedBriefs,
    RowError,
    read_records,
    validate_records,
)
from redraft.labelstudio.client import project_tasks
from redraft.labelstudio.tasks import IMPORTED_MODEL_VERSION, batches, import_task
from redraft.labelstudio.tasks import task_external_ids as external_ids_of
from redraft.wording import counted

logger = logging.getLogger(__name__)

BATCH_SIZE = 500
IMPORTS = "imports"  # the kind of document an import record is (redraft.documents)
MAX_ERRORS_SHOWN = 20


@dataclass
class ImportSummary:
    """What one import did."""

    imported: int = 0
    with_feedback: int = 0
    unrated: int = 0  # of with_feedback: history without a rating
    skipped: list[RowError] = field(default_factory=list)
    task_ids: list[int] = field(default_factory=list)

    def line(self, project_id: int) -> str:
        """The one summary line printed at the end."""
        text = f"imported {counted(self.imported, 'task')} into project {project_id}"
        if self.with_feedback:
            text += f" ({self.with_feedback:,} with a draft and a completed annotation"
            text += f", {self.unrated:,} of them without a rating)" if self.unrated else ")"
        if self.skipped:
            text += f"; skipped {len(self.skipped):,} invalid rows"
        return text


def format_errors(errors: list[RowError], path: Path) -> str:
    """One message listing the bad rows (the first 20) and the way out."""
    shown = "\n".join(f"  {e}" for e in errors[:MAX_ERRORS_SHOWN])
    more = len(errors) - MAX_ERRORS_SHOWN
    if more > 0:
        shown += f"\n  … and {more} more"
    return (
        f"{path}: {counted(len(errors), 'invalid row')}; nothing was imported:\n{shown}\n"
        "fix them, or pass --skip-invalid to import only the valid rows"
    )


@dataclass
class ImportProgress:
    """The rows of one file that an interrupted import already put into one project.

    Saved before each batch is sent and after it lands, so however the import stops (Label
    Studio stops answering, Ctrl-C, a killed process) the same command resumes exactly: no row
    twice, none missing (with or without external ids). `pending` holds the rows of the batch
    in flight and `count_before` the project's task count before it: a re-run counts the
    project's tasks to learn whether that batch landed (`settle`). Removed once an import ends.
    With `store` (a shared registry's documents) the record is kept there under the file's
    name, so an import begun on one host is finished from another.
    """

    path: Path
    rows: set[int] = field(default_factory=set)
    task_ids: list[int] = field(default_factory=list)
    pending: list[int] = field(default_factory=list)
    count_before: int | None = None
    store: Documents | None = field(default=None, compare=False, repr=False)

    @classmethod
    def for_file(
        cls,
        folder: Path,
        project_id: int,
        file: Path,
        mapping: Mapping[str, str] | None,
        store: Documents | None = None,
    ) -> ImportProgress:
        """The progress record of this file (content and column mapping) into this project:
        in `folder`, or in `store` when given."""
        digest = hashlib.sha256(file.read_bytes())
        digest.update(json.dumps(dict(mapping or {}), sort_keys=True).encode())
        path = folder / f"project-{project_id}-{digest.hexdigest()[:16]}.json"
        if store is not None:
            text = store.read(IMPORTS, path.stem)
        else:
            text = path.read_text("utf-8") if path.is_file() else None
        if text is None:
            return cls(path, store=store)
        saved = json.loads(text)
        return cls(
            path,
            set(saved["rows"]),
            list(saved["task_ids"]),
            list(saved.get("pending") or []),
            saved.get("count_before"),
            store,
        )

    @property
    def where(self) -> str:
        """Where the record is kept, as messages name it."""
        return self.store.where(IMPORTS, self.path.stem) if self.store else str(self.path)

    def settle(self, task_ids_now: list[int]) -> None:
        """Decide from the project's task ids now whether the batch in flight when the import
        stopped landed (the count grew by exactly its rows: they are the newest tasks) or not
        (the count is unchanged); anything else means someone else changed the project.

        >>> p = ImportProgress(Path("p.json"), {1, 2}, [10, 11], pending=[3, 4], count_before=2)
        >>> p.settle([10, 11, 12, 13]); (sorted(p.rows), p.task_ids, p.pending)
        ([1, 2, 3, 4], [10, 11, 12, 13], [])
        """
        if not self.pending or self.count_before is None:
            self.pending = []
            return
        landed = self.count_before + len(self.pending)
        if len(task_ids_now) == landed:
            self.rows.update(self.pending)
            self.task_ids.extend(sorted(task_ids_now)[-len(self.pending) :])
        elif len(task_ids_now) != self.count_before:
            raise BriefImportError(
                f"an interrupted import of this file was sending rows {_rows(self.pending)} "
                f"when it stopped, and the project now holds {len(task_ids_now):,} tasks "
                f"({self.count_before:,} before that batch, {landed:,} had it landed), so "
                f"redraft cannot tell what is in it — check the project, then delete "
                f"{self.where} to import the file again"
            )
        self.pending = []
        self.count_before = None

    def resume(self, parsed: ParsedBriefs) -> ParsedBriefs:
        """The rows still to import; a recorded row's "already in the project" is not an error."""
        return replace(
            parsed,
            rows=[r for r in parsed.rows if r.row not in self.rows],
            errors=[e for e in parsed.errors if e.row not in self.rows],
        )

    def save(self) -> None:
        record = {
            "rows": sorted(self.rows),
            "task_ids": self.task_ids,
            "pending": self.pending,
            "count_before": self.count_before,
        }
        if self.store is not None:
            self.store.write(IMPORTS, self.path.stem, json.dumps(record))
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(record), "utf-8")
        temporary.replace(self.path)  # a killed process never leaves half a record

    def clear(self) -> None:
        if self.store is not None:
            self.store.delete(IMPORTS, self.path.stem)
        self.path.unlink(missing_ok=True)


def _rows(numbers: list[int]) -> str:
    """`3-4`, `7` or `(none)`: the rows of one batch."""
    if not numbers:
        return "(none)"
    low, high = min(numbers), max(numbers)
    return str(low) if low == high else f"{low}-{high}"


def resume_progress(
    client: LabelStudio, project_id: int, progress: ImportProgress, parsed: ParsedBriefs
) -> ParsedBriefs:
    """The rows an interrupted import left to do, after settling its batch in flight."""
    if progress.pending:
        ids = [int(t["id"]) for t in project_tasks(client, project_id, fields="task_only")]
        progress.settle(ids)
        progress.save()
    return progress.resume(parsed)


def project_task_count(client: LabelStudio, project_id: int) -> int:
    """How many tasks the project holds."""
    return int(client.projects.get(id=project_id).task_number or 0)


def existing_external_ids(client: LabelStudio, project_id: int) -> dict[str, int]:
    """external_id → task id for the tasks already in the project."""
    return external_ids_of(list(project_tasks(client, project_id, fields="task_only")))


def read_file(path: Path) -> list[dict[str, Any]]:
    """A briefs file's records; fails on a missing, unreadable or empty file (before any
    server is asked)."""
    records = read_records(path)
    if not records:
        raise BriefImportError(f"{path}: no rows — add one brief per row")
    return records


def check_file(
    client: LabelStudio,
    project_id: int,
    path: Path,
    mapping: Mapping[str, str] | None = None,
    *,
    with_feedback: bool = False,
    records: list[dict[str, Any]] | None = None,
) -> ParsedBriefs:
    """Validate a file (its `records`, when read already) against itself and the project's
    tasks; write nothing."""
    records = read_file(path) if records is None else records
    existing = existing_external_ids(client, project_id)
    return validate_records(records, mapping, with_feedback=with_feedback, existing_ids=existing)


def import_briefs(
    client: LabelStudio,
    project_id: int,
    parsed: ParsedBriefs,
    *,
    path: Path,
    skip_invalid: bool = False,
    model_version: str = IMPORTED_MODEL_VERSION,
    batch_size: int = BATCH_SIZE,
    on_batch: Callable[[int], None] | None = None,
    progress: ImportProgress | None = None,
) -> ImportSummary:
    """Import validated rows; refuse (importing nothing) on any invalid row unless skip_invalid.

    All or nothing, whatever stops it: when Label Studio refuses a batch or anything else
    fails, the tasks this import made (and those of an interrupted run it resumed) are deleted.
    When Label Studio stops answering or the import is interrupted (Ctrl-C), nothing can be
    deleted safely: what was imported, and the batch in flight, are recorded in `progress` (if
    given), so the same command resumes exactly.
    """
    if parsed.errors and not skip_invalid:
        raise BriefImportError(format_errors(parsed.errors, path))
    summary = ImportSummary(skipped=list(parsed.errors))
    earlier = list(progress.task_ids) if progress is not None else []
    total = len(parsed.rows)
    count = project_task_count(client, project_id) if progress is not None else None
    batch: Sequence[BriefRow] = []
    try:
        for batch in batches(parsed.rows, batch_size):
            items = [import_task(row, model_version) for row in batch]
            if progress is not None:
                progress.pending, progress.count_before = [row.row for row in batch], count
                progress.save()
            response = client.projects.import_tasks(
                id=project_id, request=items, return_task_ids=True
            )
            made = [int(i) for i in response.task_ids or []]
            summary.imported += len(batch)
            summary.with_feedback += sum(1 for row in batch if row.feedback is not None)
            summary.unrated += sum(
                1 for row in batch if row.feedback is not None and row.feedback.rating is None
            )
            summary.task_ids.extend(made)
            if progress is not None and count is not None:
                progress.rows.update(row.row for row in batch)
                progress.task_ids.extend(made)
                progress.pending, progress.count_before = [], None
                count += len(batch)
                progress.save()
            if on_batch is not None:
                on_batch(len(batch))
    # Ctrl-C (KeyboardInterrupt) passes through: the record already holds what landed and the
    # batch in flight, so the same command finishes the import.
    except Exception as exc:
        raise _failed(client, project_id, exc, batch, summary, total, earlier, progress) from None
    if progress is not None:
        progress.clear()
    return summary


def _failed(
    client: LabelStudio,
    project_id: int,
    exc: Exception,
    batch: Sequence[BriefRow],
    summary: ImportSummary,
    total: int,
    earlier: list[int],
    progress: ImportProgress | None,
) -> LabelStudioError:
    """The one-line error for a failed import, after undoing or recording what it did."""
    rows = _rows([row.row for row in batch])
    if isinstance(exc, httpx.TransportError) or (
        isinstance(exc, OSError) and exc.filename is None
    ):  # Label Studio stopped answering: nothing can be deleted, the record says what landed
        stopped = (
            f"Label Studio stopped answering after {summary.imported:,} of {total:,} rows "
            f"({type(exc).__name__})"
        )
        if progress is None:
            return LabelStudioError(
                f"{stopped} — delete tasks {_span(summary.task_ids)} before importing again"
            )
        return LabelStudioError(
            f"{stopped}; the imported rows are recorded — run the same command again to import "
            f"the other {total - summary.imported:,}, without duplicates"
        )
    if isinstance(exc, ApiError):
        why = f"Label Studio refused rows {rows} (HTTP {exc.status_code}: "
        why += f"{_printable(str(exc.body))[:300]})"
    else:  # a value the client cannot send, a full disk, a bug: the rule holds all the same
        logger.debug("import failed", exc_info=exc)
        why = f"importing rows {rows} failed ({type(exc).__name__}: {_printable(str(exc))[:200]})"
    return LabelStudioError(
        f"{why}; {_undo(client, project_id, earlier + summary.task_ids, progress)}"
    )


def _undo(
    client: LabelStudio, project_id: int, task_ids: list[int], progress: ImportProgress | None
) -> str:
    """Roll back the tasks a failed import made; keep the record only while some may be left."""
    undone, deleted = rollback(client, project_id, task_ids)
    if progress is None:
        return undone
    if not deleted:
        return (
            f"{undone}, or run the same command again once the cause is fixed: the imported "
            "rows are recorded, so it finishes the import without duplicates"
        )
    if progress.count_before is not None:
        progress.count_before -= len(progress.task_ids)
    progress.rows, progress.task_ids = set(), []
    if _batch_did_not_land(client, project_id, progress):
        progress.clear()
        return undone
    progress.save()
    return (
        f"rolled back {len(task_ids):,} tasks, but rows {_rows(progress.pending)} may have "
        "landed: they are recorded — run the same command again once the cause is fixed, "
        "without duplicates"
    )


def _batch_did_not_land(client: LabelStudio, project_id: int, progress: ImportProgress) -> bool:
    """After a rollback: the project is back to its task count before the batch in flight."""
    if not progress.pending or progress.count_before is None:
        return True
    try:
        return project_task_count(client, project_id) == progress.count_before
    except (ApiError, httpx.TransportError, OSError):
        return False


def _printable(text: str) -> str:
    """Text an error line can print (lone surrogates escaped)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _span(task_ids: list[int]) -> str:
    return f"{min(task_ids)}-{max(task_ids)}" if task_ids else "(none were made)"


def rollback(client: LabelStudio, project_id: int, task_ids: list[int]) -> tuple[str, bool]:
    """Delete the tasks an import made before a failed batch; say what happened, and whether
    they are gone."""
    if not task_ids:
        return "nothing was imported", True
    try:
        client.actions.create(
            id="delete_tasks",
            project=project_id,
            selected_items={"all": False, "included": list(task_ids)},
        )
    except (ApiError, httpx.TransportError, OSError) as exc:
        why = f"HTTP {exc.status_code}" if isinstance(exc, ApiError) else type(exc).__name__
        return (
            f"{len(task_ids):,} tasks of earlier batches were imported and could not be deleted "
            f"({why}) — delete tasks {min(task_ids)}-{max(task_ids)} in the "
            "Data Manager before importing again"
        ), False
    logger.info("rolled back %d tasks of project %s", len(task_ids), project_id)
    return f"rolled back the {len(task_ids):,} tasks of earlier batches; nothing was imported", True
