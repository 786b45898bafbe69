"""Process reward model (PRM): one label per reasoning step from the step verifier, trained as a per-step scorer.

TRL 1.16 ships no PRM trainer (the last was ``trl.experimental.prm``, up to 1.13), so this is
a small ``transformers.Trainer``. The model is the outcome RM's: the SFT policy with a scalar
head (a sequence-classification checkpoint). The PRM reads that head at the token that ends
each step and is trained with a binary cross-entropy on the step labels of
:func:`rlhf_nb.tasks.addition.step_labels`, applied ONLY at those tokens. Right and wrong steps are
weighted to count equally: most steps of a capable policy are right, and an unweighted PRM
settles at the majority label (our earlier naive PRM never beat the majority baseline).

A response's score aggregates its step scores (``STEP_AGGREGATES``): ``min`` (the weakest
step's logit), ``prod`` (log of the product of the step probabilities), ``mean`` (mean step
probability) or ``last`` (the last step's logit). :class:`ProcessReward` is called like
:class:`rlhf_nb.scoring.reward_models.ProxyReward`, ``(prompts, completions) -> scores``, so it serves
best-of-n and RL unchanged.

Labels are what was written: one per written step, on that step's end token, so a prefix of
steps carries the same labels whether or not more steps follow (a causal scorer at that token
sees the same text either way). A truncated answer (fewer steps than the problem needs) gets
no label for the steps it did not write (see ``step_labels``): nothing on a written step's
token says "unfinished". Its written steps are scored as in any answer that starts with them;
that it is unfinished shows in its final answer (the gold verifier), not in the PRM's labels.
"""
from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, Protocol, Sequence

import torch
import torch.nn.functional as F
from datasets import Dataset
from transformers import (
    PreTrainedModel,
    PreTrainedTokenizerBase,
    Trainer,
    TrainingArguments,
)

from ..scoring.reward_models import step_token_positions, token_scores
from ..scoring.sampling import pad_ids
from ..tasks.addition import Problem, step_labels
from .common import log_history_frame, per_device_batch, quiet, trainer_kwargs


class PRMSettings(Protocol):
    """What PRM training reads of the reward stage's config (:class:`rlhf_nb.stages.reward.RewardStageConfig`),
    named here so that this module does not import the reward stage, which imports it."""

    balance_step_labels: bool
    comparisons_per_step: int
    epochs: int
    learning_rate: float
    seed: int
    precision: str


# --- where the steps are ---------------------------------------------------------------------


def encode_step_example(tokenizer: PreTrainedTokenizerBase, problem: Problem, prompt: str,
                        completion: str) -> dict[str, list]:
    """``input_ids``, ``step_mask`` (1 at step-end tokens) and ``step_labels`` (1 = right so far) for one response.

    Each lists one int per token of ``prompt + completion`` (no special tokens). Step ``i``'s
    label sits on the token that ends written step ``i`` and nowhere else; labels of steps that
    were not written do not exist. Labels that land on one token (an empty step, or several
    steps inside one multi-character token) are combined with AND: the token reads as right
    only if all of them are.
    """
    ids, positions = step_token_positions(tokenizer, prompt, completion)
    labels = step_labels(problem, completion)
    if len(labels) != len(positions):
        raise ValueError(f"{len(labels)} step labels for {len(positions)} step ends in {completion!r}: "
                         "step_labels and step_end_offsets must split a completion into the same steps")
    mask, target = [0] * len(ids), [1] * len(ids)
    for pos, ok in zip(positions, labels):
        mask[pos] = 1
        target[pos] = target[pos] and int(ok)
    target = [t if m else 0 for t, m in zip(target, mask)]
    return {"input_ids": ids, "step_mask": mask, "step_labels": target}


# --- the model read per token, and the loss ----------------------------------------------------


def prm_loss(logits: torch.Tensor, step_labels: torch.Tensor, step_mask: torch.Tensor,
             weight_right: float = 1.0, weight_wrong: float = 1.0) -> torch.Tensor:
    """Class-weighted binary cross-entropy over step-end tokens only; other tokens add nothing, not even gradient."""
    mask = step_mask.bool()
    labels = torch.where(mask, step_labels.float(), torch.zeros_like(logits))
    per_token = F.binary_cross_entropy_with_logits(torch.where(mask, logits, torch.zeros_like(logits)), labels,
                                                   reduction="none")
    weights = torch.where(labels > 0.5, weight_right, weight_wrong) * mask
    return (per_token * weights).sum() / weights.sum().clamp_min(1e-8)


def class_weights(examples: Sequence[dict[str, list]], balance: bool) -> tuple[float, float]:
    """(weight of a right step, weight of a wrong step): equal total weight per class when ``balance``."""
    right = sum(sum(l for l, m in zip(e["step_labels"], e["step_mask"]) if m) for e in examples)
    total = sum(sum(e["step_mask"]) for e in examples)
    wrong = total - right
    if not balance or right == 0 or wrong == 0:
        return 1.0, 1.0
    return total / (2.0 * right), total / (2.0 * wrong)


class _StepCollator:
    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def __call__(self, rows: list[dict[str, list]]) -> dict[str, torch.Tensor]:
        # right-padded, all three aligned at position 0 (the head is read at each step's own token)
        input_ids, attention_mask = pad_ids([r["input_ids"] for r in rows], self.pad_id, side="right")
        return {"input_ids": input_ids, "attention_mask": attention_mask,
                "step_labels": pad_ids([r["step_labels"] for r in rows], 0, side="right")[0],
                "step_mask": pad_ids([r["step_mask"] for r in rows], 0, side="right")[0]}


class PRMTrainer(Trainer):
    """A Trainer whose loss is :func:`prm_loss` on the scalar head read at every step-end token."""

    def __init__(self, *args, weight_right: float = 1.0, weight_wrong: float = 1.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.weight_right, self.weight_wrong = weight_right, weight_wrong

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        logits = token_scores(model, inputs["input_ids"], inputs["attention_mask"])
        loss = prm_loss(logits, inputs["step_labels"], inputs["step_mask"], self.weight_right, self.weight_wrong)
        return (loss, {"logits": logits}) if return_outputs else loss


def train_prm(config: PRMSettings, examples: Sequence[tuple[Problem, str, str]], model: PreTrainedModel,
              tokenizer: PreTrainedTokenizerBase, out_dir: Path, model_is_preset: bool = True) -> dict[str, Any]:
    """Train ``model`` (a scalar-head RM initialised from the SFT policy) on step labels of ``examples``.

    ``examples`` are (problem, prompt, completion) triples: the responses of the comparisons,
    so the PRM sees exactly the responses an outcome RM on the same data sees, with step
    labels instead of pairs. A step sees ``2 x comparisons_per_step`` responses, the ORM's
    number of sequences per step.
    """
    rows = [encode_step_example(tokenizer, p, prompt, c) for p, prompt, c in examples]
    w_right, w_wrong = class_weights(rows, config.balance_step_labels)
    per_step = 2 * config.comparisons_per_step
    steps = config.epochs * math.ceil(len(rows) / per_step)
    args = TrainingArguments(
        **trainer_kwargs(str(out_dir / "trainer"), config.seed, config.learning_rate, steps,
                         per_device_batch(per_step, "2 x comparisons_per_step"), model_is_preset=model_is_preset,
                         precision=config.precision, logging_steps=max(1, steps // 50)),
        remove_unused_columns=False,
    )
    trainer = quiet(PRMTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows),
                               data_collator=_StepCollator(tokenizer.pad_token_id),
                               weight_right=w_right, weight_wrong=w_wrong))
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    n_steps = sum(sum(r["step_mask"]) for r in rows)
    share_right = sum(sum(l for l, m in zip(r["step_labels"], r["step_mask"]) if m) for r in rows) / max(n_steps, 1)
    return {
        "steps": steps, "seconds": seconds, "trainer": trainer,
        "log": log_history_frame(trainer.state.log_history),
        "tokens": config.epochs * sum(len(r["input_ids"]) for r in rows),
        "metrics": {"prm/step_labels": n_steps, "prm/share_right_steps": share_right,
                    "prm/weight_right": w_right, "prm/weight_wrong": w_wrong},
    }


# --- scoring --------------------------------------------------------------------------------


