"""Files and fine-tuning routes: uploads, jobs that progress with time, events, checkpoints."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from typing import Any

from flask import Flask, Response, jsonify, request

from redraft.standin.config import StandinState
from redraft.standin.errors import ApiError, invalid
from redraft.standin.ftdata import (
    FileFormatError,
    parse_jsonl,
)
from redraft.standin.jobcreate import create_job
from redraft.standin.jobs import (
    Job,
    checkpoints_at,
    events_at,
    job_body,
    result_csv,
    status_at,
)

logger = logging.getLogger(__name__)

PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")


def _file_object(file_id: str, filename: str, purpose: str, size: int) -> dict[str, Any]:
    return {
        "object": "file",
        "id": file_id,
        "purpose": purpose,
        "filename": filename,
        "bytes": size,
        "created_at": int(time.time()),
        "expires_at": None,
        "status": "processed",
        "status_details": None,
    }


def _limit(default: int) -> int:
    raw = request.args.get("limit")
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= 100:
        raise invalid("limit", f"Invalid 'limit': {raw!r}. Expected an integer from 1 to 100.")
    return int(raw)


def _page(items: Sequence[dict[str, Any]], default_limit: int) -> Response:
    """A cursor page of `items` (already in list order), honouring `after` and `limit`."""
    limit = _limit(default_limit)
    after = request.args.get("after")
    start = 0
    if after is not None:
        ids = [item["id"] for item in items]
        start = ids.index(after) + 1 if after in ids else len(items)
    page = list(items[start : start + limit])
    return jsonify(
        {
            "object": "list",
            "data": page,
            "has_more": start + limit < len(items),
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
        }
    )


def advance(state: StandinState, now: float) -> None:
    """Publish what finished jobs produced: the new model and the result file."""
    with state.lock:
        for job in state.jobs.values():
            if job.result_file is not None or status_at(job, now)[0] != "succeeded":
                continue
            file_id = f"file-{uuid.uuid4().hex[:24]}"
            content = result_csv(job).encode()
            state.files[file_id] = _file_object(
                file_id, "step_metrics.csv", "fine-tune-results", len(content)
            )
            state.file_bytes[file_id] = content
            job.result_file = file_id
            state.add_fine_tuned_model(job.fine_tuned_model)


def _job(state: StandinState, job_id: str) -> Job:
    with state.lock:
        job = state.jobs.get(job_id)
    if job is None:
        raise ApiError(404, f"Fine-tuning job {job_id} not found.", param="fine_tuning_job_id")
    return job


def _file(state: StandinState, file_id: str) -> dict[str, Any]:
    with state.lock:
        found = state.files.get(file_id)
    if found is None:
        raise ApiError(404, f"No such File object: {file_id}", param="id")
    return found


def _metadata_filter() -> dict[str, str]:
    return {
        key[len("metadata[") : -1]: value
        for key, value in request.args.items()
        if key.startswith("metadata[") and key.endswith("]")
    }


def register(app: Flask, state: StandinState) -> None:
    """Add the files and fine-tuning routes to the stand-in app."""

    @app.before_request
    def _advance_jobs() -> None:
        if request.path.startswith("/v1/"):
            advance(state, time.time())

    @app.post("/v1/files")
    def upload_file() -> tuple[Response, int] | Response:
        upload = request.files.get("file")
        purpose = request.form.get("purpose")
        if upload is None:
            raise invalid(
                "file", "Missing required parameter: 'file'.", "missing_required_parameter"
            )
        if purpose not in PURPOSES:
            raise invalid(
                "purpose",
                f"Invalid value for 'purpose': {purpose!r}. Use one of {', '.join(PURPOSES)}.",
            )
        content = upload.read()
        filename = upload.filename or "upload"
        if purpose == "fine-tune":
            if not filename.endswith(".jsonl"):
                raise invalid("file", "Invalid file format for Fine-Tuning API. Must be .jsonl")
            try:
                parse_jsonl(content)
            except FileFormatError as exc:
                raise invalid("file", str(exc)) from None
        file_id = f"file-{uuid.uuid4().hex[:24]}"
        body = _file_object(file_id, filename, purpose, len(content))
        with state.lock:
            state.files[file_id] = body
            state.file_bytes[file_id] = content
        return jsonify(body)

    @app.get("/v1/files")
    def list_files() -> Response:
        purpose = request.args.get("purpose")
        with state.lock:
            files = [f for f in state.files.values() if purpose in (None, f["purpose"])]
        if request.args.get("order", "desc") == "desc":
            files.reverse()
        return _page(files, 10000)

    @app.get("/v1/files/<file_id>")
    def get_file(file_id: str) -> Response:
        return jsonify(_file(state, file_id))

    @app.get("/v1/files/<file_id>/content")
    def get_file_content(file_id: str) -> Response:
        _file(state, file_id)
        with state.lock:
            content = state.file_bytes[file_id]
        return Response(content, mimetype="application/octet-stream")

    @app.delete("/v1/files/<file_id>")
    def delete_file(file_id: str) -> Response:
        _file(state, file_id)
        with state.lock:
            state.files.pop(file_id, None)
            state.file_bytes.pop(file_id, None)
        return jsonify({"object": "file", "id": file_id, "deleted": True})

    @app.post("/v1/fine_tuning/jobs")
    def create_fine_tuning_job() -> Response:
        now = time.time()
        job = create_job(state, request.get_json(silent=True), now)
        return jsonify(job_body(job, now))

    @app.get("/v1/fine_tuning/jobs")
    def list_fine_tuning_jobs() -> Response:
        now = time.time()
        wanted = _metadata_filter()
        with state.lock:
            jobs = list(state.jobs.values())
        bodies = [
            job_body(job, now)
            for job in reversed(jobs)
            if all((job.metadata or {}).get(k) == v for k, v in wanted.items())
        ]
        return _page(bodies, 20)

    @app.get("/v1/fine_tuning/jobs/<job_id>")
    def get_fine_tuning_job(job_id: str) -> Response:
        return jsonify(job_body(_job(state, job_id), time.time()))

    @app.post("/v1/fine_tuning/jobs/<job_id>/cancel")
    def cancel_fine_tuning_job(job_id: str) -> Response:
        job = _job(state, job_id)
        now = time.time()
        with state.lock:
            status, _ = status_at(job, now)
            if status in ("succeeded", "failed", "cancelled"):
                raise ApiError(
                    400,
                    f"Job {job_id} has already finished (status {status}); "
                    "only a running or queued job can be cancelled.",
                    param="fine_tuning_job_id",
                )
            job.cancelled_at = now
        return jsonify(job_body(job, now))

    @app.get("/v1/fine_tuning/jobs/<job_id>/events")
    def list_fine_tuning_events(job_id: str) -> Response:
        events = events_at(_job(state, job_id), time.time())
        return _page(list(reversed(events)), 20)

    @app.get("/v1/fine_tuning/jobs/<job_id>/checkpoints")
    def list_fine_tuning_checkpoints(job_id: str) -> Response:
        checkpoints = checkpoints_at(_job(state, job_id), time.time())
        return _page(list(reversed(checkpoints)), 10)
