"""Supervised fine-tuning of the policy on the task's (biased) chain-of-thought data, with TRL's SFTTrainer."""
from __future__ import annotations

import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datasets import Dataset
from trl import SFTConfig, SFTTrainer

from ..compute import train_flops
from ..models import build_policy, check_model_spec, count_parameters, is_preset_model
from ..tasks.protocol import Task
from ..typed_values import normalize_fields
from .common import (
    log_history_frame,
    per_device_batch,
    quiet,
    save_trained,
    trainer_kwargs,
)


@dataclass(frozen=True)
class SFTStageConfig:
    """Supervised fine-tuning of the policy."""

    policy: str = "s"
    """policy preset name (xs, s, m, l, xl) or a local Hugging Face checkpoint folder"""
    sft_steps: int = 800
    """optimizer steps (800 x 64 examples: the 0.36M preset has learned the task, bias included)"""
    examples_per_step: int = 64
    """training examples (prompt + completion) per optimizer step"""
    learning_rate: float = 2e-3
    """peak learning rate (cosine decay); 2e-3 suits 0.1M-5M models trained from scratch"""
    train_problems: int = 20000
    """distinct training problems the SFT data is drawn from"""
    precision: str = "auto"
    """auto (fp32 for presets, bf16 on a capable GPU for checkpoints), fp32 or bf16"""
    seed: int = 0
    """seed for the model init, the data's planted errors and the data order"""

    def __post_init__(self):
        normalize_fields(self)  # declared types: one configuration, one run id, whatever typed it
        check_model_spec(self.policy)
        if self.sft_steps <= 0:
            raise ValueError(f"sft_steps={self.sft_steps}: SFT needs a positive number of steps")
        if self.examples_per_step <= 0 or self.train_problems <= 0:
            raise ValueError("examples_per_step and train_problems must be positive")
        if not 0 < self.learning_rate < 1:
            raise ValueError(f"learning_rate={self.learning_rate}: expected a value like 2e-3")


def sft_dataset(task: Task, n: int, seed: int) -> Dataset:
    """Prompt/completion pairs with the task's planted carry errors, reproducible from the seed."""
    rng = random.Random(f"sft-data/{seed}")
    problems = task.sft_problems(n, seed)
    return Dataset.from_dict(
        {"prompt": [p.prompt for p in problems], "completion": [task.sft_completion(p, rng) for p in problems]}
    )


def train_sft(config: SFTStageConfig, task: Task, out_dir: Path) -> dict[str, Any]:
    """Train the policy; writes ``model/`` (weights + tokenizer) and ``train_log.csv`` into ``out_dir``."""
    model, tokenizer = build_policy(config.policy, seed=config.seed)
    data = sft_dataset(task, config.train_problems, config.seed)
    # tokens per example as SFT trains on it: prompt + completion with the tokenizer's special tokens, and EOS
    lengths = tokenizer([p + c for p, c in zip(data["prompt"], data["completion"])])["input_ids"]
    mean_len = sum(len(ids) + 1 for ids in lengths) / len(data)
    args = SFTConfig(
        **trainer_kwargs(
            str(out_dir / "trainer"), config.seed, config.learning_rate, config.sft_steps,
            per_device_batch(config.examples_per_step, "examples_per_step"), is_preset_model(config.policy),
            config.precision,
            scheduler="cosine", warmup_ratio=0.05, logging_steps=max(1, config.sft_steps // 50),
        ),
        max_length=128,
        packing=False,
        completion_only_loss=True,
        dataset_num_proc=None,
    )
    trainer = quiet(SFTTrainer(model=model, args=args, train_dataset=data, processing_class=tokenizer))
    start = time.perf_counter()
    result = trainer.train()
    seconds = time.perf_counter() - start
    save_trained(trainer, out_dir / "model", tokenizer)
    log_history_frame(trainer.state.log_history).to_csv(out_dir / "train_log.csv", index=False)
    n_params = count_parameters(trainer.model, non_embedding=True)
    return {
        "sft/train_loss": float(result.training_loss),
        "sft/seconds": seconds,
        "sft/params": count_parameters(trainer.model),
        "sft/flops": train_flops(n_params, int(config.sft_steps * config.examples_per_step * mean_len)),
    }
