"""One export run: tasks in, one folder out (datasets, rejects, records, manifest), streamed.

Each task is decided on its own (records, annotator policy, golden, rows, split by hash) and
its rows are written at once, so memory stays flat however many tasks the export holds.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from redraft.errors import RedraftError
from redraft.exporters.golden import GoldenWriter, golden_record, is_golden_candidate, review_task
from redraft.exporters.pii import mask_record
from redraft.exporters.records import Reject, task_records
from redraft.exporters.rows import FORMATS, RowPolicy, classify, record_rows
from redraft.exporters.selection import select_annotations, split_of
from redraft.exporters.sinks import JsonlSink, RecordsSink, file_sha256, record_row
from redraft.exporters.tokens import TokenCounter
from redraft.exporters.validation import DEFAULT_CONTEXT_LIMIT, DEFAULT_EPOCHS, RowValidator
from redraft.prompting import PromptTemplate

logger = logging.getLogger(__name__)

SPLITS = ("train", "validation")
MANIFEST_VERSION = 1
PROBLEMS_IN_MANIFEST = 20


class ExportError(RedraftError):
    """An export cannot be written (for example: the output folder is not empty)."""


@dataclass(frozen=True)
class ExportOptions:
    """Filters and policies of one export; all of them are written to the manifest."""

    policy: RowPolicy = field(default_factory=RowPolicy)
    annotators: str = "all"
    validation_ratio: float = 0.1
    mask_pii: bool = False
    records_format: str = "parquet"
    golden: str = "off"  # off | rewrite (into the datasets) | review (back to Label Studio)
    golden_model: str | None = None
    model_version: str | None = None  # preferred prediction version when none is linked
    project_id: int | None = None
    context_limit: int = DEFAULT_CONTEXT_LIMIT
    training_model: str | None = None
    epochs: int = DEFAULT_EPOCHS

    def manifest(self) -> dict[str, Any]:
        """The options as the manifest records them."""
        values = asdict(self)
        values["policy"] = asdict(self.policy)
        return values


@dataclass
class RunCounts:
    """Counts kept while the export streams."""

    tasks_read: int = 0
    tasks_exported: int = 0
    tasks_rejected: int = 0
    records: int = 0
    rejects: int = 0
    machine_written: int = 0
    review_tasks: int = 0
    cases: Counter[str] = field(default_factory=Counter)
    by_client: dict[str, Counter[str]] = field(default_factory=dict)


def dataset_file(name: str, split: str) -> str:
    """`openai_sft.train.jsonl`."""
    return f"{name}.{split}.jsonl"


def run_export(
    tasks: Iterable[Mapping[str, Any]],
    out_dir: Path,
    template: PromptTemplate,
    counter: TokenCounter,
    options: ExportOptions,
    source: Mapping[str, Any],
    golden_writer: GoldenWriter | None = None,
    review_sink: Callable[[list[dict[str, Any]]], int] | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> dict[str, Any]:
    """Write one export folder from an iterator of Label Studio tasks; returns the manifest."""
    if options.golden != "off" and golden_writer is None:
        raise ExportError("--golden needs a model to write with — pass --golden-model")
    if options.golden == "review" and review_sink is None:
        raise ExportError("--golden-review needs a Label Studio project — pass --review-project")
    out_dir.mkdir(parents=True, exist_ok=True)
    if any(out_dir.iterdir()):
        raise ExportError(f"{out_dir} is not empty — choose a new folder with -o")
    started = now()
    sinks = {
        (name, split): JsonlSink(
            out_dir / dataset_file(name, split),
            RowValidator(
                name.replace("_", "-"),
                counter,
                options.context_limit,
                check_minimum=split == "train",
                model=options.training_model,
                epochs=options.epochs,
            ),
        ).open()
        for name in FORMATS
        for split in SPLITS
    }
    rejects = JsonlSink(out_dir / "rejects.jsonl").open()
    records_name = "records.csv" if options.records_format == "csv" else "records.parquet"
    records_sink = RecordsSink(out_dir / records_name, options.records_format)
    counts = RunCounts()
    review: list[dict[str, Any]] = []
    try:
        for task in tasks:
            counts.tasks_read += 1
            _one_task(
                task, template, options, golden_writer, sinks, rejects, records_sink, counts, review
            )
    finally:
        for sink in [*sinks.values(), rejects]:
            sink.close()
        records_sink.close()
    if review and review_sink is not None:
        counts.review_tasks = review_sink(review)
    return _write_manifest(
        out_dir, sinks, rejects, records_sink, counts, options, source, template, counter, started
    )


def _one_task(
    task: Mapping[str, Any],
    template: PromptTemplate,
    options: ExportOptions,
    golden_writer: GoldenWriter | None,
    sinks: dict[tuple[str, str], JsonlSink],
    rejects: JsonlSink,
    records_sink: RecordsSink,
    counts: RunCounts,
    review: list[dict[str, Any]],
) -> None:
    outcome = task_records(task, template, options.model_version, options.project_id)
    kept, unselected = select_annotations(outcome.records, options.annotators)
    task_rejects: list[Reject] = [*outcome.rejects, *unselected]
    split = split_of(outcome.task_id, outcome.client, options.validation_ratio)
    exported = False
    for record in kept:
        if options.mask_pii:
            record = mask_record(record)
        if golden_writer is not None and is_golden_candidate(record, options.policy):
            text = golden_writer.rewrite(record)
            if options.golden == "review":
                review.append(review_task(record, text, golden_writer.model))
            else:
                record = golden_record(record, text, golden_writer.model)
                counts.machine_written += 1
        rows, reason = record_rows(record, options.policy)
        case = classify(record, options.policy)
        counts.records += 1
        counts.cases[case] += 1
        records_sink.write(record_row(record, split, case))
        if not any(rows.values()):
            task_rejects.append(Reject(record.task_id, reason, record.annotation_id))
            continue
        exported = True
        for name, items in rows.items():
            for row in items:
                # A golden record's KTO row is the person-rated draft: not machine-written.
                marked = record.machine_written and name != "trl_kto"
                sinks[(name, split)].write(row, machine_written=marked)
    for reject in task_rejects:
        rejects.write(reject.as_dict())
    counts.rejects += len(task_rejects)
    if exported:
        counts.tasks_exported += 1
        client = outcome.client or ""
        counts.by_client.setdefault(client, Counter())[split] += 1
    else:
        counts.tasks_rejected += 1
        if not task_rejects:  # cannot happen; keeps the accounting honest if it ever does
            rejects.write(Reject(outcome.task_id, "yields no rows").as_dict())


def _write_manifest(
    out_dir: Path,
    sinks: dict[tuple[str, str], JsonlSink],
    rejects: JsonlSink,
    records_sink: RecordsSink,
    counts: RunCounts,
    options: ExportOptions,
    source: Mapping[str, Any],
    template: PromptTemplate,
    counter: TokenCounter,
    started: datetime,
) -> dict[str, Any]:
    files: dict[str, Any] = {}
    datasets: dict[str, Any] = {}
    for name in FORMATS:
        entry: dict[str, Any] = {"ready": True, "problems": []}
        for split in SPLITS:
            sink = sinks[(name, split)]
            assert sink.validator is not None
            report = sink.validator.finish()
            files[sink.path.name] = {
                "rows": sink.rows,
                "sha256": file_sha256(sink.path),
                "machine_written_lines": sink.machine_written_lines,
                "validation": report.summary(),
            }
            entry[f"{split}_rows"] = sink.rows
            if sink.rows and not report.ok:
                entry["ready"] = False
            entry["problems"] += [
                p.text(sink.path.name) for p in report.problems if p.severity == "error"
            ]
        if sinks[(name, "train")].rows == 0:
            entry["ready"] = False
            entry["problems"].append(f"{dataset_file(name, 'train')}: no rows")
        entry["problems"] = entry["problems"][:PROBLEMS_IN_MANIFEST]
        datasets[name] = entry
    for sink in (rejects,):
        files[sink.path.name] = {"rows": sink.rows, "sha256": file_sha256(sink.path)}
    files[records_sink.path.name] = {
        "rows": records_sink.rows,
        "sha256": file_sha256(records_sink.path),
    }
    non_empty = [d for d in datasets.values() if d["train_rows"] or d["validation_rows"]]
    manifest = {
        "redraft_export": MANIFEST_VERSION,
        "created_at": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "source": dict(source),
        "template": {"name": template.name, "sha256": template.sha256},
        "options": options.manifest(),
        "counts": {
            "tasks_read": counts.tasks_read,
            "tasks_exported": counts.tasks_exported,
            "tasks_rejected": counts.tasks_rejected,
            "records": counts.records,
            "rejects": counts.rejects,
            "machine_written_records": counts.machine_written,
            "golden_review_tasks": counts.review_tasks,
            "cases": dict(sorted(counts.cases.items())),
        },
        "split": {
            "validation_ratio": options.validation_ratio,
            "by_client": {c: dict(sorted(v.items())) for c, v in sorted(counts.by_client.items())},
        },
        "token_counts": counter.note,
        "datasets": datasets,
        "files": files,
        "ready": bool(non_empty) and all(d["ready"] for d in non_empty),
    }
    path = out_dir / "manifest.json"
    path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return manifest
