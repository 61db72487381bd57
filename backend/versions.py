"""Which model drafts right now: the active model version and where it comes from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from redraft.settings import Settings


@dataclass(frozen=True)
class ActiveModel:
    """The drafting model: `name` is the model_version string Label Studio stores."""

    name: str
    model_id: str
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    # A version made by `redraft styles apply` drafts with its own prompt template.
    template_path: str | None = None


class ModelSource(Protocol):
    """Anything that says which model version is active; asked on every request."""

    def active(self) -> ActiveModel: ...


@dataclass(frozen=True)
class SettingsModelSource:
    """The active model named by settings (REDRAFT_MODEL / REDRAFT_MODEL_VERSION)."""

    settings: Settings

    def active(self) -> ActiveModel:
        return ActiveModel(
            name=self.settings.active_model_version,
            model_id=self.settings.model,
            base_url=self.settings.openai_base_url,
            api_key=self.settings.openai_api_key,
        )
