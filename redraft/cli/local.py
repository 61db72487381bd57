"""`redraft local serve | info`: the open-weights model on this machine."""

from __future__ import annotations

import click

from redraft.settings import Settings


@click.group("local")
def local() -> None:
    """The local open-weights model: SmolLM2-135M-Instruct unless REDRAFT_LOCAL_MODEL names
    another GGUF file or Hugging Face folder.

    \b
    Example:
      redraft local serve            # http://127.0.0.1:8089/v1, base + every trained version
      redraft local info
    """


@local.command("serve")
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="Default 8089.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Listen address.")
@click.option(
    "--poll", type=float, default=5.0, show_default=True, help="Seconds between registry checks."
)
@click.pass_obj
def serve(settings: Settings, port: int | None, host: str, poll: float) -> None:
    """Serve the base model and every trained local version, OpenAI-compatibly.

    Each version answers to the model id the registry stores, so `redraft models promote`
    switches drafting with no restart; a newly trained version is picked up within --poll
    seconds (at once when `redraft train trl` finishes), without failing requests in flight.

    \b
    Example:
      redraft local serve --port 8089 &
      OPENAI_BASE_URL=http://127.0.0.1:8089/v1 OPENAI_API_KEY=local \\
        REDRAFT_MODEL=smollm2-135m-instruct redraft serve
    """
    from redraft.local.address import remove_record, write_record
    from redraft.local.catalog import served_models
    from redraft.local.server import LocalServer, find_engine
    from redraft.loop.demo import wait_for_interrupt

    settings = settings.with_overrides(local_port=port)
    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(f"warning: serving the model on {host} without authentication", err=True)
    server = LocalServer(
        lambda: served_models(settings),
        workdir=settings.home / "run",
        host=host,
        port=settings.local_port,
        poll_seconds=poll,
        engine=find_engine(settings.llama_server_bin),
    )
    click.echo(f"starting {server.engine.name} on {server.url} …", err=True)
    with server:
        # Versions trained from now on are registered at this address (redraft.local.address).
        write_record(settings.home, server.url)
        try:
            click.echo(
                f"serving {', '.join(server.model_ids)} at {server.url} "
                f"({server.parallel} at once)",
                err=True,
            )
            click.echo("Ctrl-C stops it.", err=True)
            wait_for_interrupt()
        finally:
            remove_record(settings.home)
    click.echo("local server stopped", err=True)


@local.command("info")
@click.pass_obj
def info(settings: Settings) -> None:
    """Show the base model, its files, and the versions the local server would serve.

    \b
    Example:
      redraft local info
    """
    from redraft.local.address import local_server_url
    from redraft.local.catalog import listed_models, local_base, served_models

    base = local_base(settings)
    click.echo(f"base model:   {base.model_id} ({base.source})")
    for model in served_models(settings):
        lora = f" + LoRA {model.lora}" if model.lora else ""
        click.echo(f"serves:       {model.model_id}{lora}")
    url = local_server_url(settings)
    running = listed_models(url, timeout=2)
    state = f"running, serving {', '.join(running)}" if running is not None else "not running"
    click.echo(f"local server: {url} ({state})")
