"""The Flask app factory: Label Studio's ML backend protocol as Label Studio 1.23 calls it."""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import BadRequest, HTTPException

from redraft.backend.drafting import Drafter
from redraft.backend.metrics import Metrics
from redraft.backend.model import RedraftModel
from redraft.backend.versions import ModelSource, ProjectFieldError, SettingsModelSource
from redraft.errors import RedraftError
from redraft.settings import Settings
from redraft.webhook import WEBHOOK_SECRET_HEADER
from redraft.wording import counted

logger = logging.getLogger(__name__)

EXTENSION = "redraft"
OPEN_ENDPOINTS = frozenset({"health", "index"})  # probes work without credentials


class BackendState:
    """Everything one app instance owns; `close()` releases the pool, clients and cache."""

    def __init__(self, settings: Settings, model: RedraftModel, metrics: Metrics) -> None:
        self.settings = settings
        self.model = model
        self.metrics = metrics

    def close(self) -> None:
        """Release the drafter's threads, HTTP clients and cache connection."""
        self.model.drafter.close()


def backend_state(app: Flask) -> BackendState:
    """The BackendState that create_app attached to an app."""
    return app.extensions[EXTENSION]


def create_app(
    settings: Settings,
    *,
    model_source: ModelSource | None = None,
    drafter: Drafter | None = None,
    on_event: Callable[[str, dict[str, Any]], None] | None = None,
) -> Flask:
    """Build the backend app; call `backend_state(app).close()` when done with it."""
    source = model_source if model_source is not None else SettingsModelSource(settings)
    drafter = drafter if drafter is not None else Drafter.from_settings(settings)
    model = RedraftModel(source, drafter, on_event=on_event)
    metrics = Metrics(cache_enabled=drafter.cache is not None)
    state = BackendState(settings, model, metrics)
    model.setup()

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_mb * 1024 * 1024
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions[EXTENSION] = state

    @app.before_request
    def check_auth() -> Response | None:
        if settings.basic_auth_user is None or request.endpoint in OPEN_ENDPOINTS:
            return None
        if _authorized(request.headers.get("Authorization"), settings):
            return None
        response = _error("authentication required", 401)
        response.headers["WWW-Authenticate"] = 'Basic realm="redraft"'
        return response

    @app.after_request
    def count(response: Response) -> Response:
        rule = request.url_rule.rule if request.url_rule is not None else "unmatched"
        metrics.count_request(rule, response.status_code)
        return response

    @app.get("/health")
    def health() -> Response:
        return jsonify(status="UP", model_class=type(model).__name__)

    @app.get("/")
    def index() -> Response:
        return health()

    @app.post("/setup")
    def setup() -> Response:
        # Validated, never logged: it carries Label Studio's token.
        body = _json_body(required=False)
        return jsonify(model_version=model.version_for(body.get("project")))

    @app.post("/predict")
    def predict() -> Response:
        body = _json_body()
        tasks = body.get("tasks")
        if not isinstance(tasks, list) or not all(isinstance(t, dict) for t in tasks):
            return _error("`tasks` must be a list of task objects", 400)
        response = model.predict(tasks, project=body.get("project"))
        metrics.count_outcomes(response.outcomes)
        failed = [o for o in response.outcomes if not o.ok]
        if failed:
            logger.warning(
                "/predict: %d of %s without a draft", len(failed), counted(len(tasks), "task")
            )
        return jsonify(results=response.predictions, model_version=response.model_version)

    @app.post("/webhook")
    def webhook() -> Response:
        refused = _webhook_refusal(settings)
        if refused is not None:
            return refused
        body = _json_body()
        action = body.get("action")
        result = model.fit(action, body)
        metrics.count_webhook(result["action"])
        return jsonify(result)

    @app.route("/versions", methods=["GET", "POST"])
    def versions() -> Response:
        return jsonify(versions=model.versions(), active=model.model_version)

    @app.get("/metrics")
    def get_metrics() -> Response:
        if request.args.get("format") == "prometheus":
            return Response(metrics.prometheus(), mimetype="text/plain; version=0.0.4")
        return jsonify({**metrics.snapshot(), "webhook_log": model.webhooks.snapshot()})

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        if exc.code == 413:
            return _error(
                f"request body over {settings.max_body_mb} MB — send fewer tasks per request, "
                "or raise REDRAFT_MAX_BODY_MB",
                413,
            )
        return _error(exc.description or exc.name, exc.code or 500)

    @app.errorhandler(ProjectFieldError)
    def project_field_error(exc: ProjectFieldError) -> Response:
        return _error(str(exc), 400)

    @app.errorhandler(RedraftError)
    def redraft_error(exc: RedraftError) -> Response:
        logger.error("%s %s failed: %s", request.method, request.path, exc)
        return _error(str(exc), 500)

    @app.errorhandler(Exception)
    def unexpected_error(exc: Exception) -> Response:
        logger.exception("%s %s failed", request.method, request.path)
        return _error("internal error — see the backend log", 500)

    return app


def _json_body(*, required: bool = True) -> dict[str, Any]:
    """The request's JSON object, or a 400 error that says what is wrong."""
    if not request.get_data(cache=True) and not required:
        return {}
    try:
        body = request.get_json(silent=True)
    except RecursionError:  # json's parser recurses once per nesting level
        raise BadRequest("the request body is nested too deeply to be a task") from None
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    return body


def _error(message: str, status: int) -> Response:
    response = jsonify(error=message)
    response.status_code = status
    return response


def _webhook_refusal(settings: Settings) -> Response | None:
    """None when this webhook may be handled: basic auth passed (checked before every request)
    or it carries the shared secret; else the 401/403 answer.

    A webhook can start training, so without either, anyone who reaches the port could.
    A webhook with no secret header is logged only at DEBUG: Label Studio's own ML-backend
    webhook carries none and arrives beside the one `redraft init` creates, on every event. A
    wrong secret is a misconfiguration (or a guess) and is a warning.
    """
    if settings.basic_auth_user is not None:
        return None
    if settings.webhook_secret is None:
        level = logging.WARNING if settings.auto_train else logging.DEBUG
        logger.log(level, "webhook refused: set REDRAFT_WEBHOOK_SECRET or basic auth")
        return _error(
            "webhooks are refused until REDRAFT_WEBHOOK_SECRET (sent by Label Studio as the "
            f"{WEBHOOK_SECRET_HEADER} header) or basic auth is set",
            403,
        )
    given = request.headers.get(WEBHOOK_SECRET_HEADER)
    if given is not None and hmac.compare_digest(given.encode(), settings.webhook_secret.encode()):
        return None
    if given is None:
        logger.debug(
            "webhook without the %s header refused (Label Studio's own)", WEBHOOK_SECRET_HEADER
        )
    else:
        logger.warning(
            "webhook refused: wrong %s header — the webhook `redraft init` made holds another "
            "secret; run `redraft init` again with this backend's REDRAFT_WEBHOOK_SECRET",
            WEBHOOK_SECRET_HEADER,
        )
    return _error(f"missing or wrong {WEBHOOK_SECRET_HEADER} header", 401)


def _authorized(header: str | None, settings: Settings) -> bool:
    """True when an HTTP basic Authorization header carries the configured credentials."""
    if not header or not header.startswith("Basic "):
        return False
    try:
        user, _, password = base64.b64decode(header[6:], validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    user_ok = hmac.compare_digest(user.encode(), (settings.basic_auth_user or "").encode())
    pass_ok = hmac.compare_digest(password.encode(), (settings.basic_auth_password or "").encode())
    return user_ok and pass_ok
