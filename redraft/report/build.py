"""Assemble a report from its input (pure), and write it: HTML, CSV files, a terminal table."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from redraft.csvcells import spreadsheet_safe
from redraft.report.agreement import (
    AnnotatorAgreement,
    JudgeAgreement,
    annotator_agreement,
    judge_agreement,
)
from redraft.report.calibration import ScoreCalibration, score_calibration
from redraft.report.compare import Difference, compare_versions
from redraft.report.errors import CompareError
from redraft.report.metrics import UNKNOWN_VERSION, GroupMetrics, summarise, version_order
from redraft.report.sources import ReportInput
from redraft.report.writers import WriterFigures, writer_figures
from redraft.styles.check import RuleAdherence, adherence

if TYPE_CHECKING:
    from redraft.prompting import PromptTemplate


@dataclass(frozen=True)
class Report:
    """Everything the HTML, the CSV files and the terminal table show."""

    source: str
    generated_at: str
    versions: list[GroupMetrics]
    clients: list[GroupMetrics]
    weekly: list[GroupMetrics]
    order: list[str]
    comparison: list[Difference] = field(default_factory=list)
    annotators: AnnotatorAgreement | None = None
    judges: list[JudgeAgreement] = field(default_factory=list)
    rejected: int = 0
    style_rules: list[RuleAdherence] = field(default_factory=list)
    writers: list[WriterFigures] = field(default_factory=list)
    calibration: list[ScoreCalibration] = field(default_factory=list)  # draft confidence scores

    @property
    def several_writers(self) -> bool:
        """More than one writer annotated: per-writer figures are worth a table."""
        return len(self.writers) >= 2


def build_report(
    data: ReportInput,
    generated_at: str,
    compare: tuple[str, str] | None = None,
    seed: int = 0,
    learned: PromptTemplate | None = None,
) -> Report:
    """Figures per version, per client, per week, per writer; the comparison; agreement (pure).

    Without `compare`, the two most recent named versions are compared (older first). With
    `learned` (a template holding learned style rules), how often each version's annotated
    drafts already followed each rule.
    """
    records = data.records
    order = version_order(records)
    named = [v for v in order if v != UNKNOWN_VERSION]
    if compare is not None:
        missing = [v for v in compare if v not in order]
        if missing:
            known = ", ".join(order) or "none"
            raise CompareError(
                f"cannot compare: no annotated drafts from {', '.join(missing)} "
                f"(versions in this source: {known})"
            )
    elif len(named) >= 2:
        compare = (named[-2], named[-1])
    versions = summarise(records, data.drafts, by=("model_version",))
    rank = {v: i for i, v in enumerate(order)}
    versions.sort(key=lambda g: rank.get(g.model_version, len(rank)))
    return Report(
        source=data.source,
        generated_at=generated_at,
        versions=versions,
        clients=summarise(records, data.drafts, by=("model_version", "client")),
        weekly=summarise(records, data.drafts, by=("model_version", "week")),
        order=[g.model_version for g in versions],
        comparison=compare_versions(records, *compare, seed=seed) if compare else [],
        annotators=annotator_agreement(records),
        judges=[
            judge_agreement(name, scores, records)
            for name, scores in sorted(data.judge_scores.items())
        ],
        rejected=data.rejected,
        style_rules=adherence(
            ((r.client, r.model_version, r.draft, r.data) for r in records if r.draft), learned
        )
        if learned is not None
        else [],
        writers=writer_figures(records),
        calibration=score_calibration(records),
    )


def csv_text(rows: Sequence[dict[str, object]]) -> str:
    """Rows as CSV text; columns are the union of keys in first-seen order."""
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(v) for k, v in row.items()})
    return buffer.getvalue()


def _cell(value: object) -> object:
    """A CSV cell; text a spreadsheet would run as a formula gets a leading apostrophe.

    >>> print(_cell('=HYPERLINK("http://x","Acme")'), _cell(-0.5), _cell("Acme"))
    '=HYPERLINK("http://x","Acme") -0.5 Acme
    """
    if isinstance(value, float):
        return f"{value:.6g}"
    return "" if value is None else spreadsheet_safe(value)


def report_files(report: Report) -> dict[str, str]:
    """File name -> CSV text for every table in the report."""
    files = {
        "versions.csv": csv_text([g.as_row() for g in report.versions]),
        "clients.csv": csv_text([g.as_row() for g in report.clients]),
        "weekly.csv": csv_text([g.as_row() for g in report.weekly]),
    }
    if report.comparison:
        files["comparison.csv"] = csv_text([d.as_row() for d in report.comparison])
    if report.annotators is not None:
        files["agreement.csv"] = csv_text([report.annotators.as_row()])
    if report.several_writers:
        files["writers.csv"] = csv_text([w.as_row() for w in report.writers])
    if report.judges:
        files["judge_agreement.csv"] = csv_text([j.as_row() for j in report.judges])
    if report.style_rules:
        files["style_rules.csv"] = csv_text([a.as_row() for a in report.style_rules])
    if report.calibration:
        files["calibration.csv"] = csv_text([c.as_row() for c in report.calibration])
    return files


def write_report(report: Report, html: str, out_dir: Path) -> list[Path]:
    """Write report.html and the CSV files into `out_dir`; return the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in {"report.html": html, **report_files(report)}.items():
        path = out_dir / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def terminal_table(report: Report) -> str:
    """A terse fixed-width table, one line per version, then the comparison sentences."""
    header = (
        f"{'version':<22} {'drafts':>6} {'annot':>6} {'rating (95% CI)':>18} "
        f"{'accepted':>9} {'edit dist':>9} {'lead time':>9}"
    )
    lines = [header]
    for g in report.versions:
        rating = "-"
        if g.rating.value is not None:
            rating = f"{g.rating.value:.2f}"
            if g.rating.low is not None and g.rating.high is not None:
                rating += f" ({g.rating.low:.2f}-{g.rating.high:.2f})"
        accepted = "-" if g.accepted.value is None else f"{g.accepted.value:.0%}"
        distance = "-" if g.edit_distance.value is None else f"{g.edit_distance.value:.3f}"
        lead = "-" if g.lead_time_median is None else f"{g.lead_time_median:.0f}s"
        lines.append(
            f"{g.model_version[:22]:<22} {g.drafts:>6} {g.annotations:>6} {rating:>18} "
            f"{accepted:>9} {distance:>9} {lead:>9}"
        )
    for d in report.comparison:
        lines.append(f"- {d.sentence}" + (f" [{d.warning}]" if d.warning else ""))
    for c in report.calibration:
        lines.append(f"- confidence score, {c.sentence}")
    return "\n".join(lines) + "\n"
