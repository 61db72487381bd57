"""`redraft eval`: the offline gate before promotion."""

from __future__ import annotations

from pathlib import Path

import click

from redraft.settings import Settings


def project_id_for(settings: Settings, ref: str | None) -> int | None:
    """A project id from `--project` (an id, or a title looked up in Label Studio)."""
    if ref is None:
        return None
    if ref.isdigit():
        return int(ref)
    from redraft.labelstudio.client import session_from_settings
    from redraft.labelstudio.project import resolve_project

    with session_from_settings(settings) as client:
        return resolve_project(client, ref)


@click.command("eval")
@click.argument("candidate")
@click.option("--against", default=None, help="Version to compare with (default: the active one).")
@click.option("--project", "project_ref", default=None, help="Project id or title.")
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
    default=0.05,
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

    The briefs are the project's pinned evaluation set (its first export's validation tasks,
    never trained on since). Both versions draft them at temperature 0; each draft is compared
    with the email the writers sent: normalised edit distance, accepted-as-is rate, and the
    paired difference with its 95% interval, overall and per client. Because the sent emails
    were edited from the active version's drafts, the gate refuses only a candidate that is
    clearly worse; `redraft models promote` runs the same gate.

    \b
    Example:
      redraft eval v3 --project "Acme outreach"
      redraft eval v3 --against gpt-ft --export ~/.redraft/exports/20261201T090000Z
    """
    from redraft.evaluation.gate import describe
    from redraft.evaluation.run import GateRequest, run_gate
    from redraft.training.registry import Registry

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
        Registry(settings.registry_path),
        request,
        lambda line: click.echo(line, err=True),
    )
    for line in describe(verdict):
        click.echo(line)
