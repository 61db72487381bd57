"""The `redraft` command: one group; each command group lives in a small module of its own."""

from __future__ import annotations

import importlib
import logging
import os
import sys
from pathlib import Path

import click

from redraft import __version__
from redraft.errors import RedraftError
from redraft.settings import LOG_LEVELS, Settings

logger = logging.getLogger(__name__)

# Command name -> (module, attribute). Modules are imported only when their command runs, so
# `redraft status` does not pay for pandas, scipy or the Label Studio SDK.
COMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("redraft.cli.serve", "serve"),
    "standin": ("redraft.cli.standin", "standin"),
    "init": ("redraft.cli.labelstudio", "init"),
    "import": ("redraft.cli.labelstudio", "import_briefs"),
    "prefill": ("redraft.cli.labelstudio", "prefill"),
    "demo": ("redraft.cli.labelstudio", "demo"),
    "export": ("redraft.cli.export", "export"),
    "validate": ("redraft.cli.export", "validate"),
    "models": ("redraft.cli.models", "models"),
    "train": ("redraft.cli.train", "train"),
    "status": ("redraft.cli.status", "status"),
    "report": ("redraft.cli.report", "report"),
    "ab": ("redraft.cli.ab", "ab"),
    "judge": ("redraft.cli.judge", "judge"),
    "simulate": ("redraft.cli.simulate", "simulate"),
    "local": ("redraft.cli.local", "local"),
    "eval": ("redraft.cli.evaluate", "evaluate"),
    "evalset": ("redraft.cli.evaluate", "evalset"),
    "styles": ("redraft.cli.styles", "styles"),
    "forget": ("redraft.cli.forget", "forget"),
}


class RedraftGroup(click.Group):
    """A lazily loaded click group that turns domain errors into one clear line and exit 1."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attribute = target
        command = getattr(importlib.import_module(module_name), attribute)
        command.name = cmd_name
        return command

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except RedraftError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)
        except OSError as exc:
            if exc.filename is None:  # not a file problem: a bug, shown in full
                raise
            # A path redraft was told to read or write (-o, a template, REDRAFT_HOME).
            logger.debug("file error", exc_info=True)
            click.echo(
                f"error: cannot use {exc.filename}: {exc.strerror or exc} — check that the path "
                "is right and writable (see -o / REDRAFT_HOME)",
                err=True,
            )
            sys.exit(1)


@click.group(cls=RedraftGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="redraft")
@click.option(
    "--log-level",
    type=click.Choice(LOG_LEVELS, case_sensitive=False),
    default=None,
    help="How much to log (env REDRAFT_LOG_LEVEL; default INFO).",
)
@click.pass_context
def cli(ctx: click.Context, log_level: str | None) -> None:
    """redraft: turn writers' ratings and rewrites into a better drafting model.

    \b
    Example:
      redraft demo            # local Label Studio + backend + the local open model
      redraft serve --port 9090
    """
    # A bad variable raises ConfigError, which RedraftGroup.invoke prints as one `error:` line.
    settings = Settings.from_env().with_overrides(
        log_level=log_level.upper() if log_level else None
    )
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if settings.log_level != "DEBUG":
        # One INFO line per HTTP request from the client libraries would bury progress bars.
        for noisy in ("httpx", "httpx2", "httpcore", "httpcore2", "openai", "urllib3"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    keep_private(settings.home)
    ctx.obj = settings


def keep_private(home: Path) -> None:
    """Owner-only files from here on: REDRAFT_HOME holds API tokens (the demo's Label Studio
    database), recipients' names and emails (exports, the draft cache) and the registry. The
    umask also covers what child processes write (the demo's Label Studio)."""
    os.umask(0o077)
    try:
        if home.is_dir():
            home.chmod(0o700)
    except OSError:  # not ours to change (a shared folder): the files are still owner-only
        logger.debug("could not restrict %s", home, exc_info=True)


def main() -> None:
    """Console-script entry point."""
    cli()
