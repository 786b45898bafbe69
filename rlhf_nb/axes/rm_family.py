"""What the reward-model axes share: their scale knobs on top of the pipeline's defaults, and FLOPs bookkeeping.

- :func:`sft_config`, :func:`reward_config`: the pipeline's default SFT and reward stages with
  an axis's knobs;
- :class:`Scale`: the knobs every RM notebook shares with the other axes' notebooks;
- :func:`count_once`: each run's FLOPs counted once in an axis table.

The runs themselves (data chunks, reward models, evaluation pools) are
:mod:`rlhf_nb.pipeline.rm_runs`.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from ..pipeline.knobs import CostKnobs
from ..pipeline.rm_runs import RMEvalConfig
from ..pipeline.runs import PipelineConfig, run_sft, sampling_budgets
from ..stages.reward import RewardStageConfig
from ..stages.sft import SFTStageConfig
from ..store import Run, RunStore, as_store
from ..tasks.registry import notebook_task
from .results import config_from_params, setup_markdown, sft_problems_text


def sft_config(seed: int, policy: str = "", steps: int = 0, problems: int = 0,
               costs: CostKnobs = CostKnobs()) -> SFTStageConfig:
    """The pipeline's default SFT stage for ``seed``; ``policy``, ``steps``, ``problems`` and ``costs`` override it
    when set."""
    overrides: dict[str, Any] = {"seed": seed, **costs.sft_overrides()}
    if policy:
        overrides["policy"] = policy
    if steps:
        overrides["sft_steps"] = steps
    if problems:
        overrides["train_problems"] = problems
    return replace(PipelineConfig().sft, **overrides)


def reward_config(seed: int, costs: CostKnobs = CostKnobs(), **overrides: Any) -> RewardStageConfig:
    """The pipeline's default reward stage with the axis's knobs and ``costs``; its own evaluation is off (rm_eval
    does it)."""
    return replace(PipelineConfig().reward, seed=seed, eval_prompts=0, **{**costs.reward_overrides(), **overrides})


@dataclass(frozen=True)
class Scale(CostKnobs):
    """Knobs every RM axis shares with the other axes' notebooks (same names); 0 or "" keeps the pipeline default.

    The cost knobs (:class:`rlhf_nb.pipeline.knobs.CostKnobs`) set the SFT and reward-model
    stages; ``eval_max_tokens`` is the evaluation pools' budget (:meth:`eval_config`).
    """

    policy: str = ""
    """SFT policy preset whose samples make the data and the evaluation pools"""
    sft_steps: int = 0
    """SFT optimizer steps of every SFT model"""
    sft_problems: int = 0
    """distinct SFT training problems"""
    task_digits: int = 0
    """digits per addition term"""
    task_spec: str = "addition"
    """the embedded task (``addition``) or a local .jsonl/.json/.parquet file of math problems"""
    task_options: str = ""
    """extra task knobs as ``name=value, ...``"""

    @property
    def task(self):
        return notebook_task(self.task_spec, self.task_options, self.task_digits, policy=self.policy)  # its template

    @classmethod
    def from_params(cls, params: Mapping[str, Any], exclude: Iterable[str] = (), **fixed: Any) -> "Scale":
        """This scale from a notebook's parameters in one call (see :func:`rlhf_nb.axes.results.config_from_params`)."""
        return config_from_params(cls, params, exclude, **fixed)

    def reward_config(self, seed: int, **overrides: Any) -> RewardStageConfig:
        """:func:`reward_config` with this scale's cost knobs."""
        return reward_config(seed, self, **overrides)

    def eval_config(self, **fields: Any) -> RMEvalConfig:
        """The reward-model evaluation with this scale's pool budget (``eval_max_tokens``; 0: the data's)."""
        return RMEvalConfig(max_new_tokens=self.eval_max_tokens, **fields)

    def describe(self, axis: str, grid: Mapping[str, Any], seeds: Iterable[int]) -> str:
        """The setup in force as Markdown, from the resolved configs (so it cannot drift from the parameters)."""
        sft = sft_config(0, self.policy, self.sft_steps, self.sft_problems, self)
        reward = reward_config(0, self)
        task = self.task
        budgets = sampling_budgets(task, sft.policy)
        return setup_markdown(f"Setup of this run of `{axis}`", {
            "seeds": list(seeds),
            "task": f"{task.name} ({self.task_spec})" + (f", options {self.task_options}" if self.task_options else ""),
            "SFT policy": f"{sft.policy}, {sft.sft_steps} steps of {sft.examples_per_step} examples on "
                          f"{sft_problems_text(task, sft.train_problems)}, learning rate "
                          f"{sft.effective_learning_rate:g}, sequences "
                          f"up to {sft.max_sequence_tokens or budgets.sequence} tokens",
            "reward models": f"initialised from the SFT policy, "
                             f"learning rate {reward.learning_rate_for(sft.policy):g}, "
                             f"{reward.comparisons_per_step} comparisons per step; responses of up to "
                             f"{reward.max_new_tokens or budgets.rm_sampling} tokens, evaluation pools of up to "
                             f"{self.eval_max_tokens or budgets.rm_sampling} tokens",
            **self.cost_lines(),
            **{name: value for name, value in grid.items()},
        })

    def sft(self, store: RunStore | str | Path, seed: int, policy: str = "", steps: int = 0) -> Run:
        """Train (or load) the SFT run for ``seed``; ``policy`` and ``steps`` override this scale's when set."""
        config = sft_config(seed, policy or self.policy, steps or self.sft_steps, self.sft_problems, self)
        return run_sft(as_store(store), self.task, config)


FLOPS_COLUMNS = {"rm_flops": "reward_run", "eval_flops": "eval_run", "pool_flops": "pool_runs", "sft_flops": "sft_run",
                 "init_sft_flops": "init_sft_run"}
"""Each FLOPs column of an axis table and the run-id column it belongs to."""


def count_once(table: pd.DataFrame) -> pd.DataFrame:
    """Keep each run's FLOPs on one row only (NaN elsewhere): a sum over every FLOPs column counts every run once.

    An axis table repeats a run's numbers on every (split, n) row and across arms, and one run
    can sit in two columns (an SFT model that makes the data of one RM and initialises another);
    the study report sums every ``*flops*`` column of the table to get the axis's compute. A
    sample stream counts once, at the row of its longest prefix.
    """
    out = table.reset_index(drop=True)
    seen: set[str] = set()
    for flops, run in FLOPS_COLUMNS.items():
        if flops not in out or run not in out:
            continue
        keep = ~out.duplicated(subset=[run]) & ~out[run].astype(str).isin(seen)
        out.loc[~keep, flops] = np.nan
        seen.update(out[run].astype(str))
    if "sampling_flops" in out and "sampling_stream" in out:
        known = out[out["sampling_flops"].notna()]
        longest = known.groupby("sampling_stream")["sampling_flops"].idxmax()
        out.loc[~out.index.isin(longest.to_numpy()), "sampling_flops"] = np.nan
    return out
