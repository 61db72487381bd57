"""`redraft init`: create or update a Label Studio project and connect the ML backend.

`plan_init` is pure: it compares what the server has with what redraft wants and returns the
changes; `apply_plan` makes them through the SDK. Running init twice changes nothing the second
time.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from label_studio_sdk import LabelStudio
from label_studio_sdk.core.api_error import ApiError

from redraft.errors import LabelStudioError, ProjectNotFoundError

logger = logging.getLogger(__name__)

BACKEND_TITLE = "redraft"

# Annotators start from the draft:
# - show_collab_predictions: predictions are shown and pre-fill the editor ("Use predictions to
#   prelabel tasks"); with it, opening a task that has no prediction asks the ML backend.
# - model_version = the ML backend's title: the labeling stream then asks the backend on each
#   opened task and shows the predictions of the version /setup returns (drafted only when that
#   version is missing). Without a backend, model_version names the predictions to show.
# - evaluate_predictions_automatically stays off: on, every Data Manager page load (and every
#   task listing through the API) would send its page of tasks to /predict.
PROJECT_SETTINGS: dict[str, Any] = {
    "show_collab_predictions": True,
    "evaluate_predictions_automatically": False,
    "reveal_preannotations_interactively": False,
    "enable_empty_annotation": False,
    "show_skip_button": True,
}


@dataclass(frozen=True)
class Overlap:
    """How many writers annotate each brief (Label Studio's `maximum_annotations`), on what
    share of the tasks (`overlap_cohort_percentage`; the other tasks get one writer).

    >>> Overlap(2, 20).fields()
    {'maximum_annotations': 2, 'overlap_cohort_percentage': 20}
    """

    writers: int = 1
    percent: int = 100

    def fields(self) -> dict[str, int]:
        """The project fields that carry it."""
        return {"maximum_annotations": self.writers, "overlap_cohort_percentage": self.percent}


# A new project gets one writer per brief unless `init --overlap` asks for more; a project
# that exists keeps its overlap when init runs again without --overlap.
NEW_PROJECT_OVERLAP = Overlap()


@dataclass(frozen=True)
class ProjectSpec:
    """What `redraft init` wants on the server."""

    title: str
    label_config: str
    model_version: str
    backend_url: str | None = None
    basic_auth_user: str | None = None
    basic_auth_password: str | None = field(default=None, repr=False)
    overlap: Overlap | None = None  # None: leave the project's overlap as it is
    queue: str | None = None  # writers' order (redraft.labelstudio.taskorder); None: as it is
    description: str = (
        "redraft: rate the model's draft, say what was wrong, and edit it into the email "
        "you would send."
    )

    def project_fields(self, project: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The project fields redraft manages (title and config included), given the project
        as it is (a queue ordered by score keeps the version in `model_version`)."""
        from redraft.labelstudio.taskorder import sampling_for, score_ordered

        wanted = {"title": self.title, "label_config": self.label_config, **PROJECT_SETTINGS}
        by_score = score_ordered(self.queue, project, BACKEND_TITLE)
        # Label Studio orders by score, and shows the score column, only for predictions of
        # the project's model_version: a score-ordered queue names the version, not the backend.
        use_backend = self.backend_url and not by_score
        wanted["model_version"] = BACKEND_TITLE if use_backend else self.model_version
        if self.overlap is not None:
            wanted.update(self.overlap.fields())
        if self.queue is not None:
            wanted["sampling"] = sampling_for(self.queue)
        return wanted

    def backend_fields(self) -> dict[str, Any]:
        """The ML backend fields redraft manages."""
        assert self.backend_url is not None
        wanted: dict[str, Any] = {
            "url": self.backend_url.rstrip("/"),
            "title": BACKEND_TITLE,
            "is_interactive": False,
            "auto_update": True,
        }
        if self.basic_auth_user:
            wanted.update(
                auth_method="BASIC_AUTH",
                basic_auth_user=self.basic_auth_user,
                basic_auth_pass=self.basic_auth_password,
            )
        else:
            wanted["auth_method"] = "NONE"
        return wanted


@dataclass(frozen=True)
class InitPlan:
    """Changes init makes: project (create or fields), then the ML backend (create or fields)."""

    project_id: int | None
    project_changes: dict[str, Any]
    backend_id: int | None = None
    backend_changes: dict[str, Any] = field(default_factory=dict)
    create_backend: bool = False
    create_project: bool = False

    @property
    def creates_project(self) -> bool:
        return self.create_project or self.project_id is None

    @property
    def changes_nothing(self) -> bool:
        return not (self.creates_project or self.project_changes or self.backend_changes)

    def describe(self, spec: ProjectSpec) -> list[str]:
        """One line per change, secrets left out."""
        lines = []
        if self.creates_project:
            lines.append(f"create project {spec.title!r}")
        for name, value in self.project_changes.items():
            if name == "title" and self.creates_project:
                continue
            shown = "<redraft labeling config>" if name == "label_config" else repr(value)
            lines.append(f"set project {name} = {shown}")
        if self.create_backend:
            lines.append(f"connect ML backend {spec.backend_url}")
        for name, value in self.backend_changes.items():
            if self.create_backend and name == "url":
                continue
            shown = "***" if name == "basic_auth_pass" else repr(value)
            lines.append(f"set ML backend {name} = {shown}")
        return lines or [f"project {spec.title!r} is already set up; nothing to change"]


def plan_init(
    spec: ProjectSpec,
    project: Mapping[str, Any] | None,
    backends: Sequence[Mapping[str, Any]] = (),
) -> InitPlan:
    """Compare the server's project and ML backends with the spec; return what must change.

    >>> spec = ProjectSpec("Outreach", "<View/>", "v1")
    >>> plan_init(spec, None).creates_project
    True
    >>> same = {"id": 7, **spec.project_fields()}
    >>> plan_init(spec, same).changes_nothing
    True
    >>> plan_init(spec, {**same, "maximum_annotations": 3}).changes_nothing  # kept
    True
    >>> plan_init(replace(spec, overlap=Overlap(2)), same).project_changes
    {'maximum_annotations': 2, 'overlap_cohort_percentage': 100}
    """
    wanted = spec.project_fields(project)
    if project is None:
        changes = {**wanted, **(spec.overlap or NEW_PROJECT_OVERLAP).fields()}
        project_id = None
    else:
        changes = {k: v for k, v in wanted.items() if _differs(project.get(k), v, k)}
        project_id = int(project["id"])
    if spec.backend_url is None:
        return InitPlan(project_id, changes)
    wanted_backend = spec.backend_fields()
    url = wanted_backend["url"]
    existing = next((b for b in backends if str(b.get("url", "")).rstrip("/") == url), None)
    existing = existing or next((b for b in backends if b.get("title") == BACKEND_TITLE), None)
    if existing is None:
        return InitPlan(project_id, changes, None, wanted_backend, create_backend=True)
    backend_changes = {
        k: v
        for k, v in wanted_backend.items()
        # Label Studio never returns the password; resend it only with a changed user.
        if k != "basic_auth_pass" and _differs(existing.get(k), v, k)
    }
    if "basic_auth_user" in backend_changes:
        backend_changes["basic_auth_pass"] = wanted_backend.get("basic_auth_pass")
    return InitPlan(project_id, changes, int(existing["id"]), backend_changes)


def apply_plan(client: LabelStudio, spec: ProjectSpec, plan: InitPlan) -> int:
    """Make the planned changes; return the project id."""
    try:
        if plan.project_id is None:
            project_id = int(client.projects.create(**plan.project_changes).id)
        else:
            project_id = plan.project_id
            if plan.project_changes:
                client.projects.update(project_id, **plan.project_changes)
        if plan.create_backend:
            client.ml.create(project=project_id, **plan.backend_changes)
        elif plan.backend_id is not None and plan.backend_changes:
            client.ml.update(plan.backend_id, **plan.backend_changes)
    except ApiError as exc:
        raise LabelStudioError(
            f"Label Studio refused to set up project {spec.title!r} "
            f"(HTTP {exc.status_code}: {_short(exc.body)})"
            + (
                f" — is the ML backend running at {spec.backend_url}, and reachable from "
                "Label Studio?"
                if spec.backend_url
                else ""
            )
        ) from None
    return project_id


def init_project(client: LabelStudio, spec: ProjectSpec, *, dry_run: bool = False) -> InitPlan:
    """Plan, and unless dry_run apply, the project setup; return the plan (with the id)."""
    project = find_project_by_title(client, spec.title)
    backends = list_backends(client, int(project["id"])) if project else []
    plan = plan_init(spec, project, backends)
    if dry_run or plan.changes_nothing:
        return plan
    return replace(
        plan, project_id=apply_plan(client, spec, plan), create_project=plan.creates_project
    )


def find_project_by_title(client: LabelStudio, title: str) -> dict[str, Any] | None:
    """The project with exactly this title (the oldest, if several), as a plain dict."""
    matches = [p for p in client.projects.list(title=title) if p.title == title]
    if not matches:
        return None
    oldest = min(matches, key=lambda p: p.id)
    return client.projects.get(oldest.id).model_dump()


def parse_project_ref(ref: str | int | None) -> int | str | None:
    """`--project` as given: a whole number is an id, anything else a title.

    >>> [parse_project_ref(ref) for ref in ("12", 12, "Acme", None)]
    [12, 12, 'Acme', None]
    """
    if ref is None or isinstance(ref, int):
        return ref
    return int(ref) if ref.isdigit() else ref


def resolve_project(client: LabelStudio, ref: str | int | None) -> int:
    """A project id from an id or an exact title; fail with the fix when there is none.

    The one rule for `--project` in every command: required wherever a command acts on one
    project, unless the server has exactly one project (then `ref` None means that one).
    """
    if ref is None:
        projects = _projects(client)
        if len(projects) == 1:
            return projects[0][0]
        if not projects:
            raise ProjectNotFoundError("Label Studio has no project yet — create one: redraft init")
        raise ProjectNotFoundError(
            f"Label Studio has {len(projects)} projects ({_named(projects)}) — pass --project "
            "ID or TITLE"
        )
    ref = parse_project_ref(ref)
    if isinstance(ref, int):
        project_id = ref
        try:
            client.projects.get(project_id)
        except ApiError as exc:
            if exc.status_code == 404:
                projects = _projects(client)
                fix = f"pass one of: {_named(projects)}" if projects else "create one: redraft init"
                raise ProjectNotFoundError(
                    f"Label Studio has no project {project_id} — {fix}"
                ) from None
            raise
        return project_id
    project = find_project_by_title(client, str(ref))
    if project is None:
        projects = _projects(client)
        create = f"create it with `redraft init --title {str(ref)!r}`"
        fix = f"pass one of: {_named(projects)}, or {create}" if projects else create
        raise ProjectNotFoundError(f"Label Studio has no project titled {ref!r} — {fix}")
    return int(project["id"])


def _projects(client: LabelStudio) -> list[tuple[int, str]]:
    return [(int(p.id), str(p.title)) for p in client.projects.list()]


def _named(projects: list[tuple[int, str]], limit: int = 5) -> str:
    """`1 'Acme', 2 'Globex'` (and how many more)."""
    names = ", ".join(f"{pid} {title!r}" for pid, title in projects[:limit])
    more = f" and {len(projects) - limit} more" if len(projects) > limit else ""
    return names + more


def list_backends(client: LabelStudio, project_id: int) -> list[dict[str, Any]]:
    """The project's ML backends as plain dicts."""
    return [b.model_dump() for b in client.ml.list(project=project_id)]


def _differs(current: Any, wanted: Any, name: str) -> bool:
    if name == "label_config":
        return _squeeze(current) != _squeeze(wanted)
    if name == "auth_method" and current is None:
        return wanted != "NONE"
    return current != wanted


def _squeeze(text: Any) -> str:
    return " ".join(str(text or "").split())


def _short(body: Any, limit: int = 300) -> str:
    text = str(body)
    return text if len(text) <= limit else text[:limit] + "…"
