"""Multi-task reward model: preference pairs and right/wrong labels on one scalar head (as Hou et al. 2024 did).

The loss is the Bradley-Terry loss of TRL's RewardTrainer on (chosen, rejected) pairs plus
``bce_weight`` times a binary cross-entropy that reads the same scalar as the logit of
"this response is right": chosen responses are labelled right and rejected ones wrong (the
verifier made the pairs). The pairwise term orders responses within a prompt; the pointwise
term anchors the score's level across prompts (0 = even odds of being right), which a pure
Bradley-Terry model leaves free.

Only the loss differs from the outcome RM; data, tokenization and training loop are
:mod:`rlhf_nb.stages.reward`'s.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from trl import RewardTrainer


def multitask_loss(chosen: torch.Tensor, rejected: torch.Tensor, bce_weight: float) -> torch.Tensor:
    """-log sigmoid(chosen - rejected) + bce_weight * (BCE(chosen, right) + BCE(rejected, wrong)) / 2, batch means."""
    pairwise = -F.logsigmoid(chosen - rejected).mean()
    pointwise = (F.softplus(-chosen) + F.softplus(rejected)).mean() / 2
    return pairwise + bce_weight * pointwise


class MultiTaskRewardTrainer(RewardTrainer):
    """RewardTrainer whose loss is :func:`multitask_loss`, the tested function, called as is."""

    def __init__(self, *args, bce_weight: float = 1.0, **kwargs):
        super().__init__(*args, **kwargs)
        if self.args.center_rewards_coefficient is not None:
            raise ValueError("center_rewards_coefficient is not part of the multi-task loss: leave it None")
        self.bce_weight = bce_weight

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        # The parent runs the model and logs accuracy and margins; its Bradley-Terry loss is
        # replaced by the multi-task loss, whose pairwise term is the same quantity.
        _, outputs = super().compute_loss(model, inputs, return_outputs=True, num_items_in_batch=num_items_in_batch)
        chosen, rejected = torch.chunk(outputs.logits.squeeze(-1), chunks=2)
        loss = multitask_loss(chosen, rejected, self.bce_weight)
        return (loss, outputs) if return_outputs else loss
