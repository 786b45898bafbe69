"""One reward model trained on comparisons pooled from several SFT policies: the fixed RM of the policy-size axis.

H4 (Hou et al. 2024) and G8 (Gao et al. 2022) train policies of several sizes against ONE reward
model; docs/findings.md asks that it be "trained on samples pooled from every policy size", so
that no policy size is judged by an RM that only ever saw another size's samples. This module
composes that RM through the run store from the existing stages, unchanged:

- **data, per policy**: each data policy's comparisons are cut from that policy's cached chunks
  of the reward-model prompt stream (:func:`rlhf_nb.pipeline.rm_runs.cached_chunks`, store stage
  ``rm_chunk``, shared with every RM axis that samples the same policy, seed and responses per
  prompt) by :func:`rlhf_nb.stages.preference_data.select_comparisons`, with an exact
  :class:`~rlhf_nb.stages.preference_data.ComparisonSpec`. The config's ``n_prompts`` and
  ``comparisons`` are totals, split as evenly as possible over the policies (in run-id order,
  the first ones take the remainder, so the pool does not depend on the order the caller lists
  them in): every policy contributes the same number of comparisons. All policies walk the
  same prompt stream, each skipping the prompts the policies before it took, so the parts have
  disjoint prompts and the pool has ``n_prompts`` distinct prompts, as the pipeline's own reward
  model does (the same stream read by every policy from its start would give each part mostly
  the same few dozen prompts).
- **the pool** trains one reward model (:func:`rlhf_nb.stages.reward.train_reward_model`, the
  data passed in), initialised from ``init_sft``;
- **store stage ``pooled_reward``**: the run id covers the task, the reward config, the data
  policies' run ids (sorted), the init policy's run id and the per-policy specs.

Metrics: the reward stage's own (``rm/...``, ``data/...``), with two corrections and additions:
``rm/sampling_flops`` (and so ``rm/flops``) counts each data policy's sampling with its own
parameter count and token lengths (the reward stage would charge every sample to the init
policy); ``pooled/<policy>/...`` gives each part of the pool (comparisons, prompts sampled,
share of right samples, sampling FLOPs); with ``eval_prompts`` > 0, ``rm/heldout/pairwise_acc/<policy>``
is the RM's pairwise accuracy on held-out samples of each data policy (is it an equally good
judge of every size?). ``composition.json`` lists the parts with their run ids.

What it does not do: choose the policies or the totals (the policy-size axis does), or train
any policy.
"""
from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Iterator, Sequence

from ..compute import forward_flops
from ..models import count_parameters, load_causal_lm, load_tokenizer
from ..scoring.reward_models import load_reward, pairwise_accuracy
from ..scoring.rewards import scored_tokens
from ..stages.preference_data import (
    ComparisonData,
    ComparisonSpec,
    ResponsePool,
    all_pairs,
    sample_pool,
    select_comparisons,
)
from ..stages.reward import RewardStageConfig, train_reward_model
from ..store import Run, RunStore, as_store
from ..tasks.protocol import Task
from .rm_runs import cached_chunks, rm_sample_tokens

STAGE = "pooled_reward"


def _even_split(total: int, parts: int) -> list[int]:
    base, extra = divmod(total, parts)
    return [base + 1] * extra + [base] * (parts - extra)


def pooled_specs(config: RewardStageConfig, n_policies: int) -> list[ComparisonSpec]:
    """The exact data each of ``n_policies`` data policies contributes: the config's totals split evenly.

    Raises ValueError, with the numbers, when the config has no exact totals (``comparisons`` 0)
    or a share cannot be met (fewer comparisons than prompts, or more pairs per prompt than the
    responses allow).
    """
    if n_policies < 1:
        raise ValueError(f"n_policies={n_policies}: a pooled reward model needs at least one data policy")
    if not config.comparisons:
        raise ValueError("a pooled reward model needs exact totals: set comparisons > 0 in the reward config "
                         f"(n_prompts={config.n_prompts} prompts and comparisons in all, split over the policies)")
    if config.n_prompts < n_policies:
        raise ValueError(f"n_prompts={config.n_prompts} cannot give each of {n_policies} policies a prompt; "
                         f"raise n_prompts to {n_policies} or more")
    specs = []
    for prompts, comparisons in zip(_even_split(config.n_prompts, n_policies),
                                    _even_split(config.comparisons, n_policies)):
        try:
            specs.append(ComparisonSpec(prompts, config.responses_per_prompt, comparisons, config.epochs))
        except ValueError as err:
            raise ValueError(f"one policy's share of the pooled data ({prompts} prompts, {comparisons} "
                             f"comparisons of {n_policies} policies' totals): {err}") from None
    return specs


def _without(chunks: Iterator[ResponsePool], taken: set[str]) -> Iterator[ResponsePool]:
    """The chunks with the prompts in ``taken`` (another policy's part of the pool) left out."""
    for pool in chunks:
        keep = [k for k, prompt in enumerate(pool.prompts) if prompt not in taken]
        yield ResponsePool([pool.prompts[k] for k in keep], [pool.responses[k] for k in keep],
                           [pool.correct[k] for k in keep], [pool.problems[k] for k in keep] if pool.problems else [])


def _label(sft: Run) -> str:
    """A short name for a data policy: its preset (or checkpoint folder's name)."""
    policy = str(sft.params.get("config", {}).get("policy", sft.run_id))
    return Path(policy).name or sft.run_id


def pooled_params(task: Task, config: RewardStageConfig, data_sfts: Sequence[Run], init_sft: Run) -> dict[str, Any]:
    """What identifies a pooled reward model (order of ``data_sfts`` does not matter)."""
    sfts = _ordered(data_sfts)
    specs = pooled_specs(config, len(sfts))
    from ..models import has_preset_shape
    from .runs import policy_of

    return {"task": asdict(task), "config": config.identity(has_preset_shape(policy_of(init_sft))),
            "upstream": {"data_sft": [s.run_id for s in sfts], "init_sft": init_sft.run_id},
            "specs": [asdict(s) for s in specs], "prompts": "disjoint",
            "max_new_tokens": _sample_tokens(task, config, sfts, init_sft),
            "seed": config.seed}


def _sample_tokens(task: Task, config: RewardStageConfig, sfts: Sequence[Run], init_sft: Run) -> int | list[int]:
    """Tokens sampled per response, one number when every data policy has the same budget (the addition task: 48,
    the RM axes' chunks, so they are shared), else one per data policy (in ``sfts`` order) and the init policy last."""
    budgets = [rm_sample_tokens(task, config, s) for s in [*sfts, init_sft]]
    return budgets[0] if len(set(budgets)) == 1 else budgets


def _ordered(data_sfts: Sequence[Run]) -> list[Run]:
    unique = {s.run_id: s for s in data_sfts}
    if not unique:
        raise ValueError("a pooled reward model needs at least one data policy")
    return [unique[k] for k in sorted(unique)]


def run_pooled_reward(store: RunStore | str | Path, task: Task, config: RewardStageConfig, data_sfts: Sequence[Run],
                      init_sft: Run) -> Run:
    """Train (or load) one reward model on comparisons pooled from every SFT run of ``data_sfts``.

    ``config``: the reward stage's config with exact totals (``n_prompts`` prompts and
    ``comparisons`` comparisons in all, ``responses_per_prompt`` samples per prompt, ``epochs``);
    its seed seeds the prompt stream, the pairs and the head. ``init_sft``: the SFT run the RM
    starts from (its size is the RM's size); its samples also give the reward stage's own
    held-out and OOD pairwise accuracy.
    """
    store = as_store(store)
    sfts = _ordered(data_sfts)
    specs = pooled_specs(config, len(sfts))
    params = pooled_params(task, config, sfts, init_sft)
    budgets = params["max_new_tokens"]
    tokens = budgets if isinstance(budgets, list) else [budgets] * (len(sfts) + 1)  # per data policy, init last
    labels = [_label(s) for s in sfts]
    if len(set(labels)) < len(labels):  # two checkpoints with one name: fall back to run ids
        labels = [s.run_id for s in sfts]

    def compute(out: Path) -> dict[str, Any]:
        parts: list[ComparisonData] = []
        taken: set[str] = set()
        for sft, spec, budget in zip(sfts, specs, tokens):
            chunks = cached_chunks(store, task, sft, spec.responses_per_prompt, config.seed, budget)
            parts.append(select_comparisons(_without(chunks, taken), spec, config.seed, config.max_pool_prompts))
            taken |= {c.prompt for c in parts[-1].comparisons}
        pairs = [c for part in parts for c in part.comparisons]
        sampled = sum(p.sampled_prompts for p in parts)
        share = sum(p.sampled_share_correct * p.sampled_prompts for p in parts) / sampled if sampled else float("nan")
        total = ComparisonSpec(config.n_prompts, config.responses_per_prompt, config.comparisons, config.epochs)
        pooled = ComparisonData(pairs, total, sampled, share)
        metrics = train_reward_model(config, task, init_sft.path / "model", out,
                                     init_model_dir=init_sft.path / "model", data=pooled)
        reward = load_reward(out / "model")
        sampling, composition = 0.0, []
        for label, sft, spec, part, budget in zip(labels, sfts, specs, parts, tokens):
            policy, tokenizer = load_causal_lm(sft.path / "model"), load_tokenizer(sft.path / "model")
            texts = [(c.prompt, c.chosen) for c in part.comparisons] + [(c.prompt, c.rejected) for c in part.comparisons]
            mean_len = scored_tokens(tokenizer, texts) / max(1, len(texts))
            flops = forward_flops(count_parameters(policy, non_embedding=True),
                                  int(part.sampled_prompts * spec.responses_per_prompt * mean_len))
            sampling += flops
            metrics[f"pooled/{label}/comparisons"] = len(part.comparisons)
            metrics[f"pooled/{label}/distinct_prompts"] = len({c.prompt for c in part.comparisons})
            metrics[f"pooled/{label}/sampled_prompts"] = part.sampled_prompts
            metrics[f"pooled/{label}/pool_share_correct"] = part.sampled_share_correct
            metrics[f"pooled/{label}/sampling_flops"] = flops
            if config.eval_prompts:
                pool = sample_pool(policy, tokenizer, task, "heldout", config.eval_prompts,
                                   config.responses_per_prompt, config.seed + 1, budget)
                metrics[f"rm/heldout/pairwise_acc/{label}"] = pairwise_accuracy(reward, all_pairs(pool))
            composition.append({"policy": label, "sft_run": sft.run_id, "spec": asdict(spec),
                                "comparisons": len(part.comparisons), "sampled_prompts": part.sampled_prompts})
        metrics["rm/flops"] = metrics["rm/train_flops"] + sampling
        metrics["rm/sampling_flops"] = sampling
        metrics["pooled/policies"] = len(sfts)
        (out / "composition.json").write_text(json.dumps({"init_sft": init_sft.run_id, "parts": composition},
                                                         indent=1), encoding="utf-8")
        return metrics

    return store.execute(STAGE, params, compute)


def pooled_config(config: RewardStageConfig, comparisons: int = 0) -> RewardStageConfig:
    """``config`` with exact totals: ``comparisons`` in all, or, at 0, ``comparisons_per_prompt`` per prompt.

    The pipeline's default reward stage takes up to ``comparisons_per_prompt`` pairs from each of
    ``n_prompts`` prompts; the pooled RM asks for exactly that many.
    """
    return replace(config, comparisons=comparisons or config.n_prompts * config.comparisons_per_prompt)
