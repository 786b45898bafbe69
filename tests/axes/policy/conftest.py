"""One tiny SFT policy and reward model, trained once per session into a temporary store.

Every policy test and notebook reuses them through the store: the notebooks get the same
store_dir and the same scale parameters (``TINY``), so their SFT and reward-model stages are
cache hits. The toy scale: the smallest preset, a few hundred SFT steps (sampled gold
accuracy a few percent: enough right and wrong answers for reward-model pairs).
"""
from __future__ import annotations

import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")  # inherited by the notebooks' kernels
torch.set_num_threads(1)

# Scale parameters shared by the fixture and every notebook test (names of the notebooks' parameters).
TINY = dict(sft_steps=200, sft_problems=1000, rm_prompts=200, rm_comparisons_per_step=8, rm_eval_prompts=16,
            train_prompts=64, track_prompts=8, eval_prompts=8, eval_samples=2)
POLICY = "xs"


@pytest.fixture(scope="session")
def tiny_scale():
    from rlhf_nb.axes.policy_family import Scale

    return Scale(policy=POLICY, rl_steps=2, prompts_per_step=2, samples_per_prompt=2, track_every_steps=1,
                 rl_learning_rate=1e-3, **TINY)


@pytest.fixture(scope="session")
def policy_store(tmp_path_factory):
    from rlhf_nb.store import RunStore

    return RunStore(tmp_path_factory.mktemp("policy_store"))


@pytest.fixture(scope="session")
def tiny_runs(tiny_scale, policy_store):
    """(config, sft run, reward run) of seed 0 at toy scale."""
    from rlhf_nb.pipeline.runs import run_reward, run_sft

    config = tiny_scale.pipeline(0)
    sft = run_sft(policy_store, config.task, config.sft)
    reward = run_reward(policy_store, config.task, config.reward, sft)
    return config, sft, reward
