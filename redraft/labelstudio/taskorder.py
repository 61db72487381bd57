"""The order writers get their tasks in: by import, least certain draft first, or most certain
first (`redraft init --queue`), on the draft confidence score (`redraft.scoring.confidence`).

What Label Studio 1.23 (open source) does, read in its source and checked end to end:

- `sampling = "Uncertainty sampling"`: the next task (`GET /api/projects/{id}/next`, and the
  editor's "Label all tasks") is, among the writer's open tasks that have a prediction of the
  project's `model_version`, the one with the lowest prediction score
  (`projects/functions/next_task.py`, `_try_uncertainty_sampling`); tasks with no such
  prediction come only when none has one, then at random. The order is ascending only.
- So most certain first is a Data Manager tab ordered by score, descending: writers open the
  tab and pick "Label tasks as displayed" (the editor then sends the tab's ordering), and the
  API asks `/next?view=<tab id>`. With Sequential sampling that is also what /next follows.
- Both the sampling and the Data Manager's score column match predictions against the
  project's `model_version` (Label Studio issue #7151): a score-ordered project names the
  active version there, not the ML backend, so opening a task no longer drafts it on demand.
  `redraft prefill` drafts ahead, and moves `model_version` on after a promotion.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from label_studio_sdk import LabelStudio
from label_studio_sdk.core.api_error import ApiError

from redraft.errors import LabelStudioError

IMPORT_ORDER, LEAST_CERTAIN, MOST_CERTAIN = "import-order", "least-certain", "most-certain"
QUEUES = (IMPORT_ORDER, LEAST_CERTAIN, MOST_CERTAIN)
SEQUENTIAL, UNCERTAINTY = "Sequential sampling", "Uncertainty sampling"
SCORE_FIELD = "tasks:predictions_score"


@dataclass(frozen=True)
class QueueTab:
    """The Data Manager tab that shows a score-ordered queue."""

    title: str
    ordering: tuple[str, ...]

    def data(self) -> dict[str, Any]:
        """The view's `data`, as Label Studio stores a tab."""
        return {"title": self.title, "ordering": list(self.ordering)}


TABS = {
    LEAST_CERTAIN: QueueTab("Least certain first", (SCORE_FIELD,)),
    MOST_CERTAIN: QueueTab("Most certain first", (f"-{SCORE_FIELD}",)),
}


def sampling_for(queue: str) -> str:
    """Label Studio's sampling for a queue.

    >>> sampling_for("least-certain"), sampling_for("most-certain")
    ('Uncertainty sampling', 'Sequential sampling')
    """
    return UNCERTAINTY if queue == LEAST_CERTAIN else SEQUENTIAL


def score_ordered(queue: str | None, project: Mapping[str, Any] | None, backend_title: str) -> bool:
    """Whether the project orders by score: as `queue` asks, else as the project already does
    (uncertainty sampling, or a version rather than the backend in `model_version`).

    >>> score_ordered(None, {"sampling": "Uncertainty sampling"}, "redraft")
    True
    >>> score_ordered(None, {"model_version": "redraft"}, "redraft"), score_ordered(None, None, "r")
    (False, False)
    """
    if queue is not None:
        return queue != IMPORT_ORDER
    if project is None:
        return False
    shown = project.get("model_version")
    return project.get("sampling") == UNCERTAINTY or shown not in (None, "", backend_title)


def plan_tab(queue: str, views: Sequence[Mapping[str, Any]]) -> tuple[str, int | None]:
    """What the queue's tab needs: ("create", None), ("update", id), or ("keep", id); a queue
    without a tab (import order): ("keep", None). Tabs are found by title.

    >>> plan_tab("most-certain", [])
    ('create', None)
    >>> tab = {"id": 4, "data": TABS["most-certain"].data()}
    >>> plan_tab("most-certain", [tab]), plan_tab("least-certain", [tab])
    (('keep', 4), ('create', None))
    """
    wanted = TABS.get(queue)
    if wanted is None:
        return "keep", None
    for view in views:
        data = view.get("data") or {}
        if data.get("title") == wanted.title:
            ordering = view.get("ordering") or data.get("ordering")
            same = list(ordering or []) == list(wanted.ordering)
            return ("keep" if same else "update"), int(view["id"])
    return "create", None


def sync_queue_tab(
    client: LabelStudio, project_id: int | None, queue: str | None, *, dry_run: bool = False
) -> list[str]:
    """Make the queue's Data Manager tab exist with its ordering; one line per change."""
    if queue is None or queue not in TABS:
        return []
    tab = TABS[queue]
    if project_id is None:  # a dry run for a project not made yet
        return [f"add Data Manager tab {tab.title!r} (drafts ordered by confidence score)"]
    views = [v.model_dump() for v in client.views.list(project=project_id)]
    action, view_id = plan_tab(queue, views)
    if action == "keep":
        return []
    line = f"{'add' if action == 'create' else 'reorder'} Data Manager tab {tab.title!r}"
    if dry_run:
        return [line]
    try:
        if view_id is None:
            client.views.create(project=project_id, data=tab.data())  # type: ignore[arg-type]
        else:
            client.views.update(str(view_id), project=project_id, data=tab.data())  # type: ignore[arg-type]
    except ApiError as exc:
        raise LabelStudioError(
            f"Label Studio refused the Data Manager tab {tab.title!r} for project {project_id} "
            f"(HTTP {exc.status_code}) — re-run `redraft init --queue {queue}`"
        ) from None
    return [line]


def tab_id(client: LabelStudio, project_id: int, queue: str) -> int | None:
    """The id of the queue's Data Manager tab, if the project has it."""
    views = [v.model_dump() for v in client.views.list(project=project_id)]
    action, view_id = plan_tab(queue, views)
    return view_id if action != "create" else None
