"""PPO at toy scale: GAE by hand, the value loss on a fixed batch, seeding, the real loop through the store."""
from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest
import torch

from rlhf_nb.models import build_policy, load_causal_lm, load_tokenizer
from rlhf_nb.stages.ppo import (
    PPOSettings,
    ValueModel,
    collect_rollout,
    gae,
    make_batch,
    ppo_flops,
    ppo_update,
    train_ppo,
    whiten,
)
from rlhf_nb.stages.rl import RLStageConfig, rl_flops


def test_gae_matches_a_hand_computation():
    # One row: a prompt position (masked) then three completion tokens, reward 1 at the end.
    rewards = torch.tensor([[0.0, -0.1, -0.1, 0.9]])
    values = torch.tensor([[5.0, 0.2, 0.4, 0.6]])
    mask = torch.tensor([[0.0, 1.0, 1.0, 1.0]])
    adv, ret = gae(rewards, values, mask, gamma=1.0, lam=0.5)
    d3 = 0.9 - 0.6                 # last token: no value after it
    d2 = -0.1 + 0.6 - 0.4
    d1 = -0.1 + 0.4 - 0.2
    a3, a2 = d3, d2 + 0.5 * d3
    a1 = d1 + 0.5 * a2
    assert adv[0, 0] == 0 and ret[0, 0] == 0  # masked: ignored, and the prompt's value never leaks in
    torch.testing.assert_close(adv[0, 1:], torch.tensor([a1, a2, a3]))
    torch.testing.assert_close(ret[0, 1:], torch.tensor([a1 + 0.2, a2 + 0.4, a3 + 0.6]))


def test_whiten_uses_completion_tokens_only():
    x = torch.tensor([[100.0, 1.0, 3.0]])
    mask = torch.tensor([[0.0, 1.0, 1.0]])
    w = whiten(x, mask)
    assert w[0, 0] == 0
    torch.testing.assert_close(w[0, 1:], torch.tensor([-1.0, 1.0]), atol=1e-4, rtol=0)


def test_batch_right_aligns_completions():
    _, tok = build_policy("xs", seed=0)
    ids = [tok("3", add_special_tokens=False)["input_ids"] + [tok.eos_token_id], tok("12", add_special_tokens=False)["input_ids"]]
    b = make_batch(tok, ["1+2=", "10+2="], ids, torch.device("cpu"))
    assert b.completion_mask.sum(-1).tolist() == [2.0, 2.0]
    assert b.completion_mask[:, -1].tolist() == [1.0, 1.0]  # every completion ends at the last position
    assert b.input_ids[0, -1].item() == tok.eos_token_id


def _length_score(prompts, completions, completion_ids=None):
    # A reward that is not constant on a random policy's samples, so the critic has something to learn.
    return [len(c) / 10.0 for c in completions]


def test_value_loss_falls_on_a_fixed_batch():
    torch.manual_seed(0)
    policy, tok = build_policy("xs", seed=0)
    value = ValueModel(policy)
    settings = PPOSettings()
    rollout, _ = collect_rollout(policy, value, None, tok, ["1+2+3+4="] * 8 + ["5+6+7+8="] * 8, _length_score,
                                 kl_coef=0.0, max_new_tokens=12, settings=settings, seed=0)
    frozen = torch.optim.SGD(policy.parameters(), lr=0.0)  # the policy stays put: only the critic learns
    value_opt = torch.optim.Adam(value.parameters(), lr=settings.value_learning_rate)
    losses = [ppo_update(policy, value, frozen, value_opt, rollout, settings)["losses/value_loss"] for _ in range(30)]
    assert losses[0] > 0
    # Value clipping (0.2 around the rollout's values) bounds how far one batch can move the critic.
    assert losses[-1] < 0.75 * losses[0], losses


def test_micro_batches_give_the_same_step():
    torch.manual_seed(0)
    policy, tok = build_policy("xs", seed=0)
    value = ValueModel(policy)
    settings = PPOSettings(mini_batches=1)
    rollout, _ = collect_rollout(policy, value, None, tok, ["1+2=", "3+4=", "5+6=", "7+8="], _length_score,
                                 kl_coef=0.0, max_new_tokens=8, settings=settings, seed=1)
    results = []
    for micro in (0, 2):
        p, v = build_policy("xs", seed=0)[0], None
        p.load_state_dict(policy.state_dict())
        v = ValueModel(p)
        v.load_state_dict(value.state_dict())
        stats = ppo_update(p, v, torch.optim.SGD(p.parameters(), lr=0.1), torch.optim.SGD(v.parameters(), lr=0.1),
                           rollout, settings, micro_size=micro)
        results.append((stats, p.state_dict()))
    assert results[0][0]["losses/value_loss"] == pytest.approx(results[1][0]["losses/value_loss"], rel=1e-5)
    for k in results[0][1]:
        torch.testing.assert_close(results[0][1][k], results[1][1][k], atol=1e-5, rtol=1e-4)


def test_train_ppo_is_seeded_and_logs(tiny_runs):
    config, sft, _ = tiny_runs
    rl = replace(config.rl, algorithm="ppo", reward="gold", rl_steps=2, prompts_per_step=2, samples_per_prompt=1)
    logs = []
    for _ in range(2):
        policy, ref = load_causal_lm(sft.path / "model"), load_causal_lm(sft.path / "model")
        logs.append(train_ppo(rl, config.task, policy, ref, load_tokenizer(sft.path / "model"), None, None))
    a, b = (log.drop(columns=["time/step_seconds"]) for log in logs)
    pd.testing.assert_frame_equal(a, b)
    assert list(a["step"]) == [1, 2]
    for column in ("losses/policy_loss", "losses/value_loss", "policy/clipfrac", "rewards/gold/mean",
                   "value/explained_variance"):
        assert column in a


def test_ppo_counts_its_extra_compute():
    grpo = RLStageConfig(algorithm="grpo", rl_steps=10)
    ppo = replace(grpo, algorithm="ppo")
    assert rl_flops(ppo, 1000, 1000) > 1.5 * rl_flops(grpo, 1000, 1000)  # value model, rollout log-probs
    one = ppo_flops(1000, 1000, 0, 100, 0.0, PPOSettings(epochs_per_rollout=1))
    four = ppo_flops(1000, 1000, 0, 100, 0.0, PPOSettings(epochs_per_rollout=4))
    assert four - one == pytest.approx(3 * 2 * 6 * 1000 * 100)  # 3 more passes of policy and value training


def test_ppo_settings_are_validated():
    with pytest.raises(ValueError, match="epochs_per_rollout=0"):
        PPOSettings(epochs_per_rollout=0)
    with pytest.raises(ValueError, match="gae_lambda=1.5"):
        PPOSettings(gae_lambda=1.5)
    with pytest.raises(ValueError, match="clip_range"):
        PPOSettings(clip_range=0.0)
