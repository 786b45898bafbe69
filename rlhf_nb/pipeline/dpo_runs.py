"""Direct alignment through the run store: DPO on a reward run's comparisons, its evaluation, its tidy rows.

- :func:`run_dpo`: stage ``dpo``, identified by the task, the DPO config, the SFT run (start
  and reference) and the reward run whose ``comparisons.jsonl`` it trains on, and the seed;
- :func:`dpo_point`: SFT, reward model (the pipeline's stages: the same config gives the same
  runs as every RL axis), DPO and the evaluations of the DPO policy and of the SFT policy;
- :func:`dpo_rows`: one row per tracked DPO step, in the columns of
  :func:`rlhf_nb.pipeline.policy_runs.point_rows` where they mean the same thing (``step``,
  ``gold``, ``gold_gain``, ``gold_even``/``gold_odd``, ``proxy``, ``kl``, ``sqrt_kl``, ``final``,
  the evaluation columns on the last row), plus the implicit-reward columns and
  ``dpo_compute_to_step`` (the run's FLOPs up to each row's step).

What it does not do: read notebook parameters or decide findings (:mod:`rlhf_nb.axes.direct_alignment`).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..stages.dpo import IMPLICIT_KEYS, DPOStageConfig, read_comparisons, train_dpo
from ..store import Run, RunStore
from ..tasks.protocol import Task
from .policy_runs import eval_columns
from .runs import PipelineConfig, run_eval, run_reward, run_sft


def run_dpo(store: RunStore, task: Task, config: DPOStageConfig, sft: Run, reward: Run) -> Run:
    """DPO from ``sft`` on exactly the comparisons ``reward`` was trained on (cached as stage ``dpo``)."""
    identity = asdict(config)
    if not identity["max_sequence_tokens"]:  # automatic: the task and the checkpoint (both in the id) decide it
        identity.pop("max_sequence_tokens")
    params = {"task": asdict(task), "config": identity, "upstream": {"sft": sft.run_id, "reward": reward.run_id},
              "seed": config.seed}

    # an automatic budget is the reward model's (the same comparisons, so no pair is cut that the reward model read
    # whole); the reward run's id, upstream here, pins it
    resolved = replace(config, max_sequence_tokens=config.max_sequence_tokens
                       or int(reward.metrics.get("rm/max_sequence_tokens", 0)))

    def compute(out: Path) -> dict[str, Any]:
        comparisons = read_comparisons(reward.path / "comparisons.jsonl")
        return train_dpo(resolved, task, sft.path / "model", comparisons, out, reward_model_dir=reward.path / "model")

    return store.execute("dpo", params, compute)


@dataclass
class DPOPointRuns:
    """The runs behind one DPO grid point."""

    config: PipelineConfig
    dpo_config: DPOStageConfig
    sft: Run
    reward: Run
    dpo: Run
    sft_eval: Run
    dpo_eval: Run


def dpo_point(store: RunStore, config: PipelineConfig, dpo_config: DPOStageConfig) -> DPOPointRuns:
    """SFT and reward model as the pipeline makes them, DPO on the reward model's comparisons, both evaluated."""
    sft = run_sft(store, config.task, config.sft)
    reward = run_reward(store, config.task, config.reward, sft)
    dpo = run_dpo(store, config.task, dpo_config, sft, reward)
    sft_eval = run_eval(store, config.task, config.eval, sft, sft, reward)
    dpo_eval = run_eval(store, config.task, config.eval, dpo, sft, reward)
    return DPOPointRuns(config, dpo_config, sft, reward, dpo, sft_eval, dpo_eval)


def dpo_rows(runs: DPOPointRuns, **labels: Any) -> pd.DataFrame:
    """Tidy rows of one DPO run: one per tracked step, with its labels and, on the last row, its evaluation."""
    cfg, m = runs.dpo_config, runs.dpo.metrics
    curve = pd.read_csv(runs.dpo.path / "curve.csv").sort_values("step").reset_index(drop=True)
    steps = int(m["dpo/steps"])
    rows = pd.DataFrame({
        "seed": cfg.seed, "policy": runs.config.sft.policy, "method": f"dpo-{cfg.loss_type}",
        "beta": cfg.beta, "loss_type": cfg.loss_type, "dpo_epochs": cfg.epochs,
        "dpo_learning_rate": cfg.learning_rate, "comparisons": m["dpo/comparisons"], "dpo_steps": steps,
        "rm_heldout_pairwise_acc": runs.reward.metrics.get("rm/heldout/pairwise_acc"),
        "dpo_run": runs.dpo.run_id, **labels, "step": curve["step"].astype(int)})
    rows["final"] = rows["step"] == steps
    rows["gold"] = curve["gold_acc"].to_numpy()
    rows["gold_gain"] = rows["gold"] - curve["gold_acc"].iloc[0]
    for half in ("even", "odd"):
        rows[f"gold_{half}"] = curve[f"gold_acc_{half}"].to_numpy()
    if "proxy_mean" in curve:
        rows["proxy"] = curve["proxy_mean"].to_numpy()
        rows["proxy_gain"] = rows["proxy"] - curve["proxy_mean"].iloc[0]
    rows["kl"] = curve["kl"].clip(lower=0.0).to_numpy()  # an unbiased estimate can dip below 0
    rows["sqrt_kl"] = np.sqrt(rows["kl"])
    for column in IMPLICIT_KEYS.values():
        rows[column] = curve[column].to_numpy() if column in curve else np.nan
    rows["dpo_compute_to_step"] = m["dpo/flops"] * rows["step"] / steps
    last = rows.index[-1]
    e_sft, e_dpo = runs.sft_eval.metrics, runs.dpo_eval.metrics
    final = {"dpo_seconds": m["dpo/seconds"], "dpo_flops": m["dpo/flops"], **eval_columns("dpo", e_sft, e_dpo)}
    for key, value in final.items():
        rows.loc[last, key] = value
    return rows
