"""Auto mode: count new annotations from Label Studio webhooks; at a threshold, export and train.

Off by default (REDRAFT_AUTO_TRAIN=true turns it on). The backend calls the hook returned by
`build_auto_trainer(settings)` as `on_event(action, payload)` for every webhook. Training runs
in one background thread at a time (a lock plus the registry's single `training` row); the
result waits as a candidate, or is promoted when REDRAFT_AUTO_PROMOTE=true.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from datetime import date
from pathlib import Path
from typing import Any

from redraft.errors import RedraftError
from redraft.settings import Settings
from redraft.training.exportdir import load_export
from redraft.training.registry import ModelVersion, Registry

logger = logging.getLogger(__name__)

COUNTER = "auto.annotations_since_training"
EventHook = Callable[[str, dict[str, Any]], None]
Cycle = Callable[[int | None], ModelVersion]
Gate = Callable[[ModelVersion, int | None], bool]  # True: promote
Exporter = Callable[[Settings, int | None], Path]


def annotations_in(action: str, payload: Mapping[str, Any]) -> int:
    """How many new annotations one Label Studio webhook event brings.

    >>> annotations_in("ANNOTATION_CREATED", {"annotation": {"id": 1}})
    1
    >>> annotations_in("ANNOTATIONS_CREATED", {"annotation": [{"id": 1}, {"id": 2}]})
    2
    >>> annotations_in("TASKS_CREATED", {})
    0
    """
    if action == "ANNOTATION_CREATED":
        return 1
    if action == "ANNOTATIONS_CREATED":
        many = payload.get("annotation", payload.get("annotations"))
        return len(many) if isinstance(many, list) else 1
    return 0


def project_of(payload: Mapping[str, Any]) -> int | None:
    """The project id a webhook payload is about, if it says.

    >>> project_of({"project": {"id": 7}})
    7
    """
    project = payload.get("project")
    if isinstance(project, Mapping) and isinstance(project.get("id"), int):
        return project["id"]
    task = payload.get("task")
    if isinstance(task, Mapping) and isinstance(task.get("project"), int):
        return task["project"]
    return None


class AutoTrainer:
    """The webhook hook: counts annotations and starts `cycle` in the background at threshold."""

    def __init__(
        self,
        registry: Registry,
        cycle: Cycle,
        *,
        threshold: int,
        promote: bool = False,
        gate: Gate | None = None,
    ) -> None:
        self.registry = registry
        self.cycle = cycle
        self.threshold = threshold
        self.promote = promote
        self.gate = gate
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.last_result: ModelVersion | None = None
        self.last_error: str | None = None

    def __call__(self, action: str, payload: dict[str, Any]) -> None:
        """Handle one webhook event (never raises: a hook must not break the backend)."""
        added = annotations_in(action, payload)
        if not added:
            return
        try:
            count = self.registry.add_to_counter(COUNTER, added)
            logger.info("auto mode: %d new annotation(s) since training", count)
            if count >= self.threshold:
                self.start(project_of(payload))
        except Exception:
            logger.exception("auto mode could not handle %s", action)

    @property
    def running(self) -> bool:
        """Whether an auto training run is going on in this process."""
        return self._lock.locked()

    def start(self, project_id: int | None) -> bool:
        """Start a run in the background unless one is going on (here or in the registry)."""
        if not self._lock.acquire(blocking=False):
            return False
        training = self.registry.training()
        if training is not None:
            self._lock.release()
            logger.info("auto mode: %s is already training; not starting another", training.name)
            return False
        self.registry.set_meta(COUNTER, "0")
        self._thread = threading.Thread(
            target=self._run, args=(project_id,), name="redraft-auto-train", daemon=True
        )
        self._thread.start()
        return True

    def _run(self, project_id: int | None) -> None:
        try:
            version = self.cycle(project_id)
            if self.promote and self.gate is not None and not self.gate(version, project_id):
                logger.warning(
                    "auto mode: %s stays a candidate — the evaluation gate found it clearly worse",
                    version.name,
                )
            elif self.promote:
                version = self.registry.promote(version.name)
                logger.info("auto mode: promoted %s (%s)", version.name, version.model_id)
            else:
                logger.info("auto mode: %s waits as a candidate for promote", version.name)
            self.last_result, self.last_error = version, None
        except RedraftError as exc:
            self.last_error = str(exc)
            logger.error("auto training failed: %s", exc)
        except Exception as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
            logger.exception("auto training failed")
        finally:
            self._lock.release()

    def wait(self, timeout: float | None = None) -> None:
        """Block until the background run (if any) ends; for tests and shutdown."""
        if self._thread is not None:
            self._thread.join(timeout)


def export_with_exporters(settings: Settings, project_id: int | None) -> Path:
    """Export the project's completed tasks with redraft.exporters into REDRAFT_HOME/exports."""
    from datetime import UTC, datetime

    from redraft.exporters.pipeline import ExportOptions, run_export
    from redraft.exporters.reading import read_project_tasks
    from redraft.exporters.tokens import load_counter
    from redraft.labelstudio.client import session_from_settings
    from redraft.prompting import load_template

    if project_id is None:
        raise RedraftError(
            "auto mode got a webhook without a project id — check the webhook's payload setting"
        )
    out_dir = settings.exports_dir / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    source = {
        "kind": "project",
        "project_id": project_id,
        "label_studio_url": settings.label_studio_url,
        "by": "auto mode",
    }
    with session_from_settings(settings) as client:
        run_export(
            read_project_tasks(client, project_id),
            out_dir,
            load_template(settings.template_path),
            load_counter(),
            ExportOptions(project_id=project_id),
            source,
        )
    logger.info("auto mode: exported project %s to %s", project_id, out_dir)
    return out_dir


def default_cycle(
    settings: Settings,
    registry: Registry,
    export: Exporter,
    *,
    openai_client: Any = None,
    poll_interval: float = 10.0,
    today: Callable[[], date] = date.today,
) -> Cycle:
    """Export, then train with REDRAFT_AUTO_TRAIN_TRAINER (openai or trl)."""

    def cycle(project_id: int | None) -> ModelVersion:
        folder = load_export(export(settings, project_id))
        if settings.auto_train_trainer == "trl":
            from redraft.training.trl_trainer import TrlParams, train_trl

            name = registry.next_name()
            local = None
            if settings.auto_train_base_model is None:  # the local base, served locally
                from redraft.local.publish import local_target

                local = local_target(settings)
            params = TrlParams(
                base_model=settings.auto_train_base_model or str(local.hf_dir if local else ""),
                output_dir=settings.home / "adapters" / name,
            )
            return train_trl(registry, folder, params, report=logger.info, name=name, local=local)
        from redraft.training.openai_trainer import plan_openai_job, train_openai

        client = openai_client
        if client is None:
            import openai

            client = openai.OpenAI(
                api_key=settings.openai_api_key, base_url=settings.openai_base_url
            )
        spec = plan_openai_job(
            folder,
            method="supervised",
            base_model=settings.auto_train_base_model,
            active=registry.active(),
            fallback_model=settings.model,
        )
        return train_openai(
            client,
            registry,
            spec,
            today=today(),
            report=logger.info,
            base_url=settings.openai_base_url,
            poll_interval=poll_interval,
        )

    return cycle


def build_auto_trainer(
    settings: Settings,
    *,
    export: Exporter | None = None,
    openai_client: Any = None,
    poll_interval: float = 10.0,
) -> EventHook | None:
    """The backend's `on_event` hook when REDRAFT_AUTO_TRAIN is on, else None."""
    if not settings.auto_train:
        return None
    registry = Registry(settings.registry_path)
    cycle = default_cycle(
        settings,
        registry,
        export or export_with_exporters,
        openai_client=openai_client,
        poll_interval=poll_interval,
    )

    def gate(version: ModelVersion, project_id: int | None) -> bool:
        from redraft.evaluation.run import GateRequest, promotion_gate

        request = GateRequest(candidate=version.name, project_id=project_id)
        return promotion_gate(settings, registry, request, logger.info)

    return AutoTrainer(
        registry,
        cycle,
        threshold=settings.auto_train_threshold,
        promote=settings.auto_promote,
        gate=gate,
    )
