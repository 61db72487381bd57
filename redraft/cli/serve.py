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
@click.option("--port", type=int, default=None, help="Port (env REDRAFT_PORT, default 9090).")
@click.option("--threads", type=int, default=None, help="HTTP worker threads (REDRAFT_THREADS).")
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
    type=int,
    default=None,
    help="Model calls in flight at once (env REDRAFT_MAX_CONCURRENCY, default 16).",
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
) -> None:
    """Run the ML backend that pre-fills each brief's draft in Label Studio.

    \b
    Example:
      OPENAI_API_KEY=sk-... redraft serve --port 9090 --model gpt-4o-mini
      # then in Label Studio: Project → Settings → Model → Connect Model → http://HOST:9090
    """
    from redraft.backend.app import backend_state, create_app
    from redraft.backend.server import serve_forever
    from redraft.training.auto import build_auto_trainer
    from redraft.training.source import RegistryModelSource

    settings = settings.with_overrides(
        host=host,
        port=port,
        threads=threads,
        openai_base_url=base_url,
        model=model,
        model_version=model_version,
        template_path=template,
        max_concurrency=max_concurrency,
    )
    # The registry decides the active version (settings are the fallback), so `redraft models
    # promote` switches drafting without a restart; auto mode hooks into the webhooks.
    model_source = RegistryModelSource(settings)
    auto_trainer = build_auto_trainer(settings)
    app = create_app(settings, model_source=model_source, on_event=auto_trainer)
    try:
        # Fail at start-up, not on the first task, when no API key is configured.
        state = backend_state(app)
        state.model.drafter.client_for(state.model.model_source.active())
    except RedraftError:
        state.close()
        raise
    click.echo(
        f"redraft backend on http://{settings.host}:{settings.port} — model version "
        f"{model_source.active().name!r}, {settings.max_concurrency} concurrent drafts, "
        f"cache {'on' if settings.cache_enabled else 'off'}, "
        f"auto-train {'on' if auto_trainer else 'off'}",
        err=True,
    )
    serve_forever(app, host=settings.host, port=settings.port, threads=settings.threads)
