"""`redraft simulate`: rule-based simulated writers annotate a project's drafts."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from redraft.cli.options import ls_options, ls_session, ls_settings, project_option

logger = logging.getLogger(__name__)


@click.command("simulate")
@ls_options
@project_option
@click.option(
    "--limit", type=click.IntRange(min=1), default=None, help="Annotate at most this many tasks."
)
@click.option(
    "--rules",
    "rules_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Writer rules TOML (default: the five sample writers shipped with redraft).",
)
@click.option("--dry-run", is_flag=True, help="Show what the writers would do; annotate nothing.")
@click.pass_context
def simulate(
    ctx: click.Context,
    url: str | None,
    api_key: str | None,
    project_ref: str | None,
    limit: int | None,
    rules_file: Path | None,
    dry_run: bool,
) -> None:
    """Annotate open drafted tasks with deterministic, rule-based simulated writers.

    Each task's client has a writer (greeting, sign-off, banned phrases, length, call to
    action, ...) that edits the draft into the final email and rates it, ticks issues and
    writes feedback; the result is stored as an annotation, exactly like a person's. Tasks
    whose client has no writer are skipped. Deterministic: the same drafts get the same edits.

    \b
    Example:
      redraft simulate --project "redraft outreach" --limit 20 --dry-run
      redraft simulate --project 3 --rules my_writers.toml
    """
    from tqdm import tqdm

    from redraft.labelstudio.project import resolve_project
    from redraft.simulate.annotate import simulate_project
    from redraft.simulate.rules import load_rules

    rules = load_rules(rules_file)
    settings = ls_settings(ctx, url, api_key)
    with ls_session(settings) as client:
        project_id = resolve_project(client, project_ref)
        bar = tqdm(
            total=0, unit="task", file=sys.stderr, desc="annotating", disable=dry_run or None
        )
        try:
            summary = simulate_project(
                client,
                project_id,
                rules,
                limit=limit,
                dry_run=dry_run,
                on_start=lambda count: bar.reset(total=count),
                on_progress=lambda _verdict: bar.update(1),
            )
        finally:
            bar.close()
    click.echo(summary.line(dry_run=dry_run), err=True)
