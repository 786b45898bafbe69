"""Reward functions in the shape TRL's GRPO/RLOO expect: ``f(prompts, completions, **columns)``.

The proxy reward wraps a trained reward model; the gold reward wraps the task's verifier.
Both are plain callables so that RL, evaluation and best-of-n score a completion in exactly
one way: ``prompt + completion`` tokenized without special tokens and without EOS. The
reward model's training pairs are tokenized by :func:`reward_input_ids`, the same function,
so the model never sees at training time a token it will not see when scored (an EOS
mismatch between TRL's RewardTrainer and GRPO dropped pairwise accuracy from 0.80 to ~0.5).
"""
from __future__ import annotations

from pathlib import Path

import torch
from transformers import AutoModelForSequenceClassification, PreTrainedTokenizerBase

from .device import default_device
from .models import load_tokenizer
from .task import AdditionTask


def reward_input_ids(tokenizer: PreTrainedTokenizerBase, prompt: str, completion: str) -> list[int]:
    """Token ids a reward model reads for one response: prompt + completion, no special tokens."""
    return tokenizer(prompt + completion, add_special_tokens=False)["input_ids"]


class GoldReward:
    """The task's verifier as a reward: 1.0 when the final answer is right, else 0.0.

    TRL passes the dataset's ``answer`` column as a keyword argument, so the same callable
    serves the embedded task and real datasets.
    """

    __name__ = "gold"

    def __init__(self, task: AdditionTask):
        self.task = task

    def __call__(self, prompts: list[str], completions: list[str], answer: list | None = None, **_: object) -> list[float]:
        if answer is None:
            raise ValueError("the gold reward needs the dataset's 'answer' column next to 'prompt'")
        return [float(self.task.check_answer(c, a)) for c, a in zip(completions, answer)]


def load_scalar_reward_model(path: str | Path, device: torch.device | str | None = None):
    """A saved scalar-head reward model in float32 whatever its saved dtype, in eval mode, on this
    process's GPU when there is one (next to the policy it scores)."""
    model = AutoModelForSequenceClassification.from_pretrained(
        str(path), use_safetensors=True, dtype=torch.float32).to(device or default_device())
    return model.eval()


class ProxyReward:
    """A trained scalar reward model, callable as a TRL reward function and in evaluation."""

    __name__ = "proxy"  # TRL names logged reward columns after the function

    def __init__(self, path: str | Path, device: torch.device | str | None = None, batch_size: int = 512):
        self.path = str(path)
        self.tokenizer = load_tokenizer(path)
        self.model = load_scalar_reward_model(path, device)
        self.batch_size = batch_size

    @torch.no_grad()
    def score(self, prompts: list[str], completions: list[str]) -> list[float]:
        device = next(self.model.parameters()).device
        out = []
        for start in range(0, len(prompts), self.batch_size):
            ids = [
                reward_input_ids(self.tokenizer, p, c)
                for p, c in zip(prompts[start : start + self.batch_size], completions[start : start + self.batch_size])
            ]
            width = max(len(i) for i in ids)
            pad = self.tokenizer.pad_token_id
            input_ids = torch.tensor([i + [pad] * (width - len(i)) for i in ids], device=device)
            attn = torch.tensor([[1] * len(i) + [0] * (width - len(i)) for i in ids], device=device)
            out.extend(self.model(input_ids=input_ids, attention_mask=attn).logits[:, 0].float().tolist())
        return out

    def __call__(self, prompts: list[str], completions: list[str], **_: object) -> list[float]:
        return self.score(prompts, completions)
