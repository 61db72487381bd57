"""`redraft train openai`: upload an export, run a fine-tuning job, register a candidate.

Idempotent: the job carries metadata {"redraft_key": sha256(manifest hash + parameters)} and
the registry row keeps its job id, so re-running the same command re-attaches to the job
(after Ctrl-C, or from another shell) instead of uploading and paying twice.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import openai

from redraft.processes import process_alive
from redraft.training import deadline
from redraft.training.errors import (
    FineTuningUnavailableError,
    TrainingFailedError,
    TrainingInProgressError,
)
from redraft.training.exportdir import trained_template
from redraft.training.openai_jobs import (
    KEY_FIELD,
    TERMINAL,
    Report,
    checkpoint_metrics,
    find_remote_job,
    finish,
    follow_job,
)
from redraft.training.openai_plan import (
    METHODS,
    OpenAIJobSpec,
    describe,
    idempotency_key,
    plan_openai_job,
)
from redraft.training.registry import ModelVersion, Registry

__all__ = [
    "KEY_FIELD",
    "METHODS",
    "TERMINAL",
    "OpenAIJobSpec",
    "checkpoint_metrics",
    "describe",
    "find_remote_job",
    "finish",
    "follow_job",
    "idempotency_key",
    "plan_openai_job",
    "train_openai",
]

logger = logging.getLogger(__name__)


def _method_param(spec: OpenAIJobSpec) -> dict[str, Any]:
    hyper: dict[str, Any] = {"n_epochs": spec.epochs} if spec.epochs else {}
    return {"type": spec.method, spec.method: {"hyperparameters": hyper}}


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
        if process_alive(row.pid):
            # Another run reserved this spec and is still uploading or creating the job:
            # starting one here too would pay twice.
            raise TrainingInProgressError(
                f"{row.name} is being started by process {row.pid} (uploading, no job id yet) — "
                "wait a minute and re-run the same command to follow its job"
            )
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
            projects=spec.export.projects,
            job_id=remote.id if remote is not None else None,
            idempotency_key=spec.key,
            status="training",
            metrics={"method": spec.method} | trained_template(spec.export),
            export_dir=str(spec.export.path),
            pid=os.getpid(),
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
