"""Gathering LoopFacts for `redraft status`: Label Studio counts, the registry, the exports."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from redraft.exporters.manifest import ExportManifest, latest_export
from redraft.training.registry import Registry
from redraft.training.stages import LoopFacts

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TaskCounts:
    """Label Studio counts for one project."""

    tasks: int
    drafted: int
    annotated_since: int


def _parse(stamp: str) -> datetime:
    parsed = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _after(stamp: Any, since: str | None) -> bool:
    if since is None:
        return True
    if not isinstance(stamp, str):
        return False
    try:
        return _parse(stamp) > _parse(since)
    except ValueError:
        return False


def count_tasks(tasks: Iterable[Mapping[str, Any]], since: str | None) -> TaskCounts:
    """Count tasks, drafted tasks, and completed annotations made after `since` (ISO time).

    >>> done = {"total_predictions": 1, "annotations": [{"created_at": "2026-01-02T00:00:00Z"}]}
    >>> count_tasks([done, {"total_predictions": 0}], "2026-01-01T00:00:00+00:00")
    TaskCounts(tasks=2, drafted=1, annotated_since=1)
    """
    total = drafted = annotated = 0
    for task in tasks:
        total += 1
        if (task.get("total_predictions") or 0) > 0 or task.get("predictions"):
            drafted += 1
        for annotation in task.get("annotations") or []:
            if not annotation.get("was_cancelled") and _after(annotation.get("created_at"), since):
                annotated += 1
    return TaskCounts(total, drafted, annotated)


def open_without(tasks: Iterable[Mapping[str, Any]], model_version: str) -> int:
    """Open tasks (not finished) with no draft from `model_version`: what `prefill` drafts.

    >>> open_without([{"predictions": [{"model_version": "v1"}]}, {"predictions": []},
    ...               {"is_labeled": True, "predictions": []}], "v1")
    1
    """
    return sum(
        1
        for task in tasks
        if not task.get("is_labeled")
        and all(p.get("model_version") != model_version for p in task.get("predictions") or [])
    )


def export_facts(
    exports_dir: Path, registry: Registry, since: str | None, project_id: int | None = None
) -> tuple[str | None, bool]:
    """(latest export folder of the project, whether it is newer than the last training and
    untrained)."""
    folder = latest_export(exports_dir, project_id)
    if folder is None:
        return None, False
    manifest = ExportManifest.load(folder)
    used = any(
        v.manifest_sha256 == manifest.sha256 and v.status != "failed" for v in registry.list()
    )
    newer = _after(manifest.created_at, since)
    return str(folder), (not used and newer)


def gather_facts(
    registry: Registry,
    exports_dir: Path,
    *,
    threshold: int,
    tasks: Iterable[Mapping[str, Any]] | None = None,
    project: int | str | None = None,
    relearn_at: int = 30,
    settings_version: str | None = None,
) -> LoopFacts:
    """LoopFacts from the registry, the exports folder and (if given) the project's tasks.

    `settings_version` is the model version that drafts when no registry version is active.
    """
    project_id = project if isinstance(project, int) else None
    since = registry.last_trained_at()
    tasks = list(tasks) if tasks is not None else None
    counts = count_tasks(tasks, since) if tasks is not None else None
    notes = max(
        (v for v in registry.list() if v.trainer == "notes" and v.status != "failed"),
        key=lambda v: v.created_at,
        default=None,
    )
    notes_since = notes.created_at if notes else None
    edits = count_tasks(tasks, notes_since).annotated_since if tasks is not None else None
    export_dir, export_is_new = export_facts(exports_dir, registry, since, project_id)
    training = registry.training()
    promoted = set(registry.project_actives().values())  # drafting in a project: reviewed
    candidate = next(
        (
            v
            for v in reversed(registry.list())
            if v.status == "candidate"
            and v.name not in promoted
            and (project_id is None or not v.projects or project_id in v.projects)
        ),
        None,
    )
    active = registry.active(project_id)
    drafting = active.name if active else settings_version
    undrafted = open_without(tasks, drafting) if tasks is not None and drafting else None
    return LoopFacts(
        tasks=counts.tasks if counts else None,
        drafted=counts.drafted if counts else None,
        annotated_since_training=counts.annotated_since if counts else None,
        threshold=threshold,
        export_dir=export_dir,
        export_is_new=export_is_new,
        training=training.name if training else None,
        training_job=training.job_id if training else None,
        candidate=candidate.name if candidate else None,
        active=active.name if active else None,
        registry_versions=len(registry.list()),
        undrafted=undrafted,
        drafting=drafting,
        project=project,
        notes_version=notes.name if notes else None,
        edits_since_notes=edits,
        relearn_at=relearn_at,
    )
