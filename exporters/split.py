"""The train/validation split, stratified by client, planned before any row is written.

A first pass over the tasks keeps only a 64-bit hash and the id of each task that can yield
rows, per client (16 bytes a task). Each client's tasks are ordered by hash and the first
`validation_count(n, ratio)` go to validation, so every client with two or more tasks gets at
least one validation task and the choice depends on the task ids alone. The second pass writes
rows as before, one task at a time. A source that can be read only once (a live snapshot
stream) is spooled to a temporary JSONL file during the first pass.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import tempfile
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from redraft.exporters.reading import read_file_tasks

SPLIT_SALT = "redraft-split-v2"
Task = Mapping[str, Any]
# Tasks to export: an iterable read once, or a function that opens the source again per call.
TaskSource = Iterable[Task] | Callable[[], Iterable[Task]]


def task_hash(task_id: int) -> int:
    """The 64-bit hash that orders a client's tasks for the split.

    >>> task_hash(1) == task_hash(1) != task_hash(2)
    True
    """
    key = f"{SPLIT_SALT}\x00{task_id}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big")


def validation_count(tasks: int, ratio: float) -> int:
    """How many of a client's tasks go to validation: about the ratio, at least 1 from 2 tasks.

    A lone task always trains, and so does at least one task of every client.

    >>> [validation_count(n, 0.1) for n in (1, 2, 9, 15, 30)]
    [0, 1, 1, 2, 3]
    >>> validation_count(2, 0.9), validation_count(5, 0.0)
    (1, 0)
    """
    if ratio <= 0 or tasks < 2:
        return 0
    return min(tasks - 1, max(1, int(ratio * tasks + 0.5)))


def client_of(task: Task) -> str:
    """The client name a task is stratified by ("" when it has none).

    >>> client_of({"data": {"client": " Acme "}}), client_of({"data": {}})
    ('Acme', '')
    """
    data = task.get("data")
    value = data.get("client") if isinstance(data, Mapping) else None
    return str(value).strip() if value is not None else ""


def can_yield_rows(task: Task) -> bool:
    """Has an id, a brief and an annotation that was not cancelled (the split counts only these).

    >>> can_yield_rows({"id": 1, "data": {"brief": "B"}, "annotations": [{"result": []}]})
    True
    >>> can_yield_rows({"id": 1, "data": {"brief": "B"}, "annotations": [{"was_cancelled": True}]})
    False
    """
    data = task.get("data")
    if not isinstance(task.get("id"), int) or not isinstance(data, Mapping):
        return False
    if not str(data.get("brief") or "").strip():
        return False
    return any(
        isinstance(a, Mapping) and not (a.get("was_cancelled") or a.get("skipped"))
        for a in task.get("annotations") or []
    )


@dataclass(frozen=True)
class EvalHoldout:
    """A project's evaluation set as the split sees it (`redraft.evaluation.evalset`).

    `pinned` tasks always go to validation. `extra` more tasks go there too, chosen among those
    no earlier export trained on (not in `trained`): the briefs `redraft evalset --grow` asked
    the next export to add to the set.
    """

    pinned: frozenset[int] = frozenset()
    extra: int = 0
    trained: frozenset[int] = frozenset()


NO_HOLDOUT = EvalHoldout()  # an export without a project: no evaluation set


@dataclass(frozen=True)
class SplitPlan:
    """Which task ids go to validation, and the planned counts per client.

    `held_out` are the extra tasks held out for the evaluation set (also in `validation_ids`).
    """

    validation_ratio: float = 0.0
    validation_ids: frozenset[int] = frozenset()
    planned: dict[str, dict[str, int]] = field(default_factory=dict)
    held_out: frozenset[int] = frozenset()

    def split(self, task_id: int | None) -> str:
        """ "train" or "validation" for one task."""
        return "validation" if task_id in self.validation_ids else "train"


class SplitPlanner:
    """The first pass: remembers a hash and an id per usable task, per client.

    Pinned task ids (a project's evaluation set) always go to validation and are not
    counted for the ratio, so no later export trains on them; `holdout.extra` more go there
    to grow the set.
    """

    def __init__(self, validation_ratio: float, holdout: EvalHoldout = NO_HOLDOUT) -> None:
        self.validation_ratio = validation_ratio
        self.holdout = holdout
        self.pinned = holdout.pinned
        self._pinned_seen: dict[str, int] = {}
        self._chosen_pinned: set[int] = set()
        self._hashes: dict[str, array[int]] = {}
        self._ids: dict[str, array[int]] = {}

    def add(self, task: Task) -> None:
        """Count one task (tasks that cannot yield rows are left out of the plan)."""
        if not can_yield_rows(task):
            return
        client = client_of(task)
        if int(task["id"]) in self.pinned:
            self._chosen_pinned.add(int(task["id"]))
            self._pinned_seen[client] = self._pinned_seen.get(client, 0) + 1
            return
        if client not in self._ids:
            self._hashes[client], self._ids[client] = array("Q"), array("q")
        task_id = int(task["id"])
        self._hashes[client].append(task_hash(task_id))
        self._ids[client].append(task_id)

    def plan(self) -> SplitPlan:
        """Rank each client's tasks by hash; the first ones go to validation.

        >>> planner = SplitPlanner(0.1)
        >>> for i in range(1, 4):
        ...     planner.add({"id": i, "data": {"brief": "B", "client": "Acme"},
        ...                  "annotations": [{"result": []}]})
        >>> plan = planner.plan()
        >>> plan.planned, len(plan.validation_ids)
        ({'Acme': {'tasks': 3, 'validation': 1}}, 1)
        """
        chosen: set[int] = set(self._chosen_pinned)
        planned: dict[str, dict[str, int]] = {}
        for client in sorted(set(self._ids) | set(self._pinned_seen)):
            hashes, ids = self._hashes.get(client, array("Q")), self._ids.get(client, array("q"))
            count = validation_count(len(ids), self.validation_ratio)
            chosen.update(
                task_id for _, task_id in heapq.nsmallest(count, zip(hashes, ids, strict=True))
            )
            pinned = self._pinned_seen.get(client, 0)
            planned[client] = {"tasks": len(ids) + pinned, "validation": count + pinned}
            if pinned:
                planned[client]["pinned"] = pinned
        held_out = self._hold_out(chosen)
        for client, ids in held_out.items():
            planned[client]["validation"] += len(ids)
            planned[client]["held_out"] = len(ids)
        extra = frozenset(i for ids in held_out.values() for i in ids)
        return SplitPlan(self.validation_ratio, frozenset(chosen | extra), planned, extra)

    def _hold_out(self, chosen: set[int]) -> dict[str, list[int]]:
        """Up to `holdout.extra` more tasks no export trained on, taken from each client in
        turn by hash rank; at least one task of every client still trains."""
        if self.holdout.extra <= 0:
            return {}
        queues: dict[str, list[int]] = {}
        for client in sorted(self._ids):
            ranked = sorted(zip(self._hashes[client], self._ids[client], strict=True))
            trains = sum(1 for _, i in ranked if i not in chosen)
            eligible = [i for _, i in ranked if i not in chosen and i not in self.holdout.trained]
            queues[client] = eligible[: max(0, trains - 1)]
        taken: dict[str, list[int]] = {}
        left = self.holdout.extra
        while left > 0 and any(queues.values()):
            for client, queue in queues.items():
                if queue and left > 0:
                    taken.setdefault(client, []).append(queue.pop(0))
                    left -= 1
        return taken


def plan_split(
    tasks: Iterable[Task], validation_ratio: float, holdout: EvalHoldout = NO_HOLDOUT
) -> SplitPlan:
    """Plan the split from one pass over the tasks."""
    planner = SplitPlanner(validation_ratio, holdout)
    for task in tasks:
        planner.add(task)
    return planner.plan()


@contextmanager
def rereadable(source: TaskSource) -> Iterator[Callable[[], Iterable[Task]]]:
    """A source that can be read more than once: a function is one already; a read-once
    iterable is spooled to a temp file (deleted on exit) and read from there."""
    if callable(source):
        yield source
        return
    with tempfile.TemporaryDirectory(prefix="redraft-export-") as folder:
        spool = Path(folder) / "tasks.jsonl"
        with open(spool, "w", encoding="utf-8", newline="\n") as handle:
            for task in source:
                handle.write(json.dumps(task, ensure_ascii=False) + "\n")
        yield lambda: read_file_tasks(spool)


@contextmanager
def planned_tasks(
    source: TaskSource, validation_ratio: float, holdout: EvalHoldout = NO_HOLDOUT
) -> Iterator[tuple[SplitPlan, Iterable[Task]]]:
    """The split plan and the tasks to stream; a read-once source is spooled to a temp file."""
    if validation_ratio <= 0 and not holdout.pinned and not holdout.extra:
        yield SplitPlan(validation_ratio), source() if callable(source) else source
        return
    if callable(source):
        yield plan_split(source(), validation_ratio, holdout), source()
        return
    planner = SplitPlanner(validation_ratio, holdout)
    with tempfile.TemporaryDirectory(prefix="redraft-export-") as folder:
        spool = Path(folder) / "tasks.jsonl"
        with open(spool, "w", encoding="utf-8", newline="\n") as handle:
            for task in source:
                planner.add(task)
                handle.write(json.dumps(task, ensure_ascii=False) + "\n")
        yield planner.plan(), read_file_tasks(spool)
