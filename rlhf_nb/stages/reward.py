"""Outcome reward model: a scalar head on the SFT policy, trained with TRL's RewardTrainer on verifier-labelled pairs.

Pairs reach the trainer pre-tokenized (``chosen_ids``/``rejected_ids``) by
:func:`rlhf_nb.rewards.reward_input_ids`, the same function that scores completions during
RL and evaluation: RewardTrainer would otherwise append an EOS that GRPO never shows.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datasets import Dataset
from trl import RewardConfig, RewardTrainer

from ..compute import forward_flops, train_flops
from ..models import build_reward_model, count_parameters, load_causal_lm, load_tokenizer
from ..preference_data import Comparison, comparisons_from_pool, sample_pool
from ..rewards import ProxyReward, reward_input_ids
from ..task import AdditionTask
from .common import log_history_frame, trainer_kwargs


@dataclass(frozen=True)
class RewardStageConfig:
    """Outcome reward model trained on pairs of SFT samples (right answer preferred)."""

    n_prompts: int = 1500
    """distinct training prompts sampled from the SFT policy"""
    responses_per_prompt: int = 4
    """SFT samples drawn per prompt (temperature 1)"""
    comparisons_per_prompt: int = 2
    """most (right, wrong) pairs taken from one prompt's samples"""
    epochs: int = 1
    """passes over the comparisons"""
    comparisons_per_step: int = 32
    """pairs per optimizer step"""
    learning_rate: float = 5e-4
    """constant learning rate; 5e-4 suits a 0.1M-5M reward model initialised from the SFT policy"""
    eval_prompts: int = 256
    """held-out prompts (x responses_per_prompt samples) used for pairwise accuracy"""
    precision: str = "auto"
    """auto, fp32 or bf16 (see rlhf_nb.device)"""
    seed: int = 0
    """seed for sampling, pair order and the score head's init"""

    def __post_init__(self):
        for name in ("n_prompts", "responses_per_prompt", "comparisons_per_prompt", "epochs",
                     "comparisons_per_step", "eval_prompts"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}={getattr(self, name)}: must be positive")
        if self.responses_per_prompt < 2:
            raise ValueError(
                f"responses_per_prompt={self.responses_per_prompt}: a comparison needs two responses "
                "to the same prompt; use 2 or more"
            )
        max_pairs = (self.responses_per_prompt // 2) * (self.responses_per_prompt - self.responses_per_prompt // 2)
        if self.comparisons_per_prompt > max_pairs:
            raise ValueError(
                f"comparisons_per_prompt={self.comparisons_per_prompt} exceeds the {max_pairs} (right, wrong) pairs "
                f"that {self.responses_per_prompt} responses can give at best; lower it or raise responses_per_prompt"
            )


def pairwise_accuracy(reward: ProxyReward, pairs: list[Comparison]) -> float:
    """Share of pairs whose right response the reward model scores higher (ties count half)."""
    if not pairs:
        return float("nan")
    chosen = reward.score([c.prompt for c in pairs], [c.chosen for c in pairs])
    rejected = reward.score([c.prompt for c in pairs], [c.rejected for c in pairs])
    return sum(1.0 if a > b else 0.5 if a == b else 0.0 for a, b in zip(chosen, rejected)) / len(pairs)


def train_reward_model(
    config: RewardStageConfig, task: AdditionTask, sft_model_dir: Path, out_dir: Path
) -> dict[str, Any]:
    """Sample pairs from the SFT policy, train the reward model, write ``model/`` and its metrics."""
    policy, tokenizer = load_causal_lm(sft_model_dir), load_tokenizer(sft_model_dir)
    pool = sample_pool(policy, tokenizer, task, "train", config.n_prompts, config.responses_per_prompt, config.seed)
    pairs = comparisons_from_pool(pool, config.comparisons_per_prompt, config.seed)
    if len(pairs) < config.comparisons_per_step:
        raise ValueError(
            f"only {len(pairs)} comparisons could be built from {config.n_prompts} prompts: the SFT policy "
            "is almost always right or always wrong; raise n_prompts or responses_per_prompt"
        )
    data = Dataset.from_dict({
        "chosen_ids": [reward_input_ids(tokenizer, c.prompt, c.chosen) for c in pairs],
        "rejected_ids": [reward_input_ids(tokenizer, c.prompt, c.rejected) for c in pairs],
    })
    steps = math.ceil(len(pairs) * config.epochs / config.comparisons_per_step)
    model = build_reward_model(sft_model_dir, seed=config.seed)
    args = RewardConfig(
        **trainer_kwargs(
            str(out_dir / "trainer"), config.seed, config.learning_rate, steps, config.comparisons_per_step,
            model_is_preset=True, precision=config.precision, logging_steps=max(1, steps // 50),
        ),
        max_length=128,
        disable_dropout=True,
    )
    trainer = RewardTrainer(model=model, args=args, train_dataset=data, processing_class=tokenizer)
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    trainer.model.save_pretrained(out_dir / "model")
    tokenizer.save_pretrained(out_dir / "model")
    log_history_frame(trainer.state.log_history).to_csv(out_dir / "train_log.csv", index=False)

    reward = ProxyReward(out_dir / "model")
    metrics: dict[str, Any] = {}
    for split in ("heldout", "ood"):
        eval_pool = sample_pool(policy, tokenizer, task, split, config.eval_prompts, config.responses_per_prompt,
                                config.seed + 1)
        metrics[f"rm/{split}/pairwise_acc"] = pairwise_accuracy(reward, comparisons_from_pool(eval_pool, 10**6, 0))
    train_pairs_acc = pairwise_accuracy(reward, pairs[:512])
    n_params = count_parameters(trainer.model, non_embedding=True)
    mean_len = sum(len(x) for x in data["chosen_ids"] + data["rejected_ids"]) / (2 * len(pairs))
    pool_tokens = sum(len(r) + len(p) for p, rs in zip(pool.prompts, pool.responses) for r in rs)
    metrics.update({
        "rm/train/pairwise_acc": train_pairs_acc,
        "rm/comparisons": len(pairs),
        "rm/distinct_prompts": len({c.prompt for c in pairs}),
        "rm/steps": steps,
        "rm/seconds": seconds,
        "rm/params": count_parameters(trainer.model),
        "rm/flops": train_flops(n_params, int(2 * len(pairs) * config.epochs * mean_len))
        + forward_flops(count_parameters(policy, non_embedding=True), pool_tokens),
        "rm/pool_share_correct": sum(map(sum, pool.correct)) / (len(pool.prompts) * config.responses_per_prompt),
    })
    return metrics
