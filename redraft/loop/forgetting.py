"""`redraft forget` on the Label Studio side: the SDK calls that write masked task parts back,
and what to tell the operator about Label Studio's own files."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from label_studio_sdk import LabelStudio

logger = logging.getLogger(__name__)


class SdkTaskStore:
    """Writes masked task parts back through Label Studio's API (`redraft.loop.forget.TaskStore`).

    Autosaved annotation drafts live in their own table: they are read per task
    (`/api/tasks/<id>/drafts`, every user's) and masked with `PATCH /api/drafts/<id>/`."""

    def __init__(self, client: LabelStudio, *, dry_run: bool) -> None:
        self.client = client
        self.dry_run = dry_run
        self._http = client._client_wrapper.httpx_client  # the SDK's authenticated client

    def update_task(self, task_id: int, changes: Mapping[str, Any]) -> None:
        if not self.dry_run:
            self.client.tasks.update(str(task_id), **changes)

    def update_prediction(self, prediction_id: int, result: list[Any]) -> None:
        if not self.dry_run:
            self.client.predictions.update(prediction_id, result=result)

    def update_annotation(self, annotation_id: int, result: list[Any]) -> None:
        if not self.dry_run:
            self.client.annotations.update(annotation_id, result=result)

    def drafts(self, task: Mapping[str, Any]) -> list[dict[str, Any]]:
        response = self._http.request(f"api/tasks/{int(task['id'])}/drafts", method="GET")
        response.raise_for_status()
        found = response.json()
        return list(found.get("results", []) if isinstance(found, dict) else found)

    def update_draft(self, draft_id: int, result: list[Any]) -> None:
        if not self.dry_run:
            response = self._http.request(
                f"api/drafts/{draft_id}/", method="PATCH", json={"result": result}
            )
            if response.status_code == 404:
                return  # saving its annotation again deleted it (Label Studio does that)
            response.raise_for_status()


def export_files_note(url: str, projects: list[int]) -> str:
    """What the operator must remove by hand when Label Studio's data directory is not here."""
    names = ", ".join(f"project-{p}-at-*" for p in projects) or "project-*-at-*"
    return (
        f"Label Studio at {url} keeps every export snapshot as a file on its disk, also after "
        f"redraft deletes the snapshot: delete {names} under <its data directory>/media/export/ "
        "and export/ (or run forget on that machine with --label-studio-data DIR)"
    )


def data_dir_note(data_dir: Path) -> str | None:
    """None when forget can clean Label Studio's export files under `data_dir`, else why not."""
    folder = data_dir / "media" / "export"
    if not data_dir.is_dir():
        return f"--label-studio-data {data_dir} is not a folder here"
    if folder.exists() and not folder.is_dir():
        return f"{folder} is not a folder"
    return None
