"""Fixtures for the real-scale path: a tiny checkpoint by path with a chat template, tiny real-format data, one pipeline."""
from __future__ import annotations

import pytest

from .helpers import build_tiny_checkpoint, real_format_records, write_jsonl


@pytest.fixture(scope="session")
def real_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("real")


@pytest.fixture(scope="session")
def tiny_checkpoint(real_dir):
    return build_tiny_checkpoint(real_dir / "ckpt")


@pytest.fixture(scope="session")
def real_data(real_dir):
    """(in-distribution file, OOD file): sums of 1..2 (answers 2..4), and sums of 3..4 (answers 6..8)."""
    return (write_jsonl(real_dir / "train.jsonl", real_format_records(1, 2)),
            write_jsonl(real_dir / "ood.jsonl", real_format_records(3, 4)))


@pytest.fixture(scope="session")
def real_task(real_data, tiny_checkpoint):
    from rlhf_nb.tasks.registry import make_task

    train, ood = real_data
    return make_task(str(train), ood_path=str(ood), chat_template_from=str(tiny_checkpoint), heldout_fraction=0.25)


@pytest.fixture(scope="session")
def real_pipeline_config(real_task, tiny_checkpoint):
    """Every stage at toy scale, the policy given as the checkpoint's path."""
    from rlhf_nb.pipeline.runs import PipelineConfig
    from rlhf_nb.stages.evaluation import EvalStageConfig
    from rlhf_nb.stages.reward import RewardStageConfig
    from rlhf_nb.stages.rl import RLStageConfig
    from rlhf_nb.stages.sft import SFTStageConfig

    return PipelineConfig(
        task=real_task,
        sft=SFTStageConfig(policy=str(tiny_checkpoint), sft_steps=40, examples_per_step=16, train_problems=200,
                           learning_rate=3e-3),
        reward=RewardStageConfig(n_prompts=48, responses_per_prompt=4, comparisons_per_step=2, eval_prompts=8),
        rl=RLStageConfig(rl_steps=2, prompts_per_step=2, samples_per_prompt=2, train_prompts=32,
                         max_completion_tokens=24, track_every_steps=2, track_prompts=4, learning_rate=1e-3),
        eval=EvalStageConfig(eval_prompts=8, samples_per_prompt=2, max_completion_tokens=24),
    )


@pytest.fixture(scope="session")
def real_store(real_dir):
    from rlhf_nb.store import RunStore

    return RunStore(real_dir / "store")


@pytest.fixture(scope="session")
def real_pipeline(real_pipeline_config, real_store):
    """The whole pipeline on the real-format task with the checkpoint by path, once per session."""
    from rlhf_nb.pipeline.runs import run_pipeline

    return run_pipeline(real_pipeline_config, real_store)
