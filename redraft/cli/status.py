"""`redraft status`: where the loop is (exactly one current stage) and the next step."""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import asdict
from typing import Any

import click

from redraft.cli.options import project_option
from redraft.errors import ProjectNotFoundError, RedraftError
from redraft.labelstudio.client import project_tasks
from redraft.labelstudio.project import parse_project_ref
from redraft.settings import Settings
from redraft.training.facts import gather_facts
from redraft.training.registry import Registry, open_registry
from redraft.training.stages import current_stage, next_step, render
from redraft.urls import shown_url

logger = logging.getLogger(__name__)


def _project_tasks(
    settings: Settings, project: int | str | None
) -> tuple[Any, int | str | None, str | None, bool]:
    """(tasks or None, project id (or the title given, if unresolved), why counts are missing,
    whether Label Studio failed: unreachable or refusing, as opposed to not configured)."""
    if not settings.label_studio_api_key:
        return None, project, f"LABEL_STUDIO_API_KEY is not set — {settings.token_fix()}", False
    from redraft.labelstudio.client import session_from_settings
    from redraft.labelstudio.project import resolve_project

    try:
        with session_from_settings(settings) as client:
            project = resolve_project(client, project)
            return list(project_tasks(client, project)), project, None, False
    except ProjectNotFoundError:
        raise  # a status of another (or no) project would look right and be wrong
    except RedraftError as exc:
        return None, project, str(exc), True
    except Exception as exc:  # SDK/HTTP errors: status still shows the local stages
        logger.debug("Label Studio counts failed", exc_info=True)
        return None, project, f"Label Studio counts unavailable ({type(exc).__name__})", True


@click.command("status")
@project_option
@click.option("--json", "as_json", is_flag=True, help="Print the facts and stage as JSON.")
@click.pass_obj
def status(settings: Settings, project_ref: str | None, as_json: bool) -> None:
    """Show the loop's stages with a marker on the current one, and the next command.

    Exits 1 when Label Studio cannot be reached or refuses (the stages are then shown from
    REDRAFT_HOME alone); without LABEL_STUDIO_API_KEY it notes that the counts are missing.

    \b
    Example:
      redraft status
      redraft status --project 1
      redraft status --project "Acme outreach"
    """
    ref = parse_project_ref(project_ref)
    tasks, ref, missing, unreachable = _project_tasks(settings, ref)
    registry = open_registry(settings)
    facts = gather_facts(
        registry,
        settings.exports_dir,
        threshold=settings.auto_train_threshold,
        tasks=tasks,
        project=ref,
        relearn_at=settings.styles_relearn_edits,
        settings_version=settings.active_model_version,
    )
    stage = current_stage(facts)
    if as_json:
        click.echo(
            json.dumps(
                {"stage": stage.name.lower(), "next": next_step(stage, facts), **asdict(facts)},
                sort_keys=True,
            )
        )
    else:
        for line in render(facts):
            click.echo(line)
    if missing and not unreachable:
        click.echo(f"note: Label Studio counts not shown: {missing}", err=True)
    overridden = endpoint_note(registry, ref if isinstance(ref, int) else None, settings)
    if overridden:
        click.echo(f"note: {overridden}", err=True)
    if unreachable:
        click.echo(f"error: Label Studio counts not shown: {missing}", err=True)
        sys.exit(1)


def endpoint_note(registry: Registry, project_id: int | None, settings: Settings) -> str | None:
    """Say when OPENAI_BASE_URL is set but the drafting version's stored endpoint wins."""
    active = registry.active(project_id)
    env = settings.openai_base_url
    if active is None or not active.base_url or not env or active.base_url == env:
        return None
    return (
        f"{active.name} drafts at its stored endpoint {shown_url(active.base_url)}, not "
        f"OPENAI_BASE_URL ({shown_url(env)}) — `redraft models promote {active.name} "
        "--base-url URL` changes it"
    )
