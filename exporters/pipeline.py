"""One export run: tasks in, one folder out (datasets, rejects, records, manifest), streamed.

A first pass plans the split (task ids per client only, see split.py); then each task is
decided on its own (records, annotator policy, golden, rows) and its rows are written at once,
so memory stays flat however many tasks the export holds.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections import Counter
from collections.abc import Callable, Container, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from redraft.errors import RedraftError
from redraft.exporters.golden import GoldenWriter, golden_record, is_golden_candidate, review_task
from redraft.exporters.manifest import (
    SPLITS,
    ExportManifest,
    RunCounts,
    dataset_file,
    write_manifest,
)
from redraft.exporters.pii import mask_record
from redraft.exporters.records import Reject, task_records
from redraft.exporters.rows import FORMATS, RowPolicy, classify, rows_of_record
from redraft.exporters.selection import ANNOTATOR_POLICIES, select_annotations
from redraft.exporters.sinks import (
    RECORD_FORMATS,
    JsonlSink,
    RecordsSink,
    RowEncoder,
    record_row,
)
from redraft.exporters.split import (
    NO_HOLDOUT,
    EvalHoldout,
    SplitPlan,
    TaskSource,
    planned_tasks,
)
from redraft.exporters.tokens import TokenCounter
from redraft.exporters.validation import DEFAULT_CONTEXT_LIMIT, DEFAULT_EPOCHS, RowValidator
from redraft.knobs import knob
from redraft.processes import process_alive
from redraft.prompting import PromptTemplate

logger = logging.getLogger(__name__)

REVIEW_BATCH = 50  # review tasks imported as they accumulate, so a failed run keeps them


class ExportError(RedraftError):
    """An export cannot be written (for example: the output folder is not empty)."""


@dataclass(frozen=True)
class ExportOptions:
    """Filters and policies of one export; all of them are written to the manifest."""

    policy: RowPolicy = field(default_factory=RowPolicy)
    validation_ratio: float = knob(
        0.1,
        "Share of each client's tasks held out for validation (at least one task of every"
        " client with two or more).",
        bounds=(0, 0.9),
    )
    annotators: str = knob(
        "all",
        "Several annotations on one task: keep all, the best-rated, or the latest.",
        choices=ANNOTATOR_POLICIES,
    )
    mask_pii: bool = knob(False, "Mask email addresses and phone numbers.")
    records_format: str = knob(
        "parquet", "Format of the feedback records written for analysis.", choices=RECORD_FORMATS
    )
    model_version: str | None = knob(
        None, "Prediction version to use when an annotation names none (default: latest)."
    )
    cost_model: str | None = knob(
        None,
        "Model whose training price the cost estimate uses (default gpt-4o-mini-2024-07-18).",
    )
    epochs: int = knob(DEFAULT_EPOCHS, "Epochs for the training-cost estimate.")
    context_limit: int = knob(DEFAULT_CONTEXT_LIMIT, "Tokens one example may hold.")
    # Set from --golden/--golden-review and --project, not options of their own.
    golden: str = "off"  # off | rewrite (into the datasets) | review (back to Label Studio)
    golden_model: str | None = None
    project_id: int | None = None

    def manifest(self) -> dict[str, Any]:
        """The options as the manifest records them."""
        values = asdict(self)
        values["policy"] = asdict(self.policy)
        return values


def run_export(
    tasks: TaskSource,
    out_dir: Path,
    template: PromptTemplate,
    counter: TokenCounter,
    options: ExportOptions,
    source: Mapping[str, Any],
    golden_writer: GoldenWriter | None = None,
    review_sink: Callable[[list[dict[str, Any]]], int] | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    reviewed: Container[int] = frozenset(),
    holdout: EvalHoldout = NO_HOLDOUT,
) -> ExportManifest:
    """Write one export folder from Label Studio tasks; returns the manifest.

    `tasks` is an iterable (read once; spooled to a temp file when a split is planned) or a
    function that opens the source again. `reviewed` holds the annotation ids that already
    have a golden review task: --golden-review neither rewrites nor re-imports them.
    `holdout`: the project's evaluation set (always in validation) and how many briefs to
    add to it (`redraft.evaluation.evalset`).
    """
    if options.golden != "off" and golden_writer is None:
        raise ExportError("--golden needs a model to write with — pass --golden-model")
    if options.golden == "review" and review_sink is None:
        raise ExportError("--golden-review needs a Label Studio project — pass --review-project")
    check_target(out_dir)
    # Written into a hidden sibling and renamed into place once complete: a failed or killed
    # run never leaves a folder that looks like an export.
    work = out_dir.parent / f"{PARTIAL_PREFIX}{out_dir.name}.{os.getpid()}"
    remove_stale_partials(out_dir.parent)
    work.mkdir(parents=True)
    try:
        manifest = _write_export(
            tasks, work, template, counter, options, source, golden_writer, review_sink,
            now, reviewed, holdout,
        )  # fmt: skip
        if out_dir.exists():
            out_dir.rmdir()  # checked empty above
        os.replace(work, out_dir)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return manifest


def _write_export(
    tasks: TaskSource,
    out_dir: Path,
    template: PromptTemplate,
    counter: TokenCounter,
    options: ExportOptions,
    source: Mapping[str, Any],
    golden_writer: GoldenWriter | None,
    review_sink: Callable[[list[dict[str, Any]]], int] | None,
    now: Callable[[], datetime],
    reviewed: Container[int],
    holdout: EvalHoldout,
) -> ExportManifest:
    started = now()
    encoder = RowEncoder()  # shared: a record's messages recur in its records row and rows
    sinks = open_dataset_sinks(out_dir, counter, options, encoder)
    rejects = JsonlSink(out_dir / "rejects.jsonl").open()
    records_name = "records.csv" if options.records_format == "csv" else "records.parquet"
    records_sink = RecordsSink(out_dir / records_name, options.records_format)
    counts = RunCounts()
    golden = _Golden(golden_writer, options.golden, review_sink, reviewed)
    shaped = 0  # tasks with a `data` object: an input without any is not a Label Studio export
    try:
        with planned_tasks(tasks, options.validation_ratio, holdout) as (plan, stream):
            for task in stream:
                counts.tasks_read += 1
                shaped += isinstance(task.get("data"), Mapping)
                _one_task(
                    task, template, options, plan, golden, sinks, rejects, records_sink, counts,
                    encoder.encode,
                )  # fmt: skip
                if len(golden.review) >= REVIEW_BATCH:
                    golden.flush(counts)
    finally:
        try:  # rewrites already paid for reach Label Studio even when the run fails midway
            golden.flush(counts)
        finally:
            for sink in [*sinks.values(), rejects]:
                sink.close()
            records_sink.close()
    where = source.get("path") or f"project {source.get('project_id')}"
    if counts.tasks_read == 0:
        raise ExportError(f"nothing to export: {where} holds no tasks")
    if shaped == 0:
        raise ExportError(
            f"{where} is not a Label Studio export: none of its {counts.tasks_read} items has a "
            "`data` object — export the project from Label Studio as JSON"
        )
    return write_manifest(
        out_dir,
        sinks,
        rejects,
        records_sink,
        counts,
        options,
        source,
        template,
        counter,
        started,
        plan,
    )


PARTIAL_PREFIX = ".partial-"


def check_target(out_dir: Path) -> None:
    """Fail when the export folder already holds files (exports never mix)."""
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise ExportError(f"{out_dir} is not empty — choose a new folder with -o")
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        why = "a file is in the way" if isinstance(exc, FileExistsError) else exc.strerror
        raise ExportError(
            f"cannot create {out_dir}: {why} — pass -o with a folder you can write"
        ) from None


def make_empty_dir(out_dir: Path) -> None:
    """Create the export folder, or fail when it already holds files (exports never mix)."""
    check_target(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)


def remove_stale_partials(parent: Path) -> None:
    """Delete what killed runs left (`.partial-NAME.PID` whose process is gone)."""
    if not parent.is_dir():
        return
    for leftover in parent.glob(f"{PARTIAL_PREFIX}*"):
        pid = leftover.name.rsplit(".", 1)[-1]
        if pid.isdigit() and not process_alive(int(pid)):
            shutil.rmtree(leftover, ignore_errors=True)


def open_dataset_sinks(
    out_dir: Path,
    counter: TokenCounter,
    options: ExportOptions,
    encoder: RowEncoder | None = None,
) -> dict[tuple[str, str], JsonlSink]:
    """One open, validating JSONL sink per dataset format and split, keyed (format, split).

    They share one `RowEncoder`: a record's messages recur across the formats.
    """
    encode = (encoder or RowEncoder()).encode
    return {
        (name, split): JsonlSink(
            out_dir / dataset_file(name, split),
            RowValidator(
                name.replace("_", "-"),
                counter,
                options.context_limit,
                check_minimum=split == "train",
                model=options.cost_model,
                epochs=options.epochs,
            ),
            encode=encode,
        ).open()
        for name in FORMATS
        for split in SPLITS
    }


@dataclass
class _Golden:
    """The golden step of one run: the writer, and review tasks waiting to be imported."""

    writer: GoldenWriter | None
    mode: str
    review_sink: Callable[[list[dict[str, Any]]], int] | None
    reviewed: Container[int]
    review: list[dict[str, Any]] = field(default_factory=list)

    def flush(self, counts: RunCounts) -> None:
        if self.review and self.review_sink is not None:
            counts.review_tasks += self.review_sink(self.review)
        self.review = []


def _one_task(
    task: Mapping[str, Any],
    template: PromptTemplate,
    options: ExportOptions,
    plan: SplitPlan,
    golden: _Golden,
    sinks: dict[tuple[str, str], JsonlSink],
    rejects: JsonlSink,
    records_sink: RecordsSink,
    counts: RunCounts,
    encode: Callable[[Any], str],
) -> None:
    outcome = task_records(task, template, options.model_version, options.project_id)
    kept, unselected = select_annotations(outcome.records, options.annotators)
    task_rejects: list[Reject] = [*outcome.rejects, *unselected]
    split = plan.split(outcome.task_id)
    exported = False
    for record in kept:
        if options.mask_pii:
            record = mask_record(record)
        writer = golden.writer
        if writer is not None and is_golden_candidate(record, options.policy):
            if golden.mode != "review":
                record = golden_record(record, writer.rewrite(record), writer.model)
                counts.machine_written += 1
            elif record.annotation_id in golden.reviewed:
                counts.review_already_sent += 1
            else:
                golden.review.append(review_task(record, writer.rewrite(record), writer.model))
        built = rows_of_record(record, options.policy)
        rows, reason = built.rows, built.reason
        case = classify(record, options.policy)
        counts.records += 1
        counts.cases[case] += 1
        for name, why in built.left_out:
            counts.left_out.setdefault(name, Counter())[why] += 1
        records_sink.write(record_row(record, split, case, encode))
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
