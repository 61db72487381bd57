"""Where one training step's time goes: an SFT step and a DPO step of the default recipe, part
by part, on an export folder (what `redraft train trl` would train on).

Builds the same trainers `redraft train trl` builds (redraft.training.trl_lora), then runs one
optimizer step of each by hand, timing each part: collating a batch, the policy's forward
pass (loss included), DPO's reference forward (the frozen SFT adapter), the backward pass and
the optimizer. On one CPU process a step takes its examples one at a time (gradient
accumulation), as in training. Prints seconds per part and their shares, tokens per example
and how many of them are padding. The step is the same work as in training; the figures are
for one step, so run it on a quiet machine.

    REDRAFT_HOME=DIR .venv/bin/python bench/train_step.py DIR/exports/NAME [--repeat 2]

The export: any `redraft export` folder with trl_sft (and trl_dpo) rows, e.g. one that
`bench/loop.py --home DIR` keeps under DIR/exports/; the base is the local one of REDRAFT_HOME.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any

from redraft.local.base import resolve_base
from redraft.local.publish import local_target
from redraft.settings import Settings
from redraft.training.exportdir import load_export, read_jsonl
from redraft.training.trl_lora import (
    TrlParams,
    build_dpo_trainer,
    build_sft_trainer,
    new_lora,
    require_train_extra,
)


def one_step(trainer: Any, reference: bool) -> dict[str, float]:
    """Seconds per part of one optimizer step, and the step's token counts."""
    import torch

    from redraft.training.reply_logits import shared_prompt_pairs

    parts: dict[str, float] = defaultdict(float)
    model = trainer.model
    model.train()
    if trainer.optimizer is None:
        trainer.create_optimizer()
    batches = iter(trainer.get_train_dataloader())
    for _ in range(trainer.args.gradient_accumulation_steps):
        began = time.perf_counter()
        batch = next(batches)
        parts["collate"] += time.perf_counter() - began
        mask = batch.get("attention_mask")
        parts["tokens"] += float(mask.sum()) if mask is not None else batch["input_ids"].numel()
        parts["padding"] += float(batch["input_ids"].numel()) - (
            float(mask.sum()) if mask is not None else batch["input_ids"].numel()
        )
        if reference:  # DPO: what the model runs, each pair's prompt once (on a CPU)
            shared = shared_prompt_pairs(batch)
            parts["tokens run"] += float(
                shared.input_ids.numel() if shared is not None else batch["input_ids"].numel()
            )
        ref = 0.0
        if reference:
            began = time.perf_counter()
            with torch.no_grad():
                trainer.compute_ref_log_probs(model, batch)
            ref = time.perf_counter() - began
            parts["reference forward"] += ref
        began = time.perf_counter()
        loss = trainer.compute_loss(model, batch)
        # DPO's loss computes the reference inside it too: counted once, above.
        parts["policy forward and loss"] += time.perf_counter() - began - ref
        began = time.perf_counter()
        (loss / trainer.args.gradient_accumulation_steps).backward()
        parts["backward"] += time.perf_counter() - began
    began = time.perf_counter()
    trainer.optimizer.step()
    trainer.optimizer.zero_grad()
    parts["optimizer"] += time.perf_counter() - began
    return dict(parts)


def show(label: str, runs: list[dict[str, float]], examples: int) -> None:
    counts = ("tokens", "padding", "tokens run")
    timed = [k for k in runs[0] if k not in counts]
    median = {k: statistics.median(r[k] for r in runs) for k in timed}
    total = sum(median.values())
    print(f"{label}: {total:.2f} s a step ({examples} examples; median of {len(runs)})")
    for key in timed:
        print(f"  {key:<26} {median[key]:7.2f} s  {median[key] / total:6.1%}")
    tokens, padding = runs[0]["tokens"], runs[0]["padding"]
    print(f"  tokens per example {tokens / examples:.0f}, padding {padding / max(1.0, tokens):.1%}")
    if "tokens run" in runs[0]:
        print(f"  tokens run per example {runs[0]['tokens run'] / examples:.0f} (the prompt once)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("export", type=Path)
    parser.add_argument("--repeat", type=int, default=2, help="steps to time per stage")
    args = parser.parse_args()
    require_train_extra()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    export = load_export(args.export)
    sft_path, dpo_path = export.dataset("trl_sft", "train"), export.dataset("trl_dpo", "train")
    if sft_path is None:
        sys.exit(f"error: {args.export} has no trl_sft rows — pass a `redraft export` folder")
    settings = Settings.from_env()
    hf_dir = str(local_target(settings).hf_dir)
    scratch = tempfile.TemporaryDirectory(prefix="redraft-train-step-")
    params = TrlParams(hf_dir, Path(scratch.name))
    print(f"bench/train_step.py — {resolve_base(settings.local_model).model_id}, {args.export}")
    print(f"torch threads {torch.get_num_threads()}, batch {params.batch_size} examples a step")
    torch.manual_seed(params.seed)
    began = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(hf_dir)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(hf_dir)
    print(f"load model and tokenizer: {time.perf_counter() - began:.1f} s")
    lora = new_lora(params)
    rows = read_jsonl(sft_path)
    began = time.perf_counter()
    sft = build_sft_trainer(model, tokenizer, rows, replace(params, max_steps=args.repeat), lora)
    print(
        f"SFT: tokenise {len(rows)} rows and build the trainer: {time.perf_counter() - began:.1f} s"
    )
    show("SFT step", [one_step(sft, False) for _ in range(args.repeat)], params.batch_size)
    if dpo_path is None:
        print("no DPO pairs in this export: DPO not timed")
        return
    pairs = read_jsonl(dpo_path)
    began = time.perf_counter()
    dpo = build_dpo_trainer(sft.model, tokenizer, pairs, replace(params, max_steps=args.repeat))
    seconds = time.perf_counter() - began
    print(f"DPO: tokenise {len(pairs)} pairs and build the trainer: {seconds:.1f} s")
    # Each DPO example is a pair: chosen and rejected go through the model together.
    show("DPO step", [one_step(dpo, True) for _ in range(args.repeat)], params.batch_size)


if __name__ == "__main__":
    main()
