"""The LoRA run behind `redraft train trl`: SFT on the finals, then DPO on the pairs.

Heavy imports (torch, transformers, trl, peft, datasets) happen inside functions, so this
module imports without the [train] extra.

- SFT rows become prompt/completion pairs (the conversation so far, then the assistant's
  final), so TRL takes the loss on the completion only: the system prompt and the brief are
  context, not something to learn. This works with any chat template; `assistant_only_loss`
  would need `{% generation %}` markers that most templates lack.
- Several processes (`accelerate launch`, torch.distributed): each trains on its share of
  every batch, so `batch_size` stays the examples per optimizer step across all of them; only
  the main process saves the adapter (and only it registers the version: `redraft.cli.train`).
- DPO continues the SFT adapter. TRL (>= 1.x with peft >= 0.20) copies a PeftModel's
  "default" adapter into a frozen "ref" adapter and computes the reference log-probs with it,
  so the reference is the SFT policy, not the base model. `run_lora` checks that the copy
  exists and refuses to train against the base model otherwise.
- On a CPU both stages use redraft.training.reply_logits's subclasses of TRL's trainers: the
  same losses from the reply's logits only, and DPO with each pair's prompt run once.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redraft.knobs import knob
from redraft.training.errors import ExportFolderError, TrainExtraMissingError, TrainingFailedError
from redraft.training.exportdir import ExportFolder, read_jsonl
from redraft.training.migration import read_openai_sft
from redraft.wording import counted

Report = Callable[[str], None]
TRAIN_MODULES = ("torch", "transformers", "trl", "peft", "datasets")
REF_ADAPTER = "ref"  # the name TRL gives the frozen copy of the SFT adapter


PRECISIONS = ("auto", "bf16", "fp32")
# Knobs that are paths: recorded apart (as text), not among a run's params.
PATH_KNOBS = ("base_model", "output_dir", "extra_sft", "start_adapter", "since_export")


@dataclass(frozen=True)
class TrlParams:
    """The knobs of one LoRA run; each field's help is also its CLI option's help.

    SFT and DPO get their own learning rate and step budget: one shared rate breaks the loop
    (measured on SmolLM2-135M: at 2e-4 SFT learns nothing visible in 30 steps; at 1e-3 DPO
    turns the model into gibberish in 5 steps). The defaults come from bench/loop.py.
    """

    base_model: str
    output_dir: Path
    sft_learning_rate: float = knob(1e-3, "SFT peak learning rate.")
    sft_epochs: float = knob(3.0, "SFT passes over the finals.")
    sft_max_steps: int = knob(40, "Cap on SFT optimizer steps (-1: no cap).")
    dpo_learning_rate: float = knob(5e-5, "DPO peak learning rate (keep it far below SFT's).")
    dpo_epochs: float = knob(1.0, "DPO passes over the pairs.")
    dpo_max_steps: int = knob(8, "Cap on DPO optimizer steps (-1: no cap).")
    dpo_beta: float = knob(0.1, "DPO beta: how far the policy may move from the SFT reference.")
    dpo_sft_weight: float = knob(
        1.0, "Weight of an SFT (NLL) term on the chosen reply in the DPO loss; 0 turns it off."
    )
    lora_r: int = knob(16, "LoRA rank.")
    lora_alpha: int | None = knob(None, "LoRA alpha (default 2 x rank).", kind=int)
    lora_dropout: float = knob(
        0.0,
        "Dropout on each adapted layer's input (a fresh random mask per layer and example: "
        "at 0.05 it took a sixth of a CPU step).",
        bounds=(0, 0.9),
    )
    batch_size: int = knob(4, "Examples per optimizer step.")
    max_length: int = knob(1024, "Longest tokenised example; longer ones are truncated.")
    precision: str = knob(
        "auto",
        "bf16 mixed precision or plain fp32; auto: bf16 where the GPU or the CPU (AMX, "
        "AVX512-BF16) computes it natively, else fp32.",
        choices=PRECISIONS,
    )
    start_adapter: Path | None = knob(
        None,
        "Continue training this LoRA adapter folder instead of a fresh adapter.",
        kind="folder",
    )
    since_export: Path | None = knob(
        None,
        "With start_adapter: the export the adapter was trained on; only rows not in it are used.",
        cli=False,
    )
    skip_dpo: bool = knob(False, "Only SFT on the finals.")
    max_steps: int = knob(-1, "Cap steps of every stage (smoke runs; -1: the stage budgets).")
    extra_sft: tuple[Path, ...] = knob(
        (),
        'An OpenAI fine-tuning file ({"messages": [...]} JSONL) to learn as well; repeatable.',
        kind="files",
    )
    seed: int = knob(0, "Random seed.")
    processes: int = knob(
        0,
        "Training processes on a CPU (0: in bf16 one per core, as many as split --batch-size "
        "evenly and fit in memory, in fp32 one; a small model gains more from a second "
        "process than from a second bf16 thread).",
        bounds=(0, 64),
    )

    def stage_steps(self, stage: str, rows: int) -> int:
        """Optimizer steps for `stage` ("sft" or "dpo") over `rows` examples: its epochs,
        capped by its step budget and by max_steps (TRL would let a step cap override epochs).

        >>> p = TrlParams("m", Path("o"))
        >>> p.stage_steps("sft", 50), p.stage_steps("sft", 500), p.stage_steps("dpo", 10)
        (39, 40, 3)
        >>> dataclasses.replace(p, max_steps=2).stage_steps("sft", 50)
        2
        """
        epochs = self.sft_epochs if stage == "sft" else self.dpo_epochs
        steps = max(1, math.ceil(math.ceil(rows / self.batch_size) * epochs))
        budget = self.sft_max_steps if stage == "sft" else self.dpo_max_steps
        for cap in (budget, self.max_steps):
            if cap > 0:
                steps = min(steps, cap)
        return steps


def require_train_extra() -> None:
    """Fail with the install command when the [train] extra is missing."""
    import importlib.util

    from redraft.install import install_hint

    missing = [name for name in TRAIN_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise TrainExtraMissingError(
            f"`redraft train trl` needs {', '.join(missing)} — install the extra: "
            f"{install_hint('train')}"
        )


def sft_example(row: dict[str, Any]) -> dict[str, Any]:
    """A trl_sft `messages` row as a conversational prompt/completion pair (loss on the reply).

    >>> user, reply = {"role": "user", "content": "Hi?"}, {"role": "assistant", "content": "Yo."}
    >>> sft_example({"messages": [user, reply]}) == {"prompt": [user], "completion": [reply]}
    True
    """
    messages = row["messages"]
    if not messages or messages[-1].get("role") != "assistant":
        raise ExportFolderError(
            "a trl_sft row does not end with an assistant message — re-run `redraft export`"
        )
    return {"prompt": messages[:-1], "completion": messages[-1:]}


def process_rank() -> int:
    """This process's rank among those `accelerate launch` / torchrun started (0 alone)."""
    return int(os.environ.get("RANK", "0"))


def world_size() -> int:
    """How many processes train together (`WORLD_SIZE`, which the launchers set; 1 alone)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    """True in the process that saves the adapter and registers the version."""
    return process_rank() == 0


def distributed_state() -> Any:
    """accelerate's state of this process group (set up now), or None for a single process.

    Its `main_process_first()` and `wait_for_everyone()` order the work around training; the
    trainers then join the same group (on CPU with gloo).
    """
    if world_size() == 1:
        return None
    import torch
    from accelerate import PartialState

    return PartialState(cpu=not torch.cuda.is_available())


def per_process_batch(batch_size: int, processes: int) -> int:
    """Each process's share of a `batch_size` step (the step stays `batch_size` examples).

    >>> per_process_batch(4, 1), per_process_batch(4, 2)
    (4, 2)
    >>> per_process_batch(3, 2)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    redraft.training.errors.TrainingFailedError: --batch-size 3 does not split over 2 ...
    """
    if batch_size % processes:
        raise TrainingFailedError(
            f"--batch-size {batch_size} does not split over {processes} training processes — "
            f"use a multiple of {processes} (each process takes an equal share of a step)"
        )
    return batch_size // processes


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


def resolve_precision(requested: str, cuda: bool) -> str:
    """The precision a run uses: `requested`, or for "auto" bf16 where it is native.

    Measured on a 2-core AMX CPU (bench/loop.py, SmolLM2-135M LoRA): SFT 9.3 vs 13.8 s and DPO
    20.3 vs 42.9 s per step under bf16 autocast vs fp32. Where bf16 is emulated (no AMX, no
    AVX512-BF16) it is slower than fp32, so auto stays fp32 there.
    """
    if requested not in PRECISIONS:
        raise TrainingFailedError(
            f"unknown precision {requested!r} — use one of: {', '.join(PRECISIONS)}"
        )
    if requested != "auto":
        return requested
    import torch

    if cuda:
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    probes = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    native = any(getattr(torch.cpu, name, lambda: False)() for name in probes)
    return "bf16" if native else "fp32"


def _common_args(
    params: TrlParams, stage: str, rows: int, cuda: bool, bf16: bool
) -> dict[str, Any]:
    processes = world_size()
    share = per_process_batch(params.batch_size, processes)
    # One process on a CPU takes a step's examples one at a time and adds up their gradients:
    # the same step, with a quarter of the memory at the default 4 (a 49k-token vocabulary
    # makes each example's logits ~100 MB in fp32, and DPO keeps several copies of them).
    # Not under several processes: there accumulation doubled the step of a 2-process run
    # (tests/test_train_distributed.py), and each process already holds only its share.
    micro = 1 if not cuda and processes == 1 else share
    return {
        "output_dir": str(params.output_dir / stage),
        "num_train_epochs": params.sft_epochs if stage == "sft" else params.dpo_epochs,
        "max_steps": params.stage_steps(stage, rows),
        "per_device_train_batch_size": micro,
        "gradient_accumulation_steps": share // micro,
        "learning_rate": params.sft_learning_rate if stage == "sft" else params.dpo_learning_rate,
        "logging_steps": 1,
        "save_strategy": "no",
        "report_to": "none",
        "seed": params.seed,
        "use_cpu": not cuda,
        "bf16": bf16,
        "fp16": False,
        "max_length": params.max_length,
        "dataloader_num_workers": 0,
        # Every LoRA weight takes part in every step: without this, the Trainer has DDP walk
        # the autograd graph after each backward pass looking for unused ones (a PeftModel is
        # not a PreTrainedModel, so it does not assume none).
        "ddp_find_unused_parameters": False,
    }


def _step_timer() -> Any:
    """A TrainerCallback that times each optimizer step (the loop only, not setup)."""
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def __init__(self) -> None:
            self.seconds: list[float] = []
            self._began = 0.0

        def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self._began = time.perf_counter()

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.seconds.append(time.perf_counter() - self._began)

    return StepTimer()


def step_figures(step_seconds: list[float]) -> dict[str, float | None]:
    """Per-step time: the first step apart (warm-up), the median of the others.

    >>> step_figures([2.0, 0.5, 0.7, 0.6])
    {'first_step_seconds': 2.0, 'seconds_per_step': 0.6}
    >>> step_figures([1.5])
    {'first_step_seconds': 1.5, 'seconds_per_step': 1.5}
    """
    if not step_seconds:
        return {"first_step_seconds": None, "seconds_per_step": None}
    steady = step_seconds[1:] or step_seconds
    return {
        "first_step_seconds": round(step_seconds[0], 4),
        "seconds_per_step": round(statistics.median(steady), 4),
    }


def _phase_metrics(trainer: Any, timer: Any, started: float) -> dict[str, Any]:
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    return {
        "steps": int(trainer.state.global_step),
        "seconds": round(time.perf_counter() - started, 3),
        **step_figures(timer.seconds),
        "first_loss": losses[0] if losses else None,
        "last_loss": losses[-1] if losses else None,
    }


def _sft_trainer_class(cuda: bool) -> Any:
    """TRL's SFTTrainer on a GPU (its fused head scores only the reply there); elsewhere the
    subclass that asks the model for the reply's logits only (redraft.training.reply_logits)."""
    if cuda:
        from trl import SFTTrainer

        return SFTTrainer
    from redraft.training.reply_logits import ReplyOnlySFTTrainer

    return ReplyOnlySFTTrainer


def _dpo_trainer_class(cuda: bool) -> Any:
    """As `_sft_trainer_class`, for DPO."""
    if cuda:
        from trl import DPOTrainer

        return DPOTrainer
    from redraft.training.reply_logits import ReplyOnlyDPOTrainer

    return ReplyOnlyDPOTrainer


def build_sft_trainer(
    model: Any, tokenizer: Any, rows: list[dict[str, Any]], params: TrlParams, lora: Any
) -> Any:
    """An SFTTrainer with a fresh LoRA adapter and the loss on the completions only."""
    import torch
    from datasets import Dataset
    from trl import SFTConfig

    cuda = torch.cuda.is_available()
    bf16 = resolve_precision(params.precision, cuda) == "bf16"
    common = _common_args(params, "sft", len(rows), cuda, bf16)
    config = SFTConfig(**_config_kwargs(SFTConfig, completion_only_loss=True, **common))
    return _sft_trainer_class(cuda)(
        model=model,
        args=config,
        train_dataset=Dataset.from_list([sft_example(row) for row in rows]),
        processing_class=tokenizer,
        peft_config=lora,  # None when `model` already carries the adapter to continue
    )


def build_dpo_trainer(
    policy: Any, tokenizer: Any, rows: list[dict[str, Any]], params: TrlParams
) -> Any:
    """A DPOTrainer that continues the SFT adapter, with a frozen copy of it as reference."""
    import torch
    from datasets import Dataset
    from trl import DPOConfig

    cuda = torch.cuda.is_available()
    bf16 = resolve_precision(params.precision, cuda) == "bf16"
    common = _common_args(params, "dpo", len(rows), cuda, bf16)
    # An NLL term on the chosen reply keeps DPO from drifting away from fluent text (RPO).
    loss: dict[str, Any] = {"loss_type": ["sigmoid"]}
    if params.dpo_sft_weight > 0:
        loss = {"loss_type": ["sigmoid", "sft"], "loss_weights": [1.0, params.dpo_sft_weight]}
    trainer = _dpo_trainer_class(cuda)(
        model=policy,
        args=DPOConfig(**_config_kwargs(DPOConfig, beta=params.dpo_beta, **loss, **common)),
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
    )
    if REF_ADAPTER not in getattr(trainer.model, "peft_config", {}):
        raise TrainingFailedError(
            "this TRL/PEFT version would use the base model, not the SFT adapter, as the DPO "
            "reference — upgrade: pip install 'trl>=1.16' 'peft>=0.20' (or pass --skip-dpo)"
        )
    return trainer


def new_rows(
    rows: list[dict[str, Any]], since_export: Path | None, file_name: str
) -> list[dict[str, Any]]:
    """The rows that were not in `since_export`'s file of the same name (all without one).

    Rows are compared whole: the same annotation under the same template gives the same row.

    >>> new_rows([{"a": 1}, {"a": 2}], None, "x.jsonl")
    [{'a': 1}, {'a': 2}]
    """
    old = since_export / file_name if since_export is not None else None
    if old is None or not old.is_file():
        return rows
    seen = {json.dumps(row, sort_keys=True) for row in read_jsonl(old)}
    return [row for row in rows if json.dumps(row, sort_keys=True) not in seen]


def _continued(model: Any, adapter: Path, dropout: float) -> Any:
    """`model` wrapped with a trainable copy of an earlier run's adapter, with this run's
    dropout (an adapter keeps the dropout it was trained with otherwise)."""
    from peft import PeftConfig, PeftModel

    if not (adapter / "adapter_config.json").is_file():
        raise TrainingFailedError(
            f"{adapter} is not a LoRA adapter folder (no adapter_config.json) — pass the "
            "`adapter` folder of an earlier `redraft train trl` run"
        )
    config = PeftConfig.from_pretrained(str(adapter))
    config.lora_dropout = dropout
    return PeftModel.from_pretrained(model, str(adapter), is_trainable=True, config=config)


def run_lora(
    export: ExportFolder, params: TrlParams, report: Report
) -> tuple[Path, dict[str, Any]]:
    """Train the LoRA adapter (SFT, then DPO if there are pairs); returns (adapter dir, metrics).

    On a CPU with several cores that trains in bf16 the run is split over one process per core
    (redraft.training.cpu_processes) unless `params.processes` says how many, or a launcher
    already started this process as one of several.
    """
    processes = params.processes or default_processes(params)
    if processes > 1 and world_size() == 1:
        require_train_extra()
        import torch

        if torch.cuda.is_available():
            raise TrainingFailedError(
                f"--processes {processes} splits a run over a CPU's cores — on GPUs start one "
                "process per GPU with `accelerate launch` instead (docs/training.md)"
            )
        from redraft.training.cpu_processes import run_on_cores

        return run_on_cores(export.path, params, report, processes)  # type: ignore[no-any-return]
    return train_here(export, params, report)


def default_processes(params: TrlParams) -> int:
    """One training process per core on a CPU that trains in bf16
    (cpu_processes.training_processes); one in fp32, on a GPU, under a launcher, or for a base
    whose size is not known here (a hub id).

    Measured on two cores, the turn's export: in bf16 two processes took SFT steps 1.24x and
    DPO steps 1.31x faster than one; in fp32 SFT 1.09x and DPO 0.95x (torch's second thread
    gains more on fp32 arithmetic, and each process pads its share of a step to one batch).
    """
    if world_size() > 1:
        return 1
    require_train_extra()
    import torch

    if torch.cuda.is_available() or resolve_precision(params.precision, cuda=False) != "bf16":
        return 1
    folder = Path(params.base_model)
    weights = [f for pattern in ("*.safetensors", "*.bin") for f in folder.glob(pattern)]
    if not weights:
        return 1
    from redraft.machine import available_memory, usable_cores
    from redraft.training.cpu_processes import training_processes

    size = sum(f.stat().st_size for f in weights)
    return training_processes(params.batch_size, usable_cores(), size, available_memory())


def train_here(
    export: ExportFolder, params: TrlParams, report: Report
) -> tuple[Path, dict[str, Any]]:
    """`run_lora` in this process (alone, or as one of several a launcher started)."""
    with warnings.catch_warnings():
        # peft 0.21 reads transformers 5's deprecated `is_gradient_checkpointing` on every
        # model it wraps; nothing a user can act on, so it is not shown.
        warnings.filterwarnings(
            "ignore", message=".*is_gradient_checkpointing.*deprecated", category=FutureWarning
        )
        return _run_lora(export, params, report)


def new_lora(params: TrlParams) -> Any:
    """The LoRA adapter a fresh run trains: every linear layer; rank, alpha and dropout from
    `params`."""
    from peft import LoraConfig

    return LoraConfig(
        r=params.lora_r,
        lora_alpha=params.lora_alpha or 2 * params.lora_r,
        lora_dropout=params.lora_dropout,
        target_modules="all-linear",
        task_type="CAUSAL_LM",
    )


def _run_lora(
    export: ExportFolder, params: TrlParams, report: Report
) -> tuple[Path, dict[str, Any]]:
    require_train_extra()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    sft_path = export.dataset("trl_sft", "train")
    if sft_path is None:
        raise ExportFolderError(
            f"{export.path} has no rows in trl_sft.train.jsonl — annotate more tasks and re-export"
        )
    dpo_path = None if params.skip_dpo else export.dataset("trl_dpo", "train")
    torch.manual_seed(params.seed)
    tokenizer = AutoTokenizer.from_pretrained(params.base_model)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(params.base_model)
    lora = new_lora(params)
    if params.start_adapter is not None:
        model = _continued(model, params.start_adapter, params.lora_dropout)
        lora = None
    device = "cuda" if torch.cuda.is_available() else "cpu"
    metrics: dict[str, Any] = {
        "device": device,
        "processes": world_size(),
        "precision": resolve_precision(params.precision, device == "cuda"),
        "lora_r": params.lora_r,
        "params": {
            f.name: getattr(params, f.name)
            for f in dataclasses.fields(params)
            if f.name
            not in ("base_model", "output_dir", "extra_sft", "start_adapter", "since_export")
        },
        "start_adapter": str(params.start_adapter) if params.start_adapter else None,
        "since_export": str(params.since_export) if params.since_export else None,
    }

    sft_rows = new_rows(read_jsonl(sft_path), params.since_export, sft_path.name)
    if not sft_rows:
        raise TrainingFailedError(
            f"no annotation in {export.path} is new since {params.since_export} — annotate "
            "more, or train a fresh adapter on everything with --fresh"
        )
    report(f"SFT on {len(sft_rows)} finals from {sft_path.name} (loss on the replies only)")
    for extra in params.extra_sft:
        rows = read_openai_sft(extra)
        report(f"  + {counted(len(rows), 'row')} from {extra} (earlier fine-tuning data)")
        sft_rows += rows
    sft = build_sft_trainer(model, tokenizer, sft_rows, params, lora)
    timer = _step_timer()
    sft.add_callback(timer)
    started = time.perf_counter()
    sft.train()
    metrics["sft"] = {"rows": len(sft_rows)} | _phase_metrics(sft, timer, started)
    policy = sft.model

    dpo_rows: list[dict[str, Any]] = []
    if dpo_path is not None:
        dpo_rows = new_rows(read_jsonl(dpo_path), params.since_export, dpo_path.name)
    if dpo_path is not None and dpo_rows:
        report(
            f"DPO on {counted(len(dpo_rows), 'pair')} from {dpo_path.name} (reference: the SFT "
            "adapter)"
        )
        dpo = build_dpo_trainer(policy, tokenizer, dpo_rows, params)
        timer = _step_timer()
        dpo.add_callback(timer)
        started = time.perf_counter()
        dpo.train()
        first = next((e for e in dpo.state.log_history if "rewards/margins" in e), {})
        metrics["dpo"] = {
            "rows": len(dpo_rows),
            "reference": "sft-adapter",
            "first_rewards_margin": first.get("rewards/margins"),
        } | _phase_metrics(dpo, timer, started)
        policy = dpo.model
    else:
        report("DPO skipped" + (" (--skip-dpo)" if params.skip_dpo else " (no pairs)"))

    adapter = params.output_dir / "adapter"
    if is_main_process():  # the others trained their shares; one copy of the result
        # Only the trained adapter: DPO's frozen reference copy is not part of the model.
        policy.save_pretrained(str(adapter), selected_adapters=["default"])
        tokenizer.save_pretrained(str(adapter))
    return adapter, metrics
