"""`redraft forget`: erase a recipient on request, everywhere redraft caused their text to be."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from redraft.cli.options import project_option
from redraft.settings import Settings

# Label Studio reads its data directory from this variable; forget reads the same one.
LS_DATA_ENV = "LABEL_STUDIO_BASE_DATA_DIR"
LS_DATABASE = "label_studio.sqlite3"
# Label Studio's own accounts, sessions and settings: never rewritten by forget (a writer who
# is also the person keeps a working login; delete the account in Label Studio instead).
LS_KEEP_TABLES = ("htx_user", "auth", "authtoken", "jwt", "django_", "organization", "users_")


@click.command("forget")
@click.argument("person")
@project_option(
    multiple=True,
    help="Only this Label Studio project (id or title; repeatable). Default: every project.",
)
@click.option(
    "--skip-label-studio",
    is_flag=True,
    help="Only the files under REDRAFT_HOME (exports, cache, reports), not Label Studio.",
)
@click.option(
    "--label-studio-data",
    "ls_data",
    type=click.Path(file_okay=False, path_type=Path),
    envvar=LS_DATA_ENV,
    default=None,
    help=f"Label Studio's data directory, when it is on this machine (${LS_DATA_ENV}): its "
    "export snapshot files and its SQLite database are cleaned too.",
)
@click.option("--dry-run", is_flag=True, help="Count what would be masked; change nothing.")
@click.pass_obj
def forget(
    settings: Settings,
    person: str,
    project_ref: tuple[str, ...],
    skip_label_studio: bool,
    ls_data: Path | None,
    dry_run: bool,
) -> None:
    """Mask PERSON (an email address or a full name) everywhere redraft caused their text to
    be: Label Studio tasks (data, meta with the judge's reasons, drafts, annotations and
    autosaved annotation drafts), Label Studio's export snapshot files (with
    --label-studio-data), and every file under REDRAFT_HOME — export folders (manifests
    re-sealed), the draft cache, reports, templates and styles files — then list the trained
    versions whose data included them and what forget could not reach.

    A full name also masks the first name and surname inside the tasks and rows that name the
    person ("Hi Ada,", "Dear Ms. Lovelace"), and nowhere else. Symlinks are never followed
    and nothing outside REDRAFT_HOME is written. Model weights cannot be masked: retrain the
    listed versions from a masked export, then retire them.

    \b
    Example:
      redraft forget ada@example.com --dry-run
      redraft forget "Ada Lovelace" --label-studio-data ~/.local/share/label-studio
    """
    from redraft.loop.forget import ForgetSummary, Needle, forget_in_home, trained_on
    from redraft.training.registry import open_registry, registry_exists

    needle = Needle.parse(person)
    summary = ForgetSummary()
    data_dir = ls_data or _data_dir_in_home(settings.home)
    if not skip_label_studio:
        settings.require_label_studio_key()
        _forget_in_label_studio(settings, needle, summary, project_ref, dry_run)
        if data_dir is None and not dry_run:
            _note_unreachable(settings, summary)
    if data_dir is not None:
        _forget_in_ls_data(data_dir, needle, summary, dry_run=dry_run)
    touched = forget_in_home(
        settings.home,
        needle,
        summary,
        cache_path=settings.cache_path,
        dry_run=dry_run,
        skip=[data_dir] if data_dir is not None else [],
    )
    if registry_exists(settings):
        versions = open_registry(settings).list()
        summary.versions = trained_on(versions, touched, settings.home, settings.exports_dir)
    for note in summary.notes():
        click.echo(note, err=True)
    click.echo(summary.line(needle, dry_run), err=True)


def _data_dir_in_home(home: Path) -> Path | None:
    """The demo's Label Studio keeps its data under REDRAFT_HOME (`redraft demo`)."""
    for candidate in (home / "labelstudio", home / "demo" / "labelstudio"):
        if (candidate / LS_DATABASE).is_file():
            return candidate
    return None


def _forget_in_label_studio(
    settings: Settings,
    needle: Any,
    summary: Any,
    project_ref: tuple[str, ...],
    dry_run: bool,
) -> None:
    from redraft.labelstudio.client import project_tasks, session_from_settings
    from redraft.labelstudio.project import resolve_project
    from redraft.loop.forget import forget_in_tasks
    from redraft.loop.forgetting import SdkTaskStore

    with session_from_settings(settings) as client:
        if project_ref:
            projects = [resolve_project(client, ref) for ref in project_ref]
        else:
            projects = [int(p.id) for p in client.projects.list()]
        store = SdkTaskStore(client, dry_run=dry_run)
        for project_id in projects:
            forget_in_tasks(project_tasks(client, project_id), needle, summary, store)


def _forget_in_ls_data(data_dir: Path, needle: Any, summary: Any, *, dry_run: bool) -> None:
    """Label Studio's export files, and its SQLite database: rows the API cannot reach, and
    the free pages where edited rows' old text stays until the file is rebuilt."""
    from redraft.loop.forget import forget_in_label_studio_files
    from redraft.loop.forgetfiles import contains_bytes, mask_sqlite
    from redraft.loop.forgetting import data_dir_note

    problem = data_dir_note(data_dir)
    if problem is not None:
        raise click.ClickException(f"{problem} — pass Label Studio's data directory")
    forget_in_label_studio_files(data_dir, needle, summary, dry_run=dry_run)
    database = data_dir / LS_DATABASE
    if database.is_file() and not database.is_symlink():
        ids = frozenset(summary.task_ids)
        related = {t: ("task_id", ids) for t in ("task_completion", "tasks_annotationdraft")}
        mask_sqlite(database, needle, dry_run=dry_run, keep=LS_KEEP_TABLES, related=related)
        if not dry_run and any(
            contains_bytes(Path(f"{database}{s}"), needle) for s in ("", "-wal")
        ):
            summary.remains.append(
                f"{database} still holds them (Label Studio was writing): run forget again"
            )


def _note_unreachable(settings: Settings, summary: Any) -> None:
    from redraft.exporters.manifest import export_folders
    from redraft.loop.forgetting import export_files_note
    from redraft.urls import shown_url

    exported = sorted(
        {m.project_id for m, _ in export_folders(settings.exports_dir) if m.project_id}
    )
    summary.remains.append(export_files_note(shown_url(settings.label_studio_url), exported))
    if summary.draft_copies:
        ids = ", ".join(str(i) for i in summary.draft_copies)
        summary.remains.append(
            f"Label Studio keeps a copy of the draft each annotation started from, which its API "
            f"neither shows nor changes: annotations {ids} — run forget with "
            "--label-studio-data on its machine, or in its database: UPDATE task_completion SET "
            f"prediction = '{{}}' WHERE id IN ({ids})"
        )
    summary.remains.append(
        "Label Studio's database keeps edited rows' old text in free space until it is "
        "vacuumed: run VACUUM on its database (SQLite: label_studio.sqlite3 in its data "
        "directory; PostgreSQL: VACUUM FULL), or pass --label-studio-data DIR here"
    )
