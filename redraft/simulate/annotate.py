"""`redraft simulate`: the simulated writers annotate a project's open, drafted tasks.

Pure planning (which tasks, which draft, which writer) and the annotation builder sit on top;
the two functions at the bottom talk to Label Studio through a client they are given.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from label_studio_sdk import LabelStudio
from label_studio_sdk.core.api_error import ApiError

from redraft.errors import LabelStudioError
from redraft.label_config.results import draft_of
from redraft.labelstudio.briefs import Feedback
from redraft.labelstudio.client import project_tasks
from redraft.labelstudio.tasks import feedback_results
from redraft.simulate.rules import WriterRules, find_rules
from redraft.simulate.writers import WriterVerdict, simulate_edit

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Draft:
    """One open task with the draft its writer will edit."""

    task_id: int
    prediction_id: int
    draft: str
    data: Mapping[str, Any]
    rules: WriterRules


@dataclass
class SimulationPlan:
    """The drafts to annotate, in task order, and why the other open tasks are left alone."""

    drafts: list[Draft] = field(default_factory=list)
    no_rules: Counter[str] = field(default_factory=Counter)  # client → open tasks
    no_client: int = 0
    no_draft: int = 0


@dataclass
class SimulationSummary:
    """What one run did (or, in a dry run, would do)."""

    plan: SimulationPlan
    verdicts: list[WriterVerdict] = field(default_factory=list)
    left: int = 0  # drafts beyond --limit

    def line(self, dry_run: bool = False) -> str:
        """The one summary line printed at the end.

        >>> SimulationSummary(SimulationPlan(no_rules=Counter({"Acme": 2}))).line()
        "annotated 0 tasks (simulated writers); skipped 2 (no rules for client 'Acme')"
        """
        count = len(self.verdicts)
        text = f"{'dry run: would annotate' if dry_run else 'annotated'} {_tasks(count)}"
        text += " (simulated writers)"
        if count:
            accepted = sum(not v.changed for v in self.verdicts)
            mean = sum(v.rating for v in self.verdicts) / count
            text += f": {accepted:,} accepted as is, mean rating {mean:.1f}"
        skipped = []
        if self.plan.no_rules:
            clients = ", ".join(repr(c) for c in sorted(self.plan.no_rules))
            noun = "client" if len(self.plan.no_rules) == 1 else "clients"
            skipped.append(f"{self.plan.no_rules.total():,} (no rules for {noun} {clients})")
        if self.plan.no_client:
            skipped.append(f"{self.plan.no_client:,} (no client field)")
        if skipped:
            text += "; skipped " + ", ".join(skipped)
        if self.plan.no_draft:
            text += f"; {_tasks(self.plan.no_draft)} without a draft (run `redraft prefill`)"
        if self.left:
            text += f"; {self.left:,} left for the next run"
        return text


def plan_simulation(
    tasks: Sequence[Mapping[str, Any]],
    rules: Mapping[str, WriterRules],
    shown_version: str | None = None,
) -> SimulationPlan:
    """Open tasks (no annotation, not even a skip) with a draft, paired with their writer.

    >>> from redraft.label_config.results import draft_prediction
    >>> r = {"Acme": "rules"}
    >>> tasks = [{"id": 1, "data": {"client": "Acme"}, "annotations": [],
    ...           "predictions": [{"id": 7, **draft_prediction("Hi", "v1")}]},
    ...          {"id": 2, "data": {"client": "Zed"}, "annotations": [],
    ...           "predictions": [{"id": 8, **draft_prediction("Yo", "v1")}]},
    ...          {"id": 3, "data": {"client": "Acme"}, "annotations": [], "predictions": []}]
    >>> plan = plan_simulation(tasks, r)
    >>> [(d.task_id, d.prediction_id, d.draft, d.rules) for d in plan.drafts], plan.no_rules
    ([(1, 7, 'Hi', 'rules')], Counter({'Zed': 1}))
    """
    plan = SimulationPlan()
    for task in sorted(tasks, key=lambda t: int(t["id"])):
        if task.get("annotations") or task.get("total_annotations"):
            continue
        if task.get("cancelled_annotations"):
            continue
        picked = pick_draft(task.get("predictions") or [], shown_version)
        if picked is None:
            plan.no_draft += 1
            continue
        data = task.get("data") or {}
        client = data.get("client")
        writer = find_rules(rules, client)
        if writer is None:
            if isinstance(client, str) and client.strip():
                plan.no_rules[client.strip()] += 1
            else:
                plan.no_client += 1
            continue
        prediction_id, draft = picked
        plan.drafts.append(Draft(int(task["id"]), prediction_id, draft, data, writer))
    return plan


def pick_draft(
    predictions: Sequence[Mapping[str, Any]], shown_version: str | None = None
) -> tuple[int, str] | None:
    """(prediction id, draft) the editor opens with: the newest draft of the version the
    project shows, else the newest draft of any version.

    >>> from redraft.label_config.results import draft_prediction
    >>> pick_draft([{"id": 4, **draft_prediction("A", "v1")},
    ...             {"id": 5, **draft_prediction("B", "v2")}], "v1")
    (4, 'A')
    """
    drafts = [(int(p["id"]), p) for p in predictions if draft_of(p) is not None]
    shown = [(pid, p) for pid, p in drafts if p.get("model_version") == shown_version]
    candidates = shown or drafts
    if not candidates:
        return None
    prediction_id, prediction = max(candidates, key=lambda item: item[0])
    return prediction_id, draft_of(prediction) or ""


def annotation_results(draft: str, verdict: WriterVerdict) -> list[dict[str, Any]]:
    """The annotation `result` list for a writer's verdict, as the labeling UI stores it.

    >>> v = WriterVerdict("Hi Bo,", 4, ("voice",), "Open with 'Hi Bo,'.", ("greeting",))
    >>> [item["from_name"] for item in annotation_results("Hello Bo,", v)]
    ['draft', 'rating', 'issues', 'feedback', 'final']
    """
    feedback = Feedback(draft, verdict.final, verdict.rating, verdict.issues, verdict.feedback)
    return feedback_results(feedback)


def simulate_project(
    client: LabelStudio,
    project_id: int,
    rules: Mapping[str, WriterRules],
    *,
    limit: int | None = None,
    dry_run: bool = False,
    on_start: Callable[[int], None] | None = None,
    on_progress: Callable[[WriterVerdict], None] | None = None,
) -> SimulationSummary:
    """Annotate the project's open drafted tasks with their writers' verdicts (dry run: none)."""
    shown = client.projects.get(project_id).model_version
    plan = plan_simulation(list(project_tasks(client, project_id)), rules, shown)
    drafts = plan.drafts if limit is None else plan.drafts[:limit]
    summary = SimulationSummary(plan, left=len(plan.drafts) - len(drafts))
    if on_start is not None:
        on_start(len(drafts))
    for item in drafts:
        verdict = simulate_edit(item.rules, item.data, item.draft)
        logger.debug("task %s: %s → %r", item.task_id, verdict.changed, verdict.final)
        if not dry_run:
            try:
                client.annotations.create(
                    item.task_id,
                    result=annotation_results(item.draft, verdict),
                    parent_prediction=item.prediction_id,
                )
            except ApiError as exc:
                raise LabelStudioError(
                    f"task {item.task_id}: Label Studio refused the annotation (HTTP "
                    f"{exc.status_code}); {len(summary.verdicts):,} were stored before — re-run "
                    "`redraft simulate` to continue"
                ) from None
        summary.verdicts.append(verdict)
        if on_progress is not None:
            on_progress(verdict)
    return summary


def _tasks(count: int) -> str:
    return f"{count:,} task{'' if count == 1 else 's'}"
