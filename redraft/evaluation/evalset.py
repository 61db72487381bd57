"""The pinned evaluation set: briefs of a project that no version is ever trained on.

The first export of a project pins its validation tasks in REDRAFT_HOME/evalsets/; every later
export keeps them in validation, so week after week the gate compares versions on the same
briefs, none of which either version learned from (a hash-ranked split alone lets earlier
validation tasks drift into later training sets as a project grows).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from redraft.errors import RedraftError
from redraft.evaluation.gate import EvalItem
from redraft.exporters.manifest import ExportManifest, ManifestError


class EvalSetError(RedraftError):
    """No evaluation set can be built or read; the message says what to do."""


def evalset_path(home: Path, project_id: int) -> Path:
    """Where the pinned evaluation set of `project_id` lives."""
    return home / "evalsets" / f"project-{project_id}.json"


def pinned_ids(home: Path, project_id: int) -> frozenset[int] | None:
    """The pinned task ids of a project, or None before its first export pins them."""
    path = evalset_path(home, project_id)
    if not path.is_file():
        return None
    try:
        return frozenset(int(i) for i in json.loads(path.read_text())["task_ids"])
    except (ValueError, KeyError, TypeError):
        raise EvalSetError(
            f"{path} is damaged — delete it; the next `redraft export` pins a new set "
            "(verdicts before and after will not compare)"
        ) from None


def pin(home: Path, project_id: int, task_ids: Iterable[int]) -> frozenset[int]:
    """Pin `task_ids` as the project's evaluation set (written once, atomically)."""
    ids = frozenset(int(i) for i in task_ids)
    path = evalset_path(home, project_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "project_id": project_id,
        "task_ids": sorted(ids),
        "pinned_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(payload, indent=2) + "\n")
    os.replace(partial, path)
    return ids


def export_project(export_dir: Path) -> int | None:
    """The Label Studio project an export folder came from (None for a file export)."""
    try:
        return ExportManifest.load(export_dir).project_id
    except ManifestError:
        return None


def load_items(export_dir: Path, task_ids: frozenset[int] | None) -> list[EvalItem]:
    """Evaluation items from an export's records: one per pinned task, written by people.

    With `task_ids` None, the export's own validation tasks are used.
    """
    import pandas as pd

    parquet, csv = export_dir / "records.parquet", export_dir / "records.csv"
    if parquet.is_file():
        frame = pd.read_parquet(parquet)
    elif csv.is_file():
        frame = pd.read_csv(csv)
    else:
        raise EvalSetError(
            f"{export_dir} has no records file — pass a folder `redraft export` wrote"
        )
    if task_ids is None:
        task_ids = validation_ids(export_dir)
    items: dict[int, EvalItem] = {}
    for row in frame.to_dict("records"):
        task_id = int(row["task_id"])
        if task_id not in task_ids or task_id in items or bool(row.get("machine_written")):
            continue
        items[task_id] = EvalItem(task_id, str(row.get("client") or ""), _data(row), row["final"])
    return [items[i] for i in sorted(items)]


def validation_ids(export_dir: Path) -> frozenset[int]:
    """The task ids an export put in validation (its manifest lists them)."""
    return ExportManifest.load(export_dir).validation_task_ids


def _data(row: dict[str, Any]) -> dict[str, Any]:
    data = row.get("data")
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError:
            data = None
    return dict(data) if isinstance(data, dict) else {}
