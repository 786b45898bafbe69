"""Run ids are a contract with every store on disk: moving code must not change them.

The expected ids below were computed from these exact configurations; a change of layout, of
import paths or of a dataclass's module must leave them as they are. A change of what a stage
computes changes them on purpose (the store's schema version), and then this table is updated
in the same commit.
"""
from __future__ import annotations

from pathlib import Path

from rlhf_nb.pipeline.runs import run_eval, run_reward, run_rl, run_sft
from rlhf_nb.stages.evaluation import EvalStageConfig
from rlhf_nb.stages.reward import RewardStageConfig
from rlhf_nb.stages.rl import RLStageConfig
from rlhf_nb.stages.sft import SFTStageConfig
from rlhf_nb.store import Run, RunStore, make_run_id
from rlhf_nb.tasks.addition import AdditionTask


class RecordingStore(RunStore):
    """Computes nothing: returns a run at the id the real store would use."""

    def __init__(self):
        super().__init__(Path("/nonexistent-store"))
        self.ids: list[str] = []

    def execute(self, stage, params, compute):
        run_id = make_run_id(stage, params)
        self.ids.append(run_id)
        return Run(stage, run_id, self.run_dir(stage, run_id), params, {})


def pipeline_ids(task, sft_cfg, reward_cfg, rl_cfg, eval_cfg) -> list[str]:
    store = RecordingStore()
    sft = run_sft(store, task, sft_cfg)
    reward = run_reward(store, task, reward_cfg, sft)
    rl = run_rl(store, task, rl_cfg, sft, reward)
    run_eval(store, task, eval_cfg, rl, sft, reward)
    return store.ids


def test_default_pipeline_ids_are_unchanged():
    ids = pipeline_ids(AdditionTask(), SFTStageConfig(), RewardStageConfig(), RLStageConfig(), EvalStageConfig())
    assert ids == EXPECTED_DEFAULT


def test_ppo_and_small_configs_ids_are_unchanged():
    ids = pipeline_ids(
        AdditionTask(carry_error_rate=0.3),
        SFTStageConfig(policy="xs", sft_steps=200, seed=2),
        RewardStageConfig(n_prompts=64, seed=2),
        RLStageConfig(algorithm="ppo", rl_steps=5, kl_coef=0.1, seed=2),
        EvalStageConfig(eval_prompts=16, seed=2),
    )
    assert ids == EXPECTED_PPO


# Store schema 3 (the RL-correctness fixes and the fast sampler: every run before them is another run). Schema 1 gave
# sft-95929efadf7d, reward-b9b3a1e33733, rl-31350e3843eb, eval-82577d9d37c6 for the defaults.
EXPECTED_DEFAULT = ["sft-756d28c8e6be", "reward-8243c3dd4483", "rl-6a30f85b80df", "eval-2a3decbc4a97"]
EXPECTED_PPO = ["sft-986e21a2af80", "reward-3b2109e2acc5", "rl-154b4f71d271", "eval-b15779726d2d"]
