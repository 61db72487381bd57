"""The `redraft` command: one group; each command group lives in a small module of its own."""

from __future__ import annotations

import importlib
import logging
import sys

import click

from redraft import __version__
from redraft.errors import RedraftError
from redraft.settings import Settings

logger = logging.getLogger(__name__)

# (module, command attribute). Each module owns one command or command group.
COMMANDS: list[tuple[str, str]] = [
    ("redraft.cli.serve", "serve"),
    ("redraft.cli.standin", "standin"),
    ("redraft.cli.report", "report"),
    ("redraft.cli.ab", "ab"),
    ("redraft.cli.labelstudio", "init"),
    ("redraft.cli.labelstudio", "import_briefs"),
    ("redraft.cli.labelstudio", "prefill"),
    ("redraft.cli.labelstudio", "demo"),
    ("redraft.cli.export", "export"),
    ("redraft.cli.export", "validate"),
    ("redraft.cli.models", "models"),
    ("redraft.cli.train", "train"),
    ("redraft.cli.status", "status"),
]


class RedraftGroup(click.Group):
    """A click group that turns domain errors into one clear line and exit code 1."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except RedraftError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)


@click.group(cls=RedraftGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="redraft")
@click.option("--log-level", default=None, help="DEBUG, INFO, WARNING (env REDRAFT_LOG_LEVEL).")
@click.pass_context
def cli(ctx: click.Context, log_level: str | None) -> None:
    """redraft: turn writers' ratings and rewrites into a better drafting model.

    \b
    Example:
      redraft demo            # local Label Studio + backend + stand-in model
      redraft serve --port 9090
    """
    try:
        settings = Settings.from_env().with_overrides(
            log_level=log_level.upper() if log_level else None
        )
    except RedraftError as exc:
        raise click.ClickException(str(exc)) from None
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    ctx.obj = settings


def _register() -> None:
    for module_name, attribute in COMMANDS:
        module = importlib.import_module(module_name)
        cli.add_command(getattr(module, attribute))


_register()


def main() -> None:
    """Console-script entry point."""
    cli()
