"""`redraft forget`: erase a recipient on request, everywhere redraft keeps text."""

from __future__ import annotations

from typing import Any

import click

from redraft.settings import Settings


@click.command("forget")
@click.argument("person")
@click.option(
    "--project",
    "project_refs",
    multiple=True,
    help="Only this Label Studio project (id or title; repeatable). Default: every project.",
)
@click.option(
    "--skip-label-studio",
    is_flag=True,
    help="Only the files under REDRAFT_HOME (exports, cache, reports), not Label Studio.",
)
@click.option("--dry-run", is_flag=True, help="Count what would be masked; change nothing.")
@click.pass_obj
def forget(
    settings: Settings,
    person: str,
    project_refs: tuple[str, ...],
    skip_label_studio: bool,
    dry_run: bool,
) -> None:
    """Mask PERSON (an email address or a full name) in Label Studio tasks (data, drafts,
    annotations), export folders (datasets, records, rejects; their manifests re-sealed), the
    draft cache and report files, and list the trained versions whose data included them.

    A full name also masks the first name inside the tasks and rows that name the person
    ("Hi Ada,"), and nowhere else. Model weights cannot be masked: retrain the listed versions
    from a masked export, then retire them.

    \b
    Example:
      redraft forget ada@example.com --dry-run
      redraft forget "Ada Lovelace"
    """
    from redraft.forget import (
        ForgetSummary,
        Needle,
        forget_in_cache,
        forget_in_exports,
        forget_in_reports,
        trained_on,
    )
    from redraft.training.registry import Registry

    needle = Needle.parse(person)
    summary = ForgetSummary()
    if not skip_label_studio:
        settings.require_label_studio_key()
        _forget_in_label_studio(settings, needle, summary, project_refs, dry_run)
    touched = forget_in_exports(settings.exports_dir, needle, summary, dry_run=dry_run)
    forget_in_cache(settings.cache_path, needle, summary, dry_run=dry_run)
    forget_in_reports(settings.home / "reports", needle, summary, dry_run=dry_run)
    if settings.registry_path.is_file():
        summary.versions = trained_on(Registry(settings.registry_path).list(), touched)
    click.echo(summary.line(needle, dry_run), err=True)


def _forget_in_label_studio(
    settings: Settings,
    needle: Any,
    summary: Any,
    project_refs: tuple[str, ...],
    dry_run: bool,
) -> None:
    from redraft.forget import forget_in_tasks
    from redraft.labelstudio.client import project_tasks, session_from_settings
    from redraft.labelstudio.project import resolve_project

    def skip(*_args: Any) -> None:
        return None

    with session_from_settings(settings) as client:
        if project_refs:
            projects = [resolve_project(client, ref) for ref in project_refs]
        else:
            projects = [int(p.id) for p in client.projects.list()]
        for project_id in projects:
            forget_in_tasks(
                project_tasks(client, project_id),
                needle,
                summary,
                update_task=skip if dry_run else lambda i, d: client.tasks.update(str(i), data=d),
                update_prediction=skip
                if dry_run
                else lambda i, r: client.predictions.update(i, result=r),
                update_annotation=skip
                if dry_run
                else lambda i, r: client.annotations.update(i, result=r),
            )
