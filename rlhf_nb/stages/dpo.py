"""Direct alignment: DPO (or IPO) with TRL's DPOTrainer on the reward model's own comparisons, tracked like RL.

The policy starts from the SFT policy, which is also the frozen reference. The data are
exactly the (chosen, rejected) pairs a reward model of the same seed was trained on (the
``comparisons.jsonl`` its stage writes), so "RM + RL" and "DPO" learn from the same
preferences; the number of passes over them is this stage's own knob (``epochs``), because
the reward model sees them once and DPO needs more steps to move at all.

Tracking is RL's (:class:`rlhf_nb.stages.tracking.PolicyTracker`): the same held-out prompts
(``task.problems("heldout", track_prompts, seed + 7)``), the same sampling seed and budget, so
gold accuracy and KL to the SFT policy (nats per sequence, on the policy's own samples) along
DPO training sit on the same axes as an RL run's. Beside them, per tracked step:

- the proxy score of the same seed's reward model on those samples (``proxy_mean``), and
- the implicit reward of the DPO policy, r(x, y) = beta (log pi(y|x) - log pi_ref(y|x))
  (Rafailov et al. 2023, eq. 5), on the training pairs: TRL's logged batch means
  ``rewards/chosen``, ``rewards/rejected``, ``rewards/margins`` and ``rewards/accuracies``
  averaged over the logged steps up to the tracked step since the previous one
  (``implicit_margin``, ``implicit_accuracy``, ...). On the policy's own samples the implicit
  reward's mean is beta x KL exactly, so that is not recorded twice.

TRL adds EOS to each chosen and rejected text (non-conversational data), which is how the
policy's own samples end (the sampler keeps the EOS it stops on), and tokenizes prompt and
prompt + completion as its other trainers do. IPO is TRL's ``loss_type="ipo"`` (Azar et al.
2023), where ``beta`` is IPO's tau.

What it does not do: build comparisons (:mod:`rlhf_nb.stages.preference_data` via the reward
stage), or cache anything (:mod:`rlhf_nb.pipeline.dpo_runs`).
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from datasets import Dataset

from ..compute import forward_flops, train_flops
from ..models import count_parameters, is_preset_model, load_causal_lm, load_tokenizer
from ..scoring.reward_models import load_reward
from ..tasks.protocol import Task
from ..typed_values import normalize_fields
from .common import (
    log_history_frame,
    per_device_batch,
    quiet,
    save_trained,
    token_budgets,
    trainer_kwargs,
    warn_truncated,
)
from .tracking import PolicyTracker

LOSS_TYPES = ("sigmoid", "ipo")
"""sigmoid: DPO (Rafailov et al. 2023); ipo: IPO (Azar et al. 2023), both TRL 1.16 loss types"""
IMPLICIT_KEYS = {"rewards/chosen": "implicit_chosen", "rewards/rejected": "implicit_rejected",
                 "rewards/margins": "implicit_margin", "rewards/accuracies": "implicit_accuracy"}
"""TRL's logged DPO metrics -> the tracked curve's columns"""


@dataclass(frozen=True)
class DPOStageConfig:
    """DPO/IPO on a reward model's comparisons, starting from (and regularised towards) the SFT policy."""

    beta: float = 0.1
    """strength of the pull to the reference (DPO's beta, IPO's tau): larger stays closer to the SFT policy"""
    loss_type: str = "sigmoid"
    """sigmoid (DPO) or ipo"""
    epochs: int = 20
    """passes over the comparisons (the reward model makes 1; DPO at 5e-5 barely moves in one pass of ~150 pairs)"""
    comparisons_per_step: int = 32
    """pairs per optimizer step (the reward model's default batch)"""
    learning_rate: float = 5e-5
    """constant learning rate; 5e-5 suited 0.8M policies (TRL's 1e-6 default is for large pretrained ones; the
    notebook's 0 picks by model kind, :func:`rlhf_nb.models.default_learning_rate`)"""
    track_every_steps: int = 10
    """measure gold, proxy and KL on held-out prompts every this many optimizer steps"""
    track_prompts: int = 128
    """held-out prompts used for tracking (2 samples each), as RL's tracker"""
    max_completion_tokens: int = 40
    """the tracker's generation budget, as RL's"""
    precision: str = "auto"
    """auto, fp32 or bf16 (see rlhf_nb.device)"""
    seed: int = 0
    """seed for data order and the tracker's sampling (the RL tracker's seed gives the same prompts and draws)"""
    max_sequence_tokens: int = 0
    """longest prompt + response in tokens (TRL's ``max_length``; longer pairs lose their end); 0 = the reward
    model's sequence budget when run through :func:`rlhf_nb.pipeline.dpo_runs.run_dpo` (the same comparisons), else
    the data's SFT sequence budget (128 for the addition task)"""

    def __post_init__(self):
        normalize_fields(self)  # declared types: one configuration, one run id, whatever typed it
        if self.max_sequence_tokens < 0:
            raise ValueError(f"max_sequence_tokens={self.max_sequence_tokens}: use 0 (from the data) or a positive "
                             "number of tokens")
        if self.loss_type not in LOSS_TYPES:
            raise ValueError(f"loss_type={self.loss_type!r}: use one of {LOSS_TYPES}")
        if not (self.beta > 0 and math.isfinite(self.beta)):
            raise ValueError(f"beta={self.beta}: DPO's beta must be > 0 (0 removes the pull to the reference and "
                             "makes the loss unbounded); try 0.1")
        for name in ("epochs", "comparisons_per_step", "track_every_steps", "track_prompts", "max_completion_tokens"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}={getattr(self, name)}: must be a positive number")
        if not 0 < self.learning_rate < 1:
            raise ValueError(f"learning_rate={self.learning_rate}: expected a value like 5e-5")

    def steps(self, n_comparisons: int) -> int:
        """Optimizer steps over ``n_comparisons`` pairs: whole epochs of ceil(n / comparisons_per_step) steps."""
        if n_comparisons <= 0:
            raise ValueError("no comparisons to train on: the reward model's data is empty")
        return self.epochs * math.ceil(n_comparisons / self.comparisons_per_step)


def read_comparisons(path: Path | str) -> list[dict[str, str]]:
    """The ``{"prompt", "chosen", "rejected"}`` records of a reward stage's ``comparisons.jsonl``, in file order."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: a reward run writes comparisons.jsonl; run the reward stage first")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    for i, r in enumerate(rows):
        missing = {"prompt", "chosen", "rejected"} - set(r)
        if missing:
            raise ValueError(f"{path}, line {i + 1}: missing {sorted(missing)}")
    return rows


def dpo_flops(n_policy: int, tokens: int) -> float:
    """Estimated FLOPs of DPO over ``tokens`` (prompt + completion tokens of every chosen and rejected sequence,
    summed over all steps): the policy's forward + backward (6N per token) and the reference's forward (2N)."""
    return train_flops(n_policy, tokens) + forward_flops(n_policy, tokens)


def implicit_reward_columns(curve: pd.DataFrame, log: pd.DataFrame) -> pd.DataFrame:
    """``curve`` with TRL's logged implicit-reward means joined to each tracked step.

    A tracked step k > 0 gets the mean of the logged values at steps in (previous tracked step, k];
    step 0 gets NaN (nothing is trained yet). ``log`` is the trainer's log history as a table.
    """
    out = curve.copy()
    steps = out["step"].to_numpy(int)
    for key, column in IMPLICIT_KEYS.items():
        values = np.full(len(out), np.nan)
        if key in log and "step" in log:
            lg = log[["step", key]].dropna()
            for i, k in enumerate(steps):
                lo = steps[i - 1] if i > 0 else 0
                window = lg[(lg["step"] > lo) & (lg["step"] <= k)][key]
                if k > 0 and len(window):
                    values[i] = float(window.mean())
        out[column] = values
    return out


def train_dpo(config: DPOStageConfig, task: Task, sft_model_dir: Path, comparisons: list[dict[str, str]],
              out_dir: Path, reward_model_dir: Path | None = None) -> dict[str, Any]:
    """Train the SFT policy with DPO on ``comparisons``; writes ``model/``, ``curve.csv`` and ``train_log.csv``.

    ``reward_model_dir`` (optional) is scored on the tracker's samples as ``proxy_mean``; it
    never enters the loss.
    """
    from trl import DPOConfig, DPOTrainer

    policy, tokenizer = load_causal_lm(sft_model_dir), load_tokenizer(sft_model_dir)
    ref_for_loss = load_causal_lm(sft_model_dir)  # TRL patches its forward; the tracker keeps an untouched copy
    ref_for_tracking = load_causal_lm(sft_model_dir)
    proxy = load_reward(reward_model_dir) if reward_model_dir is not None else None
    tracker = PolicyTracker(task, tokenizer, ref_for_tracking,
                            task.problems("heldout", config.track_prompts, config.seed + 7),
                            config.track_every_steps, config.max_completion_tokens, config.seed, reward=proxy)
    data = Dataset.from_dict({k: [c[k] for c in comparisons] for k in ("prompt", "chosen", "rejected")})
    max_length = config.max_sequence_tokens or token_budgets(task, tokenizer).sequence
    # tokens per sequence the loss reads: every pair's prompt + chosen and prompt + rejected, EOS included
    texts = [c["prompt"] + c["chosen"] for c in comparisons] + [c["prompt"] + c["rejected"] for c in comparisons]
    lengths = [len(ids) + 1 for ids in tokenizer(texts)["input_ids"]]
    truncated = sum(n > max_length for n in lengths) / max(1, len(lengths))
    warn_truncated("DPO sequences (prompt + response, cut at the end, where the answer is)", truncated,
                   "DPOStageConfig.max_sequence_tokens (the notebooks' rm_max_tokens)")
    steps = config.steps(len(comparisons))
    args = DPOConfig(
        **trainer_kwargs(str(out_dir / "trainer"), config.seed, config.learning_rate, steps,
                         per_device_batch(config.comparisons_per_step, "comparisons_per_step"),
                         model_is_preset=is_preset_model(sft_model_dir), precision=config.precision, logging_steps=1),
        beta=config.beta,
        loss_type=[config.loss_type],
        max_length=max_length,
        disable_dropout=True,
    )
    trainer = quiet(DPOTrainer(model=policy, ref_model=ref_for_loss, args=args, train_dataset=data,
                               processing_class=tokenizer, callbacks=[tracker]))
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    save_trained(trainer, out_dir / "model", tokenizer)
    log = log_history_frame(trainer.state.log_history)
    log.to_csv(out_dir / "train_log.csv", index=False)
    curve = implicit_reward_columns(tracker.frame(), log)
    curve.to_csv(out_dir / "curve.csv", index=False)

    tokens_per_epoch = sum(min(n, max_length) for n in lengths)  # what the loss sees per epoch
    n_policy = count_parameters(trainer.model, non_embedding=True)
    best = curve.loc[curve["gold_acc"].idxmax()]
    return {
        "dpo/seconds": seconds,
        "dpo/steps": steps,
        "dpo/comparisons": len(comparisons),
        "dpo/max_sequence_tokens": max_length,
        "dpo/truncated_share": truncated,
        "dpo/flops": dpo_flops(n_policy, config.epochs * tokens_per_epoch),  # whole epochs: steps() rounds up
        "dpo/final/gold_acc": float(curve["gold_acc"].iloc[-1]),
        "dpo/final/kl": float(curve["kl"].iloc[-1]),
        "dpo/final/implicit_accuracy": float(curve["implicit_accuracy"].iloc[-1]),
        "dpo/peak/gold_acc": float(best["gold_acc"]),
        "dpo/peak/step": int(best["step"]),
        "dpo/start/gold_acc": float(curve["gold_acc"].iloc[0]),
    }
