"""`redraft eval`: the offline gate before promotion."""

from __future__ import annotations

from pathlib import Path

import click

from redraft.cli.options import project_id_for, project_option
from redraft.evaluation.gate import DEFAULT_MARGIN
from redraft.settings import Settings


@click.command("eval")
@click.argument("candidate")
@click.option("--against", default=None, help="Version to compare with (default: the active one).")
@project_option(help="Label Studio project whose evaluation set judges (id or title).")
@click.option(
    "--export",
    "export_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Export folder to take the briefs from (default: the project's newest).",
)
@click.option(
    "--simulated-writers",
    "rules_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Writers' rules TOML: score what a simulated writer makes of each draft instead.",
)
@click.option(
    "--margin",
    type=click.FloatRange(0, 1),
    default=DEFAULT_MARGIN,
    show_default=True,
    help="Refuse only when the candidate is worse by more than this (edit distance, 0-1).",
)
@click.option("--limit", type=click.IntRange(1), default=None, help="Use the first N briefs.")
@click.pass_obj
def evaluate(
    settings: Settings,
    candidate: str,
    against: str | None,
    project_ref: str | None,
    export_dir: Path | None,
    rules_path: Path | None,
    margin: float,
    limit: int | None,
) -> None:
    """Compare CANDIDATE's drafts with the active version's on pinned evaluation briefs.

    The briefs are the project's pinned evaluation set (validation tasks its exports pinned,
    never trained on; `redraft evalset` shows and grows it). Both versions draft them at
    temperature 0; each draft is compared with the email the writers sent: normalised edit
    distance, accepted-as-is rate, and the paired difference with its 95% interval, overall and
    per client. The verdict refuses a candidate whose drafts are empty, cut off or off-brief
    where the other version's are not, gives none on too few briefs, and otherwise refuses only
    a clearly worse candidate (the sent emails were edited from the active version's drafts,
    which favours it); `redraft models promote` runs the same gate.

    \b
    Example:
      redraft eval v3 --project "Acme outreach"
      redraft eval v3 --against gpt-ft --export ~/.redraft/exports/20261201T090000Z
    """
    from redraft.evaluation.gate import describe
    from redraft.evaluation.run import GateRequest, run_gate
    from redraft.training.registry import open_registry

    request = GateRequest(
        candidate=candidate,
        against=against,
        project_id=project_id_for(settings, project_ref),
        export_dir=export_dir,
        rules_path=rules_path,
        margin=margin,
        limit=limit,
    )
    verdict = run_gate(
        settings,
        open_registry(settings),
        request,
        lambda line: click.echo(line, err=True),
    )
    for line in describe(verdict):
        click.echo(line)


@click.command("evalset")
@project_option(required=True, help="Label Studio project (id or title).")
@click.option(
    "--grow",
    type=click.IntRange(1),
    default=None,
    help="Have the next export hold out N more briefs (that no export trained on) for the set.",
)
@click.pass_obj
def evalset(settings: Settings, project_ref: str, grow: int | None) -> None:
    """Show a project's pinned evaluation set, or grow it with --grow N.

    Prints one line per pinned brief (task id, client, the brief's first words; from the
    project's newest export) and, on stderr, where the set stands: how many briefs the gate
    needs to judge and the size exports grow it to by themselves. `--grow N` asks the next
    `redraft export` to hold out N more annotated briefs that no export trained on (beyond its
    usual validation share, at least one task of each client still trains).

    \b
    Example:
      redraft evalset --project "Acme outreach"
      redraft evalset --project 3 --grow 8 && redraft export --project 3
    """
    from dataclasses import replace

    from redraft.evaluation.evalset import (
        EvalSet,
        load_evalset,
        load_items,
        require_evalset,
        save_evalset,
        standing,
    )
    from redraft.evaluation.gate import briefs
    from redraft.exporters.manifest import latest_export
    from redraft.training.registry import documents_for

    project_id = project_id_for(settings, project_ref)
    assert project_id is not None
    found = load_evalset(documents_for(settings), project_id)
    if grow is not None:
        found = save_evalset(
            documents_for(settings),
            replace(found, grow=found.grow + grow)
            if found is not None
            else EvalSet(project_id, grow=grow),
        )
        click.echo(
            f"the next `redraft export --project {project_id}` holds out {briefs(found.grow)} "
            f"that no export trained on for project {project_id}'s evaluation set "
            f"({briefs(len(found.task_ids))} now) — annotate at least that many new tasks first",
            err=True,
        )
        return
    if found is None:
        found = require_evalset(documents_for(settings), project_id)  # says how to pin one
    export_dir = latest_export(settings.exports_dir, project_id)
    items = {i.task_id: i for i in load_items(export_dir, found.task_ids)} if export_dir else {}
    for task_id in sorted(found.task_ids):
        item = items.get(task_id)
        words = " ".join(str(item.data.get("brief") or "").split()[:10]) if item else ""
        client = (item.client or "(no client)") if item else "(not in the newest export)"
        click.echo(f"{task_id}\t{client}\t{words}")
    trained = len(found.trained_ids) if found.trained_ids is not None else "an unknown number of"
    click.echo(
        f"project {project_id}'s evaluation set: {briefs(len(found.task_ids))}, pinned "
        f"{found.pinned_at or 'earlier'}; exports trained on {trained} other tasks; "
        + standing(found),
        err=True,
    )
