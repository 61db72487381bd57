"""RedraftModel: the label-studio-ml 2.x model contract, without the label-studio-ml package.

`predict(tasks, context=None, **kwargs)`, `fit(event, data, **kwargs)`, `setup()` and
`model_version` behave as upstream users expect; see docs/backend.md for why we do not
depend on `label-studio-ml` itself.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from redraft.backend.drafting import Drafter, DraftOutcome
from redraft.backend.results import Prediction, build_results
from redraft.backend.versions import ModelSource, project_id_of
from redraft.errors import TemplateError
from redraft.scoring.calibration import load_calibration

logger = logging.getLogger(__name__)

EventHook = Callable[[str, dict[str, Any]], None]

# Events that matter to redraft: new or changed feedback, and requests to train.
RECORDED_EVENTS = frozenset(
    {
        "ANNOTATION_CREATED",
        "ANNOTATIONS_CREATED",
        "ANNOTATION_UPDATED",
        "ANNOTATIONS_DELETED",
        "START_TRAINING",
        "PROJECT_UPDATED",
    }
)
_ACTION_NAME = re.compile(r"[A-Z][A-Z0-9_]{0,63}")


def annotation_ids(payload: Mapping[str, Any]) -> list[int]:
    """Annotation ids named by a Label Studio webhook payload (one or many annotations).

    >>> annotation_ids({"annotation": {"id": 7}})
    [7]
    >>> annotation_ids({"annotations": [{"id": 3}, {"id": 4}], "project": {"id": 1}})
    [3, 4]
    """
    found = []
    for key in ("annotation", "annotations"):
        value = payload.get(key)
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, Mapping) and isinstance(item.get("id"), int):
                found.append(item["id"])
    return found


def action_label(action: object) -> str:
    """The action name to record, or "UNKNOWN" for anything not shaped like an LS action.

    >>> action_label("ANNOTATION_CREATED"), action_label("drop table;"), action_label(None)
    ('ANNOTATION_CREATED', 'UNKNOWN', 'UNKNOWN')
    """
    return action if isinstance(action, str) and _ACTION_NAME.fullmatch(action) else "UNKNOWN"


class WebhookLog:
    """What the backend has heard from Label Studio: counts per action, recent annotation ids."""

    def __init__(self, keep: int = 100) -> None:
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.last_annotation_ids: deque[int] = deque(maxlen=keep)
        self.last_event_at: float | None = None

    def record(self, action: str, payload: Mapping[str, Any]) -> None:
        """Remember one recorded event."""
        with self._lock:
            self.counts[action] += 1
            self.last_annotation_ids.extend(annotation_ids(payload))
            self.last_event_at = time.time()

    def snapshot(self) -> dict[str, Any]:
        """Counts and recent annotation ids, JSON-ready."""
        with self._lock:
            return {
                "counts": dict(self.counts),
                "last_annotation_ids": list(self.last_annotation_ids),
                "last_event_at": self.last_event_at,
            }


@dataclass(frozen=True)
class ModelResponse:
    """What `predict` returns, as label-studio-ml 2.x's ModelResponse: the model version and
    one prediction per task; `outcomes` keep each task's reason, for metrics and logs."""

    model_version: str
    predictions: list[Prediction | list[Any]]
    outcomes: list[DraftOutcome]


class RedraftModel:
    """Drafts each brief with the active model version and hears Label Studio's events."""

    def __init__(
        self,
        model_source: ModelSource,
        drafter: Drafter,
        *,
        on_event: EventHook | None = None,
    ) -> None:
        self.model_source = model_source
        self.drafter = drafter
        self.on_event = on_event
        self.webhooks = WebhookLog()

    @property
    def model_version(self) -> str:
        """The default active model version (projects without a version of their own)."""
        return self.model_source.active().name

    def version_for(self, project: object = None) -> str:
        """The model version a project drafts with: what /setup returns for it and what its
        predictions carry. `project` as Label Studio sends it ("ID.TIMESTAMP")."""
        return self.model_source.active(project_id_of(project)).name

    def setup(self) -> None:
        """Log which model and template draft by default; each is loaded once."""
        active = self.model_source.active()
        try:
            template = self.drafter.template_for(active)
        except TemplateError as exc:
            logger.error("model version %r cannot draft: %s", active.name, exc)
            return
        logger.info(
            "drafting with model version %r (model %r, template %s, sha256 %s)",
            active.name,
            active.model_id,
            template.name,
            template.sha256[:12],
        )

    def versions(self) -> list[str]:
        """Model versions this backend can name: the source's list, or the active one."""
        lister = getattr(self.model_source, "versions", None)
        names = list(lister()) if callable(lister) else []
        active = self.model_version
        return names if active in names else [active, *names]

    def predict(
        self,
        tasks: Sequence[Mapping[str, Any]],
        context: Any = None,
        project: object = None,
        **kwargs: Any,
    ) -> ModelResponse:
        """Draft tasks with the version the project drafts with now, within the request
        deadline: one entry per task, its prediction or [] when drafting it failed (`outcomes`
        say why). `project` as Label Studio sends it ("ID.TIMESTAMP"); None: the default."""
        project_id = project_id_of(project)
        active = self.model_source.active(project_id)
        deadline = self.drafter.settings.predict_deadline
        outcomes = self.drafter.draft_many(tasks, active, deadline=deadline)
        # Each draft is scored with the project's fit (refitted by each export), if it has one.
        calibration = load_calibration(self.drafter.settings.home, project_id)
        return ModelResponse(
            active.name, build_results(outcomes, active.name, calibration), outcomes
        )

    def fit(self, event: str, data: Mapping[str, Any], **kwargs: Any) -> dict[str, str]:
        """Handle one webhook event: record it and call the event hook, or ignore it."""
        action = action_label(event)
        if action not in RECORDED_EVENTS:
            logger.info("webhook %s ignored", action)
            return {"status": "ignored", "action": action}
        self.webhooks.record(action, data)
        logger.info("webhook %s recorded (annotations %s)", action, annotation_ids(data) or "-")
        if self.on_event is not None:
            self.on_event(action, dict(data))
        return {"status": "ok", "action": action}
