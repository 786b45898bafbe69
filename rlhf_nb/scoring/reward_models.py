"""A trained reward model, loaded and scored: one way for outcome, process and multi-task models.

Every reward model is a sequence-classification checkpoint (the SFT policy with a scalar head)
with a head record (``rm_head.json``: which supervision trained it, how to read it) beside its
weights. :func:`load_reward` reads that record and returns the right scorer, a callable
``(prompts, completions) -> scores`` usable as a TRL reward function, in evaluation and in
best-of-n:

- :class:`ProxyReward`: the head read at the last token (outcome and multi-task models);
- :class:`ProcessReward`: the head read at the token ending each reasoning step, the step
  logits aggregated into one score (``STEP_AGGREGATES``: ``min``, ``prod``, ``mean``, ``last``).

Both score ``prompt + completion`` tokenized by :func:`rlhf_nb.scoring.rewards.reward_input_ids`
(no special tokens, no EOS), the same ids the reward trainer learned from.

What it does not do: train (see :mod:`rlhf_nb.stages.reward` and :mod:`rlhf_nb.stages.prm`).
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from transformers import (
    AutoModelForSequenceClassification,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from ..device import default_device
from ..models import load_tokenizer
from ..tasks.addition import step_end_offsets
from .rewards import reward_input_ids
from .sampling import pad_ids


def pairwise_accuracy(reward, pairs: Sequence[Any]) -> float:
    """Share of ``pairs`` (each with ``.prompt``, ``.chosen``, ``.rejected`` text) whose chosen response ``reward``
    scores higher; ties count half. NaN for no pairs."""
    if not pairs:
        return float("nan")
    chosen = reward.score([c.prompt for c in pairs], [c.chosen for c in pairs])
    rejected = reward.score([c.prompt for c in pairs], [c.rejected for c in pairs])
    return sum(1.0 if a > b else 0.5 if a == b else 0.0 for a, b in zip(chosen, rejected)) / len(pairs)


def load_reward(model_dir: str | Path, **kwargs: Any):
    """Any trained reward model as a ``(prompts, completions) -> scores`` callable (ProxyReward or ProcessReward)."""
    if read_head(model_dir)["supervision"] == "prm":
        return ProcessReward(model_dir, **kwargs)
    return ProxyReward(model_dir, **{k: v for k, v in kwargs.items() if k != "aggregate"})


STEP_AGGREGATES = ("min", "prod", "mean", "last")


HEAD_FILE = "rm_head.json"
"""Written next to a reward model's weights: which supervision trained it and how to read it."""


def step_token_positions(tokenizer: PreTrainedTokenizerBase, prompt: str,
                         completion: str) -> tuple[list[int], list[int]]:
    """The ids a reward model reads (prompt + completion, no special tokens) and the token ending each step.

    Positions come from the tokenizer's character offsets, so any fast tokenizer works, not
    only the character one. An empty completion has one position: the prompt's last token.
    """
    enc = tokenizer(prompt + completion, add_special_tokens=False, return_offsets_mapping=True)
    ids, offsets = enc["input_ids"], enc["offset_mapping"]
    if not ids:
        raise ValueError("prompt + completion tokenized to nothing: a reward model needs at least one token")
    if not completion:
        return ids, [len(ids) - 1]
    positions = []
    for char in (len(prompt) + o for o in step_end_offsets(completion)):
        covering = [t for t, (a, b) in enumerate(offsets) if a <= char < b]
        if covering:
            positions.append(covering[0])
        else:  # e.g. a character the tokenizer dropped: the last token starting at or before it
            before = [t for t, (a, _) in enumerate(offsets) if a <= char]
            positions.append(before[-1] if before else 0)
    return ids, positions


def token_scores(model: PreTrainedModel, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """The scalar head at every position, shape (batch, length)."""
    hidden = model.base_model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).last_hidden_state
    return model.score(hidden).squeeze(-1)


def aggregate_steps(scores: Sequence[float], how: str) -> float:
    """One response score from its step logits."""
    s = torch.tensor(list(scores), dtype=torch.float64)
    if how == "min":
        return float(s.min())
    if how == "prod":
        return float(F.logsigmoid(s).sum())
    if how == "mean":
        return float(torch.sigmoid(s).mean())
    if how == "last":
        return float(s[-1])
    raise ValueError(f"aggregate={how!r}: use one of {STEP_AGGREGATES}")


class ProcessReward:
    """A trained PRM, callable as a reward function: ``(prompts, completions) -> scores``."""

    __name__ = "proxy"  # TRL names logged reward columns after the function, as for ProxyReward

    def __init__(self, path: str | Path, aggregate: str | None = None, device: torch.device | str | None = None,
                 batch_size: int = 512):
        self.path = str(path)
        head = read_head(path)
        self.aggregate = aggregate or head.get("aggregate", "min")
        if self.aggregate not in STEP_AGGREGATES:
            raise ValueError(f"aggregate={self.aggregate!r}: use one of {STEP_AGGREGATES}")
        self.tokenizer = load_tokenizer(path)
        self.model = load_scalar_reward_model(path, device)
        self.batch_size = batch_size
        self.call_seconds = 0.0
        """wall seconds spent in calls as a reward function (``__call__``), e.g. scoring an RL run's rollouts"""

    @torch.no_grad()
    def step_scores(self, prompts: list[str], completions: list[str]) -> list[list[float]]:
        """The head's logit at each step-end token of each response."""
        device = next(self.model.parameters()).device
        out: list[list[float]] = []
        for start in range(0, len(prompts), self.batch_size):
            enc = [step_token_positions(self.tokenizer, p, c) for p, c in
                   zip(prompts[start : start + self.batch_size], completions[start : start + self.batch_size])]
            input_ids, attn = pad_ids([ids for ids, _ in enc], self.tokenizer.pad_token_id, side="right")
            logits = token_scores(self.model, input_ids.to(device), attn.to(device)).float().cpu()
            out.extend([logits[i, pos].tolist() for i, (_, pos) in enumerate(enc)])
        return out

    def score(self, prompts: list[str], completions: list[str]) -> list[float]:
        return [aggregate_steps(s, self.aggregate) for s in self.step_scores(prompts, completions)]

    def __call__(self, prompts: list[str], completions: list[str], **_: object) -> list[float]:
        start = time.perf_counter()
        try:
            return self.score(prompts, completions)
        finally:
            self.call_seconds += time.perf_counter() - start


def write_head(model_dir: Path, supervision: str, aggregate: str | None = None) -> None:
    record = json.dumps({"supervision": supervision, "aggregate": aggregate}) + "\n"
    (Path(model_dir) / HEAD_FILE).write_text(record, encoding="utf-8")


def read_head(model_dir: str | Path) -> dict[str, Any]:
    """The reward model's head record; a folder without one is an outcome RM (older runs)."""
    path = Path(model_dir) / HEAD_FILE
    if not path.exists():
        return {"supervision": "orm", "aggregate": None}
    return json.loads(path.read_text(encoding="utf-8-sig"))


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
        self.call_seconds = 0.0
        """wall seconds spent in calls as a reward function (``__call__``), e.g. scoring an RL run's rollouts"""

    @torch.no_grad()
    def score(self, prompts: list[str], completions: list[str]) -> list[float]:
        device = next(self.model.parameters()).device
        out = []
        for start in range(0, len(prompts), self.batch_size):
            ids = [
                reward_input_ids(self.tokenizer, p, c)
                for p, c in zip(prompts[start : start + self.batch_size], completions[start : start + self.batch_size])
            ]
            # right-padded: the classification head reads each row's last non-pad token
            input_ids, attn = pad_ids(ids, self.tokenizer.pad_token_id, side="right")
            out.extend(self.model(input_ids=input_ids.to(device), attention_mask=attn.to(device)).logits[:, 0]
                       .float().tolist())
        return out

    def __call__(self, prompts: list[str], completions: list[str], **_: object) -> list[float]:
        start = time.perf_counter()
        try:
            return self.score(prompts, completions)
        finally:
            self.call_seconds += time.perf_counter() - start
