"""Edit records from Label Studio tasks (a live project or a JSON export): the one I/O-free
step between an export's feedback records and mining, with an account of every task read."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from redraft.exporters.records import FeedbackRecord, task_records
from redraft.prompting import PromptTemplate
from redraft.styles.mining import EditRecord
from redraft.wording import counted


@dataclass
class EditSource:
    """The edits found in some tasks, and why the other annotations were left out."""

    records: list[EditRecord] = field(default_factory=list)
    tasks: int = 0
    skipped: Counter[str] = field(default_factory=Counter)

    def summary(self) -> str:
        """One line: tasks read, edits used, and each reason for leaving one out."""
        why = "; ".join(f"{count} {reason}" for reason, count in self.skipped.most_common())
        edits = counted(len(self.records), "edit")
        used = f"read {counted(self.tasks, 'task')}: {edits} to learn from"
        return used + (f"; left out: {why}" if why else "")


def edit_records(tasks: Iterable[Mapping[str, Any]], template: PromptTemplate) -> EditSource:
    """Every completed annotation with a draft and a person's final becomes an EditRecord."""
    source = EditSource()
    for task in tasks:
        source.tasks += 1
        outcome = task_records(task, template)
        for reject in outcome.rejects:
            source.skipped[_reason(reject.reason)] += 1
        for record in outcome.records:
            edit, why = _edit(record)
            if edit is None:
                source.skipped[why] += 1
            else:
                source.records.append(edit)
    return source


def _edit(record: FeedbackRecord) -> tuple[EditRecord | None, str]:
    if record.draft is None:
        return None, "without a draft to compare"
    final = record.human_final or record.final
    if record.machine_written and not record.human_final:
        return None, "machine-written finals"
    if not record.client:
        return None, "without a client"
    edit = EditRecord(
        client=record.client,
        draft=record.draft,
        final=final,
        data=record.data,
        issues=tuple(record.issues),
        feedback=record.feedback,
    )
    return edit, ""


def _reason(reason: str) -> str:
    """A reject reason without its task-specific details, so equal reasons count together."""
    return reason.split(" (")[0].split(":")[0]
