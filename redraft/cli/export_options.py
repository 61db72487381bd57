"""The options of `redraft export` and the ExportOptions they make."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import click

from redraft.cli.knobs import knob_options, knob_values
from redraft.cli.options import from_file_option, project_option
from redraft.exporters.pipeline import ExportOptions
from redraft.exporters.request import DEFAULT_SNAPSHOT_TIMEOUT, ExportRequest
from redraft.exporters.rows import RowPolicy

F = TypeVar("F", bound=Callable[..., Any])

_OPTIONS = [
    project_option(help="Label Studio project to export: id or exact title."),
    from_file_option("A Label Studio JSON export (or JSONL of tasks) instead of a live project."),
    click.option(
        "-o",
        "--output",
        type=click.Path(file_okay=False, path_type=Path),
        help="Export folder (default REDRAFT_HOME/exports/<UTC time>); must be new or empty.",
    ),
    click.option(
        "--golden", is_flag=True, help="Rewrite low-rated, unrewritten drafts with an LLM."
    ),
    click.option(
        "--golden-review",
        is_flag=True,
        help="Send golden rewrites to Label Studio for approval instead of the datasets"
        " (annotations already sent are skipped).",
    ),
    click.option(
        "--golden-model", default=None, help="Model for golden rewrites (default REDRAFT_MODEL)."
    ),
    click.option(
        "--base-url", default=None, help="OpenAI-compatible URL for --golden (env OPENAI_BASE_URL)."
    ),
    click.option(
        "--review-project",
        "review_ref",
        default=None,
        help="Project (id or title) for --golden-review tasks (default --project).",
    ),
    click.option(
        "--template",
        "template_path",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        default=None,
        help="Prompt template (env REDRAFT_TEMPLATE; default: built-in).",
    ),
    click.option(
        "--timeout",
        type=click.FloatRange(min=1),
        default=DEFAULT_SNAPSHOT_TIMEOUT,
        show_default=True,
        help="Seconds to wait for Label Studio to build the project's snapshot export.",
    ),
    click.option(
        "--keep-snapshot",
        is_flag=True,
        help="Leave the snapshot export on the Label Studio server (deleted by default).",
    ),
    click.option(
        "--style-notes/--no-style-notes",
        default=True,
        show_default=True,
        help="Mine each client's style rules from these edits into the training prompts (the "
        "version trained on the export drafts with them; other models' prompts change only "
        "through `redraft styles apply`).",
    ),
    click.option("--url", default=None, help="Label Studio URL (env LABEL_STUDIO_URL)."),
    click.option("--api-key", default=None, help="Label Studio token (env LABEL_STUDIO_API_KEY)."),
]


def export_options(command: F) -> F:
    """Apply every `redraft export` option to a command function: the source and run options
    listed here, then the ExportOptions and RowPolicy knobs (declared on the dataclasses)."""
    command = knob_options(RowPolicy)(command)
    command = knob_options(ExportOptions)(command)
    for option in reversed(_OPTIONS):
        command = option(command)
    return command


def build_request(opts: Mapping[str, Any]) -> ExportRequest:
    """The ExportRequest from the parsed command-line values (ExportRequestError if they
    contradict each other)."""
    return ExportRequest(
        project_ref=opts["project_ref"],
        from_file=opts["from_file"],
        output=opts["output"],
        golden=ExportRequest.golden_mode(opts["golden"], opts["golden_review"]),
        golden_model=opts["golden_model"],
        review_ref=opts["review_ref"],
        template_path=opts["template_path"],
        timeout=opts["timeout"],
        keep_snapshot=opts["keep_snapshot"],
        style_notes=opts["style_notes"],
        options=ExportOptions(
            policy=RowPolicy(**knob_values(RowPolicy, opts)), **knob_values(ExportOptions, opts)
        ),
    )
