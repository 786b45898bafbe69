"""Policy evaluation: gold accuracy (greedy and sampled), proxy reward and KL to the SFT policy.

Held-out prompts (in distribution) and out-of-distribution prompts are reported apart, so
poor optimisation and poor generalisation can be told apart. KL(policy || reference) is
estimated from the policy's own samples as the mean of log p_policy - log p_ref over each
sampled sequence (unbiased; single samples can be negative).

Every measurement is seeded (the same policy and seed give the same numbers) and draws from
random streams of its own (:func:`rlhf_nb.scoring.sampling.sample`): evaluating, or tracking
a training run, leaves the caller's torch, numpy and ``random`` states as they were.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from ..scoring.reward_models import ProxyReward
from ..scoring.sampling import sample, sequence_logprobs
from ..tasks.addition import Problem
from ..tasks.protocol import Task
from ..typed_values import normalize_fields


@dataclass(frozen=True)
class EvalStageConfig:
    """Evaluation of a policy on held-out and out-of-distribution prompts."""

    eval_prompts: int = 256
    """prompts per split"""
    samples_per_prompt: int = 4
    """temperature-1 samples per prompt for sampled accuracy, proxy reward and KL"""
    max_completion_tokens: int = 64
    """generation budget; a 4-term OOD answer is about 30 characters"""
    seed: int = 1234
    """evaluation seed: fixed across runs so policies are compared on the same prompts"""

    def __post_init__(self):
        normalize_fields(self)  # declared types: one configuration, one run id, whatever typed it
        if self.eval_prompts <= 0 or self.samples_per_prompt <= 0 or self.max_completion_tokens <= 0:
            raise ValueError("eval_prompts, samples_per_prompt and max_completion_tokens must be positive")


def measure_samples(
    task: Task,
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    problems: list[Problem],
    samples_per_prompt: int,
    max_new_tokens: int,
    seed: int,
    ref_model: PreTrainedModel | None = None,
    reward: ProxyReward | None = None,
) -> dict[str, float]:
    """Sampled gold accuracy, mean proxy reward and KL estimate on ``problems``.

    ``sampled_acc`` is a share in [0, 1] over ``samples_per_prompt`` temperature-1 samples per
    problem, ``proxy_mean`` the reward model's mean score (its logit units), ``kl`` the mean over
    samples of log p_model - log p_ref of each sampled completion (nats per sequence).
    """
    prompts = [p.prompt for p in problems for _ in range(samples_per_prompt)]
    expanded = [p for p in problems for _ in range(samples_per_prompt)]
    s = sample(model, tokenizer, prompts, max_new_tokens, seed=seed)
    out = {"sampled_acc": float(np.mean([task.check_answer(c, p.answer) for p, c in zip(expanded, s.completions)]))}
    if reward is not None:
        out["proxy_mean"] = float(np.mean(reward.score(prompts, s.completions)))
    if ref_model is not None:
        # both score exactly the ids that were sampled, teacher-forced (a policy equal to the reference gives KL 0)
        lp = sequence_logprobs(model, tokenizer, prompts, s.completion_ids, prompt_ids=s.prompt_ids)
        lr = sequence_logprobs(ref_model, tokenizer, prompts, s.completion_ids, prompt_ids=s.prompt_ids)
        out["kl"] = float((lp - lr).mean())
    return out


def evaluate_policy(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    task: Task,
    config: EvalStageConfig,
    ref_model: PreTrainedModel | None = None,
    reward: ProxyReward | None = None,
) -> dict[str, Any]:
    """Flat ``eval/<split>/<metric>`` metrics for the held-out and OOD splits."""
    metrics: dict[str, Any] = {}
    for split in ("heldout", "ood"):
        problems = task.problems(split, config.eval_prompts, config.seed)
        greedy = sample(model, tokenizer, [p.prompt for p in problems], config.max_completion_tokens, greedy=True)
        metrics[f"eval/{split}/greedy_acc"] = float(np.mean(
            [task.check_answer(c, p.answer) for p, c in zip(problems, greedy.completions)]))
        sampled = measure_samples(task, model, tokenizer, problems, config.samples_per_prompt, config.max_completion_tokens,
                                  config.seed, ref_model, reward)
        metrics.update({f"eval/{split}/{k}": v for k, v in sampled.items()})
    return metrics
