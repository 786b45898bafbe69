"""Every RL knob and axis grid is refused before training, with both numbers in the message."""
from __future__ import annotations

from dataclasses import replace

import pytest

from rlhf_nb.axes import (
    method,
    policy_size,
    rl_length_kl,
    rm_size_for_rl,
    samples_per_prompt,
)
from rlhf_nb.axes.policy_family import Scale
from rlhf_nb.pipeline.runs import PipelineConfig
from rlhf_nb.stages.rl import RLStageConfig


@pytest.mark.parametrize("field", ["rl_steps", "prompts_per_step", "samples_per_prompt", "track_every_steps",
                                   "track_prompts", "train_prompts", "max_completion_tokens"])
@pytest.mark.parametrize("value", [0, -3])
def test_non_positive_counts_are_refused(field, value):
    with pytest.raises(ValueError, match=f"{field}={value}"):
        RLStageConfig(**{field: value})


def test_micro_batch_must_divide_the_generation_batch():
    with pytest.raises(ValueError, match=r"completions_per_micro_batch=3.*4 x 2 = 8"):
        RLStageConfig(prompts_per_step=4, samples_per_prompt=2, completions_per_micro_batch=3)
    assert RLStageConfig(prompts_per_step=4, samples_per_prompt=2, completions_per_micro_batch=4).micro_batches() == 2


@pytest.mark.parametrize("algorithm", ["grpo", "rloo"])
def test_group_baselines_need_two_samples(algorithm):
    with pytest.raises(ValueError, match=f"samples_per_prompt=1: {algorithm}.*use ppo"):
        RLStageConfig(algorithm=algorithm, samples_per_prompt=1)
    RLStageConfig(algorithm="ppo", samples_per_prompt=1)  # PPO's value model is its baseline


def test_other_rl_knobs():
    with pytest.raises(ValueError, match="kl_coef=-0.1"):
        RLStageConfig(kl_coef=-0.1)
    with pytest.raises(ValueError, match="learning_rate=0"):
        RLStageConfig(learning_rate=0)
    with pytest.raises(ValueError, match="algorithm='dpo'"):
        RLStageConfig(algorithm="dpo")
    with pytest.raises(ValueError, match="reward='human'"):
        RLStageConfig(reward="human")


def test_scale_keeps_defaults_and_seeds_every_stage():
    base, config = PipelineConfig(), Scale().pipeline(3)
    assert replace(config.rl, seed=0) == base.rl and replace(config.sft, seed=0) == base.sft
    assert config.sft.seed == config.reward.seed == config.rl.seed == 3
    assert config.eval == base.eval  # evaluation prompts stay fixed across seeds
    tuned = Scale(policy="xs", rl_steps=7, kl_coef=0.0, task_digits=2).pipeline(0)
    assert (tuned.sft.policy, tuned.rl.rl_steps, tuned.rl.kl_coef, tuned.task.digits) == ("xs", 7, 0.0, 2)
    with pytest.raises(ValueError, match="samples_per_prompt=1"):
        Scale(rl_algorithm="grpo", samples_per_prompt=1).pipeline(0)


def test_samples_per_prompt_grid():
    points = samples_per_prompt.grid([1, 2, 4], prompts_per_step=8, equal_total=8, algorithm="ppo")
    assert points == [("fixed_prompts", 8, 1), ("fixed_prompts", 8, 2), ("fixed_prompts", 8, 4),
                      ("equal_total", 8, 1), ("equal_total", 4, 2), ("equal_total", 2, 4)]
    assert all(p * n == 8 for s, p, n in points if s == "equal_total")
    with pytest.raises(ValueError, match=r"equal_total=12 .* \[8\]"):
        samples_per_prompt.grid([2, 4, 8], 8, equal_total=12, algorithm="ppo")
    with pytest.raises(ValueError, match="grpo.*drop 1"):
        samples_per_prompt.grid([1, 2], 8, equal_total=0, algorithm="grpo")
    with pytest.raises(ValueError, match="at least 1"):
        samples_per_prompt.grid([0, 2], 8, equal_total=0, algorithm="ppo")


def test_axis_grids_are_refused_before_training(tmp_path):
    with pytest.raises(ValueError, match="algorithms=\\['ppo', 'a2c'\\]"):
        method.run_seed(0, tmp_path, algorithms=["ppo", "a2c"])
    with pytest.raises(ValueError, match="samples_per_prompt=1"):
        method.run_seed(0, tmp_path, algorithms=["ppo", "grpo"], scale=Scale(samples_per_prompt=1))
    with pytest.raises(ValueError, match="bon_n=3"):
        rm_size_for_rl.run_seed(0, tmp_path, rm_policies=["xs"], bon_n=3)
    with pytest.raises(ValueError, match="unknown model preset 'huge'"):
        rm_size_for_rl.run_seed(0, tmp_path, rm_policies=["xs", "huge"])
    with pytest.raises(ValueError, match="unknown model preset 'huge'"):
        policy_size.run_seed(0, tmp_path, policies=["huge"])
    with pytest.raises(ValueError, match="kl_coefs"):
        rl_length_kl.run_seed(0, tmp_path, kl_coefs=[0.0, -1.0])
    assert not any(tmp_path.iterdir())  # nothing was trained
