"""`redraft export` (completed tasks -> datasets) and `redraft validate` (check any JSONL file)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from redraft.exporters.golden import GoldenWriter, import_review_tasks
from redraft.exporters.pipeline import ExportOptions, run_export
from redraft.exporters.reading import read_file_tasks, read_project_tasks
from redraft.exporters.rows import FORMATS, RowPolicy
from redraft.exporters.selection import ANNOTATOR_POLICIES
from redraft.exporters.tokens import load_counter
from redraft.exporters.validation import (
    DEFAULT_CONTEXT_LIMIT,
    DEFAULT_EPOCHS,
    VALIDATION_FORMATS,
    validate_file,
)
from redraft.prompting import load_template
from redraft.settings import Settings

logger = logging.getLogger(__name__)


@click.command("export")
@click.option("--project", "project_id", type=int, help="Label Studio project id to export.")
@click.option(
    "--from-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A Label Studio JSON export (or JSONL of tasks) instead of a live project.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    help="Export folder (default REDRAFT_HOME/exports/<UTC time>); must be new or empty.",
)
@click.option("--validation-ratio", type=click.FloatRange(0, 0.9), default=0.1, show_default=True)
@click.option(
    "--annotators",
    type=click.Choice(ANNOTATOR_POLICIES),
    default="all",
    show_default=True,
    help="Several annotations on one task: keep all, the best-rated, or the latest.",
)
@click.option(
    "--min-rating-sft",
    type=int,
    default=3,
    show_default=True,
    help="An accepted-as-is draft becomes an SFT row only at this rating or above.",
)
@click.option(
    "--min-edit-chars",
    type=int,
    default=10,
    show_default=True,
    help="Characters changed between draft and final for a preference pair.",
)
@click.option(
    "--min-edit-ratio",
    type=float,
    default=0.0,
    show_default=True,
    help="Share of the longer text changed for a preference pair (0-1).",
)
@click.option(
    "--include-accepted/--exclude-accepted",
    default=True,
    show_default=True,
    help="Whether drafts sent unchanged become rows.",
)
@click.option(
    "--kto-threshold",
    type=int,
    default=4,
    show_default=True,
    help="A rated draft is a desirable KTO example at this rating or above.",
)
@click.option(
    "--low-rating",
    type=int,
    default=2,
    show_default=True,
    help="Ratings at or below this are 'low' (golden-sample candidates).",
)
@click.option("--golden", is_flag=True, help="Rewrite low-rated, unrewritten drafts with an LLM.")
@click.option(
    "--golden-review",
    is_flag=True,
    help="Send golden rewrites to Label Studio for approval instead of the datasets.",
)
@click.option(
    "--golden-model", default=None, help="Model for golden rewrites (default REDRAFT_MODEL)."
)
@click.option(
    "--base-url", default=None, help="OpenAI-compatible URL for --golden (env OPENAI_BASE_URL)."
)
@click.option(
    "--review-project",
    type=int,
    default=None,
    help="Project for --golden-review tasks (default --project).",
)
@click.option("--mask-pii", is_flag=True, help="Mask email addresses and phone numbers.")
@click.option(
    "--records-format", type=click.Choice(["parquet", "csv"]), default="parquet", show_default=True
)
@click.option(
    "--model-version",
    default=None,
    help="Prediction version to use when an annotation names none (default: latest).",
)
@click.option(
    "--template",
    "template_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Prompt template (env REDRAFT_TEMPLATE; default: built-in).",
)
@click.option(
    "--model",
    "training_model",
    default=None,
    help="Model whose price and limit the estimate uses (default gpt-4o-mini-2024-07-18).",
)
@click.option("--epochs", type=int, default=DEFAULT_EPOCHS, show_default=True)
@click.option(
    "--context-limit",
    type=int,
    default=DEFAULT_CONTEXT_LIMIT,
    show_default=True,
    help="Tokens one example may hold.",
)
@click.option("--url", default=None, help="Label Studio URL (env LABEL_STUDIO_URL).")
@click.option("--api-key", default=None, help="Label Studio token (env LABEL_STUDIO_API_KEY).")
@click.pass_context
def export(
    ctx: click.Context,
    project_id: int | None,
    from_file: Path | None,
    output: Path | None,
    **opts: Any,
) -> None:
    """Turn completed Label Studio tasks into SFT, DPO and KTO datasets in one folder.

    Writes openai_sft, openai_dpo, trl_sft, trl_dpo and trl_kto as .train/.validation JSONL,
    rejects.jsonl (every task or annotation left out, and why), records.parquet and
    manifest.json ("ready": true only when validation passes).

    \b
    Example:
      redraft export --project 3 --golden --mask-pii
      redraft export --from-file project-3-at-2026-11-22.json -o exports/nov
    """
    if (project_id is None) == (from_file is None):
        raise click.UsageError("give exactly one of --project ID or --from-file FILE")
    if opts["golden"] and opts["golden_review"]:
        raise click.UsageError("use --golden or --golden-review, not both")
    settings: Settings = ctx.obj
    settings = settings.with_overrides(
        label_studio_url=opts["url"],
        label_studio_api_key=opts["api_key"],
        openai_base_url=opts["base_url"],
        template_path=opts["template_path"],
    )
    golden_mode = "rewrite" if opts["golden"] else "review" if opts["golden_review"] else "off"
    review_project = opts["review_project"] or project_id
    if golden_mode == "review" and review_project is None:
        raise click.UsageError("--golden-review with --from-file needs --review-project ID")
    template = load_template(settings.template_path)
    counter = load_counter()
    golden_writer = _golden_writer(settings, opts["golden_model"]) if golden_mode != "off" else None
    options = ExportOptions(
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
        golden=golden_mode,
        golden_model=golden_writer.model if golden_writer else None,
        model_version=opts["model_version"],
        project_id=project_id,
        context_limit=opts["context_limit"],
        training_model=opts["training_model"],
        epochs=opts["epochs"],
    )
    out_dir = output or settings.exports_dir / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    with ExitStack() as stack:
        ls_client = None
        if project_id is not None or golden_mode == "review":
            from redraft.labelstudio.client import session_from_settings

            ls_client = stack.enter_context(session_from_settings(settings))
        review_sink = None
        if golden_mode == "review":
            assert review_project is not None

            def review_sink(tasks: list[dict[str, Any]]) -> int:
                return import_review_tasks(ls_client, review_project, tasks)

        if project_id is not None:
            tasks: Iterator[dict[str, Any]] = read_project_tasks(ls_client, project_id)
            source: dict[str, Any] = {
                "kind": "project",
                "project_id": project_id,
                "label_studio_url": settings.label_studio_url,
            }
        else:
            assert from_file is not None
            tasks = read_file_tasks(from_file)
            source = {"kind": "file", "path": str(from_file.resolve())}
        manifest = run_export(
            _progress(tasks),
            out_dir,
            template,
            counter,
            options,
            source,
            golden_writer,
            review_sink,
        )
    _print_summary(manifest, out_dir)


def _golden_writer(settings: Settings, model: str | None) -> GoldenWriter:
    import openai

    client = openai.OpenAI(
        api_key=settings.openai_api_key or "not-set",
        base_url=settings.openai_base_url,
        max_retries=settings.max_retries,
        timeout=settings.request_timeout,
    )
    return GoldenWriter(client, model or settings.model)


def _progress(tasks: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    from tqdm import tqdm

    yield from tqdm(
        tasks,
        desc="tasks",
        unit=" task",
        file=sys.stderr,
        disable=None,
        leave=False,
    )


def _print_summary(manifest: dict[str, Any], out_dir: Path) -> None:
    counts, datasets = manifest["counts"], manifest["datasets"]
    for name in FORMATS:
        entry = datasets[name]
        state = "ready" if entry["ready"] else "NOT ready"
        click.echo(
            f"{name}: {entry['train_rows']:,} train, "
            f"{entry['validation_rows']:,} validation ({state})",
            err=True,
        )
        for problem in entry["problems"][:5]:
            click.echo(f"  {problem}", err=True)
    click.echo(manifest["token_counts"], err=True)
    estimate = manifest["files"]["openai_sft.train.jsonl"]["validation"]["estimate"]
    if estimate:
        click.echo(
            f"estimated OpenAI SFT cost: ${estimate['usd']:,.2f} ({estimate['model']}, "
            f"{estimate['epochs']} epochs, {estimate['billed_tokens']:,} tokens) — an estimate",
            err=True,
        )
    sft = datasets["openai_sft"]["train_rows"] + datasets["openai_sft"]["validation_rows"]
    pairs = datasets["openai_dpo"]["train_rows"] + datasets["openai_dpo"]["validation_rows"]
    golden = (
        f", {counts['machine_written_records']:,} machine-written"
        if counts["machine_written_records"]
        else ""
    )
    review = (
        f", {counts['golden_review_tasks']:,} sent for review"
        if counts["golden_review_tasks"]
        else ""
    )
    ready = "ready" if manifest["ready"] else "NOT ready"
    click.echo(
        f"exported {sft:,} SFT rows, {pairs:,} preference pairs from "
        f"{counts['tasks_exported']:,} of {counts['tasks_read']:,} tasks{golden}{review}; "
        f"rejected {counts['tasks_rejected']:,} tasks "
        f"({counts['rejects']:,} lines in rejects.jsonl); {ready}",
        err=True,
    )
    click.echo(str(out_dir))


@click.command("validate")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["auto", *VALIDATION_FORMATS]),
    default="auto",
    show_default=True,
)
@click.option(
    "--model",
    default=None,
    help="Price and limit for the estimate (default gpt-4o-mini-2024-07-18).",
)
@click.option("--epochs", type=int, default=DEFAULT_EPOCHS, show_default=True)
@click.option("--context-limit", type=int, default=DEFAULT_CONTEXT_LIMIT, show_default=True)
def validate(file: Path, fmt: str, model: str | None, epochs: int, context_limit: int) -> None:
    """Check a JSONL training file: structure, tokens, context limit, size, duplicates, cost.

    Prints one line per problem (FILE:LINE: error: ...) and exits 1 when there is an error.

    \b
    Example:
      redraft validate exports/nov/openai_sft.train.jsonl --model gpt-4o-mini-2024-07-18 --epochs 3
    """
    counter = load_counter()
    report = validate_file(file, fmt, counter, context_limit, model, epochs)
    for problem in report.problems:
        click.echo(problem.text(str(file)))
    if report.errors + report.warnings > len(report.problems):
        click.echo(f"... {report.errors + report.warnings - len(report.problems):,} more problems")
    mean = report.tokens_total / report.rows if report.rows else 0
    click.echo(
        f"{report.format}: {report.rows:,} examples, {report.tokens_total:,} tokens "
        f"(max {report.tokens_max:,}, mean {mean:,.0f}); {counter.note}"
    )
    if report.estimated_cost_usd is not None:
        click.echo(
            f"estimated training cost: ${report.estimated_cost_usd:,.2f} for {report.model}, "
            f"{report.epochs} epochs "
            f"({report.billed_tokens * (report.epochs or 1):,} billed tokens)"
            " — an estimate, check current prices"
        )
    click.echo(f"{report.errors} errors, {report.warnings} warnings")
    if not report.ok:
        raise SystemExit(1)
