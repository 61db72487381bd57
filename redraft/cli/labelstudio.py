"""Label Studio commands: `redraft init`, `redraft import`, `redraft prefill`, `redraft demo`."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import click

from redraft.cli.options import ls_options, ls_session, ls_settings, project_option
from redraft.labelstudio.tasks import IMPORTED_MODEL_VERSION
from redraft.loop.backend import model_source_for
from redraft.settings import Settings
from redraft.urls import shown_url

logger = logging.getLogger(__name__)

DEFAULT_TITLE = "redraft outreach"


@click.command("init")
@ls_options
@click.option("--title", default=DEFAULT_TITLE, show_default=True, help="Project title.")
@click.option(
    "--backend-url",
    default=None,
    help="ML backend URL as Label Studio reaches it (default http://REDRAFT_HOST:REDRAFT_PORT).",
)
@click.option("--no-backend", is_flag=True, help="Do not connect an ML backend.")
@click.option(
    "--overlap",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Writers per brief: each task is annotated by N different writers (Label Studio's "
    "maximum annotations). Kept when init runs again without it; a new project gets 1.",
)
@click.option(
    "--overlap-share",
    type=click.IntRange(1, 100),
    default=None,
    metavar="PERCENT",
    help="With --overlap: the share of tasks that get N writers; the others get one "
    "[default: 100].",
)
@click.option(
    "--queue",
    type=click.Choice(["import-order", "least-certain", "most-certain"]),
    default=None,
    help="The order writers get tasks in, by the drafts' confidence score: least-certain "
    "(Label Studio's uncertainty sampling: the drafts the model is least sure of first), "
    "most-certain (a quick-approval lane: a Data Manager tab ordered by score, labelled as "
    "displayed), or import-order. Kept when init runs again without it; a new project: "
    "import-order. A score order drafts ahead with `redraft prefill`.",
)
@click.option("--dry-run", is_flag=True, help="Show what would change; change nothing.")
@click.pass_context
def init(
    ctx: click.Context,
    url: str | None,
    api_key: str | None,
    title: str,
    backend_url: str | None,
    no_backend: bool,
    overlap: int | None,
    overlap_share: int | None,
    queue: str | None,
    dry_run: bool,
) -> None:
    """Create or update the Label Studio project and connect the ML backend.

    Idempotent: a second run changes nothing. Basic auth for the backend comes from
    REDRAFT_BASIC_AUTH_USER / REDRAFT_BASIC_AUTH_PASSWORD. With a backend, init also adds a
    webhook that sends annotation events with the backend's secret (REDRAFT_WEBHOOK_SECRET, or
    the one generated in REDRAFT_HOME), which auto mode needs.

    \b
    Example:
      redraft init --title "Acme outreach" --backend-url http://127.0.0.1:9090
      redraft init --title "Acme outreach" --overlap 2 --overlap-share 20
      redraft init --title "Acme outreach" --queue least-certain
    """
    from redraft.label_config import read_label_config
    from redraft.labelstudio.project import Overlap, ProjectSpec, init_project
    from redraft.labelstudio.taskorder import sync_queue_tab
    from redraft.labelstudio.webhooks import sync_webhook, webhook_spec

    settings = ls_settings(ctx, url, api_key)
    if overlap_share is not None and overlap is None:
        raise click.UsageError(
            "--overlap-share needs --overlap N: how many writers that share of tasks gets"
        )
    if not no_backend and backend_url is None:
        backend_url = f"http://{settings.host}:{settings.port}"
    spec = ProjectSpec(
        title=title,
        label_config=read_label_config(),
        model_version=model_source_for(settings).active().name,
        backend_url=None if no_backend else backend_url,
        basic_auth_user=settings.basic_auth_user,
        basic_auth_password=settings.basic_auth_password,
        overlap=None if overlap is None else Overlap(overlap, overlap_share or 100),
        queue=queue,
    )
    with ls_session(settings) as client:
        plan = init_project(client, spec, dry_run=dry_run)
        lines = plan.describe(spec)
        lines += sync_queue_tab(client, plan.project_id, queue, dry_run=dry_run)
        if spec.backend_url is not None:
            hook = webhook_spec(settings, spec.backend_url)
            lines += sync_webhook(client, plan.project_id, hook, dry_run=dry_run)
    prefix = "would " if dry_run else ""
    for line in lines:
        click.echo(f"{prefix}{line}", err=True)
    if dry_run:
        click.echo("dry run: nothing changed", err=True)
    else:
        where = shown_url(settings.label_studio_url)
        click.echo(f"project {plan.project_id}: {title!r} at {where}", err=True)
        click.echo(plan.project_id)


@click.command("import")
@ls_options
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@project_option
@click.option("--map", "mapping", multiple=True, metavar="COLUMN=FIELD", help="Rename a column.")
@click.option("--skip-invalid", is_flag=True, help="Import the valid rows, skip the others.")
@click.option(
    "--with-feedback",
    is_flag=True,
    help="Rows carry draft and final (the email sent), and optionally rating, issues, "
    "feedback: import them as completed tasks.",
)
@click.option(
    "--model-version",
    default=IMPORTED_MODEL_VERSION,
    show_default=True,
    help="model_version of the imported drafts (--with-feedback).",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Validate only (the file, then against the project's tasks); import nothing.",
)
@click.pass_context
def import_briefs(
    ctx: click.Context,
    url: str | None,
    api_key: str | None,
    file: Path,
    project_ref: str | None,
    mapping: tuple[str, ...],
    skip_invalid: bool,
    with_feedback: bool,
    model_version: str,
    dry_run: bool,
) -> None:
    """Import briefs from a CSV, JSONL or JSON file as Label Studio tasks.

    Every row is checked first (non-empty brief, unique external_id in the file and in the
    project, text a server can store, at any depth); on any bad row nothing is imported unless
    --skip-invalid. An import lands whole: a failure rolls back what it sent, and an
    interrupted one is recorded so the same command finishes it without duplicates.

    \b
    Example:
      redraft import briefs.csv --project "Acme outreach" --map "Notes=brief" --map ID=external_id
      redraft import history.jsonl --with-feedback --model-version ft-2025-03
    """
    from redraft.labelstudio.briefs import parse_mapping
    from redraft.labelstudio.importer import (
        ImportProgress,
        check_file,
        read_file,
        resume_progress,
    )
    from redraft.labelstudio.project import resolve_project
    from redraft.training.registry import shared_documents

    settings = ls_settings(ctx, url, api_key)
    columns = parse_mapping(mapping)
    records = read_file(file)  # a missing or unreadable file fails before Label Studio is asked
    with ls_session(settings) as client:
        project_id = resolve_project(client, project_ref)
        parsed = check_file(
            client, project_id, file, columns, with_feedback=with_feedback, records=records
        )
        progress = ImportProgress.for_file(
            settings.home / "imports", project_id, file, columns, shared_documents(settings)
        )
        if progress.rows or progress.pending:
            parsed = resume_progress(client, project_id, progress, parsed)
            click.echo(
                f"resuming an interrupted import: {len(progress.rows):,} rows of {file} are "
                f"already in project {project_id}",
                err=True,
            )
        _import(client, project_id, parsed, file, skip_invalid, model_version, dry_run, progress)


def _import(
    client: Any,
    project_id: int,
    parsed: Any,
    file: Path,
    skip_invalid: bool,
    model_version: str,
    dry_run: bool,
    progress: Any = None,
) -> None:
    from redraft.labelstudio.importer import format_errors, import_briefs

    if dry_run:
        if parsed.errors:
            click.echo(format_errors(parsed.errors, file), err=True)
        click.echo(
            f"dry run: {len(parsed.rows):,} valid rows, {len(parsed.errors):,} invalid; "
            "nothing imported",
            err=True,
        )
        if parsed.errors:
            sys.exit(1)
        return
    for error in parsed.errors if skip_invalid else []:
        click.echo(f"skipped {error}", err=True)
    try:
        summary = import_briefs(
            client,
            project_id,
            parsed,
            path=file,
            skip_invalid=skip_invalid,
            model_version=model_version,
            progress=progress,
        )
    except KeyboardInterrupt:
        click.echo(
            "interrupted: the rows imported so far are recorded — run the same command again "
            "to import the rest, without duplicates",
            err=True,
        )
        sys.exit(130)
    click.echo(summary.line(project_id), err=True)


@click.command("prefill")
@ls_options
@project_option
@click.option(
    "--limit", type=click.IntRange(min=1), default=None, help="Draft at most this many tasks."
)
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=None,
    help="Parallel drafts (env REDRAFT_MAX_CONCURRENCY, default 16).",
)
@click.option("--dry-run", is_flag=True, help="Count the tasks that would be drafted; draft none.")
@click.pass_context
def prefill(
    ctx: click.Context,
    url: str | None,
    api_key: str | None,
    project_ref: str | None,
    limit: int | None,
    concurrency: int | None,
    dry_run: bool,
) -> None:
    """Draft every task that has no prediction from the active model version.

    Drafts go through the backend's prompt builder and cache, concurrently, and are written
    to Label Studio in batches as they finish. Safe to interrupt and re-run.

    \b
    Example:
      redraft prefill --project "Acme outreach" --concurrency 32
    """
    settings = ls_settings(ctx, url, api_key).with_overrides(max_concurrency=concurrency)
    with ls_session(settings) as client:
        _prefill(client, settings, project_ref, limit, dry_run)


def _prefill(
    client: Any, settings: Settings, project_ref: str | None, limit: int | None, dry_run: bool
) -> None:
    from tqdm import tqdm

    from redraft.backend.drafting import Drafter
    from redraft.labelstudio.client import project_tasks
    from redraft.labelstudio.prefill import prefill as run_prefill
    from redraft.labelstudio.prefill import tasks_missing
    from redraft.labelstudio.project import resolve_project

    project_id = resolve_project(client, project_ref)
    active = model_source_for(settings).active(project_id)
    if dry_run:
        tasks = list(project_tasks(client, project_id))
        missing = len(tasks_missing(tasks, active.name))
        click.echo(
            f"dry run: {missing:,} of {len(tasks):,} tasks lack a {active.name!r} draft", err=True
        )
        return
    drafter = Drafter.from_settings(settings)
    bar = tqdm(total=0, unit="task", file=sys.stderr, desc="drafting", disable=None)
    try:

        def start(count: int) -> None:
            bar.reset(total=count)

        summary = run_prefill(
            client,
            project_id,
            drafter,
            active,
            limit=limit,
            on_start=start,
            on_progress=lambda _outcome: bar.update(1),
        )
    finally:
        bar.close()
        drafter.close()
    for task_id, reason in summary.failures[:20]:
        click.echo(f"task {task_id}: {reason}", err=True)
    if summary.shown_before is not None:
        was = f" (was {summary.shown_before!r})" if summary.shown_before else ""
        click.echo(f"project {project_id} now shows {active.name!r} drafts{was}", err=True)
    click.echo(summary.line(), err=True)
    if summary.failures:
        sys.exit(1)


@click.command("demo")
@click.option("--port", type=int, default=8080, show_default=True, help="Label Studio port.")
@click.option("--backend-port", type=int, default=9090, show_default=True, help="Backend port.")
@click.option(
    "--drafts-from",
    "model_kind",
    type=click.Choice(["local", "standin"]),
    default="local",
    show_default=True,
    help="With no OPENAI_API_KEY / OPENAI_BASE_URL: the local open model, or the canned stand-in.",
)
@click.option(
    "--annotate",
    type=click.IntRange(0),
    default=0,
    help="Let simulated writers annotate N drafted tasks (for trying export and train).",
)
@click.option(
    "--reset",
    "--fresh",
    "reset",
    is_flag=True,
    help="Start over: remove the demo's Label Studio data, registry, draft cache and exports "
    "(REDRAFT_HOME/demo) first. Your own projects and the local model files are not touched.",
)
@click.pass_context
def demo(
    ctx: click.Context, port: int, backend_port: int, model_kind: str, annotate: int, reset: bool
) -> None:
    """Run everything locally: Label Studio, the ML backend and, with no OpenAI settings, the
    local open model (SmolLM2-135M-Instruct served by `redraft local serve`).

    Creates a project with sample briefs from three fictional clients, drafts them, and
    prints the URL and login. Everything it keeps lives in REDRAFT_HOME/demo, apart from your
    own projects' registry and exports. Ctrl-C stops everything it started.

    \b
    Example:
      ./dev demo                       # or: redraft demo --port 8080
      ./dev demo --annotate 12         # simulated writers annotate 12 drafts
      ./dev demo --reset               # start over
    """
    from redraft.loop.demo import run_demo

    run_demo(
        ctx.obj,
        ls_port=port,
        backend_port=backend_port,
        reset=reset,
        model_kind=model_kind,
        annotate=annotate,
    )
