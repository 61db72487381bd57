"""`redraft judge`: pre-rate a project's drafts with an LLM judge, stored beside the drafts."""

from __future__ import annotations

import logging
import sys
from typing import Any

import click

from redraft.cli.options import project_option
from redraft.settings import Settings
from redraft.wording import counted

logger = logging.getLogger(__name__)

# Scores are written to Label Studio after every batch, so an interrupted run loses at most one.
WRITE_BATCH = 50
SHOW_FAILURES = 20


@click.command("judge")
@project_option
@click.option("--judge-model", help="Judge model id (default: REDRAFT_MODEL).")
@click.option("--base-url", help="OpenAI-compatible endpoint of the judge (env OPENAI_BASE_URL).")
@click.option(
    "--limit", type=click.IntRange(min=1), help="Judge at most this many drafts this run."
)
@click.option("--dry-run", is_flag=True, help="Count what would be judged; call no model.")
@click.pass_obj
def judge(
    settings: Settings,
    project_ref: str | None,
    judge_model: str | None,
    base_url: str | None,
    limit: int | None,
    dry_run: bool,
) -> None:
    """Score every draft 1-5 against the client's style notes with a judge model.

    Each score is stored in the task's meta, where Label Studio never shows it to a writer
    (a judge prediction would be pre-filled into their form); `redraft report` then shows how
    well the judge agrees with people. Judge predictions stored by earlier versions of redraft
    are moved there and deleted.
    Tasks that already have a score from this judge are skipped, so a re-run continues where
    the last one stopped. A draft the judge fails on is listed and left for the next run.

    \b
    Example:
      redraft judge --project 3 --judge-model gpt-4.1-mini --dry-run
      redraft judge --project "Acme outreach" --judge-model llama3.1:70b \\
        --base-url http://localhost:11434/v1
    """
    from redraft.labelstudio.client import project_tasks, session_from_settings
    from redraft.labelstudio.project import resolve_project
    from redraft.report.judge import judge_version, plan_judging

    judge_model = judge_model or settings.model
    version = judge_version(judge_model)
    with session_from_settings(settings) as client:
        project_id = resolve_project(client, project_ref)
        tasks = list(project_tasks(client, project_id))
        moved = 0 if dry_run else _move_legacy_judgements(client, tasks)
        if moved:
            click.echo(
                f"moved {counted(moved, 'judge prediction')} of an earlier redraft into task meta "
                "(Label Studio pre-filled them into the writers' forms)",
                err=True,
            )
            tasks = list(project_tasks(client, project_id))
        plan = plan_judging(tasks, judge_model)
        items = plan.items if limit is None else plan.items[: max(limit, 0)]
        later = len(plan.items) - len(items)
        extra = _extra(plan.no_draft, later)
        if dry_run:
            calls = counted(len(items), "model call")
            if settings.max_retries and items:
                calls += f", up to {len(items) * (1 + settings.max_retries):,} with retries"
            click.echo(
                f"dry run: would judge {counted(len(items), 'draft')} with {version!r} ({calls}); "
                f"{plan.already:,} already judged{extra}",
                err=True,
            )
            return
        judged, failures = _judge_and_store(
            client, settings, judge_model, base_url, items, plan.metas
        )
    for task_id, reason in failures[:SHOW_FAILURES]:
        click.echo(f"task {task_id}: not judged — {reason}", err=True)
    if len(failures) > SHOW_FAILURES:
        click.echo(f"… and {len(failures) - SHOW_FAILURES:,} more (see the log)", err=True)
    line = (
        f"judged {counted(judged, 'draft')} with {version!r}, skipped {plan.already:,} already "
        f"judged, failed {len(failures):,}{extra}"
    )
    click.echo(line + ("; re-run to retry the failed ones" if failures else ""), err=True)
    if failures:
        sys.exit(1)


def _move_legacy_judgements(client: Any, tasks: list[Any]) -> int:
    """Move judge predictions of an earlier redraft into task meta, then delete them."""
    from redraft.report.judge import legacy_judgements

    moves = legacy_judgements(tasks)
    for task_id, prediction_id, meta in moves:
        client.tasks.update(str(task_id), meta=meta)
        client.predictions.delete(prediction_id)
    return len(moves)


def _extra(no_draft: int, later: int) -> str:
    text = f"; {counted(no_draft, 'task')} without a draft" if no_draft else ""
    return text + (f"; {later:,} left for a later run (--limit)" if later else "")


def _judge_and_store(
    ls_client: Any,
    settings: Settings,
    judge_model: str,
    base_url: str | None,
    items: list[Any],
    metas: dict[int, Any],
) -> tuple[int, list[tuple[int, str]]]:
    """Judge items in batches, storing each batch's scores before the next; return counts."""
    from label_studio_sdk.core.api_error import ApiError
    from tqdm import tqdm

    from redraft.backend.versions import ActiveModel
    from redraft.errors import LabelStudioError
    from redraft.labelstudio.tasks import batches
    from redraft.openai_client import openai_client
    from redraft.prompting import load_template
    from redraft.report.judge import judge_each, judge_version, store_judgements

    template = load_template(settings.template_path)
    endpoint = ActiveModel(
        judge_version(judge_model),
        judge_model,
        base_url or settings.openai_base_url,
        settings.openai_api_key,
    )
    model_client = openai_client(settings, base_url=endpoint.base_url, api_key=endpoint.api_key)
    stored = 0
    failures: list[tuple[int, str]] = []
    try:
        with tqdm(
            total=len(items), desc="judging", unit="draft", file=sys.stderr, disable=None
        ) as bar:
            for batch in batches(items, WRITE_BATCH):
                scores, failed = judge_each(
                    model_client,
                    judge_model,
                    batch,
                    template,
                    max_workers=settings.max_concurrency,
                    on_done=lambda _outcome: bar.update(1),
                )
                failures.extend((f.task_id, f.reason) for f in failed)
                try:
                    stored += store_judgements(ls_client, scores, judge_model, metas)
                except ApiError as exc:
                    raise LabelStudioError(
                        f"Label Studio refused a judge score (HTTP {exc.status_code}); "
                        f"{stored:,} scores of earlier batches are stored — re-run to continue"
                    ) from None
    finally:
        model_client.close()
    return stored, failures
