"""Reward-model comparisons built from policy samples labelled by the gold verifier.

A pool holds ``responses_per_prompt`` samples for each of ``n_prompts`` prompts; every
prompt with at least one right and one wrong response yields up to
``comparisons_per_prompt`` (right, wrong) pairs. Knobs trade diversity (more prompts)
against depth (more responses and pairs per prompt) and set the volume.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from .rewards import problem_from_prompt
from .sampling import sample
from .task import AdditionTask, gold_correct


@dataclass
class ResponsePool:
    """Sampled responses grouped by prompt, each with its gold label."""

    prompts: list[str]
    responses: list[list[str]]
    correct: list[list[bool]]


@dataclass(frozen=True)
class Comparison:
    prompt: str
    chosen: str
    rejected: str


def sample_pool(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    task: AdditionTask,
    split: str,
    n_prompts: int,
    responses_per_prompt: int,
    seed: int,
    max_new_tokens: int = 48,
) -> ResponsePool:
    """Draw ``responses_per_prompt`` samples (temperature 1) for each of ``n_prompts`` problems."""
    problems = task.problems(split, n_prompts, seed)
    prompts = [p.prompt for p in problems]
    flat = [p for p in prompts for _ in range(responses_per_prompt)]
    s = sample(model, tokenizer, flat, max_new_tokens, seed=seed)
    k = responses_per_prompt
    responses = [s.completions[i * k : (i + 1) * k] for i in range(len(prompts))]
    correct = [[gold_correct(pr, c) for c in rs] for pr, rs in zip(problems, responses)]
    return ResponsePool(prompts, responses, correct)


def comparisons_from_pool(pool: ResponsePool, comparisons_per_prompt: int, seed: int) -> list[Comparison]:
    """Up to ``comparisons_per_prompt`` distinct (right, wrong) pairs per prompt, in a seeded order."""
    rng = random.Random(f"pairs/{seed}")
    out = []
    for prompt, responses, labels in zip(pool.prompts, pool.responses, pool.correct):
        right = [r for r, ok in zip(responses, labels) if ok]
        wrong = [r for r, ok in zip(responses, labels) if not ok]
        pairs = [(c, w) for c in right for w in wrong]
        rng.shuffle(pairs)
        out.extend(Comparison(prompt, c, w) for c, w in pairs[:comparisons_per_prompt])
    return out


def is_correct(prompt: str, completion: str) -> bool:
    return gold_correct(problem_from_prompt(prompt), completion)
