"""`redraft ab create|analyze`: blind side-by-side comparison of two model versions."""

from __future__ import annotations

import json
import logging
import random
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from tqdm import tqdm

from redraft.backend.drafting import Drafter
from redraft.cli.knobs import knob_options
from redraft.cli.options import project_option
from redraft.exporters.pipeline import ExportOptions
from redraft.prompting import load_template
from redraft.report.ab import build_ab_tasks
from redraft.report.ab_run import (
    analyze_project,
    create_project,
    draft_briefs,
    read_sidecar,
    resolve_model,
    sidecar_path,
    write_sidecar,
)
from redraft.report.errors import ABError
from redraft.settings import Settings

logger = logging.getLogger(__name__)


@click.group("ab")
def ab() -> None:
    """Blind A/B: the same briefs drafted by two versions, judged side by side.

    \b
    Example:
      redraft ab create --versions v2 v3 --from-project 3 --n 50
      redraft ab analyze --project 7
    """


def _label_studio(settings: Settings) -> AbstractContextManager[Any]:
    from redraft.labelstudio.client import session_from_settings

    return session_from_settings(settings)


def _briefs(settings: Settings, briefs: Path | None, from_project: str | None) -> list[dict]:
    if (briefs is None) == (from_project is None):
        raise ABError("name one source of briefs: --briefs FILE or --from-project ID|TITLE")
    if briefs is not None:
        from redraft.labelstudio.briefs import read_records, validate_records

        parsed = validate_records(read_records(briefs))
        if parsed.errors:
            raise ABError(f"{briefs}: {parsed.errors[0]} — fix the file and retry")
        return [row.data for row in parsed.rows]
    from redraft.labelstudio.client import project_tasks
    from redraft.labelstudio.project import resolve_project

    assert from_project is not None
    with _label_studio(settings) as client:
        project_id = resolve_project(client, from_project)
        return [
            dict(t["data"] or {}) for t in project_tasks(client, project_id, fields="task_only")
        ]


@ab.command("create")
@click.option("--versions", nargs=2, required=True, metavar="A B", help="The two versions.")
@click.option("--briefs", type=click.Path(path_type=Path, dir_okay=False), help="CSV/JSONL.")
@click.option("--from-project", help="Take briefs from this project's tasks (id or title).")
@click.option("--n", "count", default=50, show_default=True, help="Briefs to sample.")
@click.option("--seed", default=0, show_default=True, help="Seed for sampling and sides.")
@click.option("--model-a", help="Model id for version A (default: from the registry).")
@click.option("--model-b", help="Model id for version B (default: from the registry).")
@click.option("--base-url", help="OpenAI-compatible endpoint for both (env OPENAI_BASE_URL).")
@click.option("--title", help="Project title (default: 'A/B: A vs B').")
@click.option("--dry-run", is_flag=True, help="Show what would be drafted; create nothing.")
@click.pass_obj
def create(
    settings: Settings,
    versions: tuple[str, str],
    briefs: Path | None,
    from_project: str | None,
    count: int,
    seed: int,
    model_a: str | None,
    model_b: str | None,
    base_url: str | None,
    title: str | None,
    dry_run: bool,
) -> None:
    """Draft the same briefs with both versions and make a side-by-side project.

    The left/right order is random (seeded, balanced); the mapping is written to
    REDRAFT_HOME/ab/project-<id>.json, never into the tasks annotators see.

    \b
    Example:
      redraft ab create --versions v2 v3 --briefs briefs.csv --n 50
      redraft ab create --versions old new --model-a ft:old --model-b ft:new \\
        --from-project "Acme outreach"
    """
    version_a, version_b = versions
    if version_a == version_b:
        raise ABError("--versions needs two different versions")
    models = [
        resolve_model(settings, version_a, model_a, base_url),
        resolve_model(settings, version_b, model_b, base_url),
    ]
    pool = [b for b in _briefs(settings, briefs, from_project) if b.get("brief")]
    if not pool:
        raise ABError("no briefs with text to draft — check the file or project")
    chosen = pool if len(pool) <= count else random.Random(seed).sample(pool, count)
    if dry_run:
        for m in models:
            click.echo(f"would draft {len(chosen)} briefs with {m.name} ({m.model_id})", err=True)
        click.echo("dry run: nothing drafted, no project created", err=True)
        return
    drafts = []
    drafter = Drafter.from_settings(settings)
    try:
        with tqdm(
            total=2 * len(chosen), desc="drafting", unit="draft", file=None, disable=None
        ) as bar:
            for m in models:
                drafts.append(draft_briefs(drafter, m, chosen, bar.update))
    finally:
        drafter.close()
    tasks, sidecar = build_ab_tasks(chosen, drafts[0], drafts[1], version_a, version_b, seed)
    with _label_studio(settings) as client:
        project_id = create_project(client, title or f"A/B: {version_a} vs {version_b}", tasks)
    sidecar["project_id"] = project_id
    path = sidecar_path(settings, project_id)
    write_sidecar(path, sidecar)
    click.echo(str(project_id))
    click.echo(
        f"created A/B project {project_id} with {len(tasks)} side-by-side tasks "
        f"({version_a} vs {version_b}); mapping in {path}",
        err=True,
    )


@ab.command("analyze")
@project_option
@click.option("--mapping", type=click.Path(path_type=Path, dir_okay=False), help="Sidecar file.")
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, file_okay=False),
    help="New or empty folder for the export (default REDRAFT_HOME/ab/project-<id>/<time>).",
)
@knob_options(ExportOptions, ["validation_ratio"])
@click.pass_obj
def analyze(
    settings: Settings,
    project_ref: str | None,
    mapping: Path | None,
    output: Path | None,
    validation_ratio: float,
) -> None:
    """Win rate with its 95% interval; the decided pairs as an export folder for training.

    Each task counts once: its judgments vote, the side with more votes wins the task, equal
    votes make it a tie. Ties are left out of the win rate (and shown). The folder has the
    layout of `redraft export` (manifest.json, openai_dpo/trl_dpo/trl_sft train and
    validation files, rejects.jsonl), with the winner's draft as `chosen`, so it can go
    straight to `redraft train openai DIR --method dpo` or `redraft train trl DIR`.

    \b
    Example:
      redraft ab analyze --project 7 -o out/ab7
      redraft train openai out/ab7 --method dpo
    """
    from redraft.exporters.tokens import load_counter
    from redraft.labelstudio.project import resolve_project
    from redraft.report.ab_export import write_ab_export

    with _label_studio(settings) as client:
        project_id = resolve_project(client, project_ref)
        sidecar = read_sidecar(mapping or sidecar_path(settings, project_id))
        result = analyze_project(client, project_id, sidecar)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out_dir = output or settings.home / "ab" / f"project-{project_id}" / stamp
    source = {
        "kind": "ab",
        "project_id": project_id,
        "label_studio_url": settings.label_studio_url,
        "version_a": result.version_a,
        "version_b": result.version_b,
    }
    manifest = write_ab_export(
        result,
        out_dir,
        load_template(settings.template_path),
        load_counter(),
        source,
        validation_ratio,
    )
    rate = result.win_rate_b
    pairs = manifest.counts["tasks_exported"]
    summary = {
        "version_a": result.version_a,
        "version_b": result.version_b,
        "wins_a": result.wins_a,
        "wins_b": result.wins_b,
        "ties": result.ties,
        "judgments": result.judgments,
        "win_rate_b": rate.value,
        "win_rate_b_low": rate.low,
        "win_rate_b_high": rate.high,
        "win_rate_b_ties_half": result.win_rate_b_ties_half,
        "p_value": result.p_value,
        "sentence": result.sentence(),
        "preference_pairs": pairs,
    }
    (out_dir / "result.json").write_text(json.dumps(summary, indent=2) + "\n", "utf-8")
    click.echo(result.sentence())
    ready = "ready" if manifest.datasets["openai_dpo"]["ready"] else "not ready for training"
    click.echo(
        f"{result.decided + result.ties} tasks judged ({result.judgments} judgments; "
        f"{result.ties} tied, {result.unmatched} unmatched); wrote {pairs} preference pairs "
        f"({ready}) to {out_dir}",
        err=True,
    )
