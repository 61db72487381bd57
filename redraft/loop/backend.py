"""The one place the running backend is put together: `redraft serve` and `redraft demo` use it."""

from __future__ import annotations

from flask import Flask

from redraft.backend.app import create_app
from redraft.backend.versions import ModelSource
from redraft.settings import Settings


def model_source_for(settings: Settings) -> ModelSource:
    """The registry's active version (settings' model until one is promoted), read per request.

    `redraft models promote` then switches drafting without a restart.
    """
    from redraft.training.source import RegistryModelSource

    return RegistryModelSource(settings)


def compose_backend(settings: Settings, model_source: ModelSource | None = None) -> Flask:
    """The backend app: registry model source (or the one given), plus the auto-train hook
    when it is on."""
    from redraft.loop.auto import build_auto_trainer

    return create_app(
        settings,
        model_source=model_source or model_source_for(settings),
        on_event=build_auto_trainer(settings),
    )
