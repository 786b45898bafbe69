"""Reward functions in the shape TRL's GRPO/RLOO expect: ``f(prompts, completions, **columns)``.

The proxy reward wraps a trained reward model; the gold reward wraps the task's verifier.
Both are plain callables so that RL, evaluation and best-of-n score a completion in exactly
one way: ``prompt + completion`` tokenized without special tokens and without EOS. The
reward model's training pairs are tokenized by :func:`reward_input_ids`, the same function,
so the model never sees at training time a token it will not see when scored (an EOS
mismatch between TRL's RewardTrainer and GRPO dropped pairwise accuracy from 0.80 to ~0.5).
"""
from __future__ import annotations

from typing import Iterable

from transformers import PreTrainedTokenizerBase

from ..tasks.protocol import Task


def reward_input_ids(tokenizer: PreTrainedTokenizerBase, prompt: str, completion: str) -> list[int]:
    """Token ids a reward model reads for one response: prompt + completion, no special tokens."""
    return tokenizer(prompt + completion, add_special_tokens=False)["input_ids"]


def scored_tokens(tokenizer: PreTrainedTokenizerBase, pairs: Iterable[tuple[str, str]]) -> int:
    """Tokens a reward model reads over ``(prompt, completion)`` pairs, counted with ``tokenizer``
    (:func:`reward_input_ids`): for FLOPs, which one-token-per-character would get wrong for any
    tokenizer but the embedded task's."""
    pairs = list(pairs)
    if not pairs:
        return 0
    ids = tokenizer([p + c for p, c in pairs], add_special_tokens=False)["input_ids"]
    return sum(len(row) for row in ids)


class GoldReward:
    """The task's verifier as a reward: 1.0 when the final answer is right, else 0.0.

    TRL passes the dataset's ``answer`` column as a keyword argument, so the same callable
    serves the embedded task and real datasets. With ``eos_ids`` and the sampled
    ``completion_ids`` (TRL 1.16 passes them to every reward function, each row up to and
    including its end token), a completion counts as ``finished`` when it ended with one of
    ``eos_ids``, and the task's verifier credits an unmarked last number only then (no credit
    for a completion cut at the budget); without them every completion counts as cut.
    """

    __name__ = "gold"

    def __init__(self, task: Task, eos_ids: list[int] | None = None):
        self.task = task
        self.eos_ids = set(eos_ids or ())

    def __call__(self, prompts: list[str], completions: list[str], answer: list | None = None,
                 completion_ids: list[list[int]] | None = None, **_: object) -> list[float]:
        if answer is None:
            raise ValueError("the gold reward needs the dataset's 'answer' column next to 'prompt'")
        if completion_ids is None:
            finished = [False] * len(completions)
        else:
            finished = [bool(ids) and int(ids[-1]) in self.eos_ids for ids in completion_ids]
        return [float(self.task.check_answer(c, a, finished=f)) for c, a, f in zip(completions, answer, finished)]


