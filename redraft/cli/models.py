"""`redraft models`: list, add, promote, roll back and cancel model versions in the registry."""

from __future__ import annotations

import json
from datetime import datetime

import click

from redraft.prompting import load_template
from redraft.settings import Settings
from redraft.training.errors import RegistryError
from redraft.training.registry import ModelVersion, Registry


def _registry(settings: Settings) -> Registry:
    return Registry(settings.registry_path)


def _line(version: ModelVersion) -> str:
    marker = "*" if version.status == "active" else " "
    model = version.model_id or "-"
    where = f" @ {version.base_url}" if version.base_url else ""
    job = f" job {version.job_id}" if version.job_id else ""
    error = f" ({version.error})" if version.error else ""
    created = _to_seconds(version.created_at)
    return (
        f"{marker} {version.name:<10} {version.status:<9} {version.trainer:<6} {model}{where}"
        f"{job} {created}{error}"
    )


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
@click.pass_obj
def list_versions(settings: Settings, as_json: bool) -> None:
    """List every version, oldest first; `*` marks the active one.

    \b
    Example:
      redraft models list --json | jq .name
    """
    versions = _registry(settings).list()
    for version in versions:
        click.echo(json.dumps(version.as_dict(), sort_keys=True) if as_json else _line(version))
    active = next((v.name for v in versions if v.status == "active"), None)
    active = active or f"none (settings model {settings.model})"
    click.echo(f"{len(versions)} version(s); active: {active}", err=True)


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
@click.option("--project", "project_ref", default=None, help="Project whose evaluation set gates.")
@click.option("--force", is_flag=True, help="Promote even when the gate finds NAME clearly worse.")
@click.pass_obj
def promote(
    settings: Settings, name: str, base_url: str | None, project_ref: str | None, force: bool
) -> None:
    """Make NAME the active version; the backend drafts with it from its next request.

    First the evaluation gate (`redraft eval NAME`) drafts the pinned evaluation briefs with
    NAME and with the active version and shows its verdict; a candidate that is clearly
    worse is refused unless --force. A version trained on the local base is served by
    `redraft local serve` and needs no --base-url; any other `train trl` adapter has no
    endpoint until you serve it (pass --base-url, or train with --serve-url).

    \b
    Example:
      redraft models promote v3
      redraft models promote v4 --base-url http://gpu:8000/v1
    """
    from redraft.cli.evaluate import project_id_for
    from redraft.evaluation.run import GateRequest, promotion_gate

    registry = _registry(settings)
    version = registry.find(name)  # None: promote() below says the name is unknown
    if version is not None and base_url:
        version = registry.set_base_url(name, base_url)
    if version is not None and version.trainer == "trl" and not version.base_url:
        raise RegistryError(
            f"cannot promote {name}: it is a LoRA adapter with no endpoint, so the backend would "
            f"send it to {settings.openai_base_url or 'the OpenAI API'} — serve it (vLLM "
            f"--lora-modules {name}=ADAPTER), then `redraft models promote {name} --base-url "
            "http://HOST:8000/v1`"
        )
    if version is not None and version.status != "active":
        request = GateRequest(candidate=name, project_id=project_id_for(settings, project_ref))
        report = lambda line: click.echo(line, err=True)  # noqa: E731
        if not promotion_gate(settings, registry, request, report, force=force):
            raise RegistryError(
                f"not promoted: {name} is clearly worse than the active version on the "
                f"evaluation briefs — keep collecting feedback, or `redraft models promote {name}"
                " --force`"
            )
    before = registry.active()
    version = registry.promote(name)
    click.echo(_line(version))
    retired = f"; retired {before.name}" if before and before.name != name else ""
    click.echo(f"promoted {name} ({version.model_id}){retired}", err=True)


@models.command("rollback")
@click.pass_obj
def rollback(settings: Settings) -> None:
    """Re-activate the version that was active before the current one, retiring the current.

    Rolling back the first version ever promoted leaves none active: drafting falls back to
    the model settings name (REDRAFT_MODEL / REDRAFT_MODEL_VERSION), as before the registry.

    \b
    Example:
      redraft models rollback
    """
    retired, active = _registry(settings).rollback()
    if active is None:
        click.echo(
            f"rolled back: retired {retired.name}; no registry version is active, so drafting "
            f"falls back to the settings model {settings.model!r} "
            f"(version {settings.active_model_version!r})",
            err=True,
        )
        return
    click.echo(_line(active))
    click.echo(f"rolled back: {active.name} is active again; retired {retired.name}", err=True)


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
