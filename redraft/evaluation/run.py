"""Run the gate: draft the pinned briefs with both versions, score, and judge."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from redraft.backend.drafting import Drafter
from redraft.backend.versions import ActiveModel, SettingsModelSource
from redraft.evaluation.evalset import (
    EvalSetError,
    export_project,
    load_items,
    pinned_ids,
)
from redraft.evaluation.gate import (
    DEFAULT_MARGIN,
    EvalItem,
    FinalFor,
    Verdict,
    judge,
    outcome,
    sent_final,
)
from redraft.exporters.manifest import latest_export
from redraft.settings import Settings
from redraft.training.registry import Registry
from redraft.training.source import active_model_for

Report = Callable[[str], None]


@dataclass(frozen=True)
class GateRequest:
    """What to compare, on which briefs, measured how."""

    candidate: str
    against: str | None = None  # default: the active version (else the settings' model)
    project_id: int | None = None
    export_dir: Path | None = None  # default: the project's newest export
    rules_path: Path | None = None  # simulated writers: score the writer's edit of each draft
    margin: float = DEFAULT_MARGIN
    limit: int | None = None


def resolve_model(
    settings: Settings, registry: Registry, name: str | None, project_id: int | None = None
) -> ActiveModel:
    """A registry version by name; None means the one the project drafts with (the active
    one), else the settings' model."""
    if name is None:
        version = registry.active(project_id)
        if version is None:
            return SettingsModelSource(settings).active()
        return active_model_for(version, settings)
    return active_model_for(registry.get(name), settings)


def gate_items(
    settings: Settings, request: GateRequest, trained_on: Path | None = None
) -> tuple[list[EvalItem], str]:
    """The evaluation briefs and where they came from: the given export, else the project's
    newest under REDRAFT_HOME, else the export the candidate was trained on."""
    export_dir = request.export_dir or latest_export(settings.exports_dir, request.project_id)
    if export_dir is None and trained_on is not None and (trained_on / "manifest.json").is_file():
        export_dir = trained_on
    if export_dir is None:
        where = f" of project {request.project_id}" if request.project_id else ""
        raise EvalSetError(
            f"no export{where} in {settings.exports_dir} yet — run `redraft export` first"
        )
    project = request.project_id or export_project(export_dir)
    pinned = pinned_ids(settings.home, project) if project is not None else None
    items = load_items(export_dir, pinned)
    if request.limit:
        items = items[: request.limit]
    if not items:
        raise EvalSetError(
            f"{export_dir} holds no evaluation briefs written by people — annotate more tasks "
            "and re-export (each client needs two or more for one to be held out)"
        )
    source = f"project {project}'s pinned set" if pinned is not None else "the export's validation"
    return items, f"{source} ({export_dir.name})"


def writer_finals(rules_path: Path, items: list[EvalItem]) -> tuple[FinalFor, list[EvalItem]]:
    """Simulated writers as the measure, and the items whose client has a writer."""
    from redraft.simulate.rules import load_rules
    from redraft.simulate.writers import simulate_edit

    rules = load_rules(rules_path)

    def final_for(item: EvalItem, draft: str) -> str:
        return simulate_edit(rules[item.client], item.data, draft).final

    return final_for, [item for item in items if item.client in rules]


def run_gate(
    settings: Settings, registry: Registry, request: GateRequest, report: Report
) -> Verdict:
    """Draft every evaluation brief with both versions (temperature 0) and judge."""
    from redraft.local.catalog import ensure_served

    trained_on = registry.get(request.candidate).export_dir
    items, source = gate_items(settings, request, Path(trained_on) if trained_on else None)
    final_for, measure = sent_final, "the emails the writers sent (a proxy that favours the active"
    measure += " version: the writers edited its drafts)"
    if request.rules_path is not None:
        final_for, items = writer_finals(request.rules_path, items)
        measure = "what simulated writers make of each version's own draft"
    candidate = resolve_model(settings, registry, request.candidate, request.project_id)
    against = resolve_model(settings, registry, request.against, request.project_id)
    for model in (candidate, against):  # a just-trained local version: make sure it is served
        if model.base_url and model.base_url.rstrip("/") == settings.local_url:
            ensure_served(model.base_url, model.model_id)
    report(f"drafting {len(items)} briefs from {source} with {candidate.name} and {against.name}")
    drafter = Drafter(settings.with_overrides(temperature=0.0))
    try:
        tasks = [{"id": item.task_id, "data": dict(item.data)} for item in items]
        ours = [o.text for o in drafter.draft_many(tasks, candidate)]
        theirs = [o.text for o in drafter.draft_many(tasks, against)]
    finally:
        drafter.close()
    pairs = [
        (outcome(item, c, final_for), outcome(item, a, final_for))
        for item, c, a in zip(items, ours, theirs, strict=True)
    ]
    return judge(candidate.name, against.name, items, pairs, request.margin, measure)


def promotion_gate(
    settings: Settings,
    registry: Registry,
    request: GateRequest,
    report: Report,
    *,
    force: bool = False,
) -> bool:
    """Run the gate for a promotion and report its verdict; False when it refuses.

    With no evaluation briefs yet (no export, or no held-out brief) the gate says so and lets
    the promotion through; with `force` it never refuses.
    """
    from redraft.evaluation.gate import describe

    try:
        verdict = run_gate(settings, registry, request, report)
    except EvalSetError as exc:
        report(f"evaluation gate skipped: {exc}")
        return True
    for line in describe(verdict):
        report(line)
    if verdict.clearly_worse and force:
        report("--force: promoting despite the verdict")
        return True
    return verdict.passed
