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
    """Anything that says which model version drafts for a Label Studio project (None: any
    project without a version of its own); asked on every request."""

    def active(self, project_id: int | None = None) -> ActiveModel: ...


def project_id_of(project: object) -> int | None:
    """The project id in what Label Studio sends the backend (`"ID.CREATED_TIMESTAMP"` in
    /setup and /predict bodies), or None.

    >>> project_id_of("3.1764600000"), project_id_of(7), project_id_of(None), project_id_of("x")
    (3, 7, None, None)
    """
    if isinstance(project, bool):
        return None
    if isinstance(project, int):
        return project
    if isinstance(project, str):
        head = project.split(".", 1)[0]
        return int(head) if head.isdigit() else None
    return None


@dataclass(frozen=True)
class SettingsModelSource:
    """The active model named by settings (REDRAFT_MODEL / REDRAFT_MODEL_VERSION)."""

    settings: Settings

    def active(self, project_id: int | None = None) -> ActiveModel:
        return ActiveModel(
            name=self.settings.active_model_version,
            model_id=self.settings.model,
            base_url=self.settings.openai_base_url,
            api_key=self.settings.openai_api_key,
        )
