"""Tracking and evaluation leave the trainer's random state alone: a run is the same however often it is tracked."""
from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from rlhf_nb.models import build_policy, load_causal_lm
from rlhf_nb.pipeline.runs import run_reward, run_sft
from rlhf_nb.stages.evaluation import EvalStageConfig, evaluate_policy
from rlhf_nb.stages.rl import train_rl
from rlhf_nb.stages.tracking import PolicyTracker
from rlhf_nb.tasks.addition import AdditionTask

TIMING = ("time", "runtime", "per_second", "seconds")


def test_a_tracker_measurement_and_an_evaluation_leave_every_random_state_alone(rng_states):
    task = AdditionTask()
    model, tok = build_policy("xs", seed=0)
    ref, _ = build_policy("xs", seed=1)
    tracker = PolicyTracker(task, tok, ref, task.problems("heldout", 4, 7), every_steps=2, max_new_tokens=8, seed=0)
    config = EvalStageConfig(eval_prompts=4, samples_per_prompt=2, max_completion_tokens=8)
    torch.manual_seed(321), random.seed(321), np.random.seed(321)
    model.train()

    before = rng_states.now()
    first = tracker.measure(model, 0)
    rng_states.assert_unchanged(before)
    assert model.training  # the trainer's mode is restored too
    metrics = evaluate_policy(model, tok, task, config, ref)
    rng_states.assert_unchanged(before)

    # and both stay seeded: the same numbers from another random state
    torch.manual_seed(9), random.seed(9), np.random.seed(9)
    again = PolicyTracker(task, tok, ref, task.problems("heldout", 4, 7), 2, 8, 0).measure(model, 0)
    assert again == first
    assert evaluate_policy(model, tok, task, config, ref) == metrics


@pytest.fixture(scope="module")
def sft_and_reward(toy_config, toy_store):
    """The toy pipeline's SFT policy and reward model (the same store runs as ``toy_pipeline``'s)."""
    sft = run_sft(toy_store, toy_config.task, toy_config.sft)
    return sft, run_reward(toy_store, toy_config.task, toy_config.reward, sft)


def test_a_grpo_run_is_the_same_whether_tracked_every_2_or_every_3_steps(toy_config, sft_and_reward, tmp_path):
    sft, reward = sft_and_reward
    runs = {}
    for every in (2, 3):
        config = replace(toy_config.rl, algorithm="grpo", rl_steps=5, track_every_steps=every)
        out = tmp_path / f"every{every}"
        out.mkdir()
        train_rl(config, toy_config.task, sft.path / "model", reward.path / "model", out)
        log = pd.read_csv(out / "train_log.csv")
        runs[every] = (log.drop(columns=[c for c in log if any(t in c for t in TIMING)]),
                       pd.read_csv(out / "curve.csv").set_index("step"), load_causal_lm(out / "model"))
    (log2, curve2, model2), (log3, curve3, model3) = runs[2], runs[3]
    assert list(curve2.index) == [0, 2, 4, 5] and list(curve3.index) == [0, 3, 5]
    assert len(log2) == 5 and {"loss", "reward"} <= set(log2.columns)
    assert log2["reward_std"].abs().sum() > 0  # the policy did get a learning signal
    pd.testing.assert_frame_equal(log2, log3, check_exact=True)
    for a, b in zip(model2.parameters(), model3.parameters()):
        assert torch.equal(a, b)
    pd.testing.assert_frame_equal(curve2.loc[[0, 5]], curve3.loc[[0, 5]], check_exact=True)  # steps both tracked
