"""Reward-model experiments through the run store: data from an SFT policy, a reward model, its evaluation.

Evaluation is on held-out prompts (in distribution) and out-of-distribution prompts, apart.
For each split one pool of N policy samples per prompt is drawn once per SFT policy and
shared by every reward model evaluated on it. From the pool:

- pairwise accuracy: over every (right, wrong) pair of responses to one prompt, the share the
  reward model orders right (ties count half); ``pairwise_acc_even`` / ``pairwise_acc_odd`` the
  same on the prompts of even / odd index (evaluations made before these columns lack them);
- best-of-n, n = 1 .. N: the gold accuracy of the response the reward model picks among n
  samples, and its proxy score, with the unbiased estimator of :mod:`rlhf_nb.scoring.best_of_n`
  (``gold``; ``gold_even`` / ``gold_odd`` on the prompts of even / odd index, two disjoint
  halves), and the oracle (picking by gold);
- the exact KL of best-of-n over each prompt's pool (``kl_exact``, computed per prompt with
  :func:`rlhf_nb.analysis.bon_kl.exact_bon_kl_curve`, identical completions grouped, then
  averaged over prompts; with replacement from the pool's empirical distribution) beside the
  upper bound ln n - (n-1)/n (``kl_bound``), and ``gold_wr``, the gold of that same
  with-replacement selection rule, so that gold against sqrt(``kl_exact``) describes one
  selection rule exactly (see :mod:`rlhf_nb.scoring.best_of_n` for the reconciliation).

Store stages (each cached, so a finished seed costs nothing to rerun):

- ``rm_chunk``: a chunk of the reward-model prompt stream sampled from a data policy; the
  comparisons of any :class:`~rlhf_nb.stages.preference_data.ComparisonSpec` are cut from these, so
  grid points that share a policy, seed and responses per prompt sample once;
- ``reward``: the reward model (the pipeline's stage: the same config gives the same run);
- ``rm_pool``: an evaluation pool; ``rm_eval``: one reward model on the pools.

What it does not do: read notebook parameters (:mod:`rlhf_nb.axes.rm_family`), fit or decide a
finding for a whole axis (see :mod:`rlhf_nb.axes`).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import pandas as pd

from ..compute import forward_flops
from ..models import count_parameters, load_causal_lm, load_tokenizer
from ..scoring.best_of_n import best_of_n_curve
from ..scoring.reward_models import (
    STEP_AGGREGATES,
    ProcessReward,
    aggregate_steps,
    load_reward,
)
from ..scoring.rewards import scored_tokens
from ..stages.preference_data import (
    ResponsePool,
    chunk_prompts,
    data_seed,
    pool_chunk,
    sample_pool,
    select_comparisons,
)
from ..stages.reward import RewardStageConfig, train_reward_model
from ..store import Run, RunStore, as_store
from ..tasks.protocol import Task
from .runs import reward_params, run_budgets

EVAL_SPLITS = ("heldout", "ood")
DEFAULT_NS = (1, 2, 4, 8, 16, 32, 64)
EVAL_COLUMNS_VERSION = 2
"""bumped when ``bon.csv`` gains columns, so a store's older evaluations are recomputed (2: kl_exact, gold_wr,
gold_even/gold_odd)"""


@dataclass(frozen=True)
class RMEvalConfig:
    """Evaluation of reward models on pools of policy samples, in and out of distribution."""

    prompts: int = 64
    """prompts per split"""
    samples_per_prompt: int = 64
    """pool size N per prompt; best-of-n is estimated for every n <= N without bias"""
    ns: tuple[int, ...] = DEFAULT_NS
    """best-of-n budgets reported"""
    max_new_tokens: int = 0
    """tokens sampled per pool response; 0: the reward-model data's budget (48 for the addition task, where a
    5-term OOD answer is about 30 characters; 1.5 times the longest SFT solution of a data file)"""
    seed: int = 1234
    """evaluation prompts and sampling seed: fixed across runs so reward models meet the same prompts"""
    splits: tuple[str, ...] = EVAL_SPLITS
    """splits evaluated"""

    def __post_init__(self):
        if self.prompts <= 0 or self.samples_per_prompt <= 0:
            raise ValueError(f"prompts={self.prompts}, samples_per_prompt={self.samples_per_prompt}: must be positive")
        if self.max_new_tokens < 0:
            raise ValueError(f"max_new_tokens={self.max_new_tokens}: use 0 (from the data) or a positive budget")
        if not self.ns or min(self.ns) < 1:
            raise ValueError(f"ns={self.ns}: give best-of-n budgets of 1 or more")
        if max(self.ns) > self.samples_per_prompt:
            raise ValueError(
                f"best-of-n up to n={max(self.ns)} needs a pool of at least that many samples per prompt, but "
                f"samples_per_prompt={self.samples_per_prompt}; raise samples_per_prompt to {max(self.ns)} or drop "
                "the larger n")
        unknown = set(self.splits) - set(EVAL_SPLITS)
        if unknown:
            raise ValueError(f"splits={self.splits}: unknown {sorted(unknown)}; use {EVAL_SPLITS}")


def parse_ns(text: str, pool_size: int = 0) -> tuple[int, ...]:
    """``"1,2,4"`` -> ``(1, 2, 4)`` (a notebook parameter); empty: the powers of two up to ``pool_size``."""
    if not str(text).strip():
        if pool_size < 1:
            raise ValueError("ns is empty and no pool size was given: pass ns like '1,2,4' or the pool size")
        return tuple(2**i for i in range(int(np.log2(pool_size)) + 1))
    try:
        ns = tuple(sorted({int(s) for s in str(text).split(",") if s.strip()}))
    except ValueError:
        raise ValueError(f"ns={text!r}: give comma-separated integers such as '1,2,4,8'") from None
    if not ns:
        raise ValueError(f"ns={text!r}: give at least one n")
    return ns


# --- configs built on the pipeline's defaults ----------------------------------------------------


# --- store stages ------------------------------------------------------------------------------


def rm_sample_tokens(task: Task, config: RewardStageConfig, sft: Run) -> int:
    """Tokens sampled per reward-model response: the config's budget, else the data's for ``sft``'s tokenizer."""
    return config.max_new_tokens or run_budgets(task, sft).rm_sampling


def cached_chunks(store: RunStore, task: Task, sft: Run, responses_per_prompt: int, seed: int,
                  max_new_tokens: int) -> Iterator[ResponsePool]:
    """Chunks 0, 1, ... of the reward-model prompt stream, each sampled once and kept in the store.

    ``max_new_tokens``: the budget of every response (:func:`rm_sample_tokens` resolves a config's).
    """
    policy: dict[str, Any] = {}

    def compute(index: int):
        def run(out: Path) -> dict[str, Any]:
            if not policy:
                policy["model"] = load_causal_lm(sft.path / "model")
                policy["tokenizer"] = load_tokenizer(sft.path / "model")
            pool = pool_chunk(policy["model"], policy["tokenizer"], task, responses_per_prompt, seed, index,
                              max_new_tokens)
            (out / "pool.json").write_text(json.dumps(pool.to_json()), encoding="utf-8")
            return {"chunk/prompts": len(pool.prompts), "chunk/share_correct": pool.share_correct()}
        return run

    index = 0
    while True:
        params = {"task": asdict(task), "upstream": {"sft": sft.run_id}, "responses_per_prompt": responses_per_prompt,
                  "seed": seed, "stream": data_seed(seed), "index": index,
                  "chunk_prompts": chunk_prompts(responses_per_prompt),
                  "max_new_tokens": max_new_tokens}
        run = store.execute("rm_chunk", params, compute(index))
        yield ResponsePool.from_json(json.loads((run.path / "pool.json").read_text(encoding="utf-8-sig")))
        index += 1


def run_reward_model(store: RunStore | str | Path, task: Task, config: RewardStageConfig, data_sft: Run,
                     init_sft: Run | None = None) -> Run:
    """Train (or load) a reward model on data sampled from ``data_sft``, initialised from ``init_sft`` (default: same).

    With the same data and init policy, the run is the pipeline's ``run_reward`` run: either
    computes it, both find it.
    """
    store = as_store(store)
    params = reward_params(task, config, data_sft, init_sft)
    init_dir = (init_sft or data_sft).path / "model"

    def compute(out: Path) -> dict[str, Any]:
        spec = config.data_spec()
        data = None
        if spec is not None:  # cut the comparisons from cached chunks: shared by every RM on this policy and seed
            chunks = cached_chunks(store, task, data_sft, spec.responses_per_prompt, config.seed,
                                   rm_sample_tokens(task, config, data_sft))
            data = select_comparisons(chunks, spec, config.seed, config.max_pool_prompts)
        return train_reward_model(config, task, data_sft.path / "model", out, init_model_dir=init_dir, data=data)

    return store.execute("reward", params, compute)


def run_eval_pool(store: RunStore | str | Path, task: Task, sft: Run, split: str, config: RMEvalConfig) -> Run:
    """Sample (or load) the evaluation pool of ``split``: ``config.prompts`` x ``config.samples_per_prompt``."""
    store = as_store(store)
    budget = config.max_new_tokens or run_budgets(task, sft).rm_sampling
    params = {"task": asdict(task), "upstream": {"sft": sft.run_id}, "split": split, "prompts": config.prompts,
              "samples_per_prompt": config.samples_per_prompt, "max_new_tokens": budget, "seed": config.seed}

    def compute(out: Path) -> dict[str, Any]:
        model, tokenizer = load_causal_lm(sft.path / "model"), load_tokenizer(sft.path / "model")
        problems = task.problems(split, config.prompts, config.seed)
        pool = sample_pool(model, tokenizer, task, split, config.prompts, config.samples_per_prompt, config.seed,
                           budget, problems=problems)
        (out / "pool.json").write_text(json.dumps(pool.to_json()), encoding="utf-8")
        distinct = np.mean([len(set(r)) for r in pool.responses])
        tokens = scored_tokens(tokenizer, ((p, c) for p, rs in zip(pool.prompts, pool.responses) for c in rs))
        return {"pool/share_correct": pool.share_correct(), "pool/distinct_per_prompt": float(distinct),
                "pool/flops": forward_flops(count_parameters(model, non_embedding=True), tokens)}

    return store.execute("rm_pool", params, compute)


def load_pool(run: Run) -> ResponsePool:
    return ResponsePool.from_json(json.loads((run.path / "pool.json").read_text(encoding="utf-8-sig")))


# --- evaluation ----------------------------------------------------------------------------------

def _per_distinct_response(pool: ResponsePool, fn) -> list[list[Any]]:
    """``fn`` applied once per distinct (prompt, completion), spread back over the pool; many samples repeat here."""
    keys = sorted({(p, c) for p, rs in zip(pool.prompts, pool.responses) for c in rs})
    lookup = dict(zip(keys, fn([k[0] for k in keys], [k[1] for k in keys])))
    return [[lookup[(p, c)] for c in rs] for p, rs in zip(pool.prompts, pool.responses)]


def pool_pairwise_accuracy(scores: Sequence[np.ndarray], correct: Sequence[Sequence[bool]]) -> float:
    """Over all (right, wrong) pairs within each prompt, the share ordered right (ties half)."""
    hits = total = 0.0
    for s, c in zip(scores, correct):
        c = np.asarray(c, dtype=bool)
        right, wrong = s[c], s[~c]
        if right.size and wrong.size:
            diff = right[:, None] - wrong[None, :]
            hits += (diff > 0).sum() + 0.5 * (diff == 0).sum()
            total += diff.size
    return float(hits / total) if total else float("nan")


def evaluate_on_pool(reward, pool: ResponsePool, ns: Sequence[int]) -> tuple[dict[str, float], pd.DataFrame]:
    """Pairwise accuracy and the best-of-n curve of one reward model on one pool.

    A process RM is evaluated under every step aggregation (``aggregate`` column); its own
    aggregation is the one marked ``primary``.
    """
    gold = [np.asarray(c, dtype=float) for c in pool.correct]
    if isinstance(reward, ProcessReward):
        steps = _per_distinct_response(pool, reward.step_scores)  # step logits once, every aggregation from them
        per_agg = {agg: [np.array([aggregate_steps(x, agg) for x in row]) for row in steps] for agg in STEP_AGGREGATES}
        primary = reward.aggregate
    else:
        per_agg = {"outcome": [np.array(row, dtype=float) for row in _per_distinct_response(pool, reward.score)]}
        primary = "outcome"
    frames = []
    for agg, scores in per_agg.items():
        curve = best_of_n_curve(scores, gold, ns, responses=pool.responses)
        curve.insert(0, "aggregate", agg)
        curve["primary"] = agg == primary
        curve["pairwise_acc"] = pool_pairwise_accuracy(scores, pool.correct)
        # the same on the prompts of even / odd index (the best-of-n halves): the measurement-noise split of a finding
        curve["pairwise_acc_even"] = pool_pairwise_accuracy(scores[0::2], pool.correct[0::2])
        curve["pairwise_acc_odd"] = pool_pairwise_accuracy(scores[1::2], pool.correct[1::2])
        frames.append(curve)
    table = pd.concat(frames, ignore_index=True)
    main = table[table.primary]
    metrics = {"pairwise_acc": float(main.pairwise_acc.iloc[0]), "pool_acc": float(np.mean([g.mean() for g in gold]))}
    for row in main.itertuples():
        metrics[f"bon/{row.n}/gold"] = row.gold
        metrics[f"bon/{row.n}/proxy"] = row.proxy
        metrics[f"bon/{row.n}/oracle"] = row.oracle
        metrics[f"bon/{row.n}/kl_exact"] = row.kl_exact
    return metrics, table


def run_reward_eval(store: RunStore | str | Path, task: Task, rm: Run, sft: Run, config: RMEvalConfig) -> Run:
    """Evaluate (or load the evaluation of) reward model ``rm`` on ``sft``'s pools of every split."""
    store = as_store(store)
    pools = {split: run_eval_pool(store, task, sft, split, config) for split in config.splits}
    params = {"upstream": {"reward": rm.run_id, **{f"pool/{s}": r.run_id for s, r in pools.items()}},
              "ns": list(config.ns), "columns_version": EVAL_COLUMNS_VERSION}

    def compute(out: Path) -> dict[str, Any]:
        reward = load_reward(rm.path / "model")
        metrics, frames, tokens = {}, [], 0
        for split, run in pools.items():
            pool = load_pool(run)
            m, table = evaluate_on_pool(reward, pool, config.ns)
            metrics.update({f"eval/{split}/{k}": v for k, v in m.items()})
            table.insert(0, "split", split)
            frames.append(table)
            scored = {(p, c) for p, rs in zip(pool.prompts, pool.responses) for c in rs}  # distinct responses
            tokens += scored_tokens(reward.tokenizer, scored)
        pd.concat(frames, ignore_index=True).to_csv(out / "bon.csv", index=False)
        metrics["eval/flops"] = forward_flops(count_parameters(reward.model, non_embedding=True), tokens)
        return metrics

    return store.execute("rm_eval", params, compute)


def eval_rows(evaluation: Run, primary_only: bool = True) -> pd.DataFrame:
    """An evaluation's tidy rows: one per (split, n) (and aggregate, when ``primary_only`` is False)."""
    table = pd.read_csv(evaluation.path / "bon.csv")
    if primary_only:
        table = table[table.primary].drop(columns=["primary"])
    return table.reset_index(drop=True)


@dataclass
class RMResult:
    """One reward model and its evaluation, with the tidy rows an axis table is made of."""

    reward: Run
    evaluation: Run
    rows: pd.DataFrame = field(repr=False)


def reward_model_result(store: RunStore | str | Path, task: Task, config: RewardStageConfig, data_sft: Run,
                        eval_config: RMEvalConfig, init_sft: Run | None = None) -> RMResult:
    """Train-or-load one reward model and evaluate-or-load it; rows carry the RM's metrics next to the curve."""
    store = as_store(store)
    rm = run_reward_model(store, task, config, data_sft, init_sft)
    evaluation = run_reward_eval(store, task, rm, data_sft, eval_config)
    pools = [store.load("rm_pool", run_id) for key, run_id in evaluation.params["upstream"].items()
             if key.startswith("pool/")]
    rows = eval_rows(evaluation)
    rows["rm_params"] = rm.metrics["rm/params"]
    rows["rm_seconds"] = rm.metrics["rm/seconds"]
    rows["rm_train_pairwise_acc"] = rm.metrics["rm/train/pairwise_acc"]
    rows["rm_steps"] = rm.metrics.get("rm/steps", np.nan)  # optimizer steps (G5: a data size needs a few)
    rows["distinct_text_pairs"] = rm.metrics.get("data/distinct_text_pairs", np.nan)
    rows["sampled_prompts"] = rm.metrics.get("data/sampled_prompts", np.nan)
    rows["pool_share_correct"] = rm.metrics.get("data/pool_share_correct", np.nan)
    # Compute, with the run it belongs to; count_once() keeps one row per run so sums count each run once.
    rows["rm_flops"], rows["reward_run"] = rm.metrics.get("rm/train_flops", rm.metrics["rm/flops"]), rm.run_id
    # Sampling the comparisons: RMs with an exact data spec draw prefixes of one cached sample stream
    # per (policy, responses, seed), so the stream's cost is that of its longest prefix; other RMs sample alone.
    spec = config.data_spec()
    rows["sampling_flops"] = rm.metrics.get("rm/sampling_flops", np.nan)
    rows["sampling_stream"] = (f"{data_sft.run_id}/{spec.responses_per_prompt}/{config.seed}" if spec is not None
                               else rm.run_id)
    rows["eval_flops"], rows["eval_run"] = evaluation.metrics["eval/flops"], evaluation.run_id
    rows["pool_flops"] = sum(p.metrics["pool/flops"] for p in pools)
    rows["pool_runs"] = "+".join(p.run_id for p in pools)
    rows["sft_flops"], rows["sft_run"] = data_sft.metrics["sft/flops"], data_sft.run_id
    return RMResult(rm, evaluation, rows)
