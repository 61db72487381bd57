"""`redraft serve`: the Label Studio ML backend under waitress."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from redraft.errors import RedraftError
from redraft.settings import Settings

logger = logging.getLogger(__name__)


@click.command()
@click.option("--host", default=None, help="Interface to listen on (env REDRAFT_HOST).")
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Port (env REDRAFT_PORT, default 9090).",
)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=None,
    help="HTTP worker threads (env REDRAFT_THREADS, default 32).",
)
@click.option("--base-url", default=None, help="OpenAI-compatible endpoint (OPENAI_BASE_URL).")
@click.option("--model", default=None, help="Model id to draft with (env REDRAFT_MODEL).")
@click.option(
    "--model-version", default=None, help="Version name predictions carry (REDRAFT_MODEL_VERSION)."
)
@click.option(
    "--template",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Prompt template TOML (env REDRAFT_TEMPLATE; default: the shipped one).",
)
@click.option(
    "--max-concurrency",
    type=click.IntRange(min=1),
    default=None,
    help="Model calls in flight at once, all requests together (env REDRAFT_MAX_CONCURRENCY, "
    "default 16).",
)
@click.option(
    "--deadline",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Seconds a /predict may take; tasks not drafted by then come back empty and are "
    "drafted on the next retrieve (env REDRAFT_PREDICT_DEADLINE, default 80).",
)
@click.pass_obj
def serve(
    settings: Settings,
    host: str | None,
    port: int | None,
    threads: int | None,
    base_url: str | None,
    model: str | None,
    model_version: str | None,
    template: Path | None,
    max_concurrency: int | None,
    deadline: float | None,
) -> None:
    """Run the ML backend that pre-fills each brief's draft in Label Studio.

    \b
    Example:
      OPENAI_API_KEY=sk-... redraft serve --port 9090 --model gpt-4o-mini
      # then in Label Studio: Project → Settings → Model → Connect Model → http://HOST:9090
    """
    from redraft.backend.app import backend_state
    from redraft.backend.server import serve_forever
    from redraft.loop.backend import compose_backend
    from redraft.webhook import with_webhook_secret

    settings = settings.with_overrides(
        host=host,
        port=port,
        threads=threads,
        openai_base_url=base_url,
        model=model,
        model_version=model_version,
        template_path=template,
        max_concurrency=max_concurrency,
        predict_deadline=deadline,
    )
    # The secret `redraft init` puts on its webhook: auto mode's events arrive authenticated.
    settings = with_webhook_secret(settings)
    app = compose_backend(settings)
    state = backend_state(app)
    try:
        # Fail at start-up, not on the first task, when no API key is configured.
        state.model.drafter.client_for(state.model.model_source.active())
    except RedraftError:
        state.close()
        raise
    click.echo(
        f"redraft backend on http://{settings.host}:{settings.port} — model version "
        f"{state.model.model_version!r}, "
        f"up to {settings.max_concurrency} concurrent drafts (sized to the endpoint), "
        f"deadline {settings.predict_deadline:g}s, "
        f"cache {'on' if settings.cache_enabled else 'off'}, "
        f"auto-train {'on' if state.model.on_event else 'off'}",
        err=True,
    )
    exposure = exposure_warning(settings)
    if exposure:
        logger.warning(exposure)
        click.echo(f"warning: {exposure}", err=True)
    serve_forever(app, host=settings.host, port=settings.port, threads=settings.threads)


def exposure_warning(settings: Settings) -> str | None:
    """A warning when the backend listens beyond loopback with no basic auth, else None.

    >>> from redraft.settings import Settings
    >>> exposure_warning(Settings(host="127.0.0.1")) is None
    True
    >>> exposure_warning(Settings(host="0.0.0.0"))[:44]
    'listening on 0.0.0.0 without authentication:'
    """
    import ipaddress

    try:
        loopback = ipaddress.ip_address(settings.host).is_loopback
    except ValueError:
        loopback = settings.host == "localhost"
    if loopback or settings.basic_auth_user is not None:
        return None
    return (
        f"listening on {settings.host} without authentication: anyone who reaches this port "
        "can draft with your model and API key — set REDRAFT_BASIC_AUTH_USER and "
        "REDRAFT_BASIC_AUTH_PASSWORD (and the same in Label Studio's model connection)"
    )
