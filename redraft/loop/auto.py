"""Auto mode: at a threshold of new annotations, export and train.

Off by default (REDRAFT_AUTO_TRAIN=true turns it on). The backend calls the hook returned by
`build_auto_trainer(settings)` as `on_event(action, payload)` for every webhook it accepted
(one with the shared secret or basic auth). A webhook is only a nudge: the hook asks Label
Studio itself how many completed annotations the project has since the last training, so a
forged body ("50 annotations!") counts for nothing. The check runs in the background, one at a
time, and once more if webhooks arrived meanwhile. Training runs in one background thread at a
time (a lock plus the registry's single `training` row); the result waits as a candidate, or
is promoted (through the evaluation gate) when REDRAFT_AUTO_PROMOTE=true.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from datetime import date
from pathlib import Path
from typing import Any

from redraft.errors import ConfigError, RedraftError
from redraft.settings import Settings
from redraft.training.exportdir import load_export
from redraft.training.registry import ModelVersion, Registry, open_registry
from redraft.wording import counted

logger = logging.getLogger(__name__)

COUNTER = "auto.annotations_since_training"  # the last count read from Label Studio
TRIGGERS = frozenset({"ANNOTATION_CREATED", "ANNOTATIONS_CREATED"})
EventHook = Callable[[str, dict[str, Any]], None]
NewAnnotations = Callable[[int], int]  # project id -> completed annotations since the last run
Cycle = Callable[[int | None], ModelVersion]
Gate = Callable[[ModelVersion, int | None], str | None]  # None: promote; else why not
Exporter = Callable[[Settings, int | None], Path]


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
    """The webhook hook: asks Label Studio for the count and starts `cycle` at the threshold."""

    def __init__(
        self,
        registry: Registry,
        cycle: Cycle,
        *,
        threshold: int,
        count_new: NewAnnotations,
        promote: bool = False,
        gate: Gate | None = None,
    ) -> None:
        self.registry = registry
        self.cycle = cycle
        self.threshold = threshold
        self.count_new = count_new
        self.promote = promote
        self.gate = gate
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._checks = threading.Lock()  # guards _pending and _checker
        self._pending: set[int] = set()
        self._checker: threading.Thread | None = None
        self.last_result: ModelVersion | None = None
        self.last_error: str | None = None

    def __call__(self, action: str, payload: dict[str, Any]) -> None:
        """Handle one webhook event (never raises: a hook must not break the backend)."""
        if action not in TRIGGERS:
            return
        project = project_of(payload)
        if project is None:
            logger.warning("auto mode: %s without a project id — ignored", action)
            return
        with self._checks:
            self._pending.add(project)
            if self._checker is None:
                self._checker = threading.Thread(
                    target=self._check_pending, name="redraft-auto-count", daemon=True
                )
                self._checker.start()

    def _check_pending(self) -> None:
        while True:
            with self._checks:
                if not self._pending:
                    self._checker = None
                    return
                project = self._pending.pop()
            self.check(project)

    def check(self, project: int) -> int | None:
        """Count the project's new annotations in Label Studio; start a run at the threshold."""
        try:
            count = self.count_new(project)
            self.registry.set_meta(COUNTER, str(count))
            logger.info(
                "auto mode: project %s has %s since training",
                project,
                counted(count, "new annotation"),
            )
            if count >= self.threshold:
                self.start(project)
            return count
        except Exception as exc:
            self.last_error = f"counting new annotations failed: {exc}"
            logger.exception("auto mode could not count project %s's annotations", project)
            return None

    @property
    def running(self) -> bool:
        """Whether an auto training run is going on in this process."""
        return self._lock.locked()

    def start(self, project_id: int | None) -> bool:
        """Start a run in the background unless one is going on (here or in the registry)."""
        if not self._lock.acquire(blocking=False):
            return False
        from redraft.training.trl_trainer import abandoned

        training = self.registry.training()
        # A run this host's server started and lost (stopped, killed) blocks nothing: the
        # next run marks it failed. Anything else is a run going on.
        if training is not None and not abandoned(training):
            self._lock.release()
            logger.info("auto mode: %s is already training; not starting another", training.name)
            return False
        self._thread = threading.Thread(
            target=self._run, args=(project_id,), name="redraft-auto-train", daemon=True
        )
        self._thread.start()
        return True

    def _run(self, project_id: int | None) -> None:
        try:
            version = self.cycle(project_id)
            refused = self.gate(version, project_id) if self.promote and self.gate else None
            if refused is not None:
                logger.warning("auto mode: %s stays a candidate — %s", version.name, refused)
            elif self.promote:
                version = self.registry.promote(version.name, project_id)
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
        """Block until the background count and run (if any) end; for tests and shutdown."""
        checker = self._checker
        if checker is not None:
            checker.join(timeout)
        if self._thread is not None:
            self._thread.join(timeout)


def export_with_exporters(settings: Settings, project_id: int | None) -> Path:
    """Export the project's completed tasks as `redraft export --project ID` does, into
    REDRAFT_HOME/exports (the evaluation set grows, the confidence score is refitted)."""
    from redraft.exporters.request import ExportRequest
    from redraft.loop.export import export_request

    if project_id is None:
        raise RedraftError(
            "auto mode got a webhook without a project id — check the webhook's payload setting"
        )
    done = export_request(settings, ExportRequest(project_ref=str(project_id), by="auto mode"))
    logger.info(
        "auto mode: exported project %s to %s; %s", project_id, done.out_dir, "; ".join(done.notes)
    )
    return done.out_dir


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
            from redraft.training.cpu_processes import run_apart
            from redraft.training.trl_trainer import TrlParams, continuable, train_trl

            name = registry.next_name()
            local = parent = None
            if settings.auto_train_base_model is None:  # the local base, served locally
                from redraft.local.publish import local_target

                local = local_target(settings)
                parent = continuable(registry, local, project_id)  # as `train trl` does
            params = TrlParams(
                base_model=settings.auto_train_base_model or str(local.hf_dir if local else ""),
                output_dir=settings.home / "adapters" / name,
                start_adapter=Path(parent.metrics["adapter"]) if parent else None,
                since_export=Path(parent.export_dir or "") if parent else None,
                max_steps=settings.auto_train_max_steps,
            )
            return train_trl(
                registry,
                folder,
                params,
                report=logger.info,
                name=name,
                local=local,
                parent=parent.name if parent else None,
                runner=run_apart,  # the server keeps none of the training's memory
            )
        from redraft.training.openai_trainer import plan_openai_job, train_openai

        client = openai_client
        if client is None:
            from redraft.openai_client import openai_client as make_client

            client = make_client(settings)
        spec = plan_openai_job(
            folder,
            method="supervised",
            base_model=settings.auto_train_base_model,
            active=registry.active(project_id),
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


def label_studio_counter(settings: Settings, registry: Registry) -> NewAnnotations:
    """Completed annotations of a project since the last training, read from Label Studio."""

    def count(project_id: int) -> int:
        from redraft.labelstudio.client import project_tasks, session_from_settings
        from redraft.training.facts import count_tasks

        with session_from_settings(settings) as client:
            tasks = project_tasks(client, project_id)
            return count_tasks(tasks, registry.last_trained_at()).annotated_since

    return count


def check_auto_settings(settings: Settings) -> None:
    """Refuse auto mode where a stranger could trigger it, or where it cannot count."""
    if settings.webhook_secret is None and settings.basic_auth_user is None:
        raise ConfigError(
            "REDRAFT_AUTO_TRAIN needs REDRAFT_WEBHOOK_SECRET (add it to the Label Studio "
            "webhook as the X-Redraft-Webhook-Secret header) or REDRAFT_BASIC_AUTH_USER/"
            "PASSWORD, so that no one else can start a training"
        )
    if not settings.label_studio_api_key:
        raise ConfigError(
            "REDRAFT_AUTO_TRAIN counts new annotations in Label Studio: set "
            "LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY"
        )


def build_auto_trainer(
    settings: Settings,
    *,
    export: Exporter | None = None,
    openai_client: Any = None,
    poll_interval: float = 10.0,
    count_new: NewAnnotations | None = None,
) -> EventHook | None:
    """The backend's `on_event` hook when REDRAFT_AUTO_TRAIN is on, else None.

    `count_new` defaults to asking Label Studio (`label_studio_counter`).
    """
    if not settings.auto_train:
        return None
    check_auto_settings(settings)
    registry = open_registry(settings)
    cycle = default_cycle(
        settings,
        registry,
        export or export_with_exporters,
        openai_client=openai_client,
        poll_interval=poll_interval,
    )

    def gate(version: ModelVersion, project_id: int | None) -> str | None:
        from redraft.evaluation.run import GateRefused, GateRequest, promotion_gate

        request = GateRequest(candidate=version.name, project_id=project_id)
        try:
            promotion_gate(settings, registry, request, logger.info)
        except GateRefused as exc:
            return str(exc)
        return None

    return AutoTrainer(
        registry,
        cycle,
        threshold=settings.auto_train_threshold,
        count_new=count_new or label_studio_counter(settings, registry),
        promote=settings.auto_promote,
        gate=gate,
    )
