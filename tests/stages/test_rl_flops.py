"""rl_flops counts the passes TRL 1.16 actually makes: checked against the forward calls of tiny real GRPO/RLOO runs."""
from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from transformers import TrainerCallback

from rlhf_nb.compute import forward_flops, train_flops
from rlhf_nb.models import (
    build_policy,
    build_reward_model,
    load_causal_lm,
    load_tokenizer,
)
from rlhf_nb.scoring.reward_models import load_reward, write_head
from rlhf_nb.stages import rl
from rlhf_nb.stages.rl import (
    RLStageConfig,
    _train_trl,
    rl_flops,
    rl_pass_counts,
    rl_tokens,
)
from rlhf_nb.tasks.addition import AdditionTask

STEPS = 2
# 2 prompts x 2 samples per step, 2 completions per micro batch: 2 micro batches (steps_per_generation=2)
BASE = RLStageConfig(rl_steps=STEPS, prompts_per_step=2, samples_per_prompt=2, completions_per_micro_batch=2,
                     max_completion_tokens=8, train_prompts=16, track_prompts=2, learning_rate=1e-4)


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    """An untrained xs policy and a reward model initialised from it, saved (TRL builds its reference from the path)."""
    root = tmp_path_factory.mktemp("rl_flops")
    policy, tokenizer = build_policy("xs", seed=0)
    policy.save_pretrained(root / "policy")
    tokenizer.save_pretrained(root / "policy")
    rm = build_reward_model(root / "policy", seed=0)
    rm.save_pretrained(root / "rm")
    tokenizer.save_pretrained(root / "rm")
    write_head(root / "rm", "orm")
    return root


class _Counter:
    """Rows and tokens that went through a model's forward, split by kind of pass."""

    def __init__(self):
        self.rows: dict[str, int] = {}
        self.tokens: dict[str, int] = {}
        self.generating = False

    def add(self, kind: str, input_ids: torch.Tensor) -> None:
        self.rows[kind] = self.rows.get(kind, 0) + int(input_ids.shape[0])
        self.tokens[kind] = self.tokens.get(kind, 0) + int(input_ids.numel())


def _input_ids(args, kwargs) -> torch.Tensor:
    return kwargs["input_ids"] if kwargs.get("input_ids") is not None else args[0]


def _counted_run(config: RLStageConfig, root, tmp_path) -> _Counter:
    """Run GRPO/RLOO for real through the stage's own trainer set-up, counting every forward pass."""
    task = AdditionTask()
    policy, tokenizer = load_causal_lm(root / "policy", device="cpu"), load_tokenizer(root / "policy")
    proxy = load_reward(root / "rm", device="cpu")
    counter = _Counter()

    def on_policy(module, args, kwargs):
        if counter.generating:  # counted once per sequence by the generate wrapper below
            return
        kind = "train" if torch.is_grad_enabled() else "old_logprobs"
        counter.add(kind, _input_ids(args, kwargs))

    policy.register_forward_pre_hook(on_policy, with_kwargs=True)
    plain_generate = policy.generate

    def generate(*args, **kwargs):
        counter.add("generation", _input_ids(args, kwargs))
        counter.generating = True
        try:
            return plain_generate(*args, **kwargs)
        finally:
            counter.generating = False

    policy.generate = generate
    proxy.model.register_forward_pre_hook(lambda m, a, k: counter.add("reward", _input_ids(a, k)), with_kwargs=True)

    import trl

    trainer_classes = (trl.GRPOTrainer, trl.RLOOTrainer)
    inits = [cls.__init__ for cls in trainer_classes]

    def hook_reference(init):
        def wrapped(self, *args, **kwargs):
            init(self, *args, **kwargs)
            if self.ref_model is not None:
                assert self.ref_model is not self.model
                self.ref_model.register_forward_pre_hook(
                    lambda m, a, k: counter.add("reference", _input_ids(a, k)), with_kwargs=True)
        return wrapped

    try:
        for cls, init in zip(trainer_classes, inits):
            cls.__init__ = hook_reference(init)
        trainer, _ = _train_trl(config, task, policy, tokenizer, proxy, TrainerCallback(), tmp_path)
    finally:
        for cls, init in zip(trainer_classes, inits):
            cls.__init__ = init
    assert trainer.state.global_step == STEPS
    return counter


@pytest.mark.parametrize("algorithm, kl_coef", [("grpo", 0.0), ("rloo", 0.0), ("grpo", 0.1), ("rloo", 0.05)])
def test_rl_flops_counts_the_passes_the_trainer_makes(algorithm, kl_coef, tiny_models, tmp_path):
    config = replace(BASE, algorithm=algorithm, kl_coef=kl_coef)
    counter = _counted_run(config, tiny_models, tmp_path)
    completions = STEPS * config.completions_per_step
    # passes over every completion, as measured: rows through each kind of forward / completions
    measured = {kind: counter.rows.get(kind, 0) / completions
                for kind in ("generation", "old_logprobs", "reference", "train", "reward")}
    # rl_flops is those passes at 2N (forward) and 6N (forward + backward) per token
    n_policy, n_reward = 1000, 300
    tokens = rl_tokens(config)
    expected = (forward_flops(n_policy, tokens) * (measured["generation"] + measured["old_logprobs"]
                                                  + measured["reference"])
                + train_flops(n_policy, tokens) * measured["train"] + forward_flops(n_reward, tokens) * measured["reward"])
    assert rl_flops(config, n_policy, n_reward) == pytest.approx(expected)
    # and its documented pass counts are the measured ones
    assert measured == rl_pass_counts(config)
    # a scoring pass reads the same prompt + completion tokens as the training pass
    for kind in ("old_logprobs", "reference"):
        if measured[kind]:
            assert counter.tokens[kind] == counter.tokens["train"]


def test_rloo_costs_one_policy_forward_more_than_grpo():
    grpo, rloo = replace(BASE, algorithm="grpo"), replace(BASE, algorithm="rloo")
    tokens = rl_tokens(grpo)
    assert rl_flops(rloo, 1000, 0) - rl_flops(grpo, 1000, 0) == pytest.approx(forward_flops(1000, tokens))
    assert rl_flops(rloo, 1000, 0) == pytest.approx(10 * 1000 * tokens)
    assert rl_flops(grpo, 1000, 0) == pytest.approx(8 * 1000 * tokens)


def test_grpo_with_vllm_computes_old_logprobs(monkeypatch):
    monkeypatch.setattr(rl, "vllm_generation_kwargs", lambda mode: {"use_vllm": True} if mode != "off" else {})
    assert rl_pass_counts(replace(BASE, algorithm="grpo", use_vllm="auto"))["old_logprobs"] == 1
    assert rl_pass_counts(replace(BASE, algorithm="grpo", use_vllm="on"))["old_logprobs"] == 1
    assert rl_pass_counts(replace(BASE, algorithm="grpo"))["old_logprobs"] == 0


def test_pass_counts_refuse_ppo():
    with pytest.raises(ValueError, match="ppo_flops"):
        rl_pass_counts(replace(BASE, algorithm="ppo"))
