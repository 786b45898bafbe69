"""Each RL algorithm, run for real at toy scale through the store: it changes the policy, is tracked from KL 0."""
from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest
import torch

from rlhf_nb.models import load_causal_lm
from rlhf_nb.pipeline.runs import run_rl


@pytest.mark.parametrize("algorithm", ["grpo", "rloo", "ppo"])
def test_algorithm_changes_the_policy_and_is_tracked(algorithm, tiny_runs, policy_store):
    config, sft, reward = tiny_runs
    rl_config = replace(config.rl, algorithm=algorithm, rl_steps=2, prompts_per_step=2, samples_per_prompt=2,
                        track_every_steps=1, learning_rate=1e-3)
    run = run_rl(policy_store, config.task, rl_config, sft, reward)

    before, after = load_causal_lm(sft.path / "model"), load_causal_lm(run.path / "model")
    moved = max((a - b).abs().max().item() for a, b in zip(after.parameters(), before.parameters()))
    assert moved > 1e-4

    curve = pd.read_csv(run.path / "curve.csv")
    assert curve["step"].tolist() == [0, 1, 2]
    assert curve["kl"].iloc[0] == 0.0  # the policy is the SFT policy at step 0
    assert curve["sqrt_kl"].iloc[0] == 0.0
    assert {"gold_acc", "proxy_mean"} <= set(curve.columns)
    assert run.metrics["rl/flops"] > 0 and run.metrics["rl/completions"] == 2 * 4
    log = pd.read_csv(run.path / "train_log.csv")
    assert len(log) == 2 and "rewards/proxy/mean" in log and "rewards/gold/mean" in log
    assert ("ppo" in run.params) == (algorithm == "ppo")  # PPO's own settings are part of its run id


def test_ppo_with_one_sample_per_prompt_and_gold_reward(tiny_runs, policy_store):
    config, sft, reward = tiny_runs
    rl_config = replace(config.rl, algorithm="ppo", reward="gold", rl_steps=2, prompts_per_step=4,
                        samples_per_prompt=1, completions_per_micro_batch=2, track_every_steps=5)
    run = run_rl(policy_store, config.task, rl_config, sft, reward)
    curve = pd.read_csv(run.path / "curve.csv")
    assert curve["step"].tolist() == [0, 2]  # step 0 and the end, even when the interval is longer than the run
    assert torch.isfinite(torch.tensor(curve["kl"].to_numpy())).all()
