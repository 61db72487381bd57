"""SFT and DPO losses from the logits of the reply tokens only (training on a CPU).

The loss reads only the reply's tokens, but TRL 1.16's trainers put every position of a
sequence through the 49k-word output layer wherever Triton does not run (a CPU): the prompt's
positions too, with their entropy and top-1 metrics. On SmolLM2-135M that was about a quarter of
a step's forward and backward (bench/train_step.py). These trainers ask the model for the
logits of the positions that predict a reply token (`logits_to_keep` with their indexes) and
compute TRL's losses from them: the same numbers, less work.

Only what `redraft train trl` configures is supported (NLL for SFT; sigmoid DPO with an
optional SFT term, the reference an adapter of the policy); anything else is refused when the
trainer is built. Import this module only with the [train] extra installed.
"""

from __future__ import annotations

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
        if mode == "train":
            seen = self.accelerator.gather_for_metrics(inputs["attention_mask"].sum()).sum()
            self._total_train_tokens += int(seen.item())
        self._metrics[mode]["num_tokens"] = [self._total_train_tokens]
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

    def compute_ref_log_probs(self, model: Any, inputs: dict[str, Any]) -> Any:
        """Summed reply log-probabilities under the reference adapter: (chosen, rejected)."""
        labels = inputs["input_ids"].masked_fill(inputs["completion_mask"] == 0, IGNORED)
        model_inputs = {k: v for k, v in inputs.items() if k not in DPO_ONLY_KEYS}
        unwrapped = self.accelerator.unwrap_model(self.model)
        adapter = "ref" if "ref" in unwrapped.peft_config else None
        with torch.no_grad(), use_adapter(unwrapped, adapter_name=adapter):
            per_token, _ = reply_log_probs(model, model_inputs, labels)
        return per_token.sum(dim=1).chunk(2, dim=0)

    def compute_loss(
        self,
        model: Any,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: Any = None,
    ) -> Any:
        mode = "train" if self.model.training else "eval"
        labels = inputs["input_ids"].masked_fill(inputs["completion_mask"] == 0, IGNORED)
        model_inputs = {k: v for k, v in inputs.items() if k not in DPO_ONLY_KEYS}
        per_token, mask = reply_log_probs(model, model_inputs, labels)
        chosen, rejected = per_token.sum(dim=1).chunk(2, dim=0)  # the batch is [chosen, rejected]
        ref_chosen, ref_rejected = self.compute_ref_log_probs(model, inputs)
        chosen_ratio, rejected_ratio = chosen - ref_chosen, rejected - ref_rejected

        loss = torch.zeros((), device=per_token.device)
        for loss_type, weight in zip(self.loss_types, self.loss_weights, strict=True):
            if loss_type == "sigmoid":
                term = -F.logsigmoid(self.beta * (chosen_ratio - rejected_ratio)).mean()
            else:  # "sft": the mean NLL of the chosen replies' tokens (RPO)
                chosen_tokens, chosen_mask = per_token.chunk(2, dim=0)[0], mask.chunk(2, dim=0)[0]
                term = -chosen_tokens[chosen_mask].mean()
            loss = loss + term * weight

        if mode == "train":
            seen = self.accelerator.gather_for_metrics(inputs["attention_mask"].sum()).sum()
            self._total_train_tokens += int(seen.item())
        self._metrics[mode]["num_tokens"] = [self._total_train_tokens]
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
        return (loss, {"log_probs": per_token}) if return_outputs else loss
