"""`redraft train openai | trl`: turn an export folder into a candidate model version."""

from __future__ import annotations

import contextlib
import sys
from datetime import date
from pathlib import Path
from typing import Any

import click

from redraft.cli.knobs import knob_options
from redraft.settings import Settings
from redraft.training.exportdir import load_export
from redraft.training.registry import open_registry
from redraft.training.trl_lora import TrlParams


def _report(line: str) -> None:
    click.echo(line, err=True)


def _quiet(line: str) -> None:
    """The report of a training process that is not the main one: the main one speaks."""


@click.group("train")
def train() -> None:
    """Train a new model version from an export folder (see `redraft export`).

    \b
    Example:
      redraft train openai ~/.redraft/exports/20261122T101500Z --method dpo
      redraft train trl ~/.redraft/exports/20261122T101500Z
    """


@train.command("openai")
@click.argument("export_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--method",
    type=click.Choice(["supervised", "dpo"]),
    default="supervised",
    show_default=True,
    help="supervised: learn the finals; dpo: prefer the final over the draft.",
)
@click.option("--base-model", default=None, help="Start here instead of the active fine-tune.")
@click.option("--epochs", type=click.IntRange(1, 50), default=None, help="Default: the API's.")
@click.option("--suffix", default=None, help="Fine-tuned model name suffix.")
@click.option("--name", default=None, help="Registry version name (default v<N>).")
@click.option("--base-url", default=None, help="OpenAI-compatible API (env OPENAI_BASE_URL).")
@click.option("--poll-interval", type=float, default=10.0, show_default=True, help="Seconds.")
@click.option("--dry-run", is_flag=True, help="Validate and show the plan; upload nothing.")
@click.option("--today", type=click.DateTime(["%Y-%m-%d"]), default=None, hidden=True)
@click.pass_obj
def train_openai_command(
    settings: Settings,
    export_dir: Path,
    method: str,
    base_model: str | None,
    epochs: int | None,
    suffix: str | None,
    name: str | None,
    base_url: str | None,
    poll_interval: float,
    dry_run: bool,
    today: object,
) -> None:
    """Fine-tune through the OpenAI API and register the result as a candidate.

    Re-running the same command re-attaches to its job (after Ctrl-C too) instead of
    starting a second one. OpenAI stops taking new fine-tuning jobs on 2027-01-06.

    \b
    Example:
      redraft train openai ~/.redraft/exports/20261122T101500Z --method dpo --epochs 2
    """
    from redraft.training import deadline
    from redraft.training.openai_trainer import describe, plan_openai_job, train_openai

    settings = settings.with_overrides(openai_base_url=base_url)
    day = today.date() if today is not None else date.today()  # type: ignore[attr-defined]
    export = load_export(export_dir)
    registry = open_registry(settings)
    spec = plan_openai_job(
        export,
        method=method,
        base_model=base_model,
        active=registry.active(export.manifest.project_id),
        fallback_model=settings.model,
        epochs=epochs,
        suffix=suffix,
    )
    if dry_run:
        _report(deadline.closed_message(day) if deadline.is_closed(day) else deadline.notice(day))
        for line in describe(spec):
            click.echo(line)
        _report("dry run: nothing uploaded, no job created")
        return
    from redraft.openai_client import openai_client

    client = openai_client(settings)
    for line in describe(spec):
        _report(line)
    try:
        version = train_openai(
            client,
            registry,
            spec,
            today=day,
            report=_report,
            name=name,
            base_url=settings.openai_base_url,
            poll_interval=poll_interval,
        )
    except KeyboardInterrupt:
        running = registry.by_key(spec.key)
        job = f" {running.job_id}" if running and running.job_id else ""
        _report(
            f"interrupted: the job{job} keeps running at the provider — re-run the same "
            "command to re-attach, or `redraft models cancel NAME` to stop it"
        )
        sys.exit(130)
    click.echo(version.name)
    _report(f"done: {version.name} is {version.status} ({version.model_id})")


# The TrlParams knobs `train trl` offers, in --help order (base_model and output_dir have
# their own options; lora_alpha follows the rank).
_TRL_OPTIONS = (
    "sft_learning_rate",
    "sft_epochs",
    "sft_max_steps",
    "dpo_learning_rate",
    "dpo_epochs",
    "dpo_max_steps",
    "dpo_beta",
    "dpo_sft_weight",
    "lora_r",
    "lora_dropout",
    "batch_size",
    "max_length",
    "precision",
    "start_adapter",
    "max_steps",
    "seed",
    "processes",
    "skip_dpo",
    "extra_sft",
)


@train.command("trl")
@click.argument("export_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--base-model",
    default=None,
    help="HF folder or model id to train instead of the local base model (REDRAFT_LOCAL_MODEL,"
    " default SmolLM2-135M-Instruct); the result is then served by vLLM or Ollama, not locally.",
)
@click.option(
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Run folder; the adapter goes to OUTPUT/adapter (default REDRAFT_HOME/adapters/NAME).",
)
@knob_options(TrlParams, _TRL_OPTIONS)
@click.option(
    "--fresh",
    is_flag=True,
    help="Train a new adapter on the whole export instead of continuing the active local "
    "version's adapter on the annotations new since it (the default, measured better).",
)
@click.option("--name", default=None, help="Registry version (and model id) name.")
@click.option("--serve-url", default=None, help="With --base-model: the URL that will serve it.")
@click.pass_obj
def train_trl_command(
    settings: Settings,
    export_dir: Path,
    base_model: str | None,
    output: Path | None,
    fresh: bool,
    name: str | None,
    serve_url: str | None,
    **knobs: Any,
) -> None:
    """LoRA SFT on the finals, then DPO on the pairs (TRL + PEFT); registers a candidate.

    By default it trains the local base model on the CPU and converts the adapter for
    `redraft local serve`, so the candidate is served (and can be evaluated and promoted)
    at once. When the active version is such a local version, the run continues its adapter
    on the annotations that are new since its export (measured better than a fresh adapter
    on everything; --fresh does that). Needs the extra: pip install 'redraft[train]'.

    Under `accelerate launch` (several processes or GPUs) it runs unchanged: each process
    trains on its share of every step (--batch-size stays the examples per step), and only
    the main process saves the adapter, registers the version and prints its name.

    \b
    Example:
      redraft train trl ~/.redraft/exports/20261122T101500Z
      redraft train trl EXPORT --extra-sft old_openai_training.jsonl   # migrate off OpenAI
      redraft train trl EXPORT --base-model /models/Qwen2.5-1.5B-Instruct --serve-url http://gpu:8000/v1
      accelerate launch --multi_gpu --num_processes 2 $(command -v redraft) train trl EXPORT ...
    """
    from redraft.local.publish import local_target
    from redraft.training.trl_lora import distributed_state, is_main_process, run_lora
    from redraft.training.trl_trainer import (
        continuable,
        require_train_extra,
        train_trl,
    )

    require_train_extra()
    main = is_main_process()
    report = _report if main else _quiet
    export = load_export(export_dir)
    state = distributed_state()  # None for one process
    # The main process creates a new registry before the others read it (they would find an
    # empty file and refuse it as a lost registry).
    with state.main_process_first() if state else contextlib.nullcontext():
        registry = open_registry(settings)
    name = name or registry.next_name()
    local = None
    parent = None
    if base_model is None:
        report("preparing the local base model (dequantised once, then reused)")
        with state.main_process_first() if state else contextlib.nullcontext():
            local = local_target(settings)
        if not fresh and knobs.get("start_adapter") is None:
            parent = continuable(registry, local, export.manifest.project_id)
    since = None
    if parent is not None:
        knobs["start_adapter"] = Path(parent.metrics["adapter"])
        since = Path(parent.export_dir or "")
        report(
            f"continuing {parent.name}'s adapter on the annotations new since its export "
            "(--fresh: a new adapter on everything)"
        )
    params = TrlParams(
        base_model=base_model or str(local.hf_dir if local else ""),
        output_dir=output or settings.home / "adapters" / name,
        since_export=since,
        **knobs,
    )
    if state is not None:
        state.wait_for_everyone()  # every process has its name and base before one registers
    if not main:
        run_lora(export, params, report)  # its share of each step; the main process keeps it
        return
    version = train_trl(
        registry,
        export,
        params,
        report=_report,
        name=name,
        serve_url=serve_url,
        local=local,
        parent=parent.name if parent else None,
    )
    click.echo(version.name)
    sft = version.metrics.get("sft", {})
    dpo = version.metrics.get("dpo", {})
    _report(
        f"done: {version.name} is a candidate — SFT {sft.get('steps', 0)} steps"
        + (f", DPO {dpo.get('steps', 0)} steps" if dpo else "")
        + f" on {version.metrics.get('device', '?')}"
    )
