"""`redraft train openai`: upload an export, run a fine-tuning job, register a candidate.

Idempotent: the job carries metadata {"redraft_key": sha256(manifest hash + parameters)} and
the registry row keeps its job id, so re-running the same command re-attaches to the job
(after Ctrl-C, or from another shell) instead of uploading and paying twice.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import openai

from redraft.training import deadline
from redraft.training.errors import (
    ExportFolderError,
    FineTuningUnavailableError,
    TrainingFailedError,
)
from redraft.training.exportdir import ExportFolder
from redraft.training.registry import ModelVersion, Registry

logger = logging.getLogger(__name__)

METHODS: dict[str, str] = {"supervised": "openai_sft", "dpo": "openai_dpo"}
TERMINAL = frozenset({"succeeded", "failed", "cancelled"})
KEY_FIELD = "redraft_key"
Report = Callable[[str], None]


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
    entry = (export.manifest.get("datasets") or {}).get(dataset)
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
        f"training file {spec.training_file.name}: {spec.export.rows(METHODS[spec.method])} rows",
    ]
    if spec.validation_file is not None:
        rows = spec.export.rows(METHODS[spec.method], "validation")
        lines.append(f"validation file {spec.validation_file.name}: {rows} rows")
    lines.append(f"idempotency key {spec.key[:16]}…")
    return lines


def _method_param(spec: OpenAIJobSpec) -> dict[str, Any]:
    hyper: dict[str, Any] = {"n_epochs": spec.epochs} if spec.epochs else {}
    return {"type": spec.method, spec.method: {"hyperparameters": hyper}}


def find_remote_job(client: openai.OpenAI, key: str) -> Any | None:
    """A job carrying this idempotency key that has not failed or been cancelled, or None."""
    for job in client.fine_tuning.jobs.list(metadata={KEY_FIELD: key}, limit=20).data:
        if (job.metadata or {}).get(KEY_FIELD) == key and job.status not in ("failed", "cancelled"):
            return job
    return None


def train_openai(
    client: openai.OpenAI,
    registry: Registry,
    spec: OpenAIJobSpec,
    *,
    today: date,
    report: Report,
    name: str | None = None,
    base_url: str | None = None,
    poll_interval: float = 10.0,
    sleep: Callable[[float], None] = time.sleep,
) -> ModelVersion:
    """Start or re-attach to the job for `spec`, follow it, and register the candidate."""
    if not deadline.is_closed(today):
        report(deadline.notice(today))
    existing = registry.by_key(spec.key)
    if existing is not None and existing.status in ("candidate", "active", "retired"):
        report(f"already trained: {existing.name} ({existing.model_id}) from this dataset")
        return existing
    row = existing if existing is not None and existing.status == "training" else None
    if row is not None and row.job_id is None:
        remote = find_remote_job(client, spec.key)
        if remote is None:
            registry.delete(row.name)  # reserved, but no job was ever created
            row = None
        else:
            row = registry.update(row.name, job_id=remote.id)
    if row is None:
        remote = find_remote_job(client, spec.key)
        row = _reserve(registry, spec, name or registry.next_name(), base_url, remote)
        if remote is None:
            if deadline.is_closed(today):
                registry.delete(row.name)
                raise FineTuningUnavailableError(deadline.closed_message(today))
            row = _start_job(client, registry, spec, row, report)
        else:
            report(f"re-attaching to job {remote.id} (same dataset and parameters)")
    else:
        report(f"re-attaching to job {row.job_id} for {row.name}")
    assert row.job_id is not None
    job = follow_job(client, row.job_id, report=report, poll_interval=poll_interval, sleep=sleep)
    return finish(client, registry, row, job, report)


def _reserve(
    registry: Registry, spec: OpenAIJobSpec, name: str, base_url: str | None, remote: Any
) -> ModelVersion:
    return registry.add(
        ModelVersion(
            name=name,
            model_id="",
            base_url=base_url,
            base_model=spec.base_model,
            parent=spec.parent,
            trainer="openai",
            manifest_sha256=spec.export.manifest_sha256,
            template_sha256=spec.export.template_sha256,
            job_id=remote.id if remote is not None else None,
            idempotency_key=spec.key,
            status="training",
            metrics={"method": spec.method},
            export_dir=str(spec.export.path),
        )
    )


def _start_job(
    client: openai.OpenAI,
    registry: Registry,
    spec: OpenAIJobSpec,
    row: ModelVersion,
    report: Report,
) -> ModelVersion:
    """Upload the files and create the job; the reservation is dropped if that fails."""
    try:
        training_id = _upload(client, spec.training_file, report)
        validation_id = (
            _upload(client, spec.validation_file, report) if spec.validation_file else None
        )
        job = client.fine_tuning.jobs.create(
            model=spec.base_model,
            training_file=training_id,
            validation_file=validation_id if validation_id else openai.omit,
            suffix=spec.suffix if spec.suffix else openai.omit,
            method=_method_param(spec),  # type: ignore[arg-type]
            metadata={KEY_FIELD: spec.key, "redraft_version": row.name},
        )
    except openai.APIStatusError as exc:
        registry.delete(row.name)
        message = _api_message(exc)
        refused = deadline.refusal_message(exc.status_code, message)
        if refused:
            raise FineTuningUnavailableError(refused) from None
        raise TrainingFailedError(
            f"OpenAI refused the fine-tuning job (HTTP {exc.status_code}: {message}) — "
            "fix the dataset or parameters and re-run"
        ) from None
    except BaseException:
        registry.delete(row.name)
        raise
    report(f"created job {job.id} for {row.name} ({spec.method} on {spec.base_model})")
    return registry.update(row.name, job_id=job.id)


def _upload(client: openai.OpenAI, path: Path, report: Report) -> str:
    with open(path, "rb") as handle:
        uploaded = client.files.create(file=(path.name, handle), purpose="fine-tune")
    report(f"uploaded {path.name} as {uploaded.id}")
    return uploaded.id


def _api_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return error["message"]
    return exc.message


def follow_job(
    client: openai.OpenAI,
    job_id: str,
    *,
    report: Report,
    poll_interval: float,
    sleep: Callable[[float], None] = time.sleep,
) -> Any:
    """Poll a job until it ends, reporting status changes and new events; returns the job."""
    seen: set[str] = set()
    status = None
    while True:
        job = client.fine_tuning.jobs.retrieve(job_id)
        events = client.fine_tuning.jobs.list_events(job_id, limit=100).data
        # The API lists newest first and stamps whole seconds: reverse, then a stable sort
        # keeps events of the same second in the order they happened.
        fresh = [e for e in reversed(events) if e.id not in seen]
        for event in sorted(fresh, key=lambda e: e.created_at):
            seen.add(event.id)
            report(f"  {event.message}")
        if job.status != status:
            status = job.status
            report(f"job {job_id}: {status}")
        if job.status in TERMINAL:
            return job
        sleep(poll_interval)


def checkpoint_metrics(client: openai.OpenAI, job_id: str) -> list[dict[str, Any]]:
    """Each checkpoint's step and metrics, oldest first ([] if the API has none)."""
    try:
        page = client.fine_tuning.jobs.checkpoints.list(job_id, limit=100)
    except openai.NotFoundError:
        return []
    rows = [
        {"step": c.step_number, "model": c.fine_tuned_model_checkpoint}
        | c.metrics.model_dump(exclude_none=True)
        for c in page.data
    ]
    return sorted(rows, key=lambda row: row["step"])


def finish(
    client: openai.OpenAI, registry: Registry, row: ModelVersion, job: Any, report: Report
) -> ModelVersion:
    """Register the outcome: a candidate on success; `failed` with the reason otherwise."""
    if job.status != "succeeded" or not job.fine_tuned_model:
        reason = job.error.message if job.error is not None else job.status
        registry.update(row.name, status="failed", error=reason)
        raise TrainingFailedError(
            f"fine-tuning job {job.id} {job.status}: {reason} — no candidate registered; "
            f"{row.name} is marked failed. Fix the data and re-run `redraft train openai`"
        )
    metrics = dict(row.metrics)
    metrics["trained_tokens"] = job.trained_tokens
    metrics["checkpoints"] = checkpoint_metrics(client, job.id)
    version = registry.update(
        row.name, status="candidate", model_id=job.fine_tuned_model, metrics=metrics
    )
    report(
        f"registered {version.name} ({version.model_id}) as a candidate — review it, then "
        f"`redraft models promote {version.name}`"
    )
    return version
