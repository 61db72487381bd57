"""The pinned evaluation set: briefs of a project that no version is ever trained on.

A project's exports pin validation tasks in REDRAFT_HOME/evalsets/project-<id>.json (with a
shared registry, REDRAFT_DATABASE_URL: the same document in its database) and keep
them in validation from then on, so week after week the gate compares versions on the same
briefs, none of which either version learned from (a hash-ranked split alone lets earlier
validation tasks drift into later training sets as a project grows).

The set grows: each export pins its validation briefs that no earlier export trained on, until
the set holds `EVAL_SET_TARGET` briefs; `redraft evalset --grow N` asks the next export to hold
out N more (past the target too). The file remembers which tasks exports have trained on, so a
brief joins the set only if no version can have learned it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from redraft.documents import Documents, documents_at
from redraft.errors import RedraftError
from redraft.evaluation.gate import MIN_EVAL_BRIEFS, EvalItem, briefs
from redraft.exporters.manifest import ExportManifest, ManifestError
from redraft.exporters.split import EvalHoldout, task_hash

# The size each export grows a project's evaluation set to by itself (`--grow` goes past it):
# on 50 paired briefs the gate's 95% interval is about ±0.29 standard deviations of the
# difference — a few points of edit distance for typical edits.
EVAL_SET_TARGET = 50


class EvalSetError(RedraftError):
    """No evaluation set can be built or read; the message says what to do."""


EVALSETS = "evalsets"  # the kind of document (redraft.documents)

# Where evaluation sets are kept: a home folder (files) or a store (`documents_for(settings)`).
Place = Path | Documents


def evalset_path(home: Path, project_id: int) -> Path:
    """Where the pinned evaluation set of `project_id` lives under a home folder."""
    return home / EVALSETS / f"project-{project_id}.json"


def _where(home: Place, project_id: int) -> str:
    return documents_at(home).where(EVALSETS, f"project-{project_id}")


def id_ranges(ids: Iterable[int]) -> list[list[int]]:
    """Task ids as [first, last] runs (how the file stores the trained tasks).

    >>> id_ranges([5, 1, 2, 3, 9])
    [[1, 3], [5, 5], [9, 9]]
    """
    runs: list[list[int]] = []
    for i in sorted(set(ids)):
        if runs and i == runs[-1][1] + 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return runs


def from_ranges(runs: Iterable[Iterable[int]]) -> frozenset[int]:
    """The task ids of [first, last] runs.

    >>> sorted(from_ranges([[1, 3], [9, 9]]))
    [1, 2, 3, 9]
    """
    ids: set[int] = set()
    for first, last in runs:
        ids.update(range(int(first), int(last) + 1))
    return frozenset(ids)


@dataclass(frozen=True)
class EvalSet:
    """A project's pinned evaluation briefs and what the next export should know."""

    project_id: int
    task_ids: frozenset[int] = frozenset()
    # Tasks some export of the project trained on; None in a set pinned before this was kept.
    trained_ids: frozenset[int] | None = frozenset()
    grow: int = 0  # briefs the next export holds out for the set (`redraft evalset --grow`)
    pinned_at: str = ""
    updated_at: str = ""

    def holdout(self) -> EvalHoldout:
        """What the split keeps out of training for this set."""
        trained = self.trained_ids or frozenset()
        extra = self.grow if self.trained_ids is not None else 0
        return EvalHoldout(self.task_ids, extra, trained)

    def as_json(self) -> dict[str, Any]:
        """The file's content."""
        values: dict[str, Any] = {
            "project_id": self.project_id,
            "task_ids": sorted(self.task_ids),
            "pinned_at": self.pinned_at,
            "updated_at": self.updated_at,
            "grow": self.grow,
        }
        if self.trained_ids is not None:
            values["trained_task_ids"] = id_ranges(self.trained_ids)
        return values

    @classmethod
    def from_json(cls, data: Any) -> EvalSet:
        """Read the file's content; raises KeyError, TypeError or ValueError when damaged."""
        trained = data.get("trained_task_ids")
        grow = int(data.get("grow", 0))
        if grow < 0:
            raise ValueError("grow < 0")
        return cls(
            project_id=int(data["project_id"]),
            task_ids=frozenset(int(i) for i in data["task_ids"]),
            trained_ids=None if trained is None else from_ranges(trained),
            grow=grow,
            pinned_at=str(data.get("pinned_at", "")),
            updated_at=str(data.get("updated_at", data.get("pinned_at", ""))),
        )


def load_evalset(home: Place, project_id: int) -> EvalSet | None:
    """A project's evaluation set, or None before an export pins one.

    Raises EvalSetError when the file is damaged: the gate fails closed on it.
    """
    try:
        text = documents_at(home).read(EVALSETS, f"project-{project_id}")
        if text is None:
            return None
        return EvalSet.from_json(json.loads(text))
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError):
        raise EvalSetError(
            f"project {project_id}'s evaluation set {_where(home, project_id)} is damaged — "
            "restore it from a backup, "
            f"or delete it and run `redraft export --project {project_id}` to pin a new one "
            "(verdicts before and after will not compare)"
        ) from None


def require_evalset(home: Place, project_id: int) -> EvalSet:
    """A project's evaluation set; EvalSetError when there is none (or it is damaged)."""
    found = load_evalset(home, project_id)
    if found is None:
        raise EvalSetError(
            f"project {project_id} has no evaluation set ({_where(home, project_id)} is "
            f"missing) — run `redraft export --project {project_id}` to pin one"
        )
    return found


def pinned_ids(home: Place, project_id: int) -> frozenset[int] | None:
    """The pinned task ids of a project, or None before its first export pins them."""
    found = load_evalset(home, project_id)
    return None if found is None else found.task_ids


def save_evalset(home: Place, evalset: EvalSet) -> EvalSet:
    """Write a project's evaluation set atomically."""
    text = json.dumps(evalset.as_json(), indent=2) + "\n"
    documents_at(home).write(EVALSETS, f"project-{evalset.project_id}", text)
    return evalset


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def pin(home: Place, project_id: int, task_ids: Iterable[int]) -> frozenset[int]:
    """Pin `task_ids` as the project's evaluation set (a new set; nothing known trained)."""
    ids = frozenset(int(i) for i in task_ids)
    now = _now()
    save_evalset(home, EvalSet(project_id, ids, frozenset(), 0, now, now))
    return ids


def grown(
    before: EvalSet | None,
    project_id: int,
    validation_ids: frozenset[int],
    train_ids: frozenset[int],
    now: str,
    target: int = EVAL_SET_TARGET,
) -> tuple[EvalSet, frozenset[int]]:
    """The set after an export, and the briefs it added (pure).

    The export's validation briefs that no earlier export trained on join the set, by hash
    rank, up to `target` briefs, or past it by the `grow` asked for; the export's training
    tasks are remembered as trained.

    >>> first, added = grown(None, 7, frozenset({1, 2}), frozenset({3, 4, 5}), "t0")
    >>> sorted(first.task_ids), sorted(first.trained_ids), sorted(added)
    ([1, 2], [3, 4, 5], [1, 2])
    >>> later, added = grown(first, 7, frozenset({1, 2, 4, 6}), frozenset({3, 5, 7}), "t1")
    >>> sorted(later.task_ids), sorted(added)  # 4 was trained on by the first export
    ([1, 2, 6], [6])
    """
    if before is None:
        before = EvalSet(project_id, pinned_at=now)
    size = len(before.task_ids)
    room = max(target, size + before.grow) - size
    if before.trained_ids is None:  # unknown what earlier exports trained on: add nothing
        eligible: list[int] = []
    else:
        eligible = sorted(validation_ids - before.task_ids - before.trained_ids, key=task_hash)
    added = frozenset(eligible[: max(0, room)])
    after = replace(
        before,
        task_ids=before.task_ids | added,
        trained_ids=(before.trained_ids or frozenset()) | train_ids,
        grow=max(0, before.grow - len(added)),
        updated_at=now,
    )
    return after, added


def export_train_ids(export_dir: Path) -> frozenset[int]:
    """The tasks an export put in training (from its records file)."""
    import pandas as pd

    parquet, csv = export_dir / "records.parquet", export_dir / "records.csv"
    columns = ["task_id", "split"]
    if parquet.is_file():
        frame = pd.read_parquet(parquet, columns=columns)
    elif csv.is_file():
        frame = pd.read_csv(csv, usecols=columns)
    else:
        return frozenset()
    return frozenset(int(i) for i in frame.loc[frame["split"] == "train", "task_id"])


def holdout_for_export(home: Place, project_id: int | None) -> tuple[EvalSet | None, EvalHoldout]:
    """Before an export: the project's set (None before the first) and what the split keeps
    out of training for it. A damaged set stops the export (EvalSetError)."""
    if project_id is None:
        return None, EvalHoldout()
    before = load_evalset(home, project_id)
    return before, before.holdout() if before is not None else EvalHoldout()


def update_after_export(
    home: Place,
    project_id: int,
    before: EvalSet | None,
    export_dir: Path,
    validation_ids: frozenset[int],
) -> str:
    """After an export: pin its new evaluation briefs, remember what it trained on, and say
    where the set stands in one line."""
    after, added = grown(before, project_id, validation_ids, export_train_ids(export_dir), _now())
    save_evalset(home, after)
    return export_note(before, after, added)


def export_note(before: EvalSet | None, after: EvalSet, added: frozenset[int]) -> str:
    """Where a project's set stands after an export, in one line.

    >>> first = EvalSet(3, frozenset({1, 2}))
    >>> export_note(None, first, frozenset({1, 2}))  # doctest: +NORMALIZE_WHITESPACE
    "pinned 2 validation briefs as project 3's evaluation set: no later export trains on them;
    the gate needs 10 to judge — `redraft evalset --project 3 --grow 8` holds out 8 more at the
    next export"
    """
    project, size = after.project_id, len(after.task_ids)
    if not size:
        head = (
            f"project {project} has no evaluation briefs yet (no client had two annotated tasks "
            "to hold one out)"
        )
    elif before is None or not before.task_ids:
        head = (
            f"pinned {briefs(size).replace('brief', 'validation brief')} as project {project}'s "
            "evaluation set: no later export trains on them"
        )
    elif added:
        head = (
            f"project {project}'s evaluation set grew by {briefs(len(added))} to {size}, kept out "
            "of training"
        )
    else:
        head = f"kept project {project}'s {briefs(size)} of evaluation out of training"
    return head + "; " + standing(after)


def standing(evalset: EvalSet) -> str:
    """How far the set is from a verdict and from its target, and what to do.

    >>> standing(EvalSet(3, frozenset(range(12))))
    'the gate judges on them (it grows to 50 as later exports add briefs no version trained on)'
    """
    project, size = evalset.project_id, len(evalset.task_ids)
    pending = f"; the next export holds out {briefs(evalset.grow)} more" if evalset.grow else ""
    if size < MIN_EVAL_BRIEFS:
        short = MIN_EVAL_BRIEFS - size - evalset.grow
        if short <= 0:
            return f"the gate needs {MIN_EVAL_BRIEFS} to judge{pending}"
        return (
            f"the gate needs {MIN_EVAL_BRIEFS} to judge{pending} — `redraft evalset --project "
            f"{project} --grow {short}` holds out {short} more at the next export"
        )
    if size < EVAL_SET_TARGET:
        return (
            f"the gate judges on them (it grows to {EVAL_SET_TARGET} as later exports add briefs "
            f"no version trained on){pending}"
        )
    return f"the gate judges on them{pending}"


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
