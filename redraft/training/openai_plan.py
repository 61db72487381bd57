"""Planning a `redraft train openai` run: which files, which base model, the idempotency key."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from redraft.training.errors import ExportFolderError
from redraft.training.exportdir import ExportFolder
from redraft.training.modelversion import ModelVersion
from redraft.wording import counted

METHODS: dict[str, str] = {"supervised": "openai_sft", "dpo": "openai_dpo"}


@dataclass(frozen=True)
class OpenAIJobSpec:
    """Everything that defines one fine-tuning job; `key` identifies it across re-runs."""

    export: ExportFolder
    method: str
    base_model: str
    parent: str | None
    epochs: int | None
    suffix: str | None
    training_file: Path
    validation_file: Path | None
    key: str


def idempotency_key(
    manifest_sha256: str, method: str, base_model: str, epochs: int | None, suffix: str | None
) -> str:
    """sha256 of the dataset's manifest hash and the job parameters.

    >>> idempotency_key("m", "dpo", "gpt-4o-mini", 2, None)[:12]
    '08dc78e2d8ee'
    """
    blob = json.dumps(
        {
            "manifest": manifest_sha256,
            "method": method,
            "base_model": base_model,
            "epochs": epochs,
            "suffix": suffix,
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def plan_openai_job(
    export: ExportFolder,
    *,
    method: str,
    base_model: str | None,
    active: ModelVersion | None,
    fallback_model: str,
    epochs: int | None = None,
    suffix: str | None = None,
) -> OpenAIJobSpec:
    """Pick files and the model to start from: --base-model, else the active OpenAI fine-tune."""
    if method not in METHODS:
        raise ExportFolderError(f"--method {method!r} is not one of {', '.join(METHODS)}")
    dataset = METHODS[method]
    training_file = export.dataset(dataset, "train")
    if training_file is None:
        other = "dpo" if method == "supervised" else "supervised"
        raise ExportFolderError(
            f"{export.path} has no rows in {dataset}.train.jsonl — annotate more tasks and "
            f"re-export, or try --method {other}"
        )
    entry = export.manifest.datasets.get(dataset)
    if isinstance(entry, dict) and entry.get("ready") is False:
        problems = entry.get("problems") or ["see datasets in manifest.json"]
        raise ExportFolderError(
            f"{dataset} in {export.path} is not ready for OpenAI fine-tuning: {problems[0]} — "
            "fix it and re-export (see `redraft validate`)"
        )
    parent = None
    if base_model is None:
        if active is not None and active.model_id.startswith("ft:"):
            base_model, parent = active.model_id, active.name
        else:
            base_model = fallback_model
    elif active is not None and active.model_id == base_model:
        parent = active.name
    return OpenAIJobSpec(
        export=export,
        method=method,
        base_model=base_model,
        parent=parent,
        epochs=epochs,
        suffix=suffix,
        training_file=training_file,
        validation_file=export.dataset(dataset, "validation"),
        key=idempotency_key(export.manifest_sha256, method, base_model, epochs, suffix),
    )


def describe(spec: OpenAIJobSpec) -> list[str]:
    """Human lines for --dry-run and the start of a run."""
    lines = [
        f"method {spec.method} from {spec.base_model}"
        + (f" (continues {spec.parent})" if spec.parent else ""),
        f"training file {spec.training_file.name}: "
        f"{counted(spec.export.rows(METHODS[spec.method]), 'row')}",
    ]
    if spec.validation_file is not None:
        rows = spec.export.rows(METHODS[spec.method], "validation")
        lines.append(f"validation file {spec.validation_file.name}: {counted(rows, 'row')}")
    lines.append(f"idempotency key {spec.key[:16]}…")
    return lines
