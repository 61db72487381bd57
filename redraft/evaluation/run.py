"""Run the gate: draft the pinned briefs with both versions, score, and judge."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from redraft.backend.drafting import Drafter
from redraft.backend.versions import ActiveModel, SettingsModelSource
from redraft.errors import RedraftError
from redraft.evaluation.evalset import (
    EvalSetError,
    export_project,
    load_items,
    require_evalset,
)
from redraft.evaluation.gate import (
    DEFAULT_MARGIN,
    MIN_EVAL_BRIEFS,
    EvalItem,
    FinalFor,
    Verdict,
    briefs,
    judge,
    outcome,
    sent_final,
)
from redraft.exporters.manifest import latest_export
from redraft.settings import Settings
from redraft.training.registry import Registry, documents_for
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
    # A project's briefs are its pinned set, which must be there and readable: the gate fails
    # closed. A file export (no project) has only its own validation tasks.
    pinned = (
        require_evalset(documents_for(settings), project).task_ids if project is not None else None
    )
    items = load_items(export_dir, pinned)
    if request.limit:
        items = items[: request.limit]
    if not items:
        raise EvalSetError(
            f"{export_dir} holds none of the evaluation briefs — annotate more tasks and "
            "re-export (each client needs two or more for one to be held out)"
        )
    source = f"project {project}'s pinned set" if pinned is not None else "the export's validation"
    missing = len(pinned) - len(items) if pinned is not None and not request.limit else 0
    if missing > 0:
        source += f", {missing} of its {len(pinned)} not in this export"
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
    from redraft.local.address import local_server_url
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
        if model.base_url and model.base_url.rstrip("/") == local_server_url(settings):
            ensure_served(model.base_url, model.model_id)
    report(f"drafting {len(items)} briefs from {source} with {candidate.name} and {against.name}")
    drafter = Drafter(settings.with_overrides(temperature=0.0))
    try:
        tasks = [{"id": item.task_id, "data": dict(item.data)} for item in items]
        ours = drafter.draft_many(tasks, candidate)
        theirs = drafter.draft_many(tasks, against)
    finally:
        drafter.close()
    pairs = [
        (
            outcome(item, c.text, final_for, c.error, c.error_kind, c.truncated),
            outcome(item, a.text, final_for, a.error, a.error_kind, a.truncated),
        )
        for item, c, a in zip(items, ours, theirs, strict=True)
    ]
    return judge(candidate.name, against.name, items, pairs, request.margin, measure)


class GateRefused(RedraftError):
    """The evaluation gate refused a promotion; the message says why and what to do."""


def promotion_gate(
    settings: Settings,
    registry: Registry,
    request: GateRequest,
    report: Report,
    *,
    force: bool = False,
) -> None:
    """Run the gate for a promotion and report its verdict; raises GateRefused when it refuses.

    The gate fails closed: no evaluation set (or a damaged one), too few briefs, faulty drafts
    or a clearly worse candidate all refuse. With `force` it reports and never refuses.
    """
    from redraft.evaluation.gate import describe

    name = request.candidate
    where = f" --project {request.project_id}" if request.project_id is not None else ""
    override = f"`redraft models promote {name}{where} --force`"
    try:
        verdict = run_gate(settings, registry, request, report)
    except EvalSetError as exc:
        if force:
            report(f"evaluation gate: {exc}")
            report(f"--force: promoting {name} without a verdict")
            return
        raise GateRefused(
            f"not promoted: the evaluation gate cannot judge {name}: {exc}; or {override}"
        ) from None
    for line in describe(verdict):
        report(line)
    reason = verdict.refusal()
    if reason is None:
        return
    if force:
        report(f"--force: promoting {name} despite the verdict")
        return
    raise GateRefused(f"not promoted: {reason} — {_remedy(verdict, request)}, or {override}")


def _remedy(verdict: Verdict, request: GateRequest) -> str:
    """What to do about a refusal, short of --force."""
    if verdict.state == "too few":
        project = request.project_id
        short = max(1, MIN_EVAL_BRIEFS - verdict.overall.n)
        if project is None:
            return (
                f"annotate more and export again until the set holds {MIN_EVAL_BRIEFS} "
                f"({briefs(verdict.overall.n)} now)"
            )
        return (
            f"grow project {project}'s set: `redraft evalset --project {project} --grow {short}`, "
            f"annotate at least {short} more tasks, `redraft export --project {project}`"
        )
    if verdict.state == "faulty":
        return "check what its endpoint answers (`redraft eval` shows the faulty drafts)"
    return "keep collecting feedback and train again"
