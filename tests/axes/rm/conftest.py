"""One tiny SFT policy, trained once per session into a temporary store, shared by every RM test and notebook.

The notebooks get the same ``store_dir`` and the same scale parameters (``TINY``), so their
SFT stage is a cache hit. Toy scale: the smallest preset and a few hundred SFT steps on the
pipeline's default task (sampled gold accuracy about 0.1: enough right and wrong answers for
(right, wrong) pairs at 4 responses per prompt).
"""
from __future__ import annotations

import os

import matplotlib
import pytest
import torch

matplotlib.use("Agg")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
torch.set_num_threads(1)

# Notebook parameters of the toy scale (the same names in every RM notebook).
TINY = dict(policy="xs", sft_steps=300, sft_problems=1000, eval_prompts=8, bon_pool_size=8, ns="1,2,4,8")


@pytest.fixture(scope="session")
def tiny_params():
    """The toy scale as notebook parameters."""
    return dict(TINY)


@pytest.fixture(scope="session")
def tiny_scale():
    from rlhf_nb.axes.rm_family import Scale

    return Scale(policy=TINY["policy"], sft_steps=TINY["sft_steps"], sft_problems=TINY["sft_problems"])


@pytest.fixture(scope="session")
def tiny_eval():
    from rlhf_nb.pipeline.rm_runs import RMEvalConfig, parse_ns

    return RMEvalConfig(prompts=TINY["eval_prompts"], samples_per_prompt=TINY["bon_pool_size"], ns=parse_ns(TINY["ns"]))


@pytest.fixture(scope="session")
def rm_store(tmp_path_factory):
    from rlhf_nb.store import RunStore

    return RunStore(tmp_path_factory.mktemp("rm_store"))


@pytest.fixture(scope="session")
def tiny_sft(tiny_scale, rm_store):
    """The seed-0 SFT run at toy scale."""
    return tiny_scale.sft(rm_store, 0)
