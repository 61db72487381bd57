"""The backend's ModelSource backed by the registry: follows promotions without a restart."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from redraft.backend.versions import ActiveModel, SettingsModelSource
from redraft.settings import Settings
from redraft.training.registry import ModelVersion, Registry, open_registry
from redraft.training.store import file_fingerprint

logger = logging.getLogger(__name__)


def active_model_for(version: ModelVersion, settings: Settings) -> ActiveModel:
    """The ActiveModel the backend drafts with for a registry version."""
    # The local server takes any key; a local version must draft without OPENAI_API_KEY.
    local = bool(version.metrics.get("local_base"))
    return ActiveModel(
        name=version.name,
        model_id=version.model_id,
        base_url=version.base_url or settings.openai_base_url,
        api_key=settings.openai_api_key or ("local" if local else None),
        template_path=str(version.template_path) if version.template_path else None,
    )


def active_template(settings: Settings, project_id: int | None = None) -> Path | None:
    """The active version's own template (None: the settings' template applies) — what export
    builds training prompts with, what the report checks learned rules against."""
    active = open_registry(settings).active(project_id)
    return active.template_path if active is not None else None


class RegistryModelSource:
    """Asked on every request: the registry's active version, or the settings' model if none.

    The registry is only re-read when it changed: for the SQLite file a stat and a 4-byte read
    per call; for a shared PostgreSQL registry one query of its generation, which every write
    from any host bumps — a promotion on the training host drafts here from the next request.
    """

    def __init__(self, settings: Settings, registry: Registry | None = None) -> None:
        self.settings = settings
        if registry is None and settings.database_url:
            registry = open_registry(settings)
        self._registry = registry
        self.path = registry.path if registry is not None else settings.registry_path
        self._fallback = SettingsModelSource(settings)
        self._lock = threading.Lock()
        self._seen: Any = None
        self._cached: dict[int | None, ActiveModel] = {}
        self._announced: dict[int | None, str] = {}

    def active(self, project_id: int | None = None) -> ActiveModel:
        """The model `project_id` drafts with right now (its own version, else the default)."""
        if self._registry is not None:
            fingerprint = self._registry.fingerprint()
        else:
            fingerprint = file_fingerprint(self.path)
        if fingerprint is None:
            return self._fallback.active()
        with self._lock:
            if fingerprint != self._seen:
                self._seen, self._cached = fingerprint, {}
            if project_id in self._cached:
                return self._cached[project_id]
            if self._registry is None:  # the SQLite file exists now: open it once
                self._registry = Registry(self.path)
            version = self._registry.active(project_id)
            model = (
                active_model_for(version, self.settings)
                if version is not None
                else self._fallback.active()
            )
            before = self._announced.get(project_id)
            if before is not None and model.name != before:
                where = f" for project {project_id}" if project_id is not None else ""
                logger.info(
                    "active model version%s is now %s (%s)", where, model.name, model.model_id
                )
            self._announced[project_id] = model.name
            self._cached[project_id] = model
            return model
