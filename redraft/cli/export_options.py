"""The options of `redraft export` and the ExportOptions they make."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import click

from redraft.exporters.pipeline import ExportOptions
from redraft.exporters.rows import RowPolicy
from redraft.exporters.selection import ANNOTATOR_POLICIES
from redraft.exporters.validation import DEFAULT_CONTEXT_LIMIT, DEFAULT_EPOCHS

F = TypeVar("F", bound=Callable[..., Any])

_OPTIONS = [
    click.option(
        "--project", "project_ref", help="Label Studio project to export: id or exact title."
    ),
    click.option(
        "--from-file",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="A Label Studio JSON export (or JSONL of tasks) instead of a live project.",
    ),
    click.option(
        "-o",
        "--output",
        type=click.Path(file_okay=False, path_type=Path),
        help="Export folder (default REDRAFT_HOME/exports/<UTC time>); must be new or empty.",
    ),
    click.option(
        "--validation-ratio",
        type=click.FloatRange(0, 0.9),
        default=0.1,
        show_default=True,
        help="Share of each client's tasks held out for validation (at least one task of"
        " every client with two or more).",
    ),
    click.option(
        "--annotators",
        type=click.Choice(ANNOTATOR_POLICIES),
        default="all",
        show_default=True,
        help="Several annotations on one task: keep all, the best-rated, or the latest.",
    ),
    click.option(
        "--min-rating-sft",
        type=int,
        default=3,
        show_default=True,
        help="An accepted-as-is draft becomes an SFT row only at this rating or above.",
    ),
    click.option(
        "--min-edit-chars",
        type=int,
        default=10,
        show_default=True,
        help="Characters changed from draft to final (about the edit distance, whitespace"
        " runs ignored) for a preference pair.",
    ),
    click.option(
        "--min-edit-ratio",
        type=float,
        default=0.0,
        show_default=True,
        help="Those changed characters as a share of the longer text (0-1), for a pair.",
    ),
    click.option(
        "--include-accepted/--exclude-accepted",
        default=True,
        show_default=True,
        help="Whether drafts sent unchanged become rows.",
    ),
    click.option(
        "--kto-threshold",
        type=int,
        default=4,
        show_default=True,
        help="A rated draft is a desirable KTO example at this rating or above.",
    ),
    click.option(
        "--low-rating",
        type=int,
        default=2,
        show_default=True,
        help="Ratings at or below this are 'low' (golden-sample candidates).",
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
    click.option("--mask-pii", is_flag=True, help="Mask email addresses and phone numbers."),
    click.option(
        "--records-format",
        type=click.Choice(["parquet", "csv"]),
        default="parquet",
        show_default=True,
        help="Format of the feedback records written for analysis.",
    ),
    click.option(
        "--model-version",
        default=None,
        help="Prediction version to use when an annotation names none (default: latest).",
    ),
    click.option(
        "--template",
        "template_path",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        default=None,
        help="Prompt template (env REDRAFT_TEMPLATE; default: built-in).",
    ),
    click.option(
        "--model",
        "training_model",
        default=None,
        help="Model whose training price the cost estimate uses (default gpt-4o-mini-2024-07-18).",
    ),
    click.option(
        "--epochs",
        type=int,
        default=DEFAULT_EPOCHS,
        show_default=True,
        help="Epochs for the training-cost estimate.",
    ),
    click.option(
        "--context-limit",
        type=int,
        default=DEFAULT_CONTEXT_LIMIT,
        show_default=True,
        help="Tokens one example may hold.",
    ),
    click.option(
        "--timeout",
        type=click.FloatRange(min=1),
        default=600.0,
        show_default=True,
        help="Seconds to wait for Label Studio to build the project's snapshot export.",
    ),
    click.option(
        "--keep-snapshot",
        is_flag=True,
        help="Leave the snapshot export on the Label Studio server (deleted by default).",
    ),
    click.option("--url", default=None, help="Label Studio URL (env LABEL_STUDIO_URL)."),
    click.option("--api-key", default=None, help="Label Studio token (env LABEL_STUDIO_API_KEY)."),
]


def export_options(command: F) -> F:
    """Apply every `redraft export` option to a command function, in the order listed."""
    for option in reversed(_OPTIONS):
        command = option(command)
    return command


def build_options(
    opts: Mapping[str, Any], golden: str, golden_model: str | None, project_id: int | None
) -> ExportOptions:
    """The ExportOptions (written to the manifest) from the parsed command-line values."""
    return ExportOptions(
        policy=RowPolicy(
            min_rating_sft=opts["min_rating_sft"],
            min_edit_chars=opts["min_edit_chars"],
            min_edit_ratio=opts["min_edit_ratio"],
            include_accepted=opts["include_accepted"],
            kto_threshold=opts["kto_threshold"],
            low_rating=opts["low_rating"],
        ),
        annotators=opts["annotators"],
        validation_ratio=opts["validation_ratio"],
        mask_pii=opts["mask_pii"],
        records_format=opts["records_format"],
        golden=golden,
        golden_model=golden_model,
        model_version=opts["model_version"],
        project_id=project_id,
        context_limit=opts["context_limit"],
        training_model=opts["training_model"],
        epochs=opts["epochs"],
    )
