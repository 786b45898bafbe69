"""GRPO and RLOO draw their rollouts with the fast sampler through TRL's own hooks, and still train as TRL's trainers."""
from __future__ import annotations

import copy
import math
import random
from dataclasses import asdict, replace

import numpy as np
import pandas as pd
import pytest
import torch
import trl
from transformers import LlamaForCausalLM, TrainerCallback

from rlhf_nb.models import build_policy
from rlhf_nb.stages import rl
from rlhf_nb.stages.rl import (
    FastRollouts,
    RLStageConfig,
    _train_trl,
    fast_rloo_trainer_class,
    resolve_sampler,
    train_rl,
)
from rlhf_nb.store import make_run_id
from rlhf_nb.tasks.addition import AdditionTask

STEPS = 3
BASE = RLStageConfig(reward="gold", rl_steps=STEPS, prompts_per_step=4, samples_per_prompt=2, max_completion_tokens=10,
                     train_prompts=32, track_every_steps=2, track_prompts=4, learning_rate=1e-3, sampler="fast")


@pytest.fixture
def no_hf_generate(monkeypatch):
    """HF generate fails loudly: whatever samples must be the fast sampler."""
    def refuse(*args, **kwargs):
        raise AssertionError("HF generate was called")

    monkeypatch.setattr(LlamaForCausalLM, "generate", refuse)


def _check_trained(log: pd.DataFrame):
    assert len(log) == STEPS
    assert all(math.isfinite(v) for v in log["loss"])
    assert "rewards/gold/mean" in log and log["rewards/gold/mean"].notna().all()


def test_rloo_trains_with_fast_rollouts_in_a_trl_rlooTrainer(tmp_path, no_hf_generate):
    policy, tok = build_policy("xs", seed=0)
    config = replace(BASE, algorithm="rloo")
    trainer, log = _train_trl(config, AdditionTask(), policy, tok, None, TrainerCallback(), tmp_path)
    _check_trained(log)
    assert trainer.state.global_step == STEPS
    cls = type(trainer)
    assert cls is fast_rloo_trainer_class() and cls.__bases__ == (trl.RLOOTrainer,)
    overridden = {k for k, v in vars(cls).items() if callable(v) and not k.startswith("__")}
    assert overridden == {"_generate_single_turn"}  # everything else is TRL's
    assert trainer.fast_rollouts.calls == STEPS  # one generation batch per optimizer step


def test_grpo_trains_with_fast_rollouts_through_trls_rollout_func(tmp_path, no_hf_generate):
    """train_rl end to end (tracking included): the run records its sampler."""
    policy, tok = build_policy("xs", seed=0)
    policy.save_pretrained(tmp_path / "sft")
    tok.save_pretrained(tmp_path / "sft")
    calls = []
    plain_init = trl.GRPOTrainer.__init__

    def spy(self, *args, **kwargs):
        plain_init(self, *args, **kwargs)
        calls.append(self)

    trl.GRPOTrainer.__init__ = spy
    try:
        metrics = train_rl(BASE, AdditionTask(), tmp_path / "sft", None, tmp_path / "out")
    finally:
        trl.GRPOTrainer.__init__ = plain_init
    (trainer,) = calls
    assert type(trainer) is trl.GRPOTrainer
    assert isinstance(trainer.rollout_func, FastRollouts) and trainer.rollout_func.calls == STEPS
    _check_trained(pd.read_csv(tmp_path / "out" / "train_log.csv"))
    assert metrics["rl/sampler"] == "fast"
    # the run's time split: rollouts (timed apart from the fast sampler's calls) and tracking are parts of the whole
    assert metrics["rl/seconds_rollouts"] == trainer.rollout_func.seconds > 0
    assert 0 < metrics["rl/seconds_tracking"] and metrics["rl/seconds_reward"] == 0.0  # gold only: no reward model
    assert metrics["rl/seconds_rollouts"] + metrics["rl/seconds_tracking"] < metrics["rl/seconds"]
    assert pd.read_csv(tmp_path / "out" / "curve.csv")["step"].tolist() == [0, 2, 3]


def test_rollouts_are_seeded_and_leave_the_global_streams_alone(tmp_path):
    policy, tok = build_policy("xs", seed=0)
    trainer, _ = _train_trl(replace(BASE, rl_steps=1), AdditionTask(), policy, tok, None, TrainerCallback(), tmp_path)
    prompts = ["1+2=", "1+2=", "3+4+5=", "3+4+5="]
    torch.manual_seed(3), random.seed(3), np.random.seed(3)
    before = torch.get_rng_state(), random.getstate(), np.random.get_state()[1].copy()
    a, b = FastRollouts(7)(prompts, trainer), FastRollouts(7)(prompts, trainer)
    assert torch.equal(before[0], torch.get_rng_state()) and before[1] == random.getstate()
    assert np.array_equal(before[2], np.random.get_state()[1])
    assert a == b
    assert a["prompt_ids"] == [tok(p)["input_ids"] for p in prompts]
    assert [len(lp) for lp in a["logprobs"]] == [len(c) for c in a["completion_ids"]]
    assert all(len(c) <= BASE.max_completion_tokens for c in a["completion_ids"])
    rollouts = FastRollouts(7)
    first, second = rollouts(prompts, trainer), rollouts(prompts, trainer)
    assert first == a and second["completion_ids"] != first["completion_ids"]  # each call draws afresh


def test_hf_sampler_keeps_trls_own_generation(tmp_path):
    policy, tok = build_policy("xs", seed=0)
    for algorithm, cls in (("grpo", trl.GRPOTrainer), ("rloo", trl.RLOOTrainer)):
        config = replace(BASE, algorithm=algorithm, sampler="hf", rl_steps=1)
        trainer, _ = _train_trl(config, AdditionTask(), policy, tok, None, TrainerCallback(), tmp_path / algorithm)
        assert type(trainer) is cls
        assert getattr(trainer, "rollout_func", None) is None


def test_resolution_and_run_ids(monkeypatch):
    policy, _ = build_policy("xs", seed=0)
    auto = replace(BASE, sampler="auto")
    assert resolve_sampler(auto, policy) == "fast"
    assert resolve_sampler(replace(BASE, sampler="hf"), policy) == "hf"
    assert resolve_sampler(replace(auto, algorithm="ppo", samples_per_prompt=1), policy) == "fast"

    handle = policy.register_forward_hook(lambda *a: None)  # e.g. a pass counter: auto falls back to HF generate
    assert resolve_sampler(auto, policy) == "hf"
    with pytest.raises(ValueError, match="forward hooks"):
        resolve_sampler(BASE, policy)
    handle.remove()

    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")
    assert resolve_sampler(auto, policy) == "hf"
    with pytest.raises(ValueError, match="FSDP"):
        resolve_sampler(BASE, policy)
    monkeypatch.delenv("ACCELERATE_USE_FSDP")

    monkeypatch.setattr(rl, "vllm_generation_kwargs", lambda mode: {"use_vllm": True} if mode != "off" else {})
    assert resolve_sampler(replace(auto, use_vllm="auto"), policy) == "vllm"

    with pytest.raises(ValueError, match="sampler="):
        replace(BASE, sampler="vllm")
    with pytest.raises(ValueError, match="use_vllm"):
        replace(BASE, sampler="fast", use_vllm="on")
    # the sampler is a run parameter: sampled another way, another run
    ids = {make_run_id("rl", {"config": asdict(replace(BASE, sampler=s))}) for s in ("auto", "hf", "fast")}
    assert len(ids) == 3


def test_fast_rollouts_refuse_generation_settings_they_do_not_apply(tmp_path):
    from rlhf_nb.stages.rl import _fast_rollouts_ok

    args = rl._trl_config(BASE, tmp_path, [1.0])
    _fast_rollouts_ok(args)  # the stage's own settings
    for name, value in (("top_p", 0.9), ("top_k", 5), ("min_p", 0.1), ("repetition_penalty", 1.2),
                        ("generation_kwargs", {"num_beams": 2})):
        changed = copy.copy(args)
        setattr(changed, name, value)
        with pytest.raises(ValueError, match=name):
            _fast_rollouts_ok(changed)
