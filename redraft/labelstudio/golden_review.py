"""Golden rewrites in Label Studio: which annotations already have a review task, and
creating the review tasks (`redraft export --golden --review-project`)."""

from __future__ import annotations

import logging
from typing import Any

from redraft.exporters.golden import GOLDEN_OF_ANNOTATION
from redraft.labelstudio.client import project_tasks

logger = logging.getLogger(__name__)


def reviewed_annotations(client: Any, project_id: int) -> set[int]:
    """Annotation ids that already have a golden review task in a project (`golden_of_annotation`).

    Label Studio is asked for tasks where that data field is set; each one is checked here too.
    """
    filters = {
        "conjunction": "and",
        "items": [
            {
                "filter": f"filter:tasks:data.{GOLDEN_OF_ANNOTATION}",
                "operator": "empty",
                "type": "String",
                "value": False,
            }
        ],
    }
    found: set[int] = set()
    for task in project_tasks(client, project_id, fields="task_only", filters=filters):
        data = task.get("data") or {}
        value = data.get(GOLDEN_OF_ANNOTATION) if isinstance(data, dict) else None
        if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
            found.add(int(value))
    logger.info("project %s: %s annotations already sent for golden review", project_id, len(found))
    return found


def import_review_tasks(client: Any, project_id: int, tasks: list[dict[str, Any]]) -> int:
    """Create the review tasks in a Label Studio project through the SDK; returns how many."""
    if not tasks:
        return 0
    client.projects.import_tasks(project_id, request=tasks, return_task_ids=True)
    return len(tasks)
