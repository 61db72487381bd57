"""One export as `redraft export` and auto mode run it: read, write, then tell the other stages.

Around the exporters' pure run: Label Studio (a project's snapshot, golden review tasks),
the project's evaluation set (its pinned briefs stay out of training and it grows with each
export), the active version's template (a fine-tune learns with the prompts it drafts with),
and the draft confidence score (refitted on the exported records).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from redraft.evaluation.evalset import holdout_for_export, update_after_export
from redraft.exporters.golden import GoldenWriter
from redraft.exporters.manifest import ExportManifest
from redraft.exporters.pipeline import run_export
from redraft.exporters.reading import read_file_tasks, read_project_tasks
from redraft.exporters.request import ExportRequest
from redraft.exporters.split import TaskSource, rereadable
from redraft.exporters.tokens import load_counter
from redraft.prompting import TEMPLATES, PromptTemplate, load_template, template_text
from redraft.settings import Settings
from redraft.training.registry import documents_for
from redraft.training.source import active_template
from redraft.wording import counted

Tasks = Iterator[dict[str, Any]]


@dataclass(frozen=True)
class ExportDone:
    """What an export wrote, and one line from each stage it told afterwards."""

    out_dir: Path
    manifest: ExportManifest
    notes: tuple[str, ...] = ()


def export_request(
    settings: Settings,
    request: ExportRequest,
    progress: Callable[[Tasks], Tasks] = lambda tasks: tasks,
) -> ExportDone:
    """Run `request`: read its tasks, write the export folder, update the evaluation set and
    the confidence score when a project was read."""
    golden_writer = _golden_writer(settings, request) if request.golden != "off" else None
    out_dir = request.output or settings.exports_dir / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    with ExitStack() as stack:
        ls_client = None
        if request.needs_label_studio:
            # Imported here: the SDK takes a second to import, and a file export never needs it.
            from redraft.labelstudio.client import session_from_settings

            ls_client = stack.enter_context(session_from_settings(settings))
        project_id = _resolve(ls_client, request.project_ref)
        template_path = (
            request.template_path or settings.template_path or active_template(settings, project_id)
        )
        template = load_template(template_path)
        options = replace(
            request.options,
            golden=request.golden,
            golden_model=golden_writer.model if golden_writer else None,
            project_id=project_id,
        )
        review_sink, reviewed = None, set()
        if request.golden == "review":
            from redraft.labelstudio.golden_review import import_review_tasks, reviewed_annotations

            review_project = _resolve(ls_client, request.review_ref) or project_id
            assert review_project is not None
            reviewed = reviewed_annotations(ls_client, review_project)

            def review_sink(tasks: list[dict[str, Any]]) -> int:
                return import_review_tasks(ls_client, review_project, tasks)

        tasks: TaskSource
        if project_id is not None:
            tasks = progress(
                read_project_tasks(
                    ls_client,
                    project_id,
                    timeout=request.timeout,
                    keep_snapshot=request.keep_snapshot,
                )
            )
        else:
            path = request.from_file
            assert path is not None

            def tasks() -> Tasks:  # a file can be read twice (the split reads it first)
                return progress(read_file_tasks(path))

        source = request.source(project_id, settings.label_studio_url)
        evalset, holdout = holdout_for_export(documents_for(settings), project_id)
        notes: list[str] = []
        # Learning the notes reads the tasks before the export does: spool a read-once source.
        with rereadable(tasks) if request.style_notes else nullcontext(tasks) as reread:
            if request.style_notes:
                noted = _with_style_notes(settings, reread, template_path, template)
                if noted is not None:
                    template_path, template, source["learned_rules"] = noted
                    notes.append(
                        f"style notes: {counted(noted[2], 'rule')} learned from these edits "
                        f"are in the training prompts ({template_path}); the version trained "
                        "on this export drafts with them (--no-style-notes leaves them out)"
                    )
            if template_path is not None:  # the version trained on it drafts with it too
                source["template_path"] = str(Path(template_path).resolve())
            manifest = run_export(
                reread,
                out_dir,
                template,
                load_counter(),
                options,
                source,
                golden_writer,
                review_sink,
                reviewed=reviewed,
                holdout=holdout,
            )
    if project_id is not None:
        notes.append(
            update_after_export(
                documents_for(settings), project_id, evalset, out_dir, manifest.validation_task_ids
            )
        )
        notes.append(_refit_confidence(settings, project_id, out_dir, template))
    return ExportDone(out_dir, manifest, tuple(notes))


def _with_style_notes(
    settings: Settings,
    tasks: Callable[[], Iterable[dict[str, Any]]],
    template_path: Path | None,
    template: PromptTemplate,
) -> tuple[Path, PromptTemplate, int] | None:
    """The template with the style rules mined from these tasks' edits, written under
    REDRAFT_HOME/templates (None when nothing was learned).

    Measured (bench/loop.py, simulated writers): one turn with the learned rules in the
    training prompts cut held-out editing by 76% against 54% without them.
    """
    from redraft.styles.mining import learn_styles
    from redraft.styles.notes import with_learned_notes
    from redraft.styles.source import edit_records

    findings = learn_styles(edit_records(tasks(), template).records)
    base_text = template_text(template_path)
    noted = with_learned_notes(base_text, findings, template.name)
    if noted is None:
        return None
    new, text, rules = noted
    if template_path is not None and text == base_text:  # the template holds these notes already
        return Path(template_path), template, rules
    path = settings.home / TEMPLATES / f"export-{new.sha256[:12]}.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, "utf-8")
    return path, load_template(path), rules


def _refit_confidence(
    settings: Settings, project_id: int, out_dir: Path, template: PromptTemplate
) -> str:
    """Refit the project's draft confidence score on this export's records (all of them)."""
    from redraft.report.errors import ReportInputError
    from redraft.report.sources import from_export_dir
    from redraft.scoring.calibration import refit

    try:
        records = from_export_dir(out_dir).records
    except ReportInputError as exc:
        return f"confidence score not refitted: {exc}"
    return refit(settings.home, project_id, records, template, datetime.now(UTC).isoformat())


def _resolve(client: Any, ref: str | None) -> int | None:
    """A project id from an id or a title (None stays None)."""
    if ref is None:
        return None
    from redraft.labelstudio.project import resolve_project

    return resolve_project(client, ref)


def _golden_writer(settings: Settings, request: ExportRequest) -> GoldenWriter:
    from redraft.openai_client import openai_client

    return GoldenWriter(openai_client(settings), request.golden_model or settings.model)
