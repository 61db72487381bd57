"""`redraft train trl`: LoRA SFT on finals, then DPO on pairs, with TRL + PEFT.

Heavy imports (torch, transformers, trl, peft, datasets) happen inside functions, so this
module imports without the [train] extra.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redraft.training.errors import ExportFolderError, TrainExtraMissingError
from redraft.training.exportdir import ExportFolder, read_jsonl
from redraft.training.registry import ModelVersion, Registry, process_alive

logger = logging.getLogger(__name__)

Report = Callable[[str], None]
TRAIN_MODULES = ("torch", "transformers", "trl", "peft", "datasets")


@dataclass(frozen=True)
class TrlParams:
    """The knobs of one LoRA run; `max_steps` > 0 caps steps (for smoke tests)."""

    base_model: str
    output_dir: Path
    epochs: float = 1.0
    lora_r: int = 16
    lora_alpha: int | None = None
    learning_rate: float = 2e-4
    batch_size: int = 4
    max_length: int = 1024
    dpo_beta: float = 0.1
    skip_dpo: bool = False
    max_steps: int = -1
    seed: int = 0


def require_train_extra() -> None:
    """Fail with the install command when the [train] extra is missing."""
    import importlib.util

    missing = [name for name in TRAIN_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise TrainExtraMissingError(
            f"`redraft train trl` needs {', '.join(missing)} — install the extra: "
            "pip install 'redraft[train]'"
        )


def serve_instructions(name: str, params: TrlParams, adapter: Path) -> list[str]:
    """How to serve the adapter behind an OpenAI-compatible endpoint the backend can use."""
    return [
        "serve it with vLLM (LoRA adapter on top of the base model):",
        f"  vllm serve {params.base_model} --enable-lora --max-lora-rank {params.lora_r} "
        f"--lora-modules {name}={adapter}",
        "  then: OPENAI_BASE_URL=http://HOST:8000/v1 "
        f"redraft models promote {name}   (model id {name!r})",
        "or merge it for Ollama / llama.cpp:",
        f'  python -c "from peft import AutoPeftModelForCausalLM as M; '
        f"M.from_pretrained('{adapter}').merge_and_unload().save_pretrained('{adapter}-merged')\"",
        f"  (copy the tokenizer from {adapter} too, convert to GGUF, `ollama create {name}`)",
    ]


def _config_kwargs(config_cls: type, **kwargs: Any) -> dict[str, Any]:
    """Keep only the fields this TRL/transformers version knows; turn checkpointing off."""
    known = {f.name for f in dataclasses.fields(config_cls)}
    # transformers 5 renamed gradient_checkpointing; setting the new name avoids its warning.
    flag = "activation_checkpointing" if "activation_checkpointing" in known else None
    if flag is None and "gradient_checkpointing" in known:
        flag = "gradient_checkpointing"
    if flag:
        kwargs[flag] = False
    return {key: value for key, value in kwargs.items() if key in known}


def _common_args(params: TrlParams, output: Path, cuda: bool, bf16: bool) -> dict[str, Any]:
    return {
        "output_dir": str(output),
        "num_train_epochs": params.epochs,
        "max_steps": params.max_steps,
        "per_device_train_batch_size": params.batch_size,
        "learning_rate": params.learning_rate,
        "logging_steps": 1,
        "save_strategy": "no",
        "report_to": "none",
        "seed": params.seed,
        "use_cpu": not cuda,
        "bf16": bf16,
        "fp16": False,
        "max_length": params.max_length,
        "dataloader_num_workers": 0,
    }


def _step_metrics(trainer: Any, started: float) -> dict[str, Any]:
    steps = int(trainer.state.global_step)
    seconds = time.perf_counter() - started
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    return {
        "steps": steps,
        "seconds": round(seconds, 3),
        "seconds_per_step": round(seconds / steps, 4) if steps else None,
        "first_loss": losses[0] if losses else None,
        "last_loss": losses[-1] if losses else None,
    }


def run_lora(
    export: ExportFolder, params: TrlParams, report: Report
) -> tuple[Path, dict[str, Any]]:
    """Train the LoRA adapter (SFT, then DPO if there are pairs); returns (adapter dir, metrics)."""
    require_train_extra()
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer, SFTConfig, SFTTrainer

    sft_path = export.dataset("trl_sft", "train")
    if sft_path is None:
        raise ExportFolderError(
            f"{export.path} has no rows in trl_sft.train.jsonl — annotate more tasks and re-export"
        )
    dpo_path = None if params.skip_dpo else export.dataset("trl_dpo", "train")
    cuda = torch.cuda.is_available()
    bf16 = cuda and torch.cuda.is_bf16_supported()
    torch.manual_seed(params.seed)
    tokenizer = AutoTokenizer.from_pretrained(params.base_model)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(params.base_model)
    lora = LoraConfig(
        r=params.lora_r,
        lora_alpha=params.lora_alpha or 2 * params.lora_r,
        lora_dropout=0.05,
        target_modules="all-linear",
        task_type="CAUSAL_LM",
    )
    metrics: dict[str, Any] = {"device": "cuda" if cuda else "cpu", "lora_r": params.lora_r}

    sft_rows = read_jsonl(sft_path)
    report(f"SFT on {len(sft_rows)} finals from {sft_path.name}")
    common = _common_args(params, params.output_dir / "sft", cuda, bf16)
    sft = SFTTrainer(
        model=model,
        args=SFTConfig(**_config_kwargs(SFTConfig, **common)),
        train_dataset=Dataset.from_list(sft_rows),
        processing_class=tokenizer,
        peft_config=lora,
    )
    started = time.perf_counter()
    sft.train()
    metrics["sft"] = {"rows": len(sft_rows)} | _step_metrics(sft, started)
    policy = sft.model

    if dpo_path is not None:
        dpo_rows = read_jsonl(dpo_path)
        report(f"DPO on {len(dpo_rows)} pairs from {dpo_path.name}")
        common = _common_args(params, params.output_dir / "dpo", cuda, bf16)
        dpo = DPOTrainer(
            model=policy,
            args=DPOConfig(**_config_kwargs(DPOConfig, beta=params.dpo_beta, **common)),
            train_dataset=Dataset.from_list(dpo_rows),
            processing_class=tokenizer,
        )
        started = time.perf_counter()
        dpo.train()
        metrics["dpo"] = {"rows": len(dpo_rows)} | _step_metrics(dpo, started)
        policy = dpo.model
    else:
        report("DPO skipped" + (" (--skip-dpo)" if params.skip_dpo else " (no pairs)"))

    adapter = params.output_dir / "adapter"
    policy.save_pretrained(str(adapter))
    tokenizer.save_pretrained(str(adapter))
    return adapter, metrics


def train_trl(
    registry: Registry,
    export: ExportFolder,
    params: TrlParams,
    *,
    report: Report,
    name: str | None = None,
    serve_url: str | None = None,
    runner: Callable[[ExportFolder, TrlParams, Report], tuple[Path, dict[str, Any]]] = run_lora,
) -> ModelVersion:
    """Reserve the training slot, train the adapter, register it as a candidate."""
    require_train_extra()
    stale = registry.training()
    if stale is not None and stale.trainer == "trl" and not process_alive(stale.pid):
        registry.update(stale.name, status="failed", error="interrupted (process ended)")
        report(f"marked {stale.name} failed: its training process is gone")
    row = registry.add(
        ModelVersion(
            name=name or registry.next_name(),
            model_id="",
            base_url=serve_url,
            base_model=params.base_model,
            trainer="trl",
            manifest_sha256=export.manifest_sha256,
            template_sha256=export.template_sha256,
            status="training",
            export_dir=str(export.path),
            pid=os.getpid(),
        )
    )
    try:
        # transformers prints its step logs to stdout; stdout is for data, so send them to stderr.
        with contextlib.redirect_stdout(sys.stderr):
            adapter, metrics = runner(export, params, report)
    except BaseException as exc:
        registry.update(row.name, status="failed", error=f"{type(exc).__name__}: {exc}"[:500])
        raise
    provenance = {
        "name": row.name,
        "base_model": params.base_model,
        "manifest_sha256": export.manifest_sha256,
        "template_sha256": export.template_sha256,
        "metrics": metrics,
    }
    (adapter / "redraft.json").write_text(json.dumps(provenance, indent=2, sort_keys=True) + "\n")
    version = registry.update(
        row.name,
        status="candidate",
        model_id=row.name,
        metrics=metrics | {"adapter": str(adapter)},
        pid=None,
    )
    report(f"registered {version.name} (adapter {adapter}) as a candidate")
    for line in serve_instructions(version.name, params, adapter):
        report(line)
    return version
