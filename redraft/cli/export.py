"""`redraft export` (completed tasks -> datasets) and `redraft validate` (check any JSONL file)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from redraft.cli.export_options import build_request, export_options
from redraft.cli.knobs import knob_options
from redraft.exporters.manifest import ExportManifest
from redraft.exporters.pipeline import ExportOptions
from redraft.exporters.request import ExportRequestError
from redraft.exporters.rows import FORMATS
from redraft.exporters.tokens import load_counter
from redraft.exporters.validation import (
    VALIDATION_FORMATS,
    validate_file,
)
from redraft.loop.export import export_request
from redraft.settings import Settings
from redraft.wording import counted

logger = logging.getLogger(__name__)


@click.command("export")
@export_options
@click.pass_context
def export(ctx: click.Context, **opts: Any) -> None:
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
    try:
        request = build_request(opts)
    except ExportRequestError as exc:
        raise click.UsageError(str(exc)) from None
    settings: Settings = ctx.obj
    settings = settings.with_overrides(
        label_studio_url=opts["url"],
        label_studio_api_key=opts["api_key"],
        openai_base_url=opts["base_url"],
    )
    done = export_request(settings, request, _progress)
    for note in done.notes:  # style notes learned, evaluation set pinned, score refitted
        click.echo(note, err=True)
    _print_summary(done.manifest, done.out_dir)


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
