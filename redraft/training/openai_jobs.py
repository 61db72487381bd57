"""Following an OpenAI fine-tuning job: find it by key, poll it, register its outcome."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import openai

from redraft.training.errors import TrainingFailedError
from redraft.training.modelversion import ModelVersion
from redraft.training.registry import Registry

logger = logging.getLogger(__name__)

TERMINAL = frozenset({"succeeded", "failed", "cancelled"})
KEY_FIELD = "redraft_key"
Report = Callable[[str], None]


def find_remote_job(client: openai.OpenAI, key: str) -> Any | None:
    """A job carrying this idempotency key that has not failed or been cancelled, or None."""
    for job in client.fine_tuning.jobs.list(metadata={KEY_FIELD: key}, limit=20).data:
        if (job.metadata or {}).get(KEY_FIELD) == key and job.status not in ("failed", "cancelled"):
            return job
    return None


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
    if job.status == "cancelled":
        registry.update(row.name, status="failed", error="cancelled", pid=None)
        raise TrainingFailedError(
            f"fine-tuning job {job.id} was cancelled — no candidate registered; {row.name} is "
            "marked failed. Re-run `redraft train openai` to train again"
        )
    if job.status != "succeeded" or not job.fine_tuned_model:
        reason = job.error.message if job.error is not None else job.status
        registry.update(row.name, status="failed", error=reason, pid=None)
        raise TrainingFailedError(
            f"fine-tuning job {job.id} {job.status}: {reason} — no candidate registered; "
            f"{row.name} is marked failed. Fix the data and re-run `redraft train openai`"
        )
    metrics = dict(row.metrics)
    metrics["trained_tokens"] = job.trained_tokens
    metrics["checkpoints"] = checkpoint_metrics(client, job.id)
    version = registry.update(
        row.name, status="candidate", model_id=job.fine_tuned_model, metrics=metrics, pid=None
    )
    report(
        f"registered {version.name} ({version.model_id}) as a candidate — review it, then "
        f"`redraft models promote {version.name}`"
    )
    return version
