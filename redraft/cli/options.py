"""Options several commands share, declared once: `--project`, the Label Studio connection
(`--url`, `--api-key`) and `--from-file`; and the one way a command turns `--project` into a
project id."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import click

from redraft.settings import Settings

Decorator = Callable[[Any], Any]

PROJECT_HELP = "Label Studio project: id or exact title (may be left out when there is only one)."


def project_option(
    command: Any = None,
    /,
    *,
    help: str = PROJECT_HELP,
    required: bool = False,
    multiple: bool = False,
) -> Any:
    """`--project ID|TITLE` into `project_ref`. Bare (`@project_option`) it is the rule every
    command that acts on one project follows: required unless Label Studio has exactly one
    project (`resolve_project`); called, a command words what the project is for.

    >>> @click.command()
    ... @project_option(required=True)
    ... def show(project_ref): pass
    >>> [(o.name, o.required) for o in show.params]
    [('project_ref', True)]
    """

    def decorate(target: Any) -> Any:
        return click.option(
            "--project",
            "project_ref",
            default=() if multiple else None,
            required=required,
            multiple=multiple,
            help=help,
        )(target)

    return decorate(command) if command is not None else decorate


def ls_options(command: Any) -> Any:
    """`--url` and `--api-key`, shared by the commands that talk to Label Studio."""
    command = click.option(
        "--api-key",
        default=None,
        help="Label Studio personal access token or legacy token (env LABEL_STUDIO_API_KEY).",
    )(command)
    return click.option(
        "--url",
        default=None,
        help="Label Studio URL (env LABEL_STUDIO_URL, default http://127.0.0.1:8080).",
    )(command)


def ls_settings(ctx: click.Context, url: str | None, api_key: str | None) -> Settings:
    """The command's settings with `--url` / `--api-key` applied."""
    settings: Settings = ctx.obj
    return settings.with_overrides(label_studio_url=url, label_studio_api_key=api_key)


def ls_session(settings: Settings) -> AbstractContextManager[Any]:
    """A Label Studio client for the settings (the SDK is imported only here, when needed)."""
    from redraft.labelstudio.client import session_from_settings

    return session_from_settings(settings)


def from_file_option(help: str) -> Decorator:
    """`--from-file FILE`: a Label Studio JSON export (or JSONL of tasks) instead of a live
    project."""
    return click.option(
        "--from-file",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        default=None,
        help=help,
    )


def project_id_for(settings: Settings, ref: str | int | None) -> int | None:
    """A project id from `--project`: an id as is, a title looked up in Label Studio (None
    stays None; an id is not checked against the server here)."""
    from redraft.labelstudio.project import parse_project_ref

    parsed = parse_project_ref(ref)
    if parsed is None or isinstance(parsed, int):
        return parsed
    from redraft.labelstudio.project import resolve_project

    with ls_session(settings) as client:
        return resolve_project(client, parsed)
