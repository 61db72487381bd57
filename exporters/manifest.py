"""The export folder's manifest.json: options, counts, files with hashes, readiness, warnings."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from redraft.exporters.rows import FORMATS
from redraft.exporters.sinks import JsonlSink, RecordsSink, file_sha256
from redraft.exporters.split import SplitPlan
from redraft.exporters.tokens import TokenCounter
from redraft.prompting import PromptTemplate

if TYPE_CHECKING:
    from redraft.exporters.pipeline import ExportOptions

SPLITS = ("train", "validation")
MANIFEST_VERSION = 1
PROBLEMS_IN_MANIFEST = 20


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
    review_already_sent: int = 0
    cases: Counter[str] = field(default_factory=Counter)
    by_client: dict[str, Counter[str]] = field(default_factory=dict)


def dataset_file(name: str, split: str) -> str:
    """`openai_sft.train.jsonl`."""
    return f"{name}.{split}.jsonl"


def write_manifest(
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
    plan: SplitPlan | None = None,
) -> dict[str, Any]:
    """Check every file's validation report, write manifest.json and return it."""
    files: dict[str, Any] = {}
    datasets: dict[str, Any] = {}
    for name in FORMATS:
        entry: dict[str, Any] = {"ready": True, "problems": [], "warnings": []}
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
        elif options.validation_ratio > 0 and sinks[(name, "validation")].rows == 0:
            entry["warnings"].append(
                f"{dataset_file(name, 'validation')}: no rows although --validation-ratio is"
                f" {options.validation_ratio:g} — training runs without a validation loss"
            )
        entry["problems"] = entry["problems"][:PROBLEMS_IN_MANIFEST]
        datasets[name] = entry
    for sink in (rejects,):
        files[sink.path.name] = {"rows": sink.rows, "sha256": file_sha256(sink.path)}
    files[records_sink.path.name] = {
        "rows": records_sink.rows,
        "sha256": file_sha256(records_sink.path),
    }
    non_empty = [d for d in datasets.values() if d["train_rows"] or d["validation_rows"]]
    by_client = {c: dict(sorted(v.items())) for c, v in sorted(counts.by_client.items())}
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
            "golden_review_already_sent": counts.review_already_sent,
            "cases": dict(sorted(counts.cases.items())),
        },
        "split": {
            "validation_ratio": options.validation_ratio,
            "method": "stratified by client: each client's tasks ranked by a hash of the task id",
            "planned": plan.planned if plan is not None else {},
            # The evaluation set is pinned from these (redraft.evaluation.evalset).
            "validation_task_ids": sorted(plan.validation_ids) if plan is not None else [],
            "by_client": by_client,
            "warnings": _split_warnings(by_client, options.validation_ratio),
        },
        "token_counts": counter.note,
        "datasets": datasets,
        "files": files,
        "ready": bool(non_empty) and all(d["ready"] for d in non_empty),
        "warnings": [w for d in non_empty for w in d["warnings"]],
    }
    path = out_dir / "manifest.json"
    path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return manifest


def _split_warnings(by_client: Mapping[str, Mapping[str, int]], ratio: float) -> list[str]:
    """Clients with two or more exported tasks and none in validation (their validation
    task yielded no rows)."""
    if ratio <= 0:
        return []
    return [
        f"client {client or '(none)'!r}: {sum(split.values())} tasks exported, none in validation"
        for client, split in by_client.items()
        if sum(split.values()) >= 2 and not split.get("validation")
    ]
