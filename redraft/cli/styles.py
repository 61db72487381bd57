"""`redraft styles learn|apply`: what the writers keep changing becomes each client's style
notes, reviewed as TOML, then applied as a new drafter version."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from redraft.cli.knobs import knob_options
from redraft.cli.options import (
    from_file_option,
    ls_options,
    ls_session,
    ls_settings,
    project_option,
)
from redraft.errors import TemplateError
from redraft.prompting import template_text
from redraft.settings import Settings
from redraft.styles.mining import MiningOptions
from redraft.wording import counted


@click.group("styles")
def styles() -> None:
    """Learn each client's style rules from the writers' edits; put them into the prompt.

    \b
    Example:
      redraft styles learn --project "Acme outreach" -o styles.toml   # review and edit it
      redraft styles apply styles.toml                                # registers a candidate
    """


@styles.command("learn")
@ls_options
@project_option(help="Label Studio project to learn from (id or title).")
@from_file_option("A Label Studio JSON export instead of a live project.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the TOML fragment here (default: print it).",
)
@knob_options(MiningOptions, ["min_support", "min_share"])
@click.option(
    "--summarise",
    is_flag=True,
    help="Also ask a model for a few plain sentences per client (as comments).",
)
@click.option(
    "--summary-model", default=None, help="Model for --summarise (default: the drafting model)."
)
@click.option(
    "--summary-base-url",
    default=None,
    help="OpenAI-compatible endpoint of --summary-model (default: the drafting model's).",
)
@click.pass_context
def learn(
    ctx: click.Context,
    url: str | None,
    api_key: str | None,
    project_ref: str | None,
    from_file: Path | None,
    output: Path | None,
    min_support: int,
    min_share: float,
    summarise: bool,
    summary_model: str | None,
    summary_base_url: str | None,
) -> None:
    """Mine each client's edits and print reviewable style rules, each with its evidence.

    Finds greetings (as patterns over the recipient), sign-offs, sentences and subject words
    the writers add, phrases they delete or swap, how long the finals are, the issue tags
    ticked most and the themes of the feedback. Review the TOML, then `redraft styles apply`.

    \b
    Example:
      redraft styles learn --project "redraft outreach" -o styles.toml
      redraft styles learn --from-file project-3-at-2026-11-22.json --min-support 5
    """
    from redraft.exporters.reading import read_file_tasks, read_project_tasks
    from redraft.labelstudio.project import resolve_project
    from redraft.prompting import load_template
    from redraft.styles.mining import learn_styles
    from redraft.styles.notes import render_fragment
    from redraft.styles.source import edit_records

    if (project_ref is None) == (from_file is None):
        raise click.UsageError("give exactly one of --project ID|TITLE or --from-file FILE")
    settings = ls_settings(ctx, url, api_key)
    template = load_template(settings.template_path)
    options = MiningOptions(min_support=min_support, min_share=min_share)
    if from_file is not None:
        found = edit_records(read_file_tasks(from_file), template)
        source = str(from_file)
    else:
        assert project_ref is not None
        with ls_session(settings) as client:
            project_id = resolve_project(client, project_ref)
            found = edit_records(read_project_tasks(client, project_id), template)
        source = f"project {project_id}"
    click.echo(found.summary(), err=True)
    if not found.records:
        raise click.ClickException(
            "no completed annotation with a draft to learn from — annotate drafted tasks first"
        )
    findings = learn_styles(found.records, options)
    text = render_fragment(findings, source, options)
    if summarise:
        text += _summaries(settings, findings, summary_model, summary_base_url)
    rules = sum(len(f.rules) for f in findings.values())
    if output is None:
        click.echo(text, nl=False)
    else:
        _write(output, text)
        click.echo(
            f"wrote {counted(rules, 'rule')} for {counted(len(findings), 'client')} to {output}",
            err=True,
        )
        click.echo(f"next: review it, then redraft styles apply {output}", err=True)


@styles.command("apply")
@click.argument("notes_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--template",
    "template_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Template to start from (default: the active version's, REDRAFT_TEMPLATE, or the "
    "shipped default).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the new template (default REDRAFT_HOME/templates/NAME-SHA.toml).",
)
@click.option("--name", default=None, help="Registry version name (default v<N>).")
@click.option("--dry-run", is_flag=True, help="Show the diff; write and register nothing.")
@click.pass_obj
def apply(
    settings: Settings,
    notes_file: Path,
    template_file: Path | None,
    output: Path | None,
    name: str | None,
    dry_run: bool,
) -> None:
    """Merge learned rules into a prompt template and register it as a candidate version.

    Each client's `learned` rules are replaced; its `system` and `style_notes` (written by a
    person) stay. The candidate drafts with the active model and the new template: evaluate
    it (`redraft eval NAME`) and promote it like any other version.

    \b
    Example:
      redraft styles apply styles.toml --dry-run
      redraft styles apply styles.toml && redraft models promote v7
    """
    from redraft.loop.styles_versions import register_notes_version, template_mismatch
    from redraft.styles.notes import apply_notes, checked, read_fragment, template_diff
    from redraft.training.registry import open_registry

    registry = open_registry(settings)
    base_path, base_text = _base_template(settings, registry, template_file)
    learned = read_fragment(_read(notes_file), str(notes_file))
    new_text = apply_notes(base_text, learned)
    new = checked(new_text, "the merged template")
    rules = sum(len(notes) for notes in learned.values())
    diff = template_diff(base_text, new_text, base_path, "new template")
    click.echo(diff or "no change: the template already has these rules", nl=not diff)
    if dry_run or not diff:
        return
    out = output or settings.home / "templates" / f"{new.name}-{new.sha256[:12]}.toml"
    _write(out, new_text)
    warning = template_mismatch(registry, new)
    if warning:
        click.echo(f"warning: {warning}", err=True)
    version = register_notes_version(registry, settings, new, out.resolve(), rules, name)
    click.echo(
        f"registered {version.name}: {version.model_id} with {rules} learned rules "
        f"(template {out})",
        err=True,
    )
    click.echo(
        f"next: redraft eval {version.name}, then redraft models promote {version.name}", err=True
    )


def _base_template(
    settings: Settings, registry: Any, template_file: Path | None
) -> tuple[str, str]:
    active = registry.active()
    own = active.template_path if active is not None else None
    chosen = template_file or own or settings.template_path
    if chosen is None:
        return "default.toml (shipped)", template_text(None)
    return str(chosen), _read(chosen)


def _read(path: Path) -> str:
    try:
        return path.read_text("utf-8")
    except OSError as exc:
        raise TemplateError(f"cannot read {path}: {exc.strerror}") from None


def _write(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, "utf-8")
    except OSError as exc:
        raise click.ClickException(
            f"cannot write {path}: {exc.strerror} — pass -o with a writable path"
        ) from None


def _summaries(settings: Settings, findings: Any, model: str | None, base_url: str | None) -> str:
    """A few plain sentences per client from a model (default: the drafting one), as TOML
    comments; a failure is noted in a comment and the mined rules stand."""
    from dataclasses import replace

    from redraft.openai_client import openai_client
    from redraft.training.registry import open_registry
    from redraft.training.source import RegistryModelSource

    active = RegistryModelSource(settings, open_registry(settings)).active()
    if model or base_url:
        active = replace(active, model_id=model or active.model_id, base_url=base_url)
    lines = [
        "",
        f"# Summaries by {active.model_id} (the rules above stay the source of truth):",
    ]
    try:
        client = openai_client(settings, base_url=active.base_url, api_key=active.api_key)
        for name, found in findings.items():
            evidence = "\n".join(f"- {r.rule} ({r.evidence})" for r in found.rules) or "- none"
            themes = ", ".join(theme for theme, _ in found.feedback_themes) or "none"
            prompt = (
                f"Writers edited outreach emails for the client {name}. Rules mined from their "
                f"edits:\n{evidence}\nRecurring feedback themes: {themes}\n"
                "Summarise this client's style in at most three plain sentences."
            )
            response = client.chat.completions.create(
                model=active.model_id,
                messages=[{"role": "user", "content": prompt}],
                temperature=0.0,
                max_tokens=160,
            )
            text = (response.choices[0].message.content or "").strip()
            lines.append(f"# {name}:")
            lines += [f"#   {line}" for line in text.splitlines() if line.strip()]
    except Exception as exc:  # a summary is optional: say why it is missing, keep the rules
        lines.append(f"# (no summaries: {type(exc).__name__}: {str(exc)[:200]})")
    return "\n".join(lines) + "\n"
