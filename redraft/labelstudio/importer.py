"""`redraft import`: validate a briefs file completely, then import it in batches via the SDK."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from label_studio_sdk import LabelStudio
from label_studio_sdk.core.api_error import ApiError

from redraft.errors import BriefImportError, LabelStudioError
from redraft.labelstudio.briefs import ParsedBriefs, RowError, read_records, validate_records
from redraft.labelstudio.tasks import IMPORTED_MODEL_VERSION, batches, import_task
from redraft.labelstudio.tasks import task_external_ids as external_ids_of

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
        text = f"imported {self.imported:,} tasks into project {project_id}"
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
        f"{path}: {len(errors)} invalid row(s); nothing was imported:\n{shown}\n"
        "fix them, or pass --skip-invalid to import only the valid rows"
    )


def existing_external_ids(client: LabelStudio, project_id: int) -> dict[str, int]:
    """external_id → task id for the tasks already in the project."""
    tasks = [
        {"id": t.id, "data": t.data}
        for t in client.tasks.list(project=project_id, fields="task_only", page_size=500)
    ]
    return external_ids_of(tasks)


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
) -> ImportSummary:
    """Import validated rows; refuse (importing nothing) on any invalid row unless skip_invalid."""
    if parsed.errors and not skip_invalid:
        raise BriefImportError(format_errors(parsed.errors, path))
    summary = ImportSummary(skipped=list(parsed.errors))
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
            raise LabelStudioError(
                f"{refused}; {rollback(client, project_id, summary.task_ids)}"
            ) from None
        summary.imported += len(batch)
        summary.with_feedback += sum(1 for row in batch if row.feedback is not None)
        summary.task_ids.extend(int(i) for i in response.task_ids or [])
        if on_batch is not None:
            on_batch(len(batch))
    return summary


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
