"""`redraft report`: did the drafts get better? HTML + CSV report per model version."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import click

from redraft.cli.options import from_file_option, project_option
from redraft.errors import TemplateError
from redraft.prompting import PromptTemplate, load_template
from redraft.report.build import build_report, terminal_table, write_report
from redraft.report.html import render_html
from redraft.report.sources import (
    ReportInput,
    from_export_dir,
    from_ls_export_file,
    from_project,
)
from redraft.settings import Settings
from redraft.wording import counted

logger = logging.getLogger(__name__)


def load_input(
    settings: Settings, project: str | None, export: Path | None, from_file: Path | None
) -> ReportInput:
    """Read the one source the user named."""
    sources = {"--project": project, "--export": export, "--from-file": from_file}
    given = [name for name, value in sources.items() if value is not None]
    if len(given) != 1:  # a usage error, as in `redraft export`: click prints it, exit 2
        raise click.UsageError(
            "name exactly one source: --project ID|TITLE, --export DIR or --from-file EXPORT.json"
            + (f" (got {' and '.join(given)})" if given else "")
        )
    template = load_template(settings.template_path)
    if from_file is not None:
        return from_ls_export_file(from_file, template)
    if export is not None:
        return from_export_dir(export)
    assert project is not None
    from redraft.labelstudio.client import session_from_settings
    from redraft.labelstudio.project import resolve_project

    with session_from_settings(settings) as client:
        return from_project(client, resolve_project(client, project), template)


def _learned_rules_template(
    settings: Settings, project_id: int | None = None
) -> PromptTemplate | None:
    """The template whose learned style rules the report checks: the own template of the
    version the project drafts with (`redraft styles apply`), else the settings' template;
    None when it has no such rules."""
    from redraft.training.source import active_template

    try:
        template = load_template(active_template(settings, project_id) or settings.template_path)
    except TemplateError as exc:
        logger.warning("learned style rules not reported: %s", exc)
        return None
    has_rules = any(style.learned for style in template.clients.values())
    return template if has_rules else None


@click.command("report")
@project_option(help="Label Studio project to read (id or title).")
@click.option(
    "--export",
    "export",
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    help="A `redraft export` folder (records.parquet or records.csv).",
)
@from_file_option("A Label Studio JSON export file.")
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder for report.html and CSVs (default REDRAFT_HOME/reports/<time>).",
)
@click.option(
    "--compare",
    nargs=2,
    metavar="A B",
    help="Compare version B against A (default: the two most recent versions).",
)
@click.option("--seed", default=0, show_default=True, help="Seed for bootstrap/permutation.")
@click.pass_obj
def report(
    settings: Settings,
    project_ref: str | None,
    export: Path | None,
    from_file: Path | None,
    output: Path | None,
    compare: tuple[str, str] | None,
    seed: int,
) -> None:
    """Quality per model version: ratings, accepted-as-is, edit distance, over time.

    Writes report.html (self-contained, opens offline) and CSV files, and prints a short
    table with the comparison in plain words.

    \b
    Example:
      redraft report --project 3 -o out/report --compare v2 v3
      redraft report --project "Acme outreach"
      redraft report --from-file export.json
    """
    data = load_input(settings, project_ref, export, from_file)
    now = datetime.now(UTC)
    projects = {r.project_id for r in data.records if r.project_id is not None}
    learned = _learned_rules_template(settings, projects.pop() if len(projects) == 1 else None)
    result = build_report(
        data, now.strftime("%Y-%m-%d %H:%M UTC"), compare or None, seed, learned=learned
    )
    out_dir = output or settings.home / "reports" / now.strftime("%Y%m%d-%H%M%S")
    written = write_report(result, render_html(result), out_dir)
    click.echo(terminal_table(result), nl=False)
    click.echo(
        f"reported {counted(len(data.records), 'annotation')} over "
        f"{counted(len(result.versions), 'version')}; "
        f"wrote {len(written)} files to {out_dir}",
        err=True,
    )
