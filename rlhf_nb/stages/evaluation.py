"""Policy evaluation: gold accuracy (greedy and sampled), proxy reward and KL to the SFT policy.

Held-out prompts (in distribution) and out-of-distribution prompts are reported apart, so
poor optimisation and poor generalisation can be told apart. KL(policy || reference) is
estimated from the policy's own samples as the mean of log p_policy - log p_ref over each
sampled sequence (unbiased; single samples can be negative).

No OOD figure without OOD data: a task whose ``ood_source`` is ``heldout`` (a data file given no
OOD file or column) is evaluated on its held-out split only. Every split reports the share of
sampled completions cut at the token budget (``truncated_share``); above 5 % a warning names the
knob. A completion earns credit only for an answer it gave (``finished`` passed to the verifier).

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
from .common import finished_flags, token_budgets, truncated_share, warn_truncated


@dataclass(frozen=True)
class EvalStageConfig:
    """Evaluation of a policy on held-out and out-of-distribution prompts."""

    eval_prompts: int = 256
    """prompts per split"""
    samples_per_prompt: int = 4
    """temperature-1 samples per prompt for sampled accuracy, proxy reward and KL"""
    max_completion_tokens: int = 64
    """generation budget in tokens; a 4-term OOD answer is about 30 characters; 0 = derived from the task's data
    (the longest SFT solution; the notebooks' default for a data file)"""
    seed: int = 1234
    """evaluation seed: fixed across runs so policies are compared on the same prompts"""

    def __post_init__(self):
        normalize_fields(self)  # declared types: one configuration, one run id, whatever typed it
        if self.eval_prompts <= 0 or self.samples_per_prompt <= 0 or self.max_completion_tokens < 0:
            raise ValueError("eval_prompts and samples_per_prompt must be positive, max_completion_tokens positive "
                             "or 0 (derived from the data)")


def eval_splits(task: Task) -> tuple[str, ...]:
    """The splits a policy is evaluated on: held-out, and OOD only when the task has OOD data of its own."""
    return ("heldout",) if getattr(task, "ood_source", "") == "heldout" else ("heldout", "ood")


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
    done = finished_flags(s.completion_ids, tokenizer)
    out = {"sampled_acc": float(np.mean([task.check_answer(c, p.answer, finished=f)
                                         for p, c, f in zip(expanded, s.completions, done)])),
           "truncated_share": truncated_share(s.completion_ids, tokenizer)}
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
    """Flat ``eval/<split>/<metric>`` metrics for the held-out split and, when the task has OOD data, the OOD one.

    ``greedy_acc`` and ``sampled_acc`` are shares in [0, 1]; ``truncated_share`` the share of
    sampled completions cut at the budget; ``greedy_truncated_share`` the same for greedy ones;
    ``distinct_prompts`` how many of the ``eval_prompts`` differ (a split smaller than
    ``eval_prompts`` is cycled through, so its problems weigh by how often they repeat).
    """
    metrics: dict[str, Any] = {}
    budget = config.max_completion_tokens or token_budgets(task, tokenizer).eval
    for split in eval_splits(task):
        problems = task.problems(split, config.eval_prompts, config.seed)
        metrics[f"eval/{split}/distinct_prompts"] = len({p.prompt for p in problems})
        greedy = sample(model, tokenizer, [p.prompt for p in problems], budget, greedy=True)
        done = finished_flags(greedy.completion_ids, tokenizer)
        metrics[f"eval/{split}/greedy_acc"] = float(np.mean(
            [task.check_answer(c, p.answer, finished=f) for p, c, f in zip(problems, greedy.completions, done)]))
        metrics[f"eval/{split}/greedy_truncated_share"] = truncated_share(greedy.completion_ids, tokenizer)
        sampled = measure_samples(task, model, tokenizer, problems, config.samples_per_prompt, budget,
                                  config.seed, ref_model, reward)
        metrics.update({f"eval/{split}/{k}": v for k, v in sampled.items()})
        warn_truncated(f"the evaluation's sampled completions ({split})", sampled["truncated_share"],
                       "EvalStageConfig.max_completion_tokens (the notebooks' eval_max_tokens)")
    metrics["eval/max_completion_tokens"] = budget
    return metrics
