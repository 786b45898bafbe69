"""What the five policy-training axes share: their scale knobs, curve helpers, figures and result files.

- :class:`Scale`: the knobs every policy notebook exposes, on top of the pipeline's default
  configs (0 or "" keeps a default, so calibration of the defaults reaches every axis);
- curve helpers over tidy rows (:func:`final_rows`, :func:`until_back_to_baseline`);

The runs themselves are :mod:`rlhf_nb.pipeline.policy_runs`; effects over seeds and verdicts
are decided by :func:`rlhf_nb.analysis.decide` (through :func:`rlhf_nb.axes.results.decided_finding`).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from ..models import default_learning_rate
from ..pipeline.knobs import CostKnobs
from ..pipeline.runs import PipelineConfig, sampling_budgets
from ..tasks.registry import notebook_task
from .results import config_from_params, setup_markdown, sft_problems_text


@dataclass(frozen=True)
class Scale(CostKnobs):
    """Scale knobs of the shared stages, as a notebook gives them: 0 or "" keeps the pipeline default.

    The cost knobs (:class:`rlhf_nb.pipeline.knobs.CostKnobs`: SFT, reward-model and evaluation
    batches, learning rates and token budgets) come first; ``rl_micro_batch`` and
    ``rl_max_tokens`` are the RL stage's.
    """

    task_digits: int = 0
    """digits per term of the task (1 makes a toy task that a tiny policy learns in seconds)"""
    task_spec: str = "addition"
    """the embedded task (``addition``) or a local .jsonl/.json/.parquet file of math problems"""
    task_options: str = ""
    """extra task knobs as ``name=value, ...``"""
    policy: str = ""
    """policy preset or checkpoint folder"""
    sft_steps: int = 0
    """SFT optimizer steps"""
    sft_problems: int = 0
    """distinct SFT training problems"""
    rm_prompts: int = 0
    """distinct prompts whose SFT samples make the reward model's comparisons"""
    rm_comparisons_per_step: int = 0
    """reward-model batch, in comparisons"""
    rm_eval_prompts: int = 0
    """held-out prompts for the reward model's pairwise accuracy"""
    rl_algorithm: str = ""
    """grpo, rloo or ppo"""
    rl_reward: str = ""
    """proxy or gold"""
    rl_steps: int = 0
    """RL steps (one generation batch each)"""
    rl_learning_rate: float = 0.0
    """RL learning rate; 0: by model kind (3e-5 preset, 1e-6 checkpoint)"""
    rl_micro_batch: int = 0
    """RL completions per forward/backward pass; 0: the whole step"""
    rl_max_tokens: int = 0
    """tokens sampled per RL completion and per tracked completion; 0: derived from the data (40 for addition)"""
    prompts_per_step: int = 0
    """distinct prompts per RL step"""
    samples_per_prompt: int = 0
    """responses per prompt per RL step"""
    kl_coef: float = -1.0
    """KL penalty to the SFT policy; negative keeps the default (0 is a real value here)"""
    track_every_steps: int = 0
    """RL steps between two measurements of gold, proxy and KL"""
    track_prompts: int = 0
    """held-out prompts of those measurements"""
    train_prompts: int = 0
    """distinct RL training prompts"""
    eval_prompts: int = 0
    """prompts per evaluation split"""
    eval_samples: int = 0
    """samples per evaluation prompt"""

    @classmethod
    def from_params(cls, params: Mapping[str, Any], exclude: Iterable[str] = (), **fixed: Any) -> "Scale":
        """This scale from a notebook's parameters in one call (see :func:`rlhf_nb.axes.results.config_from_params`)."""
        return config_from_params(cls, params, exclude, **fixed)

    def describe(self, axis: str, grid: Mapping[str, Any], seeds: Iterable[int]) -> str:
        """The setup in force as Markdown, from the resolved pipeline configs (so it cannot drift from the parameters).

        ``grid`` holds the axis's own knobs; where one of them overrides a pipeline setting
        (e.g. the algorithm on the method axis), the grid line says so.
        """
        config = self.pipeline(0)
        sft, rl, ev = config.sft, config.rl, config.eval
        reward = "the gold verifier" if rl.reward == "gold" else "the learned reward model (proxy)"
        budgets = sampling_budgets(config.task, sft.policy)
        return setup_markdown(f"Setup of this run of `{axis}`", {
            "seeds": list(seeds),
            "task": f"{config.task.name} ({self.task_spec})" + (f", options {self.task_options}"
                                                                if self.task_options else ""),
            "SFT policy": f"{sft.policy}, {sft.sft_steps} steps of {sft.examples_per_step} examples on "
                          f"{sft_problems_text(config.task, sft.train_problems)}, learning rate "
                          f"{sft.effective_learning_rate:g}, sequences "
                          f"up to {sft.max_sequence_tokens or budgets.sequence} tokens",
            "reward model": f"{config.reward.n_prompts} prompts of SFT samples "
                            f"(up to {config.reward.max_new_tokens or budgets.rm_sampling} tokens each), "
                            f"{config.reward.comparisons_per_step} comparisons per step, learning rate "
                            f"{config.reward.learning_rate_for(sft.policy):g}",
            "RL": f"{rl.algorithm.upper()} against {reward}, {rl.rl_steps} steps of {rl.prompts_per_step} prompts x "
                  f"{rl.samples_per_prompt} samples of up to {rl.max_completion_tokens} tokens, KL coefficient "
                  f"{rl.kl_coef:g}, learning rate {rl.learning_rate:g}, "
                  f"tracked every {rl.track_every_steps} steps on {rl.track_prompts} held-out prompts",
            "evaluation": f"{ev.eval_prompts} prompts per split x {ev.samples_per_prompt} temperature-1 samples of up "
                          f"to {ev.max_completion_tokens} tokens",
            **self.cost_lines(),
            **{name: value for name, value in grid.items()},
        })

    def pipeline(self, seed: int, policy: str = "") -> PipelineConfig:
        """The pipeline's default configs with these knobs applied and every stage seeded with ``seed``.

        ``policy`` replaces this scale's policy (an axis over policies); knobs left at 0 resolve
        by that policy's kind (RL learning rate) and from the data as its tokenizer reads it
        (token budgets of RL, tracking and evaluation).
        """
        base = PipelineConfig()
        policy = policy or self.policy
        task = notebook_task(self.task_spec, self.task_options, self.task_digits, policy=policy)  # its template
        sft = replace(base.sft, seed=seed, **_given(policy=policy, sft_steps=self.sft_steps,
                                                      train_problems=self.sft_problems), **self.sft_overrides())
        budgets = sampling_budgets(task, sft.policy)
        reward = replace(base.reward, seed=seed, **_given(n_prompts=self.rm_prompts,
                                                          comparisons_per_step=self.rm_comparisons_per_step,
                                                          eval_prompts=self.rm_eval_prompts),
                         **self.reward_overrides())
        rl = replace(base.rl, seed=seed, **_given(
            algorithm=self.rl_algorithm, reward=self.rl_reward, rl_steps=self.rl_steps,
            prompts_per_step=self.prompts_per_step, samples_per_prompt=self.samples_per_prompt,
            track_every_steps=self.track_every_steps, track_prompts=self.track_prompts,
            train_prompts=self.train_prompts, completions_per_micro_batch=self.rl_micro_batch),
            learning_rate=self.rl_learning_rate or default_learning_rate("rl", sft.policy),
            max_completion_tokens=self.rl_max_tokens or budgets.rl)
        if self.kl_coef >= 0:
            rl = replace(rl, kl_coef=self.kl_coef)
        ev = replace(base.eval, **_given(eval_prompts=self.eval_prompts, samples_per_prompt=self.eval_samples),
                     max_completion_tokens=self.eval_max_tokens or budgets.eval)
        return PipelineConfig(task=task, sft=sft, reward=reward, rl=rl, eval=ev)


def _given(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v}


def final_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The last tracked row of every run (where evaluation results live)."""
    return table[table["final"].astype(bool)].copy()


def until_back_to_baseline(curve: pd.DataFrame) -> pd.DataFrame:
    """The tracked rows of one run up to the first point after its gold peak where the gain is back to <= 0.

    Gao's laws describe a gold score without a floor; accuracy stops at 0, so once the policy
    has overoptimised back below its SFT level, what follows is the floor, not the law. The
    law's own zero (d_zero) is kept in range by including that first point.
    """
    c = curve.sort_values("step")
    gain = c["gold_gain"].to_numpy()
    peak = int(np.argmax(gain))
    after = np.flatnonzero(gain[peak:] <= 0)
    return c if not len(after) else c.iloc[: peak + after[0] + 1]


def fmt(x: float, digits: int = 3) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{x:.{digits}g}"
