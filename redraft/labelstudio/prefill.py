"""`redraft prefill`: draft every task that lacks a prediction for the active model version.

Label Studio's own "Retrieve predictions" sends all selected tasks in one /predict request
and gives up after its timeout; prefill instead drafts with the backend's Drafter (same prompt
builder, same cache, bounded concurrency) and writes predictions in bulk as they finish, so a
crash or Ctrl-C loses at most one write batch and a re-run does only what is still missing.

Safe to run next to itself and to Label Studio's retrieve: one prefill per project at a time
(a lock file under REDRAFT_HOME), a task that gained a draft of this version while we drafted
(a retrieve) is not written again, and the draft cache's claims make a prompt that another
process is drafting wait for that draft instead of paying for it twice.
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from label_studio_sdk import LabelStudio
from label_studio_sdk.core.api_error import ApiError

from redraft.backend.drafting import Drafter, DraftOutcome
from redraft.backend.results import scored_prediction
from redraft.backend.versions import ActiveModel
from redraft.errors import LabelStudioError
from redraft.labelstudio.client import project_tasks
from redraft.scoring.calibration import load_calibration
from redraft.scoring.confidence import Calibration, Signals

logger = logging.getLogger(__name__)

WRITE_BATCH = 50


@dataclass
class PrefillSummary:
    """Counts for one prefill run; `failures` holds (task id, reason)."""

    model_version: str
    total: int = 0
    already: int = 0
    finished: int = 0
    drafted: int = 0
    cached: int = 0
    written: int = 0
    shown_before: str | None = None  # the project's model_version prefill replaced, if any
    failures: list[tuple[Any, str]] = field(default_factory=list)
    raced: int = 0  # drafted, but a retrieve stored this version's draft first: not written

    def line(self) -> str:
        """The one summary line printed at the end."""
        text = (
            f"prefilled {self.written:,} of {self.total:,} tasks with {self.model_version!r} "
            f"({self.cached:,} from cache); {self.already:,} already had a draft"
        )
        if self.finished:
            tasks = "task" if self.finished == 1 else "tasks"
            text += f"; {self.finished:,} finished {tasks} left alone"
        if self.raced:
            text += f"; {self.raced:,} got a draft from a retrieve meanwhile"
        if self.failures:
            text += f"; {len(self.failures):,} failed (re-run to retry them)"
        return text


def tasks_missing(tasks: Sequence[Mapping[str, Any]], model_version: str) -> list[dict[str, Any]]:
    """Open tasks ({"id", "data", "predictions", "is_labeled"}) without a model_version draft.

    A finished task (`is_labeled`: its annotations are done) needs no new draft: nobody will
    open it again, so drafting it after a promotion would only cost money.

    >>> tasks_missing([{"id": 1, "data": {}, "predictions": [{"model_version": "v1"}]},
    ...                {"id": 2, "data": {}, "predictions": [{"model_version": "v0"}]},
    ...                {"id": 3, "data": {}, "predictions": [], "is_labeled": True}], "v1")
    [{'id': 2, 'data': {}}]
    """
    missing = []
    for task in tasks:
        if task.get("is_labeled"):
            continue
        versions = {p.get("model_version") for p in task.get("predictions") or []}
        if model_version not in versions:
            missing.append({"id": task["id"], "data": task.get("data") or {}})
    return missing


def prediction_request(
    task_id: int,
    text: str,
    model_version: str,
    signals: Signals | None = None,
    calibration: Calibration | None = None,
) -> dict[str, Any]:
    """The bulk-import item for one draft: our prediction (scored when it has signals) plus
    the task it belongs to.

    >>> item = prediction_request(5, "Hi", "v1")
    >>> item["task"], item["model_version"], len(item["result"])
    (5, 'v1', 2)
    >>> prediction_request(5, "Hi", "v1", Signals(0.5))["score"]
    0.5
    """
    return {"task": task_id, **scored_prediction(text, model_version, signals, calibration)}


def prefill(
    client: LabelStudio,
    project_id: int,
    drafter: Drafter,
    active: ActiveModel,
    *,
    limit: int | None = None,
    write_batch: int = WRITE_BATCH,
    on_progress: Callable[[DraftOutcome], None] | None = None,
    on_start: Callable[[int], None] | None = None,
) -> PrefillSummary:
    """Draft the project's tasks that lack `active.name` and store the drafts as predictions."""
    with exclusive(drafter.settings.home / "locks" / f"prefill-project-{project_id}.lock"):
        return _prefill(
            client, project_id, drafter, active, limit, write_batch, on_progress, on_start
        )


class PrefillBusyError(LabelStudioError):
    """Another `redraft prefill` is drafting the same project."""


@contextmanager
def exclusive(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `lock_path` (released when the process ends, even killed)."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            raise PrefillBusyError(
                f"another `redraft prefill` (pid {holder}) is drafting this project — wait for "
                "it to finish; two at once would draft and store every task twice"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _prefill(
    client: LabelStudio,
    project_id: int,
    drafter: Drafter,
    active: ActiveModel,
    limit: int | None,
    write_batch: int,
    on_progress: Callable[[DraftOutcome], None] | None,
    on_start: Callable[[int], None] | None,
) -> PrefillSummary:
    tasks = list(project_tasks(client, project_id))
    missing = tasks_missing(tasks, active.name)
    # Every task is counted once: finished (left alone), open with this version's draft, or
    # missing one (drafted now, or left for a later run by --limit).
    finished = sum(1 for t in tasks if t.get("is_labeled"))
    summary = PrefillSummary(
        active.name,
        total=len(tasks),
        already=len(tasks) - finished - len(missing),
        finished=finished,
    )
    if limit is not None:
        missing = missing[:limit]
    if on_start is not None:
        on_start(len(missing))
    pending: list[dict[str, Any]] = []
    calibration = load_calibration(drafter.settings.home, project_id)

    def flush() -> None:
        fresh = [item for item in pending if not _stored_meanwhile(client, item)]
        summary.raced += len(pending) - len(fresh)
        pending[:] = fresh
        if not pending:
            return
        try:
            client.projects.import_predictions(id=project_id, request=list(pending))
        except ApiError as exc:
            raise LabelStudioError(
                f"Label Studio refused {len(pending)} predictions (HTTP {exc.status_code}); "
                f"{summary.written:,} were stored before — re-run prefill to continue"
            ) from None
        summary.written += len(pending)
        pending.clear()

    def done(outcome: DraftOutcome) -> None:
        if outcome.text is None:
            summary.failures.append((outcome.task_id, outcome.error or "no draft"))
            logger.warning("task %s: no draft (%s)", outcome.task_id, outcome.error)
        else:
            summary.drafted += 1
            summary.cached += int(outcome.cached)
            pending.append(
                prediction_request(
                    int(outcome.task_id),  # type: ignore[arg-type]
                    outcome.text,
                    active.name,
                    outcome.signals,
                    calibration,
                )
            )
            if len(pending) >= write_batch:
                flush()
        if on_progress is not None:
            on_progress(outcome)

    if missing:
        drafter.draft_many(missing, active, on_done=done)
    flush()
    summary.shown_before = show_version(client, project_id, active.name)
    return summary


def _stored_meanwhile(client: LabelStudio, item: Mapping[str, Any]) -> bool:
    """Whether the item's task got a prediction of the item's version since it was listed."""
    stored = client.predictions.list(task=item["task"])
    return any(p.model_version == item["model_version"] for p in stored)


def show_version(client: LabelStudio, project_id: int, model_version: str) -> str | None:
    """Make a project without an ML backend show `model_version`'s drafts to annotators.

    Label Studio pre-fills the editor only with predictions of the project's `model_version`.
    With the backend connected that field names the backend (which reports the active
    version itself), so it is left alone; otherwise, after a promotion it still names the old
    version and new tasks would open with no draft. Returns the replaced version, if any.
    """
    try:
        shown = client.projects.get(project_id).model_version
        backends = {b.title for b in client.ml.list(project=project_id)}
        if shown == model_version or (shown and shown in backends):
            return None
        client.projects.update(project_id, model_version=model_version)
    except ApiError as exc:
        raise LabelStudioError(
            f"Label Studio refused to set project {project_id}'s model_version to "
            f"{model_version!r} (HTTP {exc.status_code}) — annotators may see old drafts; "
            "re-run `redraft init` for the project"
        ) from None
    logger.info("project %s now shows %r drafts (was %r)", project_id, model_version, shown)
    return shown or ""
