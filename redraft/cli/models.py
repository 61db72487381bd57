"""`redraft models`: list, add, promote, roll back and cancel model versions in the registry."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import click

from redraft.cli.options import project_option
from redraft.prompting import load_template
from redraft.settings import Settings
from redraft.training.errors import RegistryError
from redraft.training.registry import ModelVersion, Registry, open_registry
from redraft.urls import shown_url
from redraft.wording import counted


def _registry(settings: Settings) -> Registry:
    return open_registry(settings)


def _where_active(version: ModelVersion, drafts_in: list[int] | None = None) -> dict[str, Any]:
    """What both listings say about a version: `status` is `active` wherever it drafts (by
    default or for projects of its own), `default_active` whether projects without a version
    of their own draft with it, `active_in_projects` the projects it is the own version of;
    `base_url` with any credentials in it hidden.

    >>> v = ModelVersion(name="v2", model_id="m", status="retired", base_url="http://u:p@gpu/v1")
    >>> _where_active(v, [5])
    {'status': 'active', 'default_active': False, 'active_in_projects': [5], \
'base_url': 'http://***@gpu/v1'}
    """
    return {
        "status": "active" if drafts_in else version.status,
        "default_active": version.status == "active",
        "active_in_projects": list(drafts_in or []),
        "base_url": shown_url(version.base_url) if version.base_url else None,
    }


def _line(version: ModelVersion, drafts_in: list[int] | None = None) -> str:
    """One version per line; `*` marks the default active one, `+` one that drafts only for
    projects of its own (listed at the end)."""
    shown = _where_active(version, drafts_in)
    marker = "*" if shown["default_active"] else "+" if drafts_in else " "
    status = shown["status"]
    model = version.model_id or "-"
    where = f" @ {shown['base_url']}" if shown["base_url"] else ""
    job = f" job {version.job_id}" if version.job_id else ""
    error = f" ({version.error})" if version.error else ""
    created = _to_seconds(version.created_at)
    trained = f" trained for {_projects(version.projects)}" if version.projects else ""
    active_in = f"; active in {_projects(drafts_in)}" if drafts_in else ""
    return (
        f"{marker} {version.name:<10} {status:<9} {version.trainer:<6} {model}{where}"
        f"{job} {created}{error}{trained}{active_in}"
    )


def _projects(ids: list[int] | tuple[int, ...]) -> str:
    """`project 3`, `projects 3, 5`."""
    return ("project " if len(ids) == 1 else "projects ") + ", ".join(str(i) for i in ids)


def _drafts_in(registry: Registry) -> dict[str, list[int]]:
    """{version name: the projects it drafts for as their own version}."""
    found: dict[str, list[int]] = {}
    for project, name in sorted(registry.project_actives().items()):
        found.setdefault(name, []).append(project)
    return found


def _to_seconds(stamp: str | None) -> str | None:
    """An ISO time shown to the second (the registry stores microseconds).

    >>> _to_seconds("2026-11-22T18:43:10.123456+00:00")
    '2026-11-22T18:43:10+00:00'
    """
    if not stamp:
        return stamp
    try:
        return datetime.fromisoformat(stamp).isoformat(timespec="seconds")
    except ValueError:
        return stamp


@click.group("models")
def models() -> None:
    """The model registry: which version drafts, and which are waiting for review.

    \b
    Example:
      redraft models list
      redraft models promote v3
      redraft models rollback
    """


@models.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per version.")
@project_option(help="Also say which version this project (id or title) drafts with.")
@click.pass_obj
def list_versions(settings: Settings, as_json: bool, project_ref: str | None) -> None:
    """List every version, oldest first; `*` marks the default active one (projects without
    a version of their own draft with it), `+` a version active in projects of its own.

    \b
    Example:
      redraft models list --json | jq .name
    """
    registry = _registry(settings)
    versions = registry.list()
    drafts_in = _drafts_in(registry)
    for version in versions:
        if as_json:
            row = version.as_dict() | _where_active(version, drafts_in.get(version.name))
            click.echo(json.dumps(row, sort_keys=True))
        else:
            click.echo(_line(version, drafts_in.get(version.name)))
    active = next((v.name for v in versions if v.status == "active"), None)
    active = active or f"none (settings model {settings.model})"
    own = "".join(f"; project {p}: {n}" for p, n in sorted(registry.project_actives().items()))
    click.echo(f"{counted(len(versions), 'version')}; default active: {active}{own}", err=True)
    if project_ref is not None:
        from redraft.cli.options import project_id_for

        project_id = project_id_for(settings, project_ref)
        drafting = registry.active(project_id)
        name = drafting.name if drafting else f"the settings model {settings.model!r}"
        click.echo(f"project {project_id} drafts with {name}", err=True)


@models.command("add")
@click.argument("name")
@click.option("--model-id", required=True, help="The model id the endpoint serves.")
@click.option("--base-url", default=None, help="OpenAI-compatible endpoint (default: settings).")
@click.option("--base-model", default=None, help="What it was trained from, for the record.")
@click.option("--promote", is_flag=True, help="Make it the active version right away.")
@click.pass_obj
def add(
    settings: Settings,
    name: str,
    model_id: str,
    base_url: str | None,
    base_model: str | None,
    promote: bool,
) -> None:
    """Register a model served elsewhere (for example a vLLM or Ollama model) as a candidate.

    \b
    Example:
      redraft models add qwen-lora-1 --model-id qwen-lora-1 --base-url http://gpu:8000/v1
    """
    registry = _registry(settings)
    version = registry.add(
        ModelVersion(
            name=name,
            model_id=model_id,
            base_url=base_url,
            base_model=base_model,
            trainer="manual",
            template_sha256=load_template(settings.template_path).sha256,
            status="candidate",
        )
    )
    if promote:
        version = registry.promote(name)
    click.echo(_line(version))
    click.echo(f"added {name} as {version.status}", err=True)


@models.command("promote")
@click.argument("name")
@click.option(
    "--base-url",
    default=None,
    help="Store the OpenAI-compatible endpoint that serves NAME (e.g. a vLLM server) first.",
)
@project_option(
    help="Make NAME the active version of this project (id or title); its evaluation set "
    "gates. Default: the project NAME was trained for, else every project without its own."
)
@click.option(
    "--force",
    is_flag=True,
    help="Promote even when the evaluation gate refuses NAME (or cannot judge it), or into a "
    "project NAME was not trained for.",
)
@click.pass_obj
def promote(
    settings: Settings, name: str, base_url: str | None, project_ref: str | None, force: bool
) -> None:
    """Make NAME the active version of a project; the backend drafts with it from its next
    request for that project. Versions belong to projects: one trained on a project's
    annotations goes to that project, and other projects keep their versions.

    First the evaluation gate (`redraft eval NAME`) drafts the pinned evaluation briefs with
    NAME and with the active version and shows its verdict. It refuses, unless --force, a
    candidate with empty, cut-off or off-brief drafts, one it cannot judge (no evaluation set, a
    damaged one, or too few briefs: see `redraft evalset`), and one that is clearly worse.
    A version trained on the local base is served by `redraft local serve` and needs no
    --base-url; any other `train trl` adapter has no endpoint until you serve it (pass
    --base-url, or train with --serve-url).

    \b
    Example:
      redraft models promote v3
      redraft models promote v3 --project "Acme outreach"
      redraft models promote v4 --base-url http://gpu:8000/v1
    """
    from redraft.cli.options import project_id_for
    from redraft.evaluation.run import GateRequest, promotion_gate

    registry = _registry(settings)
    version = registry.find(name)  # None: promote() below says the name is unknown
    project_id = project_id_for(settings, project_ref)
    if version is not None and project_id is None and len(version.projects) == 1:
        project_id = version.projects[0]
    if (
        version is not None
        and project_id is not None
        and version.projects
        and project_id not in version.projects
        and not force
    ):
        raise RegistryError(
            f"{name} was trained for {_projects(version.projects)}, not project {project_id} — "
            f"its drafts learned another project's writers; pass --force to promote it there "
            "anyway"
        )
    if version is not None and base_url:
        version = registry.set_base_url(name, base_url)
    if version is not None and version.trainer == "trl" and not version.base_url:
        raise RegistryError(
            f"cannot promote {name}: it is a LoRA adapter with no endpoint, so the backend would "
            f"send it to {shown_url(settings.openai_base_url or '') or 'the OpenAI API'} — "
            "serve it (vLLM "
            f"--lora-modules {name}=ADAPTER), then `redraft models promote {name} --base-url "
            "http://HOST:8000/v1`"
        )
    before = registry.active(project_id)
    if version is not None and (before is None or before.name != name):
        request = GateRequest(candidate=name, project_id=project_id)
        report = lambda line: click.echo(line, err=True)  # noqa: E731
        promotion_gate(settings, registry, request, report, force=force)  # GateRefused: error
    version = registry.promote(name, project_id)
    click.echo(_line(version, _drafts_in(registry).get(name)))
    replaced = f"; replaced {before.name}" if before and before.name != name else ""
    where = f" for project {project_id}" if project_id is not None else " as the default version"
    click.echo(f"promoted {name} ({version.model_id}){where}{replaced}", err=True)


@models.command("rollback")
@project_option(
    help="Roll back this project's own version (id or title); default: the default version."
)
@click.pass_obj
def rollback(settings: Settings, project_ref: str | None) -> None:
    """Re-activate the version that was active before the current one, retiring the current.

    Rolling back the first version ever promoted leaves none active: drafting falls back to
    the model settings name (REDRAFT_MODEL / REDRAFT_MODEL_VERSION), as before the registry.
    With --project, the project's previous version of its own comes back, else the default
    one; a project without a version of its own is refused, since the default it drafts with
    is every such project's.

    \b
    Example:
      redraft models rollback
      redraft models rollback --project 3
    """
    from redraft.cli.options import project_id_for

    project_id = project_id_for(settings, project_ref)
    registry = _registry(settings)
    retired, active = registry.rollback(project_id)
    if project_id is not None:
        now = (
            f"{active.name} ({active.model_id})"
            if active is not None
            else f"the settings model {settings.model!r} (version "
            f"{settings.active_model_version!r})"
        )
        click.echo(
            f"rolled back project {project_id}: {retired.name} no longer drafts there; it drafts "
            f"with {now} — run `redraft prefill --project {project_id}`",
            err=True,
        )
        return
    if active is None:
        click.echo(
            f"rolled back: retired {retired.name}; no registry version is active, so drafting "
            f"falls back to the settings model {settings.model!r} "
            f"(version {settings.active_model_version!r})",
            err=True,
        )
        return
    click.echo(_line(active))
    click.echo(f"rolled back: {active.name} drafts again; retired {retired.name}", err=True)


@models.command("cancel")
@click.argument("name")
@click.pass_obj
def cancel(settings: Settings, name: str) -> None:
    """Cancel a version that is still training (cancels its OpenAI job) and mark it failed.

    \b
    Example:
      redraft models cancel v4
    """
    registry = _registry(settings)
    version = registry.get(name)
    if version.status != "training":
        raise RegistryError(f"{name} is {version.status}, not training — nothing to cancel")
    if version.trainer == "openai" and version.job_id:
        from redraft.openai_client import openai_client

        client = openai_client(settings)
        job = client.fine_tuning.jobs.retrieve(version.job_id)
        if job.status not in ("succeeded", "failed", "cancelled"):
            client.fine_tuning.jobs.cancel(version.job_id)
    registry.update(name, status="failed", error="cancelled by the operator")
    click.echo(f"cancelled {name}", err=True)


@models.command("restore")
@click.pass_obj
def restore(settings: Settings) -> None:
    """Put back the registry's last good copy (REGISTRY.bak, written after every change).

    For a registry that is damaged or was emptied; the file it replaces is kept beside it as
    REGISTRY.damaged.

    \b
    Example:
      redraft models restore && redraft models list
    """
    if settings.database_url:
        raise RegistryError(
            f"the registry is in PostgreSQL ({shown_url(settings.database_url)}), which keeps no "
            "REGISTRY.bak — restore the database from your pg_dump with pg_restore "
            "(docs/deploy.md, Backup and restore)"
        )
    aside = Registry.restore(settings.registry_path)
    registry = _registry(settings)
    active = registry.active()
    count = len(registry.list())
    click.echo(
        f"restored {settings.registry_path} from its backup: {count} "
        f"version{'' if count == 1 else 's'}, "
        f"active {active.name if active else 'none'}; the replaced file is {aside}",
        err=True,
    )


@models.command("migrate")
@click.option(
    "--to",
    "url",
    required=True,
    envvar="REDRAFT_DATABASE_URL",
    help="The empty PostgreSQL database to move into (default: REDRAFT_DATABASE_URL).",
)
@click.pass_obj
def migrate(settings: Settings, url: str) -> None:
    """Move this home's SQLite registry, evaluation sets and import records into PostgreSQL.

    Every version, each project's active version, the activation stacks (rollback works the
    same afterwards) and the files under REDRAFT_HOME/evalsets and imports are copied in one
    transaction into a database that holds no versions yet; the SQLite file stays as it was.
    Then set REDRAFT_DATABASE_URL to the same URL on every host.

    \b
    Example:
      redraft models migrate --to postgresql://redraft:PASSWORD@db.internal/redraft
    """
    from redraft.documents import FileDocuments
    from redraft.training.pgstore import DatabaseDocuments
    from redraft.training.registry import PostgresRegistry
    from redraft.training.transfer import migrate as move

    if not settings.registry_path.is_file():
        raise RegistryError(
            f"no SQLite registry at {settings.registry_path} to migrate — set REDRAFT_HOME to "
            "the home that holds it"
        )
    shared = settings.with_overrides(database_url=url)  # checks the URL's form
    target = PostgresRegistry(str(shared.database_url))
    moved = move(
        Registry(settings.registry_path),
        FileDocuments(settings.home),
        target,
        DatabaseDocuments(target),
    )
    click.echo(moved.line(target.shown), err=True)


@models.command("show")
@click.argument("name")
@click.pass_obj
def show(settings: Settings, name: str) -> None:
    """Where NAME is served (endpoint, model id) and where its files are, with the commands that
    serve it on another host: the local server (LoRA copied or on a shared path) or vLLM
    (runtime LoRA loading by name).

    \b
    Example:
      redraft models show v3
    """
    from redraft.training.handoff import handoff

    for line in handoff(_registry(settings).get(name)):
        click.echo(line)
