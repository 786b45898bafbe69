"""Supervised fine-tuning of the policy on the task's (biased) chain-of-thought data, with TRL's SFTTrainer."""
from __future__ import annotations

import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from datasets import Dataset
from trl import SFTConfig, SFTTrainer

from ..compute import train_flops
from ..models import (
    build_policy,
    check_model_spec,
    checkpoint_digest,
    count_parameters,
    default_learning_rate,
    default_micro_batch,
    is_preset,
    is_preset_model,
)
from ..tasks.protocol import Task
from ..typed_values import normalize_fields
from .common import (
    log_history_frame,
    name_the_knob,
    per_device_batch,
    quiet,
    save_trained,
    token_budgets,
    trainer_kwargs,
    warn_truncated,
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
    learning_rate: float = 0.0
    """peak learning rate (cosine decay); 0 = by model kind: 2e-3 for a preset trained from scratch (0.1M-5M),
    1e-5 for a pretrained checkpoint (2e-3 took SmolLM2-135M's SFT loss from 1.11 to 8.59 in one step)"""
    train_problems: int = 20000
    """distinct training problems the SFT data is drawn from"""
    precision: str = "auto"
    """auto (fp32 for presets, bf16 on a capable GPU for checkpoints), fp32 or bf16"""
    seed: int = 0
    """seed for the model init, the data's planted errors and the data order"""
    examples_per_micro_batch: int = 0
    """examples per forward/backward pass (gradient accumulation up to examples_per_step); 0 = the whole step for a
    preset, by memory for a checkpoint (logits under 256 MiB). Lower it when a step runs out of memory; it does not
    change what is learned, so it is not part of the run id"""
    max_sequence_tokens: int = 0
    """longest training sequence in tokens (prompt + completion + end token; longer ones are cut and lose their
    answer); 0 = derived from the data: 128 for the addition task, the longest SFT example of a data file"""

    def __post_init__(self):
        normalize_fields(self)  # declared types: one configuration, one run id, whatever typed it
        check_model_spec(self.policy)
        if self.sft_steps <= 0:
            raise ValueError(f"sft_steps={self.sft_steps}: SFT needs a positive number of steps")
        if self.examples_per_step <= 0 or self.train_problems <= 0:
            raise ValueError("examples_per_step and train_problems must be positive")
        if not 0 <= self.learning_rate < 1:
            raise ValueError(f"learning_rate={self.learning_rate}: expected a value like 2e-3 (preset) or 1e-5 "
                             "(checkpoint), or 0 for the default of the model's kind")
        if self.examples_per_micro_batch < 0 or self.max_sequence_tokens < 0:
            raise ValueError("examples_per_micro_batch and max_sequence_tokens must be 0 (automatic) or positive")
        if self.examples_per_micro_batch and self.examples_per_step % self.examples_per_micro_batch:
            raise ValueError(f"examples_per_micro_batch={self.examples_per_micro_batch} does not divide "
                             f"examples_per_step={self.examples_per_step}: pick a divisor (e.g. 1, 2, 4)")

    @property
    def effective_learning_rate(self) -> float:
        """The learning rate used: the knob, or the default of the policy's kind when it is 0."""
        return self.learning_rate or default_learning_rate("sft", self.policy)

    def identity(self) -> dict[str, Any]:
        """What names this configuration in a run id: the fields with the learning rate as used, the
        micro-batch left out (it changes memory, not what is learned), an automatic budget left out
        (the task and the checkpoint, both in the id, decide it), and a checkpoint's content digest."""
        out = asdict(self)
        out["learning_rate"] = self.effective_learning_rate
        out.pop("examples_per_micro_batch")
        if not self.max_sequence_tokens:
            out.pop("max_sequence_tokens")
        if not is_preset(self.policy):
            out["policy_digest"] = checkpoint_digest(self.policy)
        return out


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
    texts = [p + c for p, c in zip(data["prompt"], data["completion"])]
    lengths = [len(ids) + 1 for ids in tokenizer(texts)["input_ids"]]
    mean_len = sum(lengths) / len(data)
    max_length = config.max_sequence_tokens or token_budgets(task, tokenizer).sequence
    truncated = sum(n > max_length for n in lengths) / len(lengths)
    warn_truncated("SFT examples (prompt + worked solution)", truncated,
                   "SFTStageConfig.max_sequence_tokens (the notebooks' sft_max_tokens)")
    per_device = per_device_batch(config.examples_per_step, "examples_per_step")
    micro = config.examples_per_micro_batch or default_micro_batch(config.policy, per_device, max_length)
    if per_device % micro:
        raise ValueError(f"examples_per_micro_batch={micro} does not divide the {per_device} examples per step on "
                         "each process: pick a divisor")
    args = SFTConfig(
        **trainer_kwargs(
            str(out_dir / "trainer"), config.seed, config.effective_learning_rate, config.sft_steps,
            micro, is_preset_model(config.policy),
            config.precision,
            scheduler="cosine", warmup_ratio=0.05, logging_steps=max(1, config.sft_steps // 50),
            gradient_accumulation_steps=per_device // micro,
        ),
        max_length=max_length,
        packing=False,
        completion_only_loss=True,
        dataset_num_proc=None,
    )
    trainer = quiet(SFTTrainer(model=model, args=args, train_dataset=data, processing_class=tokenizer))
    start = time.perf_counter()
    with name_the_knob("SFT", f"SFTStageConfig.examples_per_micro_batch (now {micro}; the notebooks' "
                              f"sft_micro_batch) or max_sequence_tokens (now {max_length})"):
        result = trainer.train()
    seconds = time.perf_counter() - start
    save_trained(trainer, out_dir / "model", tokenizer)
    log = log_history_frame(trainer.state.log_history)
    log.to_csv(out_dir / "train_log.csv", index=False)
    losses = log["loss"].dropna().tolist() if "loss" in log else []
    n_params = count_parameters(trainer.model, non_embedding=True)
    return {
        "sft/train_loss": float(result.training_loss),
        "sft/first_loss": float(losses[0]) if losses else float("nan"),
        "sft/last_loss": float(losses[-1]) if losses else float("nan"),
        "sft/learning_rate": config.effective_learning_rate,
        "sft/examples_per_micro_batch": micro,
        "sft/max_sequence_tokens": max_length,
        "sft/truncated_share": truncated,
        "sft/seconds": seconds,
        "sft/params": count_parameters(trainer.model),
        "sft/flops": train_flops(n_params, int(config.sft_steps * config.examples_per_step * mean_len)),
    }
