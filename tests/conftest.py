"""Shared fixtures: a toy-scale pipeline config and a run store in a temporary folder."""
from __future__ import annotations

import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def toy_config():
    """The pipeline at toy scale: the smallest preset, a few steps per stage."""
    from rlhf_nb.pipeline.runs import PipelineConfig
    from rlhf_nb.stages.evaluation import EvalStageConfig
    from rlhf_nb.stages.reward import RewardStageConfig
    from rlhf_nb.stages.rl import RLStageConfig
    from rlhf_nb.stages.sft import SFTStageConfig
    from rlhf_nb.tasks.addition import AdditionTask

    return PipelineConfig(
        task=AdditionTask(),
        sft=SFTStageConfig(policy="xs", sft_steps=200, examples_per_step=32, train_problems=2000),
        reward=RewardStageConfig(n_prompts=256, responses_per_prompt=4, comparisons_per_step=8, eval_prompts=16),
        rl=RLStageConfig(rl_steps=3, prompts_per_step=4, samples_per_prompt=2, train_prompts=64,
                         track_every_steps=2, track_prompts=8, learning_rate=1e-3),
        eval=EvalStageConfig(eval_prompts=16, samples_per_prompt=2),
    )


@pytest.fixture(scope="session")
def toy_store(tmp_path_factory):
    from rlhf_nb.store import RunStore

    return RunStore(tmp_path_factory.mktemp("store"))


@pytest.fixture(scope="session")
def toy_pipeline(toy_config, toy_store):
    """One toy pipeline, run once per test session and shared by the stage tests."""
    from rlhf_nb.pipeline.runs import run_pipeline

    return run_pipeline(toy_config, toy_store)


class RandomStates:
    """Snapshots of every global random stream a library may draw from: torch's CPU stream, python's, numpy's."""

    @staticmethod
    def now():
        import random

        import numpy as np

        return torch.get_rng_state(), random.getstate(), np.random.get_state()

    @staticmethod
    def assert_unchanged(before, after=None):
        import numpy as np

        after = after if after is not None else RandomStates.now()
        assert torch.equal(before[0], after[0]), "torch's global RNG state changed"
        assert before[1] == after[1], "python's random state changed"
        assert before[2][0] == after[2][0] and np.array_equal(before[2][1], after[2][1]) \
            and before[2][2:] == after[2][2:], "numpy's global random state changed"


@pytest.fixture()
def rng_states():
    """Check that code leaves the caller's random streams alone: ``before = rng_states.now()``, then
    ``rng_states.assert_unchanged(before)``."""
    return RandomStates
