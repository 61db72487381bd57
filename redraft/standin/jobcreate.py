"""Creating a fine-tuning job: request validation, hyperparameters, file checks, outcome."""

from __future__ import annotations

import logging
import math
import uuid
import zlib
from collections.abc import Callable
from typing import Any

from redraft.standin.config import StandinState
from redraft.standin.errors import ApiError, invalid
from redraft.standin.ftdata import FileFormatError, check_examples, example_tokens, parse_jsonl
from redraft.standin.jobs import Job

logger = logging.getLogger(__name__)

JOB_KEYS = frozenset(
    {
        "model",
        "training_file",
        "validation_file",
        "hyperparameters",
        "method",
        "suffix",
        "seed",
        "metadata",
        "integrations",
    }
)
MAX_STEPS = 20  # steps a job runs for, at most, whatever the data size
FAIL_MIDWAY = "fail-midway"  # a suffix containing this fails the job half-way


def _resolve(value: Any, key: str, default: Any, kind: Callable[[Any], Any]) -> Any:
    if value is None or value == "auto":
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise invalid(f"hyperparameters.{key}", f"Invalid '{key}': {value!r}; use 'auto' or > 0.")
    return kind(value)


def _hyperparameters(body: dict[str, Any]) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """Method type, resolved hyperparameters and the method object the job shows."""
    method = body.get("method") or {"type": "supervised"}
    if not isinstance(method, dict) or method.get("type") not in ("supervised", "dpo"):
        kind = method.get("type") if isinstance(method, dict) else method
        raise invalid(
            "method.type",
            f"Invalid 'method.type': {kind!r}. The stand-in supports 'supervised' and 'dpo'.",
        )
    kind = method["type"]
    given = dict(body.get("hyperparameters") or {})
    given.update(((method.get(kind) or {}).get("hyperparameters")) or {})
    allowed = {"n_epochs", "batch_size", "learning_rate_multiplier"} | (
        {"beta"} if kind == "dpo" else set()
    )
    unknown = sorted(set(given) - allowed)
    if unknown:
        raise invalid(
            f"hyperparameters.{unknown[0]}",
            f"Unrecognized hyperparameter '{unknown[0]}' for method '{kind}'.",
            "unknown_parameter",
        )
    resolved = {
        "n_epochs": _resolve(given.get("n_epochs"), "n_epochs", 3, int),
        "batch_size": _resolve(given.get("batch_size"), "batch_size", 1, int),
        "learning_rate_multiplier": _resolve(
            given.get("learning_rate_multiplier"), "learning_rate_multiplier", 1.8, float
        ),
    }
    if kind == "dpo":
        resolved["beta"] = _resolve(given.get("beta"), "beta", 0.1, float)
    return kind, resolved, {"type": kind, kind: {"hyperparameters": resolved}}


def _fine_tune_file(state: StandinState, body: dict[str, Any], key: str) -> str | None:
    file_id = body.get(key)
    if file_id is None and key == "validation_file":
        return None
    if not isinstance(file_id, str) or file_id not in state.files:
        raise invalid(
            key,
            f"Invalid file ID for '{key}': {file_id!r}. Upload it first with POST /v1/files.",
            "invalid_file_id",
        )
    purpose = state.files[file_id]["purpose"]
    if purpose != "fine-tune":
        raise invalid(
            key,
            f"File {file_id} has purpose '{purpose}'; fine-tuning needs purpose 'fine-tune'.",
            "invalid_file_purpose",
        )
    return file_id


def _file_error(state: StandinState, file_id: str, kind: str, key: str) -> dict | None:
    rows = parse_jsonl(state.file_bytes[file_id])
    try:
        check_examples(rows, kind, min_examples=10 if key == "training_file" else 1)
    except FileFormatError as exc:
        label = key.replace("_", " ")
        return {
            "code": f"invalid_{key}",
            "message": f"The job failed due to an invalid {label}. {exc}",
            "param": key,
        }
    return None


def create_job(state: StandinState, body: Any, now: float) -> Job:
    """Validate a job request (400 on a bad one) and store the job."""
    if not isinstance(body, dict):
        raise ApiError(400, "Send a JSON object body.")
    unknown = sorted(set(body) - JOB_KEYS)
    if unknown:
        raise invalid(
            unknown[0], f"Unrecognized request argument supplied: {unknown[0]}", "unknown_parameter"
        )
    model = body.get("model")
    if not isinstance(model, str) or not state.has_model(model):
        raise invalid(
            "model",
            f"Model {model} is not available for fine-tuning or does not exist.",
            "model_not_available",
        )
    training_file = _fine_tune_file(state, body, "training_file")
    validation_file = _fine_tune_file(state, body, "validation_file")
    suffix = body.get("suffix")
    if suffix is not None and (not isinstance(suffix, str) or len(suffix) > 64):
        raise invalid("suffix", "Invalid 'suffix': use a string of at most 64 characters.")
    metadata = body.get("metadata")
    if metadata is not None and (
        not isinstance(metadata, dict)
        or len(metadata) > 16
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())
    ):
        raise invalid("metadata", "Invalid 'metadata': up to 16 string keys with string values.")
    seed = body.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise invalid("seed", "Invalid 'seed': expected an integer.", "invalid_type")
    kind, hyperparameters, method = _hyperparameters(body)
    assert training_file is not None
    job_id = f"ftjob-{uuid.uuid4().hex[:24]}"
    error = _file_error(state, training_file, kind, "training_file")
    if error is None and validation_file is not None:
        error = _file_error(state, validation_file, kind, "validation_file")
    rows = parse_jsonl(state.file_bytes[training_file])
    epochs, batch = hyperparameters["n_epochs"], hyperparameters["batch_size"]
    total_steps = max(1, min(MAX_STEPS, math.ceil(len(rows) / batch) * epochs))
    fault = state.take_fault(f"{suffix or ''} {model}", {"job_fail"})
    fail_midway = fault is not None or FAIL_MIDWAY in (suffix or "")
    with state.lock:
        step_seconds = state.job_step_seconds
    job = Job(
        id=job_id,
        created=now,
        step_seconds=max(step_seconds, 0.001),
        model=model,
        training_file=training_file,
        validation_file=validation_file,
        method=method,
        hyperparameters=hyperparameters,
        suffix=suffix,
        seed=seed if seed is not None else zlib.crc32(job_id.encode()) % 2**31,
        metadata=metadata,
        total_steps=total_steps,
        trained_tokens=example_tokens(rows) * epochs,
        validation_error=error,
        fail_at_step=max(1, total_steps // 2) if fail_midway else None,
    )
    with state.lock:
        state.jobs[job_id] = job
    logger.info("stand-in fine-tuning job %s on %s (%d steps)", job_id, model, total_steps)
    return job
