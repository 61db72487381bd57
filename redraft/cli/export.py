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

from redraft.cli.export_options import build_options, export_options
from redraft.cli.knobs import knob_options
from redraft.evaluation.evalset import holdout_for_export, update_after_export
from redraft.exporters.golden import GoldenWriter
from redraft.exporters.manifest import ExportManifest
from redraft.exporters.pipeline import ExportOptions, run_export
from redraft.exporters.reading import read_file_tasks, read_project_tasks
from redraft.exporters.rows import FORMATS
from redraft.exporters.split import TaskSource
from redraft.exporters.tokens import load_counter
from redraft.exporters.validation import (
    VALIDATION_FORMATS,
    validate_file,
)
from redraft.prompting import load_template
from redraft.settings import Settings
from redraft.training.registry import documents_for
from redraft.training.source import active_template
from redraft.wording import counted

logger = logging.getLogger(__name__)


@click.command("export")
@export_options
@click.pass_context
def export(
    ctx: click.Context,
    project_ref: str | None,
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
      redraft export --project "Acme outreach" --golden --mask-pii
      redraft export --project 3 --golden-review
      redraft export --from-file project-3-at-2026-11-22.json -o exports/nov
    """
    if (project_ref is None) == (from_file is None):
        raise click.UsageError("give exactly one of --project ID|TITLE or --from-file FILE")
    if opts["golden"] and opts["golden_review"]:
        raise click.UsageError("use --golden or --golden-review, not both")
    golden_mode = "rewrite" if opts["golden"] else "review" if opts["golden_review"] else "off"
    if golden_mode == "review" and (opts["review_ref"] or project_ref) is None:
        raise click.UsageError("--golden-review with --from-file needs --review-project ID")
    settings: Settings = ctx.obj
    settings = settings.with_overrides(
        label_studio_url=opts["url"],
        label_studio_api_key=opts["api_key"],
        openai_base_url=opts["base_url"],
        template_path=opts["template_path"],
    )
    counter = load_counter()
    golden_writer = _golden_writer(settings, opts["golden_model"]) if golden_mode != "off" else None
    out_dir = output or settings.exports_dir / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    with ExitStack() as stack:
        ls_client = None
        if project_ref is not None or golden_mode == "review":
            from redraft.labelstudio.client import session_from_settings

            ls_client = stack.enter_context(session_from_settings(settings))
        project_id = _resolve(ls_client, project_ref)
        # The project's active version's own template, so a fine-tune learns with the prompts
        # it drafts with.
        template_path = settings.template_path or active_template(settings, project_id)
        template = load_template(template_path)
        golden_model = golden_writer.model if golden_writer else None
        options = build_options(opts, golden_mode, golden_model, project_id)
        review_sink, reviewed = None, set()
        if golden_mode == "review":
            # Imported here: the SDK takes a second to import, and a file export never needs it.
            from redraft.labelstudio.golden_review import import_review_tasks, reviewed_annotations

            review_project = _resolve(ls_client, opts["review_ref"]) or project_id
            assert review_project is not None
            reviewed = reviewed_annotations(ls_client, review_project)

            def review_sink(tasks: list[dict[str, Any]]) -> int:
                return import_review_tasks(ls_client, review_project, tasks)

        if project_id is not None:
            tasks: TaskSource = _progress(
                read_project_tasks(
                    ls_client,
                    project_id,
                    timeout=opts["timeout"],
                    keep_snapshot=opts["keep_snapshot"],
                )
            )
            source: dict[str, Any] = {
                "kind": "project",
                "project_id": project_id,
                "label_studio_url": settings.label_studio_url,
            }
        else:
            assert from_file is not None
            path = from_file

            def tasks() -> Iterator[dict[str, Any]]:
                return _progress(read_file_tasks(path))

            source = {"kind": "file", "path": str(from_file.resolve())}
        if template_path is not None:  # the version trained on it drafts with it too
            source["template_path"] = str(Path(template_path).resolve())
        evalset, holdout = holdout_for_export(documents_for(settings), project_id)
        manifest = run_export(
            tasks,
            out_dir,
            template,
            counter,
            options,
            source,
            golden_writer,
            review_sink,
            reviewed=reviewed,
            holdout=holdout,
        )
    if project_id is not None:  # pin the new evaluation briefs, remember what was trained on
        note = update_after_export(
            documents_for(settings), project_id, evalset, out_dir, manifest.validation_task_ids
        )
        click.echo(note, err=True)
        click.echo(_refit_confidence(settings, project_id, out_dir, template), err=True)
    _print_summary(manifest, out_dir)


def _refit_confidence(settings: Settings, project_id: int, out_dir: Path, template: Any) -> str:
    """Refit the project's draft confidence score on this export's records (all of them)."""
    from redraft.report.errors import ReportInputError
    from redraft.report.sources import from_export_dir
    from redraft.scoring.calibration import refit

    try:
        records = from_export_dir(out_dir).records
    except ReportInputError as exc:
        return f"confidence score not refitted: {exc}"
    return refit(settings.home, project_id, records, template, datetime.now(UTC).isoformat())


def _resolve(client: Any, ref: str | None) -> int | None:
    """A project id from an id or a title (None stays None)."""
    if ref is None:
        return None
    from redraft.labelstudio.project import resolve_project

    return resolve_project(client, ref)


def _golden_writer(settings: Settings, model: str | None) -> GoldenWriter:
    from redraft.openai_client import openai_client

    return GoldenWriter(openai_client(settings), model or settings.model)


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


def _print_summary(manifest: ExportManifest, out_dir: Path) -> None:
    counts, datasets = manifest.counts, manifest.datasets
    for name in FORMATS:
        entry = datasets[name]
        state = "ready" if entry["ready"] else "NOT ready"
        click.echo(
            f"{name}: {entry['train_rows']:,} train, "
            f"{entry['validation_rows']:,} validation ({state})",
            err=True,
        )
        for problem in [*entry["problems"][:5], *entry.get("warnings", [])]:
            click.echo(f"  {problem}", err=True)
        for why, number in (counts.get("left_out") or {}).get(name, {}).items():
            click.echo(f"  left out {counted(number, 'row')}: {why}", err=True)
    for warning in manifest.split.get("warnings", [])[:5]:
        click.echo(f"split: {warning}", err=True)
    click.echo(manifest.token_counts, err=True)
    estimate = manifest.files["openai_sft.train.jsonl"]["validation"]["estimate"]
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
    if counts.get("golden_review_already_sent"):
        review += f", {counts['golden_review_already_sent']:,} already sent for review (skipped)"
    ready = "ready" if manifest.ready else "NOT ready"
    warnings = len(manifest.warnings) + len(manifest.split.get("warnings", []))
    if warnings:
        ready += f" with {counted(warnings, 'warning')} (see manifest.json)"
    click.echo(
        f"exported {counted(sft, 'SFT row')}, {counted(pairs, 'preference pair')} from "
        f"{counts['tasks_exported']:,} of {counted(counts['tasks_read'], 'task')}"
        f"{golden}{review}; rejected {counted(counts['tasks_rejected'], 'task')} "
        f"({counted(counts['rejects'], 'line')} in rejects.jsonl); {ready}",
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
    help="Dataset format; auto takes it from the first line that matches one.",
)
@click.option(
    "--split",
    type=click.Choice(["auto", "train", "validation"]),
    default="auto",
    show_default=True,
    help="A training file needs at least 10 examples, a validation file does not; auto: "
    "validation when the name ends in .validation.jsonl (as export names them).",
)
@knob_options(ExportOptions, ["cost_model", "epochs", "context_limit"])
def validate(
    file: Path, fmt: str, split: str, cost_model: str | None, epochs: int, context_limit: int
) -> None:
    """Check a JSONL training file: structure, tokens, context limit, size, duplicates, cost.

    Prints one line per problem (FILE:LINE: error: ...) and exits 1 when there is an error.
    The checks are the ones `redraft export` ran when it called the file ready.

    \b
    Example:
      redraft validate exports/nov/openai_sft.train.jsonl --cost-model gpt-4o-mini-2024-07-18
    """
    counter = load_counter()
    if split == "auto":
        split = "validation" if file.name.endswith(".validation.jsonl") else "train"
    report = validate_file(
        file, fmt, counter, context_limit, cost_model, epochs, check_minimum=split == "train"
    )
    for problem in report.problems:
        click.echo(problem.text(str(file)))
    if report.errors + report.warnings > len(report.problems):
        click.echo(f"... {report.errors + report.warnings - len(report.problems):,} more problems")
    mean = report.tokens_total / report.rows if report.rows else 0
    click.echo(
        f"{report.format}: {counted(report.rows, 'example')}, {report.tokens_total:,} billed "
        f"tokens ({mean:,.0f} per example; the longest sequence {report.tokens_max:,}); "
        f"{counter.note}"
    )
    if report.estimated_cost_usd is not None:
        click.echo(
            f"estimated training cost: ${report.estimated_cost_usd:,.2f} for {report.model}, "
            f"{report.epochs} epochs "
            f"({report.billed_tokens * (report.epochs or 1):,} billed tokens)"
            " — an estimate, check current prices"
        )
    click.echo(f"{counted(report.errors, 'error')}, {counted(report.warnings, 'warning')}")
    if not report.ok:
        raise SystemExit(1)
