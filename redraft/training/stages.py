"""The loop as an explicit sequence of stages; exactly one is current at any time.

`current_stage(facts)` is a pure function of `LoopFacts`; gathering the facts (Label Studio
counts, the registry, the latest export folder) lives in `redraft.training.facts`.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from enum import Enum

from redraft.wording import counted


class Stage(Enum):
    """The stages in loop order; the value is the label `redraft status` prints.

    Each label is true of the loop while that stage is current: "ready to export" waits for
    `redraft export`, "exported, ready to train" for `redraft train`, and "training" is only
    current while a training run is under way.
    """

    IMPORTED = "briefs imported"
    DRAFTED = "drafted"
    ANNOTATED = "annotated since the last training"
    READY_TO_EXPORT = "ready to export"
    READY_TO_TRAIN = "exported, ready to train"
    TRAINING = "training"
    CANDIDATE = "candidate awaiting review"
    ACTIVE = "active"


STAGES: tuple[Stage, ...] = tuple(Stage)


@dataclass(frozen=True)
class LoopFacts:
    """What is true right now; None for Label Studio counts it could not read."""

    tasks: int | None = None
    drafted: int | None = None
    annotated_since_training: int | None = None
    threshold: int = 50
    export_dir: str | None = None
    export_is_new: bool = False  # an export newer than the last training, not trained on yet
    training: str | None = None  # the version being trained
    training_job: str | None = None
    candidate: str | None = None  # the newest candidate awaiting review
    active: str | None = None  # the active version (None: the settings' model drafts)
    registry_versions: int = 0
    undrafted: int | None = None  # open tasks without a draft from the version that drafts
    drafting: str | None = None  # the model version that drafts (active, else the settings')
    project: int | str | None = None  # an id, or the title given when it was not resolved
    notes_version: str | None = None  # the newest version made by `redraft styles apply`
    edits_since_notes: int | None = None  # completed annotations since it (or ever, if none)
    relearn_at: int = 30


def current_stage(facts: LoopFacts) -> Stage:
    """The one stage the loop is in: the first thing that waits for someone.

    >>> current_stage(LoopFacts(tasks=0)).value
    'briefs imported'
    >>> current_stage(LoopFacts(tasks=3, drafted=3, annotated_since_training=0, active="v2")).value
    'active'
    """
    if facts.training is not None:
        return Stage.TRAINING
    if facts.candidate is not None:
        return Stage.CANDIDATE
    if facts.export_is_new:
        return Stage.READY_TO_TRAIN
    if facts.tasks is not None:
        if facts.tasks == 0:
            return Stage.IMPORTED
        if facts.drafted is not None and facts.drafted < facts.tasks:
            return Stage.DRAFTED
        if facts.undrafted and facts.active is not None:
            return Stage.DRAFTED  # promoted (or rolled back): open tasks show an older draft
    annotated = facts.annotated_since_training
    if annotated is not None and annotated >= facts.threshold:
        return Stage.READY_TO_EXPORT
    if facts.active is not None and not annotated:
        return Stage.ACTIVE
    if facts.tasks is None and facts.active is None:
        return Stage.IMPORTED
    return Stage.ANNOTATED


def next_step(stage: Stage, facts: LoopFacts) -> str:
    """The command (or action) that moves the loop past `stage`.

    >>> next_step(Stage.CANDIDATE, LoopFacts(candidate="v3", project=2))
    'check it: `redraft eval v3 --project 2` (or a blind `redraft ab create`), then `redraft \
models promote v3 --project 2`'
    """
    project = f" --project {shlex.quote(str(facts.project))}" if facts.project else " --project ID"
    if stage is Stage.IMPORTED:
        if facts.tasks is None:
            return "start Label Studio (or set LABEL_STUDIO_URL), then `redraft import BRIEFS.csv`"
        return f"`redraft import BRIEFS.csv{project}`"
    if stage is Stage.DRAFTED:
        missing = (facts.tasks or 0) - (facts.drafted or 0)
        if missing:
            return f"`redraft prefill{project}` ({counted(missing, 'task')} without a draft yet)"
        return (
            f"`redraft prefill{project}` ({counted(facts.undrafted or 0, 'open task')} without "
            f"a draft from {facts.drafting})"
        )
    if stage is Stage.ANNOTATED:
        have = facts.annotated_since_training or 0
        return (
            f"annotate in Label Studio: {have} of {facts.threshold} new annotations since the "
            "last training (export earlier with `redraft export`)"
        )
    if stage is Stage.READY_TO_EXPORT:
        return f"`redraft export{project}`"
    if stage is Stage.TRAINING:
        job = f" (job {facts.training_job})" if facts.training_job else ""
        return (
            f"wait for {facts.training or 'the running training'}{job}: re-run the same "
            "`redraft train` command to follow it"
        )
    if stage is Stage.READY_TO_TRAIN:
        folder = facts.export_dir or "EXPORT_DIR"
        return (
            f"`redraft train openai {folder}` (until 2027-01-06) or "
            f"`redraft train trl {folder} --base-model PATH_OR_ID`"
        )
    if stage is Stage.CANDIDATE:
        return (
            f"check it: `redraft eval {facts.candidate}{project}` (or a blind `redraft ab "
            f"create`), then `redraft models promote {facts.candidate}{project}`"
        )
    return "annotate new drafts in Label Studio; the next training starts from here"


def render(facts: LoopFacts) -> list[str]:
    """The stages, one per line, with `>` on the current one and `✓` on those behind it."""
    current = current_stage(facts)
    index = STAGES.index(current)
    lines = []
    for position, stage in enumerate(STAGES):
        marker = ">" if stage is current else ("✓" if position < index else " ")
        lines.append(f"{marker} {position + 1}. {stage.value}{_detail(stage, facts)}")
    lines.append(f"next: {next_step(current, facts)}")
    relearn = relearn_hint(facts)
    if relearn:
        lines.append(f"also: {relearn}")
    return lines


def relearn_hint(facts: LoopFacts) -> str | None:
    """A nudge to re-learn the style notes once enough new edits arrived, else None.

    >>> relearn_hint(LoopFacts(edits_since_notes=42, notes_version="v4", project=3))
    '42 new edits since the style notes of v4 — `redraft styles learn --project 3 -o \
styles.toml`, review it, then `redraft styles apply styles.toml`'
    >>> relearn_hint(LoopFacts(edits_since_notes=5)) is None
    True
    """
    edits = facts.edits_since_notes
    if edits is None or edits < facts.relearn_at:
        return None
    project = f" --project {shlex.quote(str(facts.project))}" if facts.project else " --project ID"
    since = (
        f"since the style notes of {facts.notes_version}"
        if facts.notes_version
        else ("and no learned style notes yet")
    )
    return (
        f"{edits} new edits {since} — `redraft styles learn{project} -o styles.toml`, "
        "review it, then `redraft styles apply styles.toml`"
    )


def _detail(stage: Stage, facts: LoopFacts) -> str:
    if stage is Stage.IMPORTED and facts.tasks is not None:
        return f" — {counted(facts.tasks, 'task')}"
    if stage is Stage.DRAFTED and facts.drafted is not None:
        return f" — {facts.drafted} drafted"
    if stage is Stage.ANNOTATED and facts.annotated_since_training is not None:
        return f" — {facts.annotated_since_training} of {facts.threshold}"
    if stage is Stage.READY_TO_TRAIN and facts.export_dir:
        return f" — latest {facts.export_dir}" + (
            "" if facts.export_is_new else " (already trained on)"
        )
    if stage is Stage.TRAINING and facts.training:
        return f" — {facts.training}" + (
            f" (job {facts.training_job})" if facts.training_job else ""
        )
    if stage is Stage.CANDIDATE and facts.candidate:
        return f" — {facts.candidate}"
    if stage is Stage.ACTIVE:
        if facts.active:
            return f" — {facts.active}"
        if facts.registry_versions:
            return " — settings model (no registry version is active)"
        return " — settings model (no registry version yet)"
    return ""
