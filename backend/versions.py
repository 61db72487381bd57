"""Which model drafts right now: the active model version and where it comes from."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Protocol

from redraft.errors import RedraftError
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


class ProjectFieldError(RedraftError):
    """The `project` Label Studio sent is not its `"ID.TIMESTAMP"` (answered with HTTP 400)."""


# "ID.TIMESTAMP" as Label Studio sends it; a bare id ("3") as a person types it into curl.
PROJECT_FIELD = re.compile(r"([1-9][0-9]*)(\.[0-9]+)?")


def project_id_of(project: object) -> int | None:
    """The project id in what Label Studio sends the backend (`"ID.CREATED_TIMESTAMP"` in
    /setup and /predict bodies; a bare id, "3" or 3, is taken too), None when it sends none.

    Anything else raises ProjectFieldError rather than guess: `"1.5.6"` or `"01"` read as
    project 1 would draft with project 1's version for some other project.

    >>> project_id_of("3.1764600000"), project_id_of(7), project_id_of("7"), project_id_of(None)
    (3, 7, 7, None)
    >>> try:
    ...     project_id_of("01")
    ... except ProjectFieldError as exc:
    ...     print(exc)
    `project` '01' is not Label Studio's "ID.TIMESTAMP" (such as "3.1764600000") — send the \
project as Label Studio does, or none
    """
    if project is None or project == "":
        return None
    if isinstance(project, int) and not isinstance(project, bool) and project > 0:
        return project
    if isinstance(project, str):
        match = PROJECT_FIELD.fullmatch(project)
        if match is not None:
            return int(match.group(1))
    raise ProjectFieldError(
        f'`project` {project!r} is not Label Studio\'s "ID.TIMESTAMP" (such as '
        '"3.1764600000") — send the project as Label Studio does, or none'
    )


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
