"""SFT and DPO losses from the logits of the reply tokens only (training on a CPU).

The loss reads only the reply's tokens, but TRL 1.16's trainers put every position of a
sequence through the 49k-word output layer wherever Triton does not run (a CPU): the prompt's
positions too, with their entropy and top-1 metrics. On SmolLM2-135M that was about a quarter of
a step's forward and backward (bench/train_step.py). These trainers ask the model for the
logits of the positions that predict a reply token (`logits_to_keep` with their indexes) and
compute TRL's losses from them: the same numbers, less work.

DPO also puts each pair through the model as one sequence, its prompt once: TRL runs the
prompt twice, before the chosen reply and again before the rejected one. The rejected reply's
tokens are masked from the chosen one's and both take the positions that follow the prompt,
so every token sees exactly what it sees in TRL's two sequences.

Only what `redraft train trl` configures is supported (NLL for SFT; sigmoid DPO with an
optional SFT term, the reference an adapter of the policy); anything else is refused when the
trainer is built. Import this module only with the [train] extra installed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from trl import DPOTrainer, SFTTrainer
from trl.trainer.utils import use_adapter

from redraft.training.errors import TrainingFailedError

IGNORED = -100  # the label of a token that carries no loss
DPO_LOSSES = {"sigmoid", "sft"}
DPO_ONLY_KEYS = ("completion_mask", "ref_chosen_logps", "ref_rejected_logps")


def reply_log_probs(
    model: Any, inputs: dict[str, Any], labels: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """log p(label) at each reply position, and which of those positions carry a label.

    The positions kept are those whose next token is a reply token in any row of the batch;
    both tensors have shape (rows, positions kept). The logits of position t predict token
    t + 1, so labels are shifted by one, as in the model's own loss.
    """
    targets = labels[:, 1:]
    keep = (targets != IGNORED).any(dim=0).nonzero().squeeze(1)
    if keep.numel() == 0:
        # No reply token: one position, masked out, so the loss is a differentiable zero.
        keep = torch.tensor([targets.size(1) - 1], device=targets.device)
    logits = model(**inputs, use_cache=False, logits_to_keep=keep).logits
    targets = targets[:, keep]
    per_token = -F.cross_entropy(
        logits.float().flatten(0, 1), targets.flatten(), ignore_index=IGNORED, reduction="none"
    )
    return per_token.view(targets.shape), targets != IGNORED


@dataclass(frozen=True)
class SharedPromptPairs:
    """Each pair as one sequence: the prompt once, then the chosen reply, then the rejected.

    `rows`, `predictors` and `targets` hold, for each reply token, its row, the position whose
    logits predict it, and the token: every chosen token first, then every rejected one.
    `chosen_counts`/`rejected_counts` say how many belong to each pair, in row order.
    """

    input_ids: torch.Tensor  # (pairs, length)
    position_ids: torch.Tensor  # (pairs, length)
    visible: torch.Tensor  # (pairs, 1, length, length): True where a query may see a key
    rows: torch.Tensor
    predictors: torch.Tensor
    targets: torch.Tensor
    chosen_counts: list[int]
    rejected_counts: list[int]


PROMPT, CHOSEN, REJECTED, PADDING = 0, 1, 2, -1


def shared_prompt_pairs(inputs: dict[str, Any]) -> SharedPromptPairs | None:
    """TRL's preference batch ([chosen rows, rejected rows], each prompt + reply, padded on
    the right) laid out with one prompt per pair; None when a pair does not fit that layout
    (no prompt, different prompts, an empty reply), and the caller scores the two rows."""
    ids, completion = inputs["input_ids"], inputs["completion_mask"].bool()
    pairs, device = ids.size(0) // 2, ids.device
    layouts = []
    for pair in range(pairs):
        chosen_row, rejected_row = completion[pair], completion[pairs + pair]
        if not (chosen_row.any() and rejected_row.any()):
            return None
        start = int(chosen_row.nonzero()[0])
        if (
            start == 0
            or int(rejected_row.nonzero()[0]) != start
            or not torch.equal(ids[pair, :start], ids[pairs + pair, :start])
        ):
            return None
        layouts.append((ids[pair, :start], ids[pair][chosen_row], ids[pairs + pair][rejected_row]))
    length = max(len(p) + len(c) + len(r) for p, c, r in layouts)
    input_ids = ids.new_zeros((pairs, length))  # padding: any token, never seen or scored
    position_ids = ids.new_zeros((pairs, length))
    segment = ids.new_full((pairs, length), PADDING)
    chosen_scored: list[tuple[int, int, int]] = []
    rejected_scored: list[tuple[int, int, int]] = []
    for row, (prompt, chosen, rejected) in enumerate(layouts):
        start, end = len(prompt), len(prompt) + len(chosen)
        sequence = torch.cat([prompt, chosen, rejected])
        input_ids[row, : len(sequence)] = sequence
        position_ids[row, : len(sequence)] = torch.cat(
            [
                torch.arange(end, device=device),
                torch.arange(start, start + len(rejected), device=device),
            ]
        )
        segment[row, :start], segment[row, start:end] = PROMPT, CHOSEN
        segment[row, end : len(sequence)] = REJECTED
        # The prompt's last position predicts both replies' first tokens.
        chosen_scored += [
            (row, start - 1 if j == 0 else start + j - 1, int(token))
            for j, token in enumerate(chosen)
        ]
        rejected_scored += [
            (row, start - 1 if j == 0 else end + j - 1, int(token))
            for j, token in enumerate(rejected)
        ]
    query, key = segment.unsqueeze(2), segment.unsqueeze(1)
    causal = torch.ones(length, length, dtype=torch.bool, device=device).tril()
    visible = causal & (key != PADDING) & ((key == PROMPT) | (key == query))
    visible |= torch.eye(length, dtype=torch.bool, device=device)  # padding sees itself: no NaN
    scored = torch.tensor(chosen_scored + rejected_scored, device=device)
    return SharedPromptPairs(
        input_ids=input_ids,
        position_ids=position_ids,
        visible=visible.unsqueeze(1),
        rows=scored[:, 0],
        predictors=scored[:, 1],
        targets=scored[:, 2],
        chosen_counts=[len(c) for _, c, _ in layouts],
        rejected_counts=[len(r) for _, _, r in layouts],
    )


def pair_log_probs(
    model: Any, inputs: dict[str, Any], attention: str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Summed log-probabilities of the chosen and of the rejected replies, one per pair, and
    the per-token log-probabilities of every chosen token (for the SFT term).

    `attention` is the model's attention implementation: the shared-prompt layout needs a
    mask of its own, which "sdpa" takes as booleans and "eager" as additive floats.
    """
    shared = shared_prompt_pairs(inputs) if attention in ("sdpa", "eager") else None
    if shared is None:
        labels = inputs["input_ids"].masked_fill(inputs["completion_mask"] == 0, IGNORED)
        model_inputs = {k: v for k, v in inputs.items() if k not in DPO_ONLY_KEYS}
        per_token, mask = reply_log_probs(model, model_inputs, labels)
        chosen, rejected = per_token.sum(dim=1).chunk(2, dim=0)
        return chosen, rejected, per_token.chunk(2, dim=0)[0][mask.chunk(2, dim=0)[0]]
    mask: torch.Tensor = shared.visible
    if attention == "eager":
        # Several training processes hand in the model wrapped by DDP.
        ddp = isinstance(model, torch.nn.parallel.DistributedDataParallel)
        dtype = (model.module if ddp else model).get_input_embeddings().weight.dtype
        mask = torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(
            ~mask, torch.finfo(dtype).min
        )
    keep, column = torch.unique(shared.predictors, return_inverse=True)
    logits = model(
        input_ids=shared.input_ids,
        attention_mask=mask,
        position_ids=shared.position_ids,
        use_cache=False,
        logits_to_keep=keep,
    ).logits
    per_token = -F.cross_entropy(
        logits[shared.rows, column].float(), shared.targets, reduction="none"
    )
    chosen_tokens, rejected_tokens = per_token.split(
        [sum(shared.chosen_counts), sum(shared.rejected_counts)]
    )
    chosen = torch.stack([t.sum() for t in chosen_tokens.split(shared.chosen_counts)])
    rejected = torch.stack([t.sum() for t in rejected_tokens.split(shared.rejected_counts)])
    return chosen, rejected, chosen_tokens


def _log_tokens(trainer: Any, inputs: dict[str, Any], mode: str) -> None:
    """TRL's `num_tokens` metric: every token seen in training so far, over all processes."""
    if mode == "train":
        seen = trainer.accelerator.gather_for_metrics(inputs["attention_mask"].sum()).sum()
        trainer._total_train_tokens += int(seen.item())
    trainer._metrics[mode]["num_tokens"] = [trainer._total_train_tokens]


class ReplyOnlySFTTrainer(SFTTrainer):  # type: ignore[misc]
    """TRL's SFTTrainer with the NLL of the reply computed from the reply's logits only."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.args.loss_type != "nll" or self.label_smoother is not None or self.aux_loss_enabled:
            raise TrainingFailedError(
                "reply-only SFT computes the plain NLL loss only — build the trainer with "
                "loss_type='nll', no label smoothing and a dense model"
            )

    def compute_loss(
        self,
        model: Any,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: Any = None,
    ) -> Any:
        mode = "train" if self.model.training else "eval"
        model_inputs = {key: value for key, value in inputs.items() if key != "labels"}
        per_token, mask = reply_log_probs(model, model_inputs, inputs["labels"])
        # As TRL: the sum over the step's reply tokens divided by their count in the whole
        # step (gradient accumulation passes it), so every token weighs the same.
        tokens = mask.sum() if num_items_in_batch is None else num_items_in_batch
        loss = -per_token.sum() / torch.as_tensor(tokens).clamp(min=1)
        if self.args.average_tokens_across_devices and num_items_in_batch is not None:
            loss = loss * self.accelerator.num_processes  # DDP averages the processes' gradients
        _log_tokens(self, inputs, mode)
        return (loss, {"log_probs": per_token}) if return_outputs else loss


class ReplyOnlyDPOTrainer(DPOTrainer):  # type: ignore[misc]
    """TRL's DPOTrainer (sigmoid loss, optional SFT term) from the replies' logits only."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        losses = set(self.loss_types)
        unsupported = (
            not losses <= DPO_LOSSES
            or "sigmoid" not in losses
            or self.f_divergence_type != "reverse_kl"
            or self.ld_alpha is not None
            or self.use_weighting
            or self.precompute_ref_logps
            or self.ref_model is not None
            or self.aux_loss_enabled
        )
        if unsupported:
            raise TrainingFailedError(
                "reply-only DPO supports the sigmoid loss with an optional SFT term and an "
                "adapter as reference — build the trainer as redraft.training.trl_lora does"
            )

    def _attention(self) -> str:
        return str(self.accelerator.unwrap_model(self.model).config._attn_implementation)

    def compute_ref_log_probs(self, model: Any, inputs: dict[str, Any]) -> Any:
        """Summed reply log-probabilities under the reference adapter: (chosen, rejected)."""
        unwrapped = self.accelerator.unwrap_model(self.model)
        adapter = "ref" if "ref" in unwrapped.peft_config else None
        with torch.no_grad(), use_adapter(unwrapped, adapter_name=adapter):
            chosen, rejected, _ = pair_log_probs(model, inputs, self._attention())
        return chosen, rejected

    def compute_loss(
        self,
        model: Any,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: Any = None,
    ) -> Any:
        mode = "train" if self.model.training else "eval"
        chosen, rejected, chosen_tokens = pair_log_probs(model, inputs, self._attention())
        ref_chosen, ref_rejected = self.compute_ref_log_probs(model, inputs)
        chosen_ratio, rejected_ratio = chosen - ref_chosen, rejected - ref_rejected

        loss = torch.zeros((), device=chosen.device)
        for loss_type, weight in zip(self.loss_types, self.loss_weights, strict=True):
            if loss_type == "sigmoid":
                term = -F.logsigmoid(self.beta * (chosen_ratio - rejected_ratio)).mean()
            else:  # "sft": the mean NLL of the chosen replies' tokens (RPO)
                term = -chosen_tokens.mean()
            loss = loss + term * weight

        _log_tokens(self, inputs, mode)
        chosen_rewards = (self.beta * chosen_ratio).detach()
        rejected_rewards = (self.beta * rejected_ratio).detach()
        for name, value in (
            ("rewards/chosen", chosen_rewards),
            ("rewards/rejected", rejected_rewards),
            ("rewards/margins", chosen_rewards - rejected_rewards),
            ("rewards/accuracies", (chosen_rewards > rejected_rewards).float()),
            ("logps/chosen", chosen.detach()),
            ("logps/rejected", rejected.detach()),
        ):
            gathered = self.accelerator.gather_for_metrics(value)
            self._metrics[mode][name].append(gathered.mean().item())
        return (loss, {"chosen_logps": chosen}) if return_outputs else loss
