"""Reward-model training data: policy samples labelled by the verifier, made into comparisons.

A pool holds responses sampled from the SFT policy (temperature 1) for a list of prompts,
each with its gold label and its step labels. A comparison is a (right, wrong) pair of
responses to one prompt; pairs of two right or two wrong responses carry no preference under
a 0/1 verifier and are never made.

Two ways to turn pools into comparisons:

- :class:`ComparisonSpec` fixes the data exactly: ``n_prompts`` distinct prompts,
  ``responses_per_prompt`` samples each, ``comparisons`` pairs in all (split as evenly as
  possible over the prompts), seen ``epochs`` times. Prompts are taken in a seeded order from
  pools sampled chunk by chunk; a prompt is used when its samples hold enough (right, wrong)
  pairs for its share. So diversity (more prompts, fewer responses each) can be traded against
  depth at equal comparisons, and volume can grow, with every count exact. Impossible
  combinations are refused at construction, with the numbers and the fix.
- :func:`comparisons_from_pool` keeps the older rule: up to ``comparisons_per_prompt`` pairs
  from each prompt of one pool, however many that makes.

Comparisons count responses by sample, not by text: two samples with the same text are two
responses. On this task right answers are often identical texts, so depth beyond a few
responses per prompt mostly repeats pairs; ``ComparisonData.stats`` reports the distinct
text pairs so a reader sees it.

What it does not do: tokenize or train (see :mod:`rlhf_nb.stages.reward`).
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from ..scoring.sampling import sample
from ..tasks.addition import Problem
from ..tasks.protocol import Task
from .common import finished_flags, truncated_share, warn_truncated

DATA_STREAM_OFFSET = 100_000
"""Reward-model prompts come from the train split's stream ``seed + DATA_STREAM_OFFSET``, not the
SFT data's stream ``seed``: the RM should not learn on prompts the SFT policy memorised."""
CHUNK_SAMPLES = 1024
"""Responses per sampled chunk (CHUNK_SAMPLES // responses_per_prompt prompts): deep points do not
oversample prompts. A chunk's content depends only on (policy, seed, responses per prompt, index)."""
MAX_POOL_FACTOR = 32
"""By default at most this many times ``n_prompts`` prompts are sampled while looking for usable ones."""


@dataclass
class ResponsePool:
    """Sampled responses grouped by prompt, each with its gold label (and the problem, for step labels)."""

    prompts: list[str]
    responses: list[list[str]]
    correct: list[list[bool]]
    problems: list[Problem] = field(default_factory=list)
    truncated_share: float = float("nan")
    """share of the responses cut at the token budget (no end token); NaN when not recorded"""

    @property
    def responses_per_prompt(self) -> int:
        return min((len(r) for r in self.responses), default=0)

    def share_correct(self) -> float:
        total = sum(len(c) for c in self.correct)
        return sum(map(sum, self.correct)) / total if total else float("nan")

    def to_json(self) -> dict[str, Any]:
        out = {"prompts": self.prompts, "responses": self.responses, "correct": self.correct,
               "terms": [list(p.terms) for p in self.problems]}
        if self.truncated_share == self.truncated_share:  # recorded (not NaN)
            out["truncated_share"] = self.truncated_share
        return out

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "ResponsePool":
        return cls(obj["prompts"], obj["responses"], obj["correct"], [Problem(tuple(t)) for t in obj.get("terms", [])],
                   obj.get("truncated_share", float("nan")))


@dataclass(frozen=True)
class Comparison:
    prompt: str
    chosen: str
    rejected: str
    problem: Problem | None = None
    """the task problem behind the prompt (needed for step labels); None for data without one"""


def max_pairs_per_prompt(responses: int) -> int:
    """Most (right, wrong) pairs ``responses`` samples of one prompt can give: half right, half wrong."""
    return (responses // 2) * (responses - responses // 2)


def _min_responses_for(pairs: int) -> int:
    r = 2
    while max_pairs_per_prompt(r) < pairs:
        r += 1
    return r


@dataclass(frozen=True)
class ComparisonSpec:
    """Exactly what a reward model is trained on: prompts, responses each, comparisons in all, passes."""

    n_prompts: int
    """distinct prompts in the comparisons (each supplies comparisons / n_prompts pairs, +-1)"""
    responses_per_prompt: int
    """policy samples drawn per prompt; the pairs of a prompt are made among these"""
    comparisons: int
    """(right, wrong) pairs in all"""
    epochs: int = 1
    """passes over the comparisons during training (k epochs over D vs 1 epoch over kD)"""

    def __post_init__(self):
        for name in ("n_prompts", "responses_per_prompt", "comparisons", "epochs"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name}={value!r}: must be a positive integer")
        if self.responses_per_prompt < 2:
            raise ValueError(
                f"responses_per_prompt={self.responses_per_prompt}: a comparison needs two responses to the same "
                "prompt; use 2 or more")
        if self.comparisons < self.n_prompts:
            raise ValueError(
                f"comparisons={self.comparisons} < n_prompts={self.n_prompts}: every prompt must supply at least one "
                f"comparison; lower n_prompts to {self.comparisons} or raise comparisons to {self.n_prompts}")
        quota, best = self.max_quota, max_pairs_per_prompt(self.responses_per_prompt)
        if quota > best:
            raise ValueError(
                f"comparisons={self.comparisons} over n_prompts={self.n_prompts} asks {quota} (right, wrong) pairs of "
                f"one prompt, but responses_per_prompt={self.responses_per_prompt} give at most {best} (when half "
                f"are right); raise n_prompts to {math.ceil(self.comparisons / best)} or responses_per_prompt to "
                f"{_min_responses_for(quota)}, or lower comparisons to {best * self.n_prompts}")

    @property
    def max_quota(self) -> int:
        return math.ceil(self.comparisons / self.n_prompts)

    def quotas(self) -> list[int]:
        """Pairs asked of each selected prompt, in selection order (the first ones take the remainder)."""
        base, extra = divmod(self.comparisons, self.n_prompts)
        return [base + 1] * extra + [base] * (self.n_prompts - extra)

    @property
    def trained_comparisons(self) -> int:
        """Comparisons seen in training: comparisons x epochs."""
        return self.comparisons * self.epochs

    @property
    def label(self) -> str:
        """Short name, e.g. ``512x4 C1024 e1``."""
        return f"{self.n_prompts}x{self.responses_per_prompt} C{self.comparisons} e{self.epochs}"


@dataclass
class ComparisonData:
    """The comparisons built for one spec, and what it took to build them."""

    comparisons: list[Comparison]
    spec: ComparisonSpec | None
    sampled_prompts: int
    """prompts sampled (usable or not) to find the ones used"""
    sampled_share_correct: float
    """share of right answers among all sampled responses (the policy's accuracy on the pool)"""
    sampled_truncated_share: float = float("nan")
    """share of the sampled responses cut at the token budget (no end token)"""

    def stats(self) -> dict[str, Any]:
        """Flat ``data/...`` metrics."""
        c = self.comparisons
        return {
            "data/comparisons": len(c),
            "data/distinct_prompts": len({x.prompt for x in c}),
            "data/distinct_text_pairs": len({(x.prompt, x.chosen, x.rejected) for x in c}),
            "data/responses_per_prompt": self.spec.responses_per_prompt if self.spec else float("nan"),
            "data/epochs": self.spec.epochs if self.spec else 1,
            "data/sampled_prompts": self.sampled_prompts,
            "data/pool_share_correct": self.sampled_share_correct,
            "data/truncated_share": self.sampled_truncated_share,
        }


# --- sampling ------------------------------------------------------------------------------

def data_seed(seed: int) -> int:
    """The train-split stream reward-model prompts are drawn from (distinct from the SFT data's)."""
    return seed + DATA_STREAM_OFFSET


def sample_pool(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    task: Task,
    split: str,
    n_prompts: int,
    responses_per_prompt: int,
    seed: int,
    max_new_tokens: int = 48,
    problems: list[Problem] | None = None,
) -> ResponsePool:
    """Draw ``responses_per_prompt`` samples (temperature 1) for each of ``n_prompts`` problems of ``split``."""
    problems = problems if problems is not None else task.problems(split, n_prompts, seed)
    prompts = [p.prompt for p in problems]
    flat = [p for p in prompts for _ in range(responses_per_prompt)]
    s = sample(model, tokenizer, flat, max_new_tokens, seed=seed)
    k = responses_per_prompt
    responses = [s.completions[i * k : (i + 1) * k] for i in range(len(prompts))]
    done = finished_flags(s.completion_ids, tokenizer)  # a cut response earns credit only for a marked answer
    correct = [[task.check_answer(c, pr.answer, finished=done[i * k + j]) for j, c in enumerate(rs)]
               for i, (pr, rs) in enumerate(zip(problems, responses))]
    cut = truncated_share(s.completion_ids, tokenizer)
    warn_truncated(f"reward-model responses ({split} split)", cut,
                   "the reward model's max_new_tokens (the notebooks' rm_sample_tokens)")
    return ResponsePool(prompts, responses, correct, list(problems), cut)


def chunk_prompts(responses_per_prompt: int) -> int:
    """Prompts per chunk for a given number of responses per prompt."""
    return max(8, CHUNK_SAMPLES // responses_per_prompt)


def pool_chunk(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    task: Task,
    responses_per_prompt: int,
    seed: int,
    index: int,
    max_new_tokens: int = 48,
) -> ResponsePool:
    """Chunk ``index`` of the reward-model prompt stream: the same for the same arguments, wherever computed."""
    size = chunk_prompts(responses_per_prompt)
    stream = task.problems("train", (index + 1) * size, data_seed(seed))[index * size :]
    return sample_pool(model, tokenizer, task, "train", len(stream), responses_per_prompt,
                       seed=data_seed(seed) * 1009 + index, max_new_tokens=max_new_tokens, problems=stream)


def sampled_chunks(model, tokenizer, task: Task, responses_per_prompt: int, seed: int,
                   max_new_tokens: int = 48) -> Iterator[ResponsePool]:
    """Chunks 0, 1, 2, ... of the reward-model prompt stream, sampled on demand."""
    index = 0
    while True:
        yield pool_chunk(model, tokenizer, task, responses_per_prompt, seed, index, max_new_tokens)
        index += 1


# --- pairing --------------------------------------------------------------------------------

def balanced_pairs(right: list[int], wrong: list[int], k: int, rng: random.Random) -> list[tuple[int, int]]:
    """``k`` distinct (right, wrong) index pairs that use every response as evenly as possible."""
    if k > len(right) * len(wrong):
        raise ValueError(f"asked {k} pairs of {len(right)} right and {len(wrong)} wrong responses")
    order = [(i, j) for i in right for j in wrong]
    rng.shuffle(order)  # random among equally balanced choices
    uses: dict[int, int] = {}
    chosen: list[tuple[int, int]] = []
    remaining = order
    for _ in range(k):
        best = min(range(len(remaining)), key=lambda t: uses.get(remaining[t][0], 0) + uses.get(remaining[t][1], 0))
        i, j = remaining.pop(best)
        uses[i] = uses.get(i, 0) + 1
        uses[j] = uses.get(j, 0) + 1
        chosen.append((i, j))
    return chosen


def select_comparisons(chunks: Iterable[ResponsePool], spec: ComparisonSpec, seed: int,
                       max_pool_prompts: int = 0) -> ComparisonData:
    """Walk the pools prompt by prompt, keep the first ``spec.n_prompts`` that can supply their share.

    A prompt is usable when its first ``spec.responses_per_prompt`` samples hold at least as
    many (right, wrong) pairs as its share. Refuses, naming the numbers, when a pool holds fewer
    responses per prompt than asked, or when ``max_pool_prompts`` prompts (default
    ``MAX_POOL_FACTOR x n_prompts``) were sampled without finding enough usable ones.
    """
    cap = max_pool_prompts or MAX_POOL_FACTOR * spec.n_prompts
    quotas = spec.quotas()
    rng = random.Random(f"pairs/{seed}")
    out: list[Comparison] = []
    used = seen = right_total = 0
    cut_shares: list[float] = []
    r = spec.responses_per_prompt
    for pool in chunks:
        cut_shares.append(pool.truncated_share)
        if pool.responses_per_prompt < r:
            raise ValueError(
                f"responses_per_prompt={r} but the pool holds {pool.responses_per_prompt} responses per prompt: "
                f"sample the pool with at least {r}, or lower responses_per_prompt")
        for k, prompt in enumerate(pool.prompts):
            if used == spec.n_prompts:
                break
            if seen >= cap:
                break
            seen += 1
            labels = pool.correct[k][:r]
            right_total += sum(labels)
            right = [i for i, ok in enumerate(labels) if ok]
            wrong = [i for i, ok in enumerate(labels) if not ok]
            if len(right) * len(wrong) < quotas[used]:
                continue
            responses = pool.responses[k]
            problem = pool.problems[k] if pool.problems else None
            for i, j in balanced_pairs(right, wrong, quotas[used], rng):
                out.append(Comparison(prompt, responses[i], responses[j], problem))
            used += 1
        if used == spec.n_prompts or seen >= cap:
            break
    share = right_total / (seen * r) if seen else float("nan")
    if used < spec.n_prompts:
        raise ValueError(
            f"after sampling {seen} prompts x {r} responses ({share:.0%} right), only {used} of the n_prompts="
            f"{spec.n_prompts} prompts could supply their {spec.max_quota} (right, wrong) pair(s): the policy is "
            f"almost always right or always wrong there. Raise max_pool_prompts above {cap}, raise "
            f"responses_per_prompt, or ask fewer pairs per prompt (comparisons / n_prompts)")
    cut = sum(cut_shares) / len(cut_shares) if cut_shares else float("nan")
    return ComparisonData(out, spec, seen, share, cut)


def sample_comparisons(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, task: Task,
                       spec: ComparisonSpec, seed: int, max_pool_prompts: int = 0,
                       max_new_tokens: int = 48) -> ComparisonData:
    """Sample chunks from the policy until ``spec`` is met (see :func:`select_comparisons`)."""
    chunks = sampled_chunks(model, tokenizer, task, spec.responses_per_prompt, seed, max_new_tokens=max_new_tokens)
    return select_comparisons(chunks, spec, seed, max_pool_prompts)


def comparisons_from_pool(pool: ResponsePool, comparisons_per_prompt: int, seed: int) -> list[Comparison]:
    """Up to ``comparisons_per_prompt`` distinct (right, wrong) pairs per prompt, in a seeded order."""
    rng = random.Random(f"pairs/{seed}")
    out = []
    for k, (prompt, responses, labels) in enumerate(zip(pool.prompts, pool.responses, pool.correct)):
        problem = pool.problems[k] if pool.problems else None
        right = [r for r, ok in zip(responses, labels) if ok]
        wrong = [r for r, ok in zip(responses, labels) if not ok]
        pairs = [(c, w) for c in right for w in wrong]
        rng.shuffle(pairs)
        out.extend(Comparison(prompt, c, w, problem) for c, w in pairs[:comparisons_per_prompt])
    return out


def all_pairs(pool: ResponsePool) -> list[Comparison]:
    """Every (right, wrong) pair of every prompt (for evaluation)."""
    return comparisons_from_pool(pool, 10**9, 0)
