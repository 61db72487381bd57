"""`redraft import`: validate a briefs file completely, then import it in batches via the SDK."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import httpx
from label_studio_sdk import LabelStudio
from label_studio_sdk.core.api_error import ApiError

from redraft.errors import BriefImportError, LabelStudioError
from redraft.labelstudio.briefs import ParsedBriefs, RowError, read_records, validate_records
from redraft.labelstudio.client import project_tasks
from redraft.labelstudio.tasks import IMPORTED_MODEL_VERSION, batches, import_task
from redraft.labelstudio.tasks import task_external_ids as external_ids_of
from redraft.wording import counted

logger = logging.getLogger(__name__)

BATCH_SIZE = 500
MAX_ERRORS_SHOWN = 20


@dataclass
class ImportSummary:
    """What one import did."""

    imported: int = 0
    with_feedback: int = 0
    skipped: list[RowError] = field(default_factory=list)
    task_ids: list[int] = field(default_factory=list)

    def line(self, project_id: int) -> str:
        """The one summary line printed at the end."""
        text = f"imported {counted(self.imported, 'task')} into project {project_id}"
        if self.with_feedback:
            text += f" ({self.with_feedback:,} with a rated draft and a completed annotation)"
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

    Saved when Label Studio stops answering mid-import, so the same command resumes exactly:
    no row twice, none missing (with or without external ids). Removed once an import ends.
    """

    path: Path
    rows: set[int] = field(default_factory=set)
    task_ids: list[int] = field(default_factory=list)

    @classmethod
    def for_file(
        cls, folder: Path, project_id: int, file: Path, mapping: Mapping[str, str] | None
    ) -> ImportProgress:
        """The progress record of this file (content and column mapping) into this project."""
        digest = hashlib.sha256(file.read_bytes())
        digest.update(json.dumps(dict(mapping or {}), sort_keys=True).encode())
        path = folder / f"project-{project_id}-{digest.hexdigest()[:16]}.json"
        if not path.is_file():
            return cls(path)
        saved = json.loads(path.read_text("utf-8"))
        return cls(path, set(saved["rows"]), list(saved["task_ids"]))

    def resume(self, parsed: ParsedBriefs) -> ParsedBriefs:
        """The rows still to import; a recorded row's "already in the project" is not an error."""
        return replace(
            parsed,
            rows=[r for r in parsed.rows if r.row not in self.rows],
            errors=[e for e in parsed.errors if e.row not in self.rows],
        )

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        record = {"rows": sorted(self.rows), "task_ids": self.task_ids}
        self.path.write_text(json.dumps(record), "utf-8")

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


def existing_external_ids(client: LabelStudio, project_id: int) -> dict[str, int]:
    """external_id → task id for the tasks already in the project."""
    return external_ids_of(list(project_tasks(client, project_id, fields="task_only")))


def check_file(
    client: LabelStudio,
    project_id: int,
    path: Path,
    mapping: Mapping[str, str] | None = None,
    *,
    with_feedback: bool = False,
) -> ParsedBriefs:
    """Read and validate a file against itself and the project's tasks; write nothing."""
    records = read_records(path)
    if not records:
        raise BriefImportError(f"{path}: no rows")
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

    All or nothing: when Label Studio refuses a batch, the tasks this import made (and those of
    an interrupted run it resumed) are deleted. When Label Studio stops answering, what was
    imported is recorded in `progress` (if given), so the same command resumes exactly.
    """
    if parsed.errors and not skip_invalid:
        raise BriefImportError(format_errors(parsed.errors, path))
    summary = ImportSummary(skipped=list(parsed.errors))
    earlier = progress.task_ids if progress is not None else []
    total = len(parsed.rows)
    for batch in batches(parsed.rows, batch_size):
        items = [import_task(row, model_version) for row in batch]
        try:
            response = client.projects.import_tasks(
                id=project_id, request=items, return_task_ids=True
            )
        except ApiError as exc:
            refused = (
                f"Label Studio refused rows {batch[0].row}-{batch[-1].row} "
                f"(HTTP {exc.status_code}: {str(exc.body)[:300]})"
            )
            undone = rollback(client, project_id, earlier + summary.task_ids)
            if progress is not None:
                progress.clear()
            raise LabelStudioError(f"{refused}; {undone}") from None
        except (httpx.TransportError, OSError) as exc:
            if progress is None:
                raise LabelStudioError(
                    f"Label Studio stopped answering after {summary.imported:,} of {total:,} "
                    f"rows ({type(exc).__name__}) — delete tasks "
                    f"{_span(summary.task_ids)} before importing again"
                ) from None
            progress.rows.update(row.row for row in parsed.rows[: summary.imported])
            progress.task_ids.extend(summary.task_ids)
            progress.save()
            raise LabelStudioError(
                f"Label Studio stopped answering after {summary.imported:,} of {total:,} rows "
                f"({type(exc).__name__}); the imported rows are recorded — run the same command "
                f"again to import the other {total - summary.imported:,}, without duplicates"
            ) from None
        summary.imported += len(batch)
        summary.with_feedback += sum(1 for row in batch if row.feedback is not None)
        summary.task_ids.extend(int(i) for i in response.task_ids or [])
        if on_batch is not None:
            on_batch(len(batch))
    if progress is not None:
        progress.clear()
    return summary


def _span(task_ids: list[int]) -> str:
    return f"{min(task_ids)}-{max(task_ids)}" if task_ids else "(none were made)"


def rollback(client: LabelStudio, project_id: int, task_ids: list[int]) -> str:
    """Delete the tasks an import made before a refused batch; say what happened."""
    if not task_ids:
        return "nothing was imported"
    try:
        client.actions.create(
            id="delete_tasks",
            project=project_id,
            selected_items={"all": False, "included": list(task_ids)},
        )
    except ApiError as exc:
        return (
            f"{len(task_ids):,} tasks of earlier batches were imported and could not be deleted "
            f"(HTTP {exc.status_code}) — delete tasks {min(task_ids)}-{max(task_ids)} in the "
            "Data Manager before importing again"
        )
    logger.info("rolled back %d tasks of project %s", len(task_ids), project_id)
    return f"rolled back the {len(task_ids):,} tasks of earlier batches; nothing was imported"
