"""Fine-tuning jobs as pure data: where a job is at a given moment, driven by elapsed time.

Timeline, in steps of `step_seconds` from creation: step 0 validating_files; step 1 either
failed (invalid file) or queued; step 2 running; steps 3..2+N one training step each
(a metrics event per step); at 2+N succeeded. A mid-way failure stops at step N//2; a
cancel stops the job at the moment it was asked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from redraft.standin.ftdata import train_loss

ORGANIZATION = "org-standin"


@dataclass
class Job:
    """A stored fine-tuning job: the request as resolved at creation and its fixed outcome."""

    id: str
    created: float  # unix time, seconds
    step_seconds: float
    model: str
    training_file: str
    validation_file: str | None
    method: dict[str, Any]  # {"type": ..., "<type>": {"hyperparameters": {...}}}
    hyperparameters: dict[str, Any]  # resolved: n_epochs, batch_size, lr multiplier (+ beta)
    suffix: str | None
    seed: int
    metadata: dict[str, str] | None
    total_steps: int
    trained_tokens: int
    validation_error: dict[str, Any] | None = None  # {"code", "message", "param"}
    fail_at_step: int | None = None  # injected mid-way failure
    cancelled_at: float | None = None
    result_file: str | None = None  # set by the server once the job has succeeded

    @property
    def fine_tuned_model(self) -> str:
        """ft:<base>:stand-in:<suffix>:<short id>."""
        return f"ft:{self.model}:stand-in:{self.suffix or ''}:{self.id[-8:]}"

    def at(self, step: float) -> float:
        """The unix time of a timeline step."""
        return self.created + step * self.step_seconds

    def end_step(self) -> tuple[int, str]:
        """The step at which the job ends by itself, and the status it ends with."""
        if self.validation_error is not None:
            return 1, "failed"
        if self.fail_at_step is not None:
            return 2 + self.fail_at_step, "failed"
        return 2 + self.total_steps, "succeeded"


def status_at(job: Job, now: float) -> tuple[str, float | None]:
    """The job's status at `now` and, if it has finished, when."""
    end, final = job.end_step()
    if job.cancelled_at is not None and job.cancelled_at < job.at(end):
        if now >= job.cancelled_at:
            return "cancelled", job.cancelled_at
    if now >= job.at(end):
        return final, job.at(end)
    step = (now - job.created) / job.step_seconds
    if step < 1:
        return "validating_files", None
    if step < 2:
        return "queued", None
    return "running", None


def _event(job: Job, when: float, message: str, level: str = "info", data: Any = None) -> dict:
    return {
        "object": "fine_tuning.job.event",
        "id": "",
        "created_at": int(when),
        "level": level,
        "message": message,
        "data": data if data is not None else {},
        "type": "metrics" if data else "message",
        "_when": when,
    }


def metrics(job: Job, step: int) -> dict[str, Any]:
    """The metrics the job reports for one training step."""
    loss = train_loss(step, job.total_steps, job.seed)
    data: dict[str, Any] = {
        "step": step,
        "train_loss": loss,
        "total_steps": job.total_steps,
        "train_mean_token_accuracy": round(min(0.99, 1.0 - loss / 2), 4),
        "trained_tokens": job.trained_tokens * step // job.total_steps,
    }
    if job.validation_file:
        data["valid_loss"] = round(loss + 0.05, 4)
        data["valid_mean_token_accuracy"] = round(min(0.99, 1.0 - (loss + 0.05) / 2), 4)
    return data


def events_at(job: Job, now: float) -> list[dict[str, Any]]:
    """Every event the job has emitted by `now`, oldest first, with stable ids."""
    status, finished = status_at(job, now)
    horizon = finished if finished is not None else now
    files = job.training_file + (f", {job.validation_file}" if job.validation_file else "")
    events = [_event(job, job.created, f"Validating training file: {files}")]
    if job.validation_error is not None:
        events.append(_event(job, job.at(1), job.validation_error["message"], level="error"))
    else:
        events.append(_event(job, job.at(1), "Files validated, moving job to queued state"))
        events.append(_event(job, job.at(2), "Fine-tuning job started"))
        last = job.fail_at_step if job.fail_at_step is not None else job.total_steps
        for step in range(1, last + 1):
            events.append(
                _event(
                    job,
                    job.at(2 + step),
                    f"Step {step}/{job.total_steps}: training loss="
                    f"{metrics(job, step)['train_loss']:.4f}",
                    data=metrics(job, step),
                )
            )
        if job.fail_at_step is not None:
            events.append(_event(job, job.at(2 + last), "Fine-tuning job failed", level="error"))
        else:
            events.append(
                _event(
                    job, job.at(2 + last), f"New fine-tuned model created: {job.fine_tuned_model}"
                )
            )
            events.append(_event(job, job.at(2 + last), "The job has successfully completed"))
    events = [event for event in events if event["_when"] <= horizon]
    if status == "cancelled":
        events.append(_event(job, horizon, "Fine-tuning job cancelled"))
    for index, event in enumerate(events):
        del event["_when"]
        event["id"] = f"ftevent-{job.id[-12:]}{index:04d}"
    return events


def checkpoints_at(job: Job, now: float) -> list[dict[str, Any]]:
    """Checkpoints saved by `now` (one per finished epoch but the last), oldest first."""
    status, _ = status_at(job, now)
    if status != "succeeded":
        return []
    epochs = int(job.hyperparameters.get("n_epochs", 1))
    result = []
    for epoch in range(1, epochs + 1):
        step = max(1, job.total_steps * epoch // epochs)
        name = (
            job.fine_tuned_model if epoch == epochs else f"{job.fine_tuned_model}:ckpt-step-{step}"
        )
        data = metrics(job, step)
        result.append(
            {
                "object": "fine_tuning.job.checkpoint",
                "id": f"ftckpt-{job.id[-12:]}{epoch:03d}",
                "created_at": int(job.at(2 + step)),
                "fine_tuned_model_checkpoint": name,
                "fine_tuning_job_id": job.id,
                "step_number": step,
                "metrics": {
                    "step": float(step),
                    "train_loss": data["train_loss"],
                    "train_mean_token_accuracy": data["train_mean_token_accuracy"],
                    **{
                        key: data[key]
                        for key in ("valid_loss", "valid_mean_token_accuracy")
                        if key in data
                    },
                },
            }
        )
    return result


def failure_error(job: Job) -> dict[str, Any] | None:
    """The error object of a failed job."""
    if job.validation_error is not None:
        return job.validation_error
    if job.fail_at_step is not None:
        return {
            "code": "training_failed",
            "message": f"Fine-tuning failed at step {job.fail_at_step} of {job.total_steps} "
            "(stand-in fault injection). Retry the job.",
            "param": None,
        }
    return None


def job_body(job: Job, now: float) -> dict[str, Any]:
    """The fine_tuning.job object as the API returns it at `now`."""
    status, finished = status_at(job, now)
    return {
        "object": "fine_tuning.job",
        "id": job.id,
        "model": job.model,
        "created_at": int(job.created),
        "finished_at": int(finished) if finished is not None else None,
        "fine_tuned_model": job.fine_tuned_model if status == "succeeded" else None,
        "organization_id": ORGANIZATION,
        "result_files": [job.result_file] if status == "succeeded" and job.result_file else [],
        "status": status,
        "validation_file": job.validation_file,
        "training_file": job.training_file,
        "hyperparameters": job.hyperparameters,
        "trained_tokens": job.trained_tokens if status == "succeeded" else None,
        "error": failure_error(job) if status == "failed" else None,
        "user_provided_suffix": job.suffix,
        "seed": job.seed,
        "estimated_finish": None if finished is not None else int(job.at(job.end_step()[0])),
        "integrations": [],
        "metadata": job.metadata,
        "method": job.method,
    }


def result_csv(job: Job) -> str:
    """The step-metrics CSV a succeeded job leaves as its result file."""
    columns = ["step", "train_loss", "train_mean_token_accuracy"]
    if job.validation_file:
        columns += ["valid_loss", "valid_mean_token_accuracy"]
    lines = [",".join(columns)]
    for step in range(1, job.total_steps + 1):
        data = metrics(job, step)
        lines.append(",".join(str(data[column]) for column in columns))
    return "\n".join(lines) + "\n"
