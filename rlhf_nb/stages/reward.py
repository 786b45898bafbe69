"""Reward models on verifier-labelled SFT samples, initialised from an SFT policy: outcome, process or multi-task.

- ``orm``: a scalar head trained with TRL's RewardTrainer on (right, wrong) pairs.
- ``prm``: the same head read at every step's last token, trained on step labels
  (:mod:`rlhf_nb.stages.prm`; TRL 1.16 has no PRM trainer).
- ``multitask``: pairs and right/wrong labels on one head (:mod:`rlhf_nb.stages.multitask_rm`).

Pairs reach the trainers pre-tokenized (``chosen_ids``/``rejected_ids``) by
:func:`rlhf_nb.scoring.rewards.reward_input_ids`, the same function that scores completions during
RL and evaluation: RewardTrainer would otherwise append an EOS that GRPO never shows. All three
see the same responses for the same data knobs; only the supervision differs.

Data comes from :mod:`rlhf_nb.stages.preference_data`: with ``comparisons`` set, an exact
:class:`~rlhf_nb.stages.preference_data.ComparisonSpec`; left at 0, the older rule (up to
``comparisons_per_prompt`` pairs from each of ``n_prompts`` sampled prompts).
:func:`load_reward` loads any of the three as a ``(prompts, completions) -> scores`` callable.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import datasets
from datasets import Dataset
from trl import RewardConfig, RewardTrainer

from ..compute import forward_flops, train_flops
from ..models import (
    CHECKPOINT_LEARNING_RATES,
    PRESET_LEARNING_RATES,
    build_reward_model,
    count_parameters,
    default_learning_rate,
    is_preset_model,
    load_causal_lm,
    load_tokenizer,
)
from ..scoring.reward_models import (
    STEP_AGGREGATES,
    load_reward,
    pairwise_accuracy,
    write_head,
)
from ..scoring.rewards import reward_input_ids
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
from .evaluation import eval_splits
from .multitask_rm import MultiTaskRewardTrainer
from .preference_data import (
    Comparison,
    ComparisonData,
    ComparisonSpec,
    all_pairs,
    comparisons_from_pool,
    max_pairs_per_prompt,
    sample_comparisons,
    sample_pool,
)
from .prm import train_prm

SUPERVISIONS = ("orm", "prm", "multitask")
datasets.disable_progress_bars()  # the trainers' dataset passes print a bar per reward model otherwise


@dataclass(frozen=True)
class RewardStageConfig:
    """A reward model trained on pairs of SFT samples (right answer preferred), or on their step labels."""

    n_prompts: int = 100
    """distinct prompts: sampled (comparisons=0), or supplying the comparisons (comparisons > 0)"""
    responses_per_prompt: int = 4
    """SFT samples drawn per prompt (temperature 1)"""
    comparisons_per_prompt: int = 2
    """most (right, wrong) pairs taken from one prompt's samples (only when comparisons=0)"""
    epochs: int = 1
    """passes over the comparisons"""
    comparisons_per_step: int = 32
    """pairs per optimizer step (a PRM step sees the same number of responses: 2 per pair)"""
    learning_rate: float = 0.0
    """constant learning rate; 0 = by the kind of model it starts from: 1e-4 for a preset (there the default RM is
    imperfect, pairwise accuracy 0.82-0.92 over seeds; 5e-4 reached 0.85-0.97, 3e-5 stayed near chance), 1e-5 for a
    pretrained checkpoint"""
    eval_prompts: int = 256
    """held-out prompts (x responses_per_prompt samples) used for pairwise accuracy; 0 skips it"""
    precision: str = "auto"
    """auto, fp32 or bf16 (see rlhf_nb.device)"""
    seed: int = 0
    """seed for sampling, pair order and the score head's init"""
    comparisons: int = 0
    """exact total of comparisons (see preference_data.ComparisonSpec); 0 keeps the older per-prompt rule"""
    supervision: str = "orm"
    """orm (pairs, Bradley-Terry), prm (one label per step) or multitask (pairs + right/wrong labels)"""
    aggregate: str = "min"
    """PRM only: how step scores make a response score: min, prod, mean or last"""
    bce_weight: float = 1.0
    """multitask only: weight of the right/wrong term next to the pairwise term"""
    balance_step_labels: bool = True
    """PRM only: weight right and wrong steps to count equally (else the PRM learns the majority label)"""
    max_pool_prompts: int = 0
    """comparisons > 0 only: most prompts sampled while looking for usable ones; 0 = 32 x n_prompts"""
    comparisons_per_micro_batch: int = 0
    """pairs per forward/backward pass (gradient accumulation up to comparisons_per_step); 0 = the whole step for
    a preset, 4 pairs for a checkpoint.
    Lower it when a step runs out of memory; it does not change what is learned, so it is not in the run id"""
    max_sequence_tokens: int = 0
    """longest scored sequence (prompt + response) in tokens; pairs longer are dropped by the trainer; 0 = derived
    from the data: 128 for the addition task, else room for the longest prompt and max_new_tokens"""
    max_new_tokens: int = 0
    """tokens sampled per response for the comparisons and the evaluation pairs; 0 = derived from the data (48 for
    the addition task, 1.5 times the longest SFT solution of a data file)"""

    def __post_init__(self):
        normalize_fields(self)  # declared types: one configuration, one run id, whatever typed it
        for name in ("n_prompts", "responses_per_prompt", "comparisons_per_prompt", "epochs",
                     "comparisons_per_step"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}={getattr(self, name)}: must be positive")
        for name in ("eval_prompts", "comparisons", "max_pool_prompts", "comparisons_per_micro_batch",
                     "max_sequence_tokens", "max_new_tokens"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}={getattr(self, name)}: must be 0 or positive")
        if self.responses_per_prompt < 2:
            raise ValueError(
                f"responses_per_prompt={self.responses_per_prompt}: a comparison needs two responses "
                "to the same prompt; use 2 or more"
            )
        if self.supervision not in SUPERVISIONS:
            raise ValueError(f"supervision={self.supervision!r}: use one of {SUPERVISIONS}")
        if self.aggregate not in STEP_AGGREGATES:
            raise ValueError(f"aggregate={self.aggregate!r}: use one of {STEP_AGGREGATES}")
        if self.bce_weight < 0:
            raise ValueError(f"bce_weight={self.bce_weight}: use 0 or more")
        if not 0 <= self.learning_rate < 1:
            raise ValueError(f"learning_rate={self.learning_rate}: expected a value like 1e-4 (preset) or 1e-5 "
                             "(checkpoint), or 0 for the default of the model's kind")
        if self.comparisons_per_micro_batch and self.comparisons_per_step % self.comparisons_per_micro_batch:
            raise ValueError(f"comparisons_per_micro_batch={self.comparisons_per_micro_batch} does not divide "
                             f"comparisons_per_step={self.comparisons_per_step}: pick a divisor")
        if self.comparisons:
            self.data_spec()  # refuses impossible (prompts, responses, comparisons) before any sampling
            return
        max_pairs = max_pairs_per_prompt(self.responses_per_prompt)
        if self.comparisons_per_prompt > max_pairs:
            raise ValueError(
                f"comparisons_per_prompt={self.comparisons_per_prompt} exceeds the {max_pairs} (right, wrong) pairs "
                f"that {self.responses_per_prompt} responses can give at best; lower it or raise responses_per_prompt"
            )

    def learning_rate_for(self, init: str | Path) -> float:
        """The learning rate used for a reward model initialised from ``init`` (a preset name or a checkpoint)."""
        return self.learning_rate or default_learning_rate("reward", init)

    def identity(self, init_is_preset: bool) -> dict[str, Any]:
        """What names this configuration in a run id: the fields with the learning rate as used for a model of
        that kind, the micro-batch left out (memory, not what is learned), automatic budgets left out (the
        task and the checkpoint, both in the id, decide them)."""
        out = asdict(self)
        rates = PRESET_LEARNING_RATES if init_is_preset else CHECKPOINT_LEARNING_RATES  # as learning_rate_for
        out["learning_rate"] = self.learning_rate or rates["reward"]
        out.pop("comparisons_per_micro_batch")
        for name in ("max_sequence_tokens", "max_new_tokens"):
            if not out[name]:
                out.pop(name)
        return out

    def data_spec(self) -> ComparisonSpec | None:
        """The exact data this config asks for, or None under the older per-prompt rule."""
        if not self.comparisons:
            return None
        return ComparisonSpec(self.n_prompts, self.responses_per_prompt, self.comparisons, self.epochs)


def build_reward_data(config: RewardStageConfig, task: Task, policy, tokenizer) -> ComparisonData:
    """Sample the comparisons ``config`` asks for from ``policy`` (exact spec, or the older rule)."""
    spec = config.data_spec()
    budget = config.max_new_tokens or token_budgets(task, tokenizer).rm_sampling
    if spec is not None:
        return sample_comparisons(policy, tokenizer, task, spec, config.seed, config.max_pool_prompts,
                                  max_new_tokens=budget)
    pool = sample_pool(policy, tokenizer, task, "train", config.n_prompts, config.responses_per_prompt, config.seed,
                       max_new_tokens=budget)
    pairs = comparisons_from_pool(pool, config.comparisons_per_prompt, config.seed)
    return ComparisonData(pairs, None, len(pool.prompts), pool.share_correct(), pool.truncated_share)


def _train_pairwise(config: RewardStageConfig, pairs: list[Comparison], model, tokenizer, out_dir: Path,
                    model_is_preset: bool) -> dict[str, Any]:
    chosen_ids = [reward_input_ids(tokenizer, c.prompt, c.chosen) for c in pairs]
    rejected_ids = [reward_input_ids(tokenizer, c.prompt, c.rejected) for c in pairs]
    data = Dataset.from_dict({"chosen_ids": chosen_ids, "rejected_ids": rejected_ids})
    max_length = config.max_sequence_tokens
    # RewardTrainer drops a pair longer than max_length: count them and say so
    too_long = sum(max(len(a), len(b)) > max_length for a, b in zip(chosen_ids, rejected_ids)) / max(1, len(pairs))
    warn_truncated("reward-model pairs (dropped by the trainer)", too_long,
                   "RewardStageConfig.max_sequence_tokens (the notebooks' rm_max_tokens)")
    # Whole epochs: k epochs over D is then exactly k times the steps of one epoch over D.
    steps = config.epochs * math.ceil(len(pairs) / config.comparisons_per_step)
    per_device = per_device_batch(config.comparisons_per_step, "comparisons_per_step")
    # a preset takes the whole step at once; a checkpoint 4 pairs (8 sequences) per pass, a few GiB at 135M
    divisors = [d for d in range(1, min(4, per_device) + 1) if per_device % d == 0]
    micro = config.comparisons_per_micro_batch or (per_device if model_is_preset else max(divisors))
    if per_device % micro:
        raise ValueError(f"comparisons_per_micro_batch={micro} does not divide the {per_device} comparisons per step "
                         "on each process: pick a divisor")
    args = RewardConfig(
        **trainer_kwargs(
            str(out_dir / "trainer"), config.seed, config.learning_rate, steps, micro,
            model_is_preset=model_is_preset, precision=config.precision, logging_steps=max(1, steps // 50),
            gradient_accumulation_steps=per_device // micro,
        ),
        max_length=max_length,
        disable_dropout=True,
    )
    if config.supervision == "multitask":
        trainer = MultiTaskRewardTrainer(model=model, args=args, train_dataset=data, processing_class=tokenizer,
                                         bce_weight=config.bce_weight)
    else:
        trainer = RewardTrainer(model=model, args=args, train_dataset=data, processing_class=tokenizer)
    trainer = quiet(trainer)
    start = time.perf_counter()
    with name_the_knob("the reward model", f"RewardStageConfig.comparisons_per_micro_batch (now {micro}) or "
                                           f"max_sequence_tokens (now {max_length})"):
        trainer.train()
    return {"steps": steps, "seconds": time.perf_counter() - start, "trainer": trainer,
            "log": log_history_frame(trainer.state.log_history),
            "tokens": config.epochs * sum(len(x) for x in chosen_ids + rejected_ids),
            "metrics": {"rm/dropped_long_share": too_long}}


def check_supervision_fits_task(supervision: str, task: Any) -> None:
    """Refuse process supervision on a task without a step verifier (real data has final answers only)."""
    if supervision == "prm" and not getattr(task, "has_step_labels", False):
        raise ValueError(f"supervision='prm' needs one correct/incorrect label per step, which only the embedded "
                         f"addition task provides, not {getattr(task, 'name', type(task).__name__)!r}: use "
                         "supervision 'orm' or 'multitask' on real data")


def train_reward_model(
    config: RewardStageConfig, task: Task, sft_model_dir: Path, out_dir: Path,
    init_model_dir: Path | None = None, data: ComparisonData | None = None,
) -> dict[str, Any]:
    """Build the data from the SFT policy, train the reward model, write ``model/``, ``comparisons.jsonl`` and metrics.

    ``sft_model_dir`` is the policy whose samples make the data (and the evaluation pairs);
    ``init_model_dir`` the checkpoint the reward model starts from (default: the same policy;
    a different one for reward models of another size). ``data`` skips sampling when the
    caller built the comparisons already.
    """
    check_supervision_fits_task(config.supervision, task)
    policy, tokenizer = load_causal_lm(sft_model_dir), load_tokenizer(sft_model_dir)
    init_dir = Path(init_model_dir or sft_model_dir)
    budgets = token_budgets(task, tokenizer)
    config = replace(config,  # every knob left at 0 as this run uses it
                     learning_rate=config.learning_rate or default_learning_rate("reward", init_dir),
                     max_new_tokens=config.max_new_tokens or budgets.rm_sampling)
    # a scored sequence is a prompt and a sampled response: room for the longest of each, so no pair is dropped
    config = replace(config, max_sequence_tokens=config.max_sequence_tokens or max(
        budgets.sequence, -(-(budgets.longest_prompt + config.max_new_tokens) // 16) * 16))
    if data is None:
        data = build_reward_data(config, task, policy, tokenizer)
    pairs = data.comparisons
    if data.spec is None and len(pairs) < config.comparisons_per_step:
        raise ValueError(
            f"only {len(pairs)} comparisons could be built from {config.n_prompts} prompts, fewer than one step's "
            f"{config.comparisons_per_step}: the SFT policy is almost always right or always wrong; raise n_prompts "
            "or responses_per_prompt, or lower comparisons_per_step"
        )
    with open(out_dir / "comparisons.jsonl", "w", encoding="utf-8") as f:  # the exact training data, for inspection
        for c in pairs:
            f.write(json.dumps({"prompt": c.prompt, "chosen": c.chosen, "rejected": c.rejected}) + "\n")
    rm_tokenizer = load_tokenizer(init_dir)
    model = build_reward_model(init_dir, seed=config.seed)
    if config.supervision == "prm":
        if any(c.problem is None for c in pairs):
            raise ValueError("a process RM needs each comparison's problem for step labels; build the data with "
                             "rlhf_nb.stages.preference_data, which records it")
        responses = ([(c.problem, c.prompt, c.chosen) for c in pairs]
                     + [(c.problem, c.prompt, c.rejected) for c in pairs])
        out = train_prm(config, responses, model, rm_tokenizer, out_dir, is_preset_model(init_dir))
    else:
        out = _train_pairwise(config, pairs, model, rm_tokenizer, out_dir, is_preset_model(init_dir))
    trained = out["trainer"].model
    save_trained(out["trainer"], out_dir / "model", rm_tokenizer)
    write_head(out_dir / "model", config.supervision, config.aggregate if config.supervision == "prm" else None)
    out["log"].to_csv(out_dir / "train_log.csv", index=False)

    reward = load_reward(out_dir / "model")
    metrics: dict[str, Any] = {}
    if config.eval_prompts:
        for split in eval_splits(task):  # no OOD figure without OOD data
            eval_pool = sample_pool(policy, tokenizer, task, split, config.eval_prompts, config.responses_per_prompt,
                                    config.seed + 1, max_new_tokens=config.max_new_tokens)
            metrics[f"rm/{split}/pairwise_acc"] = pairwise_accuracy(reward, all_pairs(eval_pool))
            metrics[f"rm/{split}/truncated_share"] = eval_pool.truncated_share
    n_params = count_parameters(trained, non_embedding=True)
    mean_len = out["tokens"] / max(1, 2 * len(pairs) * config.epochs)
    responses = data.spec.responses_per_prompt if data.spec else config.responses_per_prompt
    sampled_tokens = data.sampled_prompts * responses * mean_len
    # Training and sampling apart: RMs cut from the same cached samples share the sampling.
    fit_flops = train_flops(n_params, int(out["tokens"]))
    sampling_flops = forward_flops(count_parameters(policy, non_embedding=True), int(sampled_tokens))
    metrics.update({
        "rm/train/pairwise_acc": pairwise_accuracy(reward, pairs[:512]),
        "rm/comparisons": len(pairs),
        "rm/distinct_prompts": len({c.prompt for c in pairs}),
        "rm/steps": out["steps"],
        "rm/seconds": out["seconds"],
        "rm/params": count_parameters(trained),
        "rm/flops": fit_flops + sampling_flops,
        "rm/train_flops": fit_flops,
        "rm/sampling_flops": sampling_flops,
        "rm/pool_share_correct": data.sampled_share_correct,
        "rm/learning_rate": config.learning_rate,
        "rm/max_sequence_tokens": config.max_sequence_tokens,
        "rm/max_new_tokens": config.max_new_tokens,
        **data.stats(),
        **out["metrics"],
    })
    return metrics
