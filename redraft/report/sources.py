"""Where a report's records come from: exported Label Studio tasks, an export folder, a project.

`from_tasks` is the pure seam; the other readers only fetch tasks or rows and call it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from redraft.csvcells import spreadsheet_value
from redraft.exporters.manifest import ExportManifest, ManifestError
from redraft.exporters.records import FeedbackRecord, task_records
from redraft.label_config.results import draft_of, rating_of
from redraft.labelstudio.client import project_tasks
from redraft.prompting import PromptTemplate
from redraft.report.errors import ReportInputError
from redraft.report.judge import JUDGE_PREFIX, meta_scores
from redraft.report.metrics import DraftSeen

logger = logging.getLogger(__name__)


@dataclass
class ReportInput:
    """Records to report on, the drafts seen (None: derive from records), and judge scores."""

    records: list[FeedbackRecord]
    drafts: list[DraftSeen] | None = None
    # judge model_version -> task id -> 1-5 score
    judge_scores: dict[str, dict[int, int]] = field(default_factory=dict)
    rejected: int = 0
    source: str = ""


def from_tasks(
    tasks: Iterable[Mapping[str, Any]], template: PromptTemplate, source: str = "tasks"
) -> ReportInput:
    """Records, drafts seen and judge scores from exported Label Studio tasks (pure)."""
    records: list[FeedbackRecord] = []
    drafts: list[DraftSeen] = []
    judges: dict[str, dict[int, int]] = {}
    rejected = 0
    for task in tasks:
        outcome = task_records(task, template)
        records.extend(outcome.records)
        # A task with no annotation yet is not rejected for the report: its drafts still count.
        rejected += sum(1 for r in outcome.rejects if r.reason != "no completed annotation")
        task_id = outcome.task_id if outcome.task_id is not None else -1
        for version, score in meta_scores(task.get("meta")).items():
            judges.setdefault(version, {})[task_id] = score
        for prediction in task.get("predictions") or []:
            if not isinstance(prediction, Mapping):
                continue
            version = str(prediction.get("model_version") or "")
            if version.startswith(JUDGE_PREFIX):  # stored so by redraft before 2026-12
                score = rating_of(prediction.get("result"))
                if score is not None:
                    judges.setdefault(version, {}).setdefault(task_id, score)
            elif draft_of(prediction) is not None:
                drafts.append(
                    DraftSeen(
                        task_id, version or None, outcome.client, prediction.get("created_at")
                    )
                )
    return ReportInput(records, drafts, judges, rejected, source)


def from_ls_export_file(path: Path, template: PromptTemplate) -> ReportInput:
    """Read a Label Studio JSON export (a list of tasks, predictions whole or as ids)."""
    try:
        tasks = json.loads(Path(path).read_text("utf-8"))
    except OSError as exc:
        raise ReportInputError(f"cannot read {path}: {exc.strerror} — check the path") from None
    except json.JSONDecodeError as exc:
        raise ReportInputError(
            f"{path} is not JSON ({exc.msg}, line {exc.lineno}) — export the project as JSON"
        ) from None
    if not isinstance(tasks, list):
        raise ReportInputError(f"{path} is not a Label Studio JSON export (expected a task list)")
    return from_tasks(tasks, template, source=str(path))


def from_project(client: Any, project_id: int, template: PromptTemplate) -> ReportInput:
    """Fetch every task of a project with its annotations and whole predictions; writers are
    named by their Label Studio email (the task listing gives user ids)."""
    tasks = list(project_tasks(client, project_id))
    logger.info("read %d tasks from project %d", len(tasks), project_id)
    data = from_tasks(tasks, template, source=f"project {project_id}")
    return replace(data, records=named_writers(data.records, _user_emails(client)))


def named_writers(
    records: Iterable[FeedbackRecord], emails: Mapping[str, str]
) -> list[FeedbackRecord]:
    """Records whose annotator is a Label Studio user id, named by that user's email.

    >>> r = FeedbackRecord(1, 2, [], "Hi", annotator="7")
    >>> [x.annotator for x in named_writers([r], {"7": "ann@acme.test"})]
    ['ann@acme.test']
    """
    return [
        replace(r, annotator=emails[r.annotator]) if r.annotator in emails else r for r in records
    ]


def _user_emails(client: Any) -> dict[str, str]:
    """{user id: email} of the organisation's users; {} when this token may not list them."""
    from label_studio_sdk.core.api_error import ApiError

    try:
        return {str(user.id): str(user.email) for user in client.users.list() if user.email}
    except ApiError as exc:
        logger.warning("writers shown by user id: listing users gave HTTP %s", exc.status_code)
        return {}


def from_export_dir(path: Path) -> ReportInput:
    """Read `records.parquet` (or `records.csv`) from a `redraft export` folder."""
    folder = Path(path)
    parquet, csv = folder / "records.parquet", folder / "records.csv"
    try:
        ExportManifest.load(folder).verify_files(folder, [parquet.name, csv.name])
    except ManifestError as exc:
        raise ReportInputError(str(exc)) from None
    try:
        if parquet.exists():
            frame = pd.read_parquet(parquet)
        elif csv.exists():
            frame = pd.read_csv(csv, keep_default_na=False, na_values=[""])
            frame = frame.map(spreadsheet_value)  # undo the export's formula neutraliser
        else:
            raise ReportInputError(
                f"{folder} has no records.parquet or records.csv — pass a `redraft export` folder"
            )
    except (OSError, ValueError) as exc:  # pyarrow's and pandas' read errors are both
        raise ReportInputError(
            f"cannot read the records of {folder} ({type(exc).__name__}) — re-run the export"
        ) from None
    return ReportInput(
        [record_from_row(row) for row in frame.to_dict("records")], None, source=str(folder)
    )


def record_from_row(row: Mapping[str, Any]) -> FeedbackRecord:
    """A FeedbackRecord from one records-table row (JSON-encoded lists where CSV needs them).

    >>> r = record_from_row({"task_id": 1, "annotation_id": 2, "final": "Hi", "draft": "Hey",
    ...                      "rating": 3.0, "issues": '["tone"]', "messages": "[]"})
    >>> (r.task_id, r.rating, r.issues, r.accepted_as_is)
    (1, 3, ('tone',), False)
    """
    known = FeedbackRecord.__dataclass_fields__
    values = {k: _clean(v) for k, v in row.items() if k in known}
    for name in ("messages", "issues", "data", "draft_signals"):
        if isinstance(values.get(name), str):
            values[name] = json.loads(values[name])
    values["issues"] = tuple(values.get("issues") or ())
    values["messages"] = list(values.get("messages") or [])
    values["data"] = dict(values.get("data") or {})
    for name in ("task_id", "annotation_id", "rating", "prediction_id", "project_id"):
        if values.get(name) is not None:
            values[name] = int(values[name])
    if values.get("draft_score") is not None:
        values["draft_score"] = float(values["draft_score"])
    for name in ("machine_written", "ground_truth"):
        flag = values.get(name)
        values[name] = flag.strip().lower() == "true" if isinstance(flag, str) else bool(flag)
    for name in ("annotator", "created_at", "updated_at", "model_version", "client"):
        if values.get(name) is not None:
            values[name] = str(values[name])
    return FeedbackRecord(**values)


def _clean(value: Any) -> Any:
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, float) and value != value:
        return None
    return value
