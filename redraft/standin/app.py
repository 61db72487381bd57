"""The stand-in's Flask app factory: models, chat completions, control routes, errors."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from redraft.standin.chat import build_completion, empty_completion, validate_chat_request
from redraft.standin.config import CHAT_FAULT_KINDS, StandinState
from redraft.standin.errors import ApiError, model_not_found
from redraft.standin.finetune import register as register_fine_tuning
from redraft.standin.text import last_user_text

logger = logging.getLogger(__name__)

MODEL_CREATED = 1_700_000_000  # fixed, so model listings are deterministic
CONTROL_PREFIX = "/_standin/"


def _format_seconds(value: float) -> str:
    return f"{value:g}"


def _model_object(model_id: str, fine_tuned: bool) -> dict[str, Any]:
    return {
        "id": model_id,
        "object": "model",
        "created": MODEL_CREATED,
        "owned_by": "user-standin" if fine_tuned else "system",
    }


def _check_auth(state: StandinState) -> None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise ApiError(
            401,
            "You didn't provide an API key. You need to provide your API key in an "
            "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
        )
    if state.api_key is not None and token != state.api_key:
        raise ApiError(
            401,
            "Incorrect API key provided. The stand-in was started with --api-key; send the "
            "same key as OPENAI_API_KEY.",
            code="invalid_api_key",
        )


def _wait(state: StandinState, seconds: float) -> None:
    """Sleep `seconds`, cut short when the server stops."""
    if seconds > 0:
        state.stop_event.wait(seconds)


def _wait_for_release(state: StandinState) -> None:
    """Wait while answers are held (StandinServer.hold_answers), cut short when it stops."""
    while not state.answers_open.wait(0.05):
        if state.stop_event.is_set():
            return


def _chat(state: StandinState) -> Response:
    within_limit = state.chat_started()
    try:
        if not within_limit:
            raise ApiError(
                429,
                "Rate limit reached: too many requests in flight (stand-in max_in_flight "
                f"{state.max_in_flight}). Please try again in 1s.",
                type="requests",
                code="rate_limit_exceeded",
                headers={"Retry-After": "1", "Retry-After-Ms": "1000"},
            )
        return _answer_chat(state)
    finally:
        state.chat_finished()


def _answer_chat(state: StandinState) -> Response:
    body = request.get_json(silent=True)
    validate_chat_request(body, state.has_model)
    fault = state.take_fault(last_user_text(body["messages"]), CHAT_FAULT_KINDS, body["model"])
    with state.lock:
        latency_ms, hang_seconds = state.latency_ms, state.hang_seconds
    _wait(state, latency_ms / 1000)
    _wait_for_release(state)
    headers = {"X-Standin-Latency-Ms": str(latency_ms)}
    if fault is not None:
        headers["X-Standin-Fault"] = fault.kind
        logger.info("stand-in fault %s on %s", fault.kind, request.path)
    if fault is not None and fault.kind == "429":
        raise ApiError(
            429,
            "Rate limit reached for requests (stand-in fault injection). "
            f"Please try again in {_format_seconds(fault.retry_after)}s.",
            type="requests",
            code="rate_limit_exceeded",
            headers={
                **headers,
                "Retry-After": _format_seconds(fault.retry_after),
                "Retry-After-Ms": str(int(fault.retry_after * 1000)),
            },
        )
    if fault is not None and fault.kind == "500":
        raise ApiError(
            500,
            "The server had an error while processing your request. Sorry about that! "
            "(stand-in fault injection)",
            type="server_error",
            headers=headers,
        )
    if fault is not None and fault.kind == "hang":
        _wait(state, hang_seconds)
    completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
    created = int(time.time())
    if fault is not None and fault.kind == "empty":
        result = empty_completion(body, completion_id, created)
    else:
        result = build_completion(body, completion_id, created)
    response = jsonify(result)
    response.headers.update(headers)
    return response


def create_app(state: StandinState) -> Flask:
    """Build the stand-in app around `state` (config, request log, files, jobs)."""
    app = Flask("redraft.standin")
    app.json.sort_keys = False  # type: ignore[attr-defined]

    @app.before_request
    def _log_and_authorise() -> None:
        if not request.path.startswith(CONTROL_PREFIX):
            state.log_request(request.method, request.path, request.get_json(silent=True))
        if request.path.startswith("/v1/") and request.url_rule is not None:
            _check_auth(state)

    @app.get("/v1/models")
    def list_models() -> Response:
        with state.lock:
            base, tuned = list(state.models), list(state.fine_tuned_models)
        data = [_model_object(m, False) for m in base] + [_model_object(m, True) for m in tuned]
        return jsonify({"object": "list", "data": data})

    @app.get("/v1/models/<path:model_id>")
    def get_model(model_id: str) -> Response:
        if not state.has_model(model_id):
            raise model_not_found(model_id)
        with state.lock:
            tuned = model_id in state.fine_tuned_models
        return jsonify(_model_object(model_id, tuned))

    @app.post("/v1/chat/completions")
    def chat_completions() -> Response:
        return _chat(state)

    @app.get("/_standin/config")
    def get_config() -> Response:
        return jsonify(state.config_dict())

    @app.post("/_standin/config")
    def set_config() -> Response:
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            raise ApiError(400, 'send a JSON object, e.g. {"latency_ms": 200}')
        try:
            state.apply_config(data)
        except ValueError as exc:
            raise ApiError(400, str(exc)) from None
        return jsonify(state.config_dict())

    @app.get("/_standin/requests")
    def get_requests() -> Response:
        with state.lock:
            counts = {f"{m} {p}": n for (m, p), n in state.request_counts.items()}
            in_flight, peak = state.chat_in_flight, state.chat_peak_in_flight
        return jsonify(
            {
                "total": sum(counts.values()),
                "counts": counts,
                "chat_in_flight": in_flight,
                "chat_peak_in_flight": peak,
            }
        )

    @app.delete("/_standin/requests")
    def clear_requests() -> Response:
        state.clear_requests()
        return get_requests()

    register_fine_tuning(app, state)

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> tuple[Response, int, dict[str, str]]:
        return jsonify(exc.body()), exc.status, exc.headers

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> tuple[Response, int]:
        status = exc.code or 500
        if status in (404, 405):
            message = f"Invalid URL ({request.method} {request.path})"
        else:
            message = exc.description or exc.name
        return jsonify(ApiError(status, message).body()), status

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> tuple[Response, int]:
        logger.exception("stand-in failed on %s %s", request.method, request.path)
        body = ApiError(500, "The stand-in server failed; see its log.", type="server_error")
        return jsonify(body.body()), 500

    return app
