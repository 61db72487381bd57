"""The export folder's manifest.json, and the one type that writes and reads it.

`ExportManifest` is the contract between an export and everything that uses one (training,
evaluation, status, report): options, counts, the split, each file with its row count and
sha256, readiness and warnings. `write_manifest` builds it from a finished run's sinks.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from redraft.errors import RedraftError
from redraft.exporters.rows import FORMATS
from redraft.exporters.sinks import JsonlSink, RecordsSink, file_sha256
from redraft.exporters.split import SplitPlan
from redraft.exporters.tokens import TokenCounter
from redraft.prompting import PromptTemplate

if TYPE_CHECKING:
    from redraft.exporters.pipeline import ExportOptions

MANIFEST = "manifest.json"
SPLITS = ("train", "validation")
MANIFEST_VERSION = 1
PROBLEMS_IN_MANIFEST = 20


class ManifestError(RedraftError):
    """A folder has no manifest, a broken one, or files that no longer match it."""


@dataclass(frozen=True)
class ExportManifest:
    """One export's manifest.json. `sha256` is the hash of the file's bytes (set by `write`
    and `load`, not stored in it): training records it so a version names its exact data."""

    created_at: str
    files: dict[str, dict[str, Any]]
    datasets: dict[str, dict[str, Any]] = field(default_factory=dict)
    source: dict[str, Any] = field(default_factory=dict)
    template: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    counts: dict[str, Any] = field(default_factory=dict)
    split: dict[str, Any] = field(default_factory=dict)
    token_counts: str = ""
    ready: bool = False
    warnings: list[str] = field(default_factory=list)
    version: int = MANIFEST_VERSION
    sha256: str = ""

    @property
    def project_id(self) -> int | None:
        """The Label Studio project exported (None for a file export)."""
        project = self.source.get("project_id")
        return project if isinstance(project, int) and not isinstance(project, bool) else None

    @property
    def template_sha256(self) -> str | None:
        """The prompt template's sha256 the rows were built with."""
        digest = self.template.get("sha256")
        return digest if isinstance(digest, str) else None

    @property
    def validation_task_ids(self) -> frozenset[int]:
        """The tasks this export put in validation (the evaluation set is pinned from them)."""
        return frozenset(int(i) for i in self.split.get("validation_task_ids") or [])

    def rows(self, name: str, split: str = "train") -> int:
        """The row count the manifest records for `<name>.<split>.jsonl` (0 when absent)."""
        return int((self.files.get(dataset_file(name, split)) or {}).get("rows") or 0)

    def as_json(self) -> dict[str, Any]:
        """The manifest.json object, keys in their documented order.

        >>> ExportManifest("2026-11-20T10:00:00Z", {"a.jsonl": {"rows": 1}}).as_json()["files"]
        {'a.jsonl': {'rows': 1}}
        """
        return {
            "redraft_export": self.version,
            "created_at": self.created_at,
            "source": self.source,
            "template": self.template,
            "options": self.options,
            "counts": self.counts,
            "split": self.split,
            "token_counts": self.token_counts,
            "datasets": self.datasets,
            "files": self.files,
            "ready": self.ready,
            "warnings": self.warnings,
        }

    def write(self, folder: Path) -> ExportManifest:
        """Write `folder/manifest.json`; returns the manifest with its `sha256` set."""
        raw = (json.dumps(self.as_json(), indent=2, ensure_ascii=False) + "\n").encode("utf-8")
        (Path(folder) / MANIFEST).write_bytes(raw)
        return replace(self, sha256=hashlib.sha256(raw).hexdigest())

    @classmethod
    def load(cls, folder: Path) -> ExportManifest:
        """Read `folder/manifest.json`; ManifestError with the fix when it is missing or broken.

        A manifest without `created_at` (hand-made) is dated by the file's mtime.
        """
        path = Path(folder) / MANIFEST
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise ManifestError(
                f"{folder} is not a complete export (no {MANIFEST}) — pass a folder written by "
                "`redraft export`, or re-run the export"
            ) from None
        except OSError as exc:
            raise ManifestError(f"cannot read {path}: {exc.strerror}") from None
        try:
            data = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ManifestError(f"{path} is not JSON ({exc}) — re-run `redraft export`") from None
        if not isinstance(data, dict):
            raise ManifestError(f"{path} is not a JSON object — re-run `redraft export`")
        files = data.get("files")
        if not isinstance(files, dict) or not files:
            raise ManifestError(f"{path} lists no files — re-run `redraft export`")
        created = data.get("created_at")
        if not isinstance(created, str):
            created = datetime.fromtimestamp(os.stat(path).st_mtime, UTC).isoformat(
                timespec="seconds"
            )
        return cls(
            created_at=created,
            files={str(k): dict(v) if isinstance(v, Mapping) else {} for k, v in files.items()},
            datasets=_dict(data.get("datasets")),
            source=_dict(data.get("source")),
            template=_dict(data.get("template")),
            options=_dict(data.get("options")),
            counts=_dict(data.get("counts")),
            split=_dict(data.get("split")),
            token_counts=str(data.get("token_counts") or ""),
            ready=bool(data.get("ready")),
            warnings=[str(w) for w in data.get("warnings") or []],
            version=int(data.get("redraft_export") or MANIFEST_VERSION),
            sha256=hashlib.sha256(raw).hexdigest(),
        )

    def verify_files(self, folder: Path, names: Iterable[str] | None = None) -> None:
        """Check every listed file (or those of `names` it lists) is there with the bytes the
        export wrote."""
        wanted = (
            self.files if names is None else {n: self.files[n] for n in names if n in self.files}
        )
        for name, entry in sorted(wanted.items()):
            path = Path(folder) / name
            expected = entry.get("sha256")
            if not isinstance(expected, str):
                raise ManifestError(f"{folder / MANIFEST} lists {name} without a sha256")
            if not path.is_file():
                raise ManifestError(
                    f"{path} is listed in the manifest but missing — re-run `redraft export`"
                )
            if file_sha256(path) != expected:
                raise ManifestError(
                    f"{path} changed since export (sha256 differs from the manifest) — "
                    "re-run `redraft export` instead of editing exported files"
                )


def latest_export(exports_dir: Path, project_id: int | None = None) -> Path | None:
    """The newest complete export folder (of `project_id`, when given), or None."""
    found = [
        (m.created_at, (folder / MANIFEST).stat().st_mtime_ns, folder.name, folder)
        for m, folder in export_folders(exports_dir, project_id)
    ]
    return max(found)[3] if found else None


def export_folders(
    exports_dir: Path, project_id: int | None = None
) -> Iterator[tuple[ExportManifest, Path]]:
    """Each complete export folder under `exports_dir` (of `project_id`, when given), with its
    manifest; folders whose manifest cannot be read are skipped."""
    if not Path(exports_dir).is_dir():
        return
    for folder in Path(exports_dir).iterdir():
        if not (folder / MANIFEST).is_file():
            continue
        try:
            manifest = ExportManifest.load(folder)
        except ManifestError:
            continue
        if project_id is None or manifest.project_id == project_id:
            yield manifest, folder


def _dict(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


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
    # format → reason → rows the table gives that a record could not (a draft without a rating)
    left_out: dict[str, Counter[str]] = field(default_factory=dict)


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
) -> ExportManifest:
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
    manifest = ExportManifest(
        created_at=started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        source=dict(source),
        template={"name": template.name, "sha256": template.sha256},
        options=options.manifest(),
        counts={
            "tasks_read": counts.tasks_read,
            "tasks_exported": counts.tasks_exported,
            "tasks_rejected": counts.tasks_rejected,
            "records": counts.records,
            "rejects": counts.rejects,
            "machine_written_records": counts.machine_written,
            "golden_review_tasks": counts.review_tasks,
            "golden_review_already_sent": counts.review_already_sent,
            "cases": dict(sorted(counts.cases.items())),
            "left_out": {
                name: dict(sorted(reasons.items()))
                for name, reasons in sorted(counts.left_out.items())
            },
        },
        split={
            "validation_ratio": options.validation_ratio,
            "method": "stratified by client: each client's tasks ranked by a hash of the task id",
            "planned": plan.planned if plan is not None else {},
            # The evaluation set is pinned from these (redraft.evaluation.evalset).
            "validation_task_ids": sorted(plan.validation_ids) if plan is not None else [],
            "by_client": by_client,
            "warnings": _split_warnings(by_client, options.validation_ratio),
        },
        token_counts=counter.note,
        datasets=datasets,
        files=files,
        ready=bool(non_empty) and all(d["ready"] for d in non_empty),
        warnings=[w for d in non_empty for w in d["warnings"]],
    )
    return manifest.write(out_dir)


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
