"""`redraft standin`: run the OpenAI-compatible stand-in server in the foreground."""

from __future__ import annotations

import logging
import signal
from types import FrameType

import click

from redraft.cli.knobs import knob_options
from redraft.settings import Settings
from redraft.standin.config import StandinConfig
from redraft.wording import counted

logger = logging.getLogger(__name__)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8800,
    show_default=True,
    help="Port (0 = any free).",
)
@knob_options(StandinConfig, ["latency_ms"])
@click.option(
    "--fault",
    "faults",
    type=click.Choice(["429", "500", "hang", "empty", "job_fail"]),
    multiple=True,
    help="Inject a fault into every matching request (repeatable).",
)
@click.option(
    "--fault-match", default=None, help="Only fault requests whose last user message contains this."
)
@click.option(
    "--fault-model", default=None, help="Only fault requests for models whose id contains this."
)
@click.option(
    "--fault-times",
    type=click.IntRange(min=0),
    default=None,
    help="Fault only the first N matching requests.",
)
@knob_options(StandinConfig, ["hang_seconds", "job_step_seconds"])
@click.option(
    "--api-key",
    default=None,
    help="Require this bearer token (default: accept any non-empty one).",
)
@knob_options(StandinConfig, ["max_in_flight"])
@click.pass_obj
def standin(
    settings: Settings,
    host: str,
    port: int,
    latency_ms: int,
    faults: tuple[str, ...],
    fault_match: str | None,
    fault_model: str | None,
    fault_times: int | None,
    hang_seconds: float,
    job_step_seconds: float,
    api_key: str | None,
    max_in_flight: int,
) -> None:
    """Run an OpenAI-compatible stand-in (chat, files, fine-tuning) until Ctrl-C.

    Drafts are deterministic and say they come from the stand-in. Change latency and faults
    while it runs with POST /_standin/config.

    \b
    Example:
      redraft standin --port 8800 --latency-ms 300 --fault 429 --fault-times 2
      export OPENAI_BASE_URL=http://127.0.0.1:8800/v1 OPENAI_API_KEY=sk-standin
      curl -X POST localhost:8800/_standin/config -d '{"latency_ms": 0}' \\
           -H 'Content-Type: application/json'
    """
    from redraft.standin import FaultRule, StandinServer

    config = StandinConfig(
        latency_ms=latency_ms,
        faults=[
            FaultRule(kind, match=fault_match, times=fault_times, model=fault_model)  # type: ignore[arg-type]
            for kind in faults
        ],
        hang_seconds=hang_seconds,
        api_key=api_key if api_key is not None else settings.standin_api_key,
        job_step_seconds=job_step_seconds,
        max_in_flight=max_in_flight,
    )
    server = StandinServer(config, host=host, port=port).start()
    click.echo(f"OPENAI_BASE_URL={server.base_url}")
    click.echo(
        f"stand-in listening on {server.url} ({len(config.models)} models, "
        f"latency {latency_ms} ms, {counted(len(config.faults), 'fault rule')}); Ctrl-C stops it",
        err=True,
    )
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops it as cleanly as Ctrl-C
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        click.echo(
            f"stand-in stopped after {counted(server.total_requests(), 'request')}", err=True
        )
