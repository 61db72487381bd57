"""The I/O side of blind A/B: drafting with both versions, the Label Studio project, the sidecar.

Clients (OpenAI, Label Studio SDK) are passed in or built from settings at the CLI edge.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from redraft.backend.drafting import Drafter
from redraft.backend.versions import ActiveModel
from redraft.labelstudio.client import project_tasks
from redraft.report.ab import AB_LABEL_CONFIG, ABResult, tally
from redraft.report.errors import ABError
from redraft.settings import Settings

logger = logging.getLogger(__name__)


def resolve_model(
    settings: Settings, version: str, model_id: str | None, base_url: str | None
) -> ActiveModel:
    """The endpoint for a version: an explicit model id, else the registry's entry for it."""
    if model_id:
        return ActiveModel(
            version, model_id, base_url or settings.openai_base_url, settings.openai_api_key
        )
    from redraft.training.registry import open_registry, registry_exists
    from redraft.training.source import active_model_for

    found = open_registry(settings).find(version) if registry_exists(settings) else None
    if found is None:
        raise ABError(
            f"version {version!r} is not in the model registry ({settings.registry_path}) — "
            "pass its model id with --model-a/--model-b"
        )
    model = active_model_for(found, settings)
    return ActiveModel(model.name, model.model_id, base_url or model.base_url, model.api_key)


def draft_briefs(
    drafter: Drafter,
    model: ActiveModel,
    briefs: Sequence[Mapping[str, Any]],
    on_done: Callable[[], None] | None = None,
) -> list[str]:
    """One draft per brief from `model`, through the backend's Drafter (its prompt builder,
    cache, concurrency bound and error reasons), in brief order; ABError if any failed."""
    tasks = [{"id": i + 1, "data": dict(brief)} for i, brief in enumerate(briefs)]
    outcomes = drafter.draft_many(tasks, model, on_done=lambda _o: on_done and on_done())
    failed = [(o.task_id, o.error or "no draft") for o in outcomes if o.text is None]
    if failed:
        first_id, why = failed[0]
        raise ABError(
            f"{model.name} could not draft {len(failed)} of {len(briefs)} briefs (brief "
            f"{first_id}: {why}) — check the model endpoint and retry; nothing was created"
        )
    return [o.text or "" for o in outcomes]


def create_project(client: Any, title: str, tasks: list[dict[str, Any]]) -> int:
    """Create the side-by-side project and import its tasks; return the project id."""
    project = client.projects.create(
        title=title,
        label_config=AB_LABEL_CONFIG,
        description="Blind A/B: which draft would you rather send? Order is random.",
        show_skip_button=True,
    )
    client.projects.import_tasks(id=project.id, request=tasks)
    return int(project.id)


def sidecar_path(settings: Settings, project_id: int) -> Path:
    """Where the left/right mapping of an A/B project is kept."""
    return settings.home / "ab" / f"project-{project_id}.json"


def write_sidecar(path: Path, sidecar: Mapping[str, Any]) -> None:
    """Write the mapping file (JSON)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(sidecar, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def read_sidecar(path: Path) -> dict[str, Any]:
    """Read the mapping file, or say how to get it."""
    try:
        sidecar = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise ABError(
            f"no A/B mapping at {path} — `redraft ab create` writes it there; pass --mapping "
            "FILE if it was created elsewhere"
        ) from None
    except (OSError, json.JSONDecodeError) as exc:
        raise ABError(f"cannot read the A/B mapping {path}: {exc}") from None
    if not {"version_a", "version_b", "pairs"} <= set(sidecar):
        raise ABError(f"{path} is not an A/B mapping (needs version_a, version_b, pairs)")
    return sidecar


def analyze_project(client: Any, project_id: int, sidecar: Mapping[str, Any]) -> ABResult:
    """Tally a project's judgments with its mapping."""
    return tally(project_tasks(client, project_id), sidecar)
