"""A project's confidence fit in REDRAFT_HOME: refitted by `redraft export`, read wherever
drafts are scored (the backend's /predict, `redraft prefill`).

`REDRAFT_HOME/confidence/project-<id>.json` holds a `redraft.scoring.confidence.Calibration`;
no file (no export yet, or fewer than MIN_FIT annotated drafts) means the no-history score.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path

from redraft.editdistance import normalised_edit_distance
from redraft.exporters.records import FeedbackRecord
from redraft.prompting import PromptTemplate
from redraft.scoring.confidence import MIN_FIT, Calibration, Signals, draft_signals, fit_calibration
from redraft.wording import counted

logger = logging.getLogger(__name__)


def calibration_path(home: Path, project_id: int) -> Path:
    """Where a project's fit lives."""
    return Path(home) / "confidence" / f"project-{int(project_id)}.json"


def load_calibration(home: Path, project_id: int | None) -> Calibration | None:
    """The project's fit, or None (no project, no file, or a file that is not a fit)."""
    if project_id is None:
        return None
    path = calibration_path(home, project_id)
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        logger.warning("cannot read %s (%s): scoring without the fit", path, exc.strerror)
        return None
    try:
        fit = Calibration.from_json(json.loads(text))
    except json.JSONDecodeError:
        fit = None
    if fit is None:
        logger.warning("%s is not a confidence fit: scoring without it; re-run export", path)
    return fit


def save_calibration(home: Path, project_id: int, fit: Calibration | None) -> Path:
    """Write the fit atomically (None removes it: back to the no-history score)."""
    path = calibration_path(home, project_id)
    if fit is None:
        path.unlink(missing_ok=True)
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    partial.write_text(json.dumps(fit.as_json(), indent=2) + "\n", encoding="utf-8")
    partial.replace(path)
    return path


def fit_rows(
    records: Iterable[FeedbackRecord], template: PromptTemplate
) -> list[tuple[Signals, float]]:
    """(signals, edit distance) for each draft a person edited (pure).

    The signals the text gives are recomputed against `template`'s learned rules — the rules
    the next version drafts with — whichever version wrote the draft: a draft of the base
    model was scored against no rules, and the fit must learn what breaking today's rules
    costs. What the text cannot give back (token confidence, cut off at max_tokens) comes
    from the signals stored with the prediction, where there are any (none for imported
    history). Machine-written finals are left out.
    """
    rows = []
    for record in records:
        if record.draft is None or record.machine_written:
            continue
        stored = Signals.from_json(record.draft_signals)
        notes = template.client_style(record.client).learned
        signals = draft_signals(
            record.draft,
            record.data,
            notes,
            stored.token_confidence if stored else None,
            stored.truncated if stored else False,
        )
        rows.append((signals, normalised_edit_distance(record.draft, record.final)))
    return rows


def refit(
    home: Path,
    project_id: int,
    records: Iterable[FeedbackRecord],
    template: PromptTemplate,
    fitted_at: str,
) -> str:
    """Refit the project's score on its annotated drafts and store it; one line saying so."""
    rows = fit_rows(records, template)
    fit = fit_calibration(rows, fitted_at)
    path = save_calibration(home, project_id, fit)
    if fit is None:
        return (
            f"confidence score: {counted(len(rows), 'edited draft')}, fewer than {MIN_FIT} — "
            "drafts keep the no-history score"
        )
    return (
        f"confidence score refitted on {counted(fit.n, 'edited draft')} "
        f"(mean edit distance {fit.mean_distance:.3f}): {path}"
    )
