"""PPO with a learned value model, on plain torch/transformers pieces (TRL dropped its PPO trainer after 1.12).

The algorithm is the one of Ouyang et al. 2022 and TRL's former ``PPOTrainer``, as Hou et
al. 2024 use it as their main method:

- a rollout of ``prompts_per_step x samples_per_prompt`` completions sampled at temperature 1;
- a per-token reward: ``-kl_coef * (log p_policy - log p_ref)`` on every completion token,
  plus the sequence score (proxy reward model or gold verifier) on the last token;
- advantages by GAE (gamma, lambda) against a learned value model, whitened over the batch;
- clipped policy loss and clipped value loss, in ``mini_batches`` optimiser steps per pass
  over the rollout, ``epochs_per_rollout`` passes.

Choices, and why:

- The value model is a copy of the SFT policy's backbone with a fresh scalar head (zero
  initialised, so it starts at V = 0), trained by its own Adam optimiser at its own learning
  rate. A copy of the SFT policy rather than the reward model (TRL's default) because it
  exists for the gold reward too, and because the reward-model size is itself an axis: the
  critic must not change with it. A separate network (no shared trunk) keeps the policy's
  gradient exactly that of the clipped policy loss, with no value-loss weight to tune.
- One ``rl_step`` is one rollout (one fresh generation batch), as for GRPO and RLOO. By default
  PPO then makes one pass over it in 2 mini-batches, as OpenRLHF and verl do: the second
  step already meets a moved policy, so clipping matters, and a pass costs about a GRPO step.
  (TRL's former trainer made 4 passes; measured here at 0.8M parameters each pass costs more
  than generating the batch, which would make PPO 4-5 times slower than GRPO per step.)
  Beside the pass, PPO pays for the log-probabilities of the rollout and the value model;
  :func:`ppo_flops` counts it all, so methods can be compared at equal compute as well as at
  equal samples.
- ``samples_per_prompt`` may be 1: the value model, not the group, is the baseline.
- The KL to the reference enters the reward only when ``kl_coef > 0``; otherwise the reference
  model is not run at all (as for GRPO with ``beta = 0``). The tracker measures KL either way.
- Settings specific to PPO live in :class:`PPOSettings` with fixed defaults (TRL's former
  ones where they apply). They are not knobs of ``RLStageConfig`` (no axis turns them), but
  ``run_rl`` puts them in a PPO run's id, so changing a default never reuses older runs.

What it does not do: adaptive KL control, reward whitening, multiple GPUs, or padding-free
batches. Sequences here are under 64 tokens; clarity wins over speed.
"""
from __future__ import annotations

import copy
import random
import time
from dataclasses import dataclass, field
from typing import Callable

import pandas as pd
import torch
from torch import nn
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from ..compute import forward_flops, train_flops
from ..device import default_device
from ..scoring.reward_models import ProxyReward
from ..scoring.rewards import GoldReward
from ..scoring.sampling import eos_token_ids, pad_ids, prompt_token_ids, sample
from ..tasks.protocol import Task
from ..typed_values import normalize_fields
from .tracking import PolicyTracker


@dataclass(frozen=True)
class PPOSettings:
    """PPO's own knobs (the shared ones, batch and learning rate included, are in RLStageConfig)."""

    epochs_per_rollout: int = 1
    """passes over each rollout batch: one, in several mini-batches, as OpenRLHF and verl do by default
    (TRL's former trainer made 4; on 2 CPU cores each pass costs about a GRPO step)"""
    mini_batches: int = 2
    """optimiser steps per pass, each on a shuffled share of the rollout: from the second one on the
    policy has moved, so the ratio and value clipping are active"""
    clip_range: float = 0.2
    """policy ratio clipping epsilon"""
    value_clip_range: float = 0.2
    """value clipping around the rollout's values, in reward units"""
    value_learning_rate: float = 5e-4
    """the critic's own Adam rate: 5e-4 trains a reward model on the same backbone in about a minute (a preset);
    :func:`settings_for` gives a pretrained checkpoint's critic 1e-5, as its reward model"""
    gamma: float = 1.0
    """discount: 1, the reward comes once at the end of a short answer"""
    gae_lambda: float = 0.95
    """GAE lambda (TRL's former default)"""
    max_grad_norm: float = 1.0
    """gradient clipping for the policy and the value model"""

    def __post_init__(self):
        normalize_fields(self)  # declared types: one configuration, one run id, whatever typed it
        for name in ("epochs_per_rollout", "mini_batches"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}={getattr(self, name)}: must be a positive number")
        for name in ("clip_range", "value_clip_range", "value_learning_rate", "max_grad_norm"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}={getattr(self, name)}: must be positive")
        if not (0 <= self.gamma <= 1 and 0 <= self.gae_lambda <= 1):
            raise ValueError(f"gamma={self.gamma}, gae_lambda={self.gae_lambda}: both must lie in [0, 1]")


# ==========================================================================================
# Plumbing: the value model, batches of token ids, per-token log-probabilities
# ==========================================================================================


class ValueModel(nn.Module):
    """V(prefix) for every position: the policy's backbone (a copy) and a zero-initialised scalar head."""

    def __init__(self, policy: PreTrainedModel):
        super().__init__()
        self.backbone = copy.deepcopy(getattr(policy, policy.base_model_prefix))
        self.head = nn.Linear(policy.config.hidden_size, 1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.backbone(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return self.head(hidden).squeeze(-1)


@dataclass
class Batch:
    """Prompt + completion ids, left-padded so that every completion ends at the last position.

    Position-aligned tensors are of width T - 1: entry t describes token t + 1 (what the
    logits at position t predict), so ``completion_mask[:, -1]`` is each row's last token.
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    completion_mask: torch.Tensor
    """[B, T-1] float: 1 where token t + 1 is a completion token"""

    def rows(self, index: torch.Tensor) -> "Batch":
        return Batch(self.input_ids[index], self.attention_mask[index], self.completion_mask[index])


def make_batch(tokenizer: PreTrainedTokenizerBase, prompts: list[str], completion_ids: list[list[int]],
               device: torch.device, prompt_ids: list[list[int]] | None = None) -> Batch:
    """Prompt + completion ids, left-padded (:func:`rlhf_nb.scoring.sampling.pad_ids`), on ``device``.

    ``prompt_ids`` are the ids the completions were sampled from (:attr:`Samples.prompt_ids`);
    without them the prompts are tokenized as the sampler tokenizes them (special tokens
    included), so a tokenizer that adds a BOS gets it here too.
    """
    if prompt_ids is None:
        prompt_ids = prompt_token_ids(tokenizer, prompts)
    input_ids, attention = pad_ids([list(p) + list(c) for p, c in zip(prompt_ids, completion_ids)],
                                   tokenizer.pad_token_id, side="left")
    width = input_ids.shape[1]
    lengths = torch.tensor([len(c) for c in completion_ids])
    # each row's last len(c) positions; none for an empty completion
    completion = (torch.arange(width)[None, :] >= width - lengths[:, None]).float()
    return Batch(input_ids.to(device), attention.to(device), completion[:, 1:].to(device))


def token_logprobs(model: PreTrainedModel, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
    """log p(token t+1 | prefix) and the policy's entropy at each position, both [B, T-1]."""
    logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits[:, :-1].float()
    logp_all = torch.log_softmax(logits, dim=-1)
    logp = logp_all.gather(-1, batch.input_ids[:, 1:, None]).squeeze(-1)
    entropy = -(logp_all.exp() * logp_all).sum(-1)
    return logp, entropy


def masked_mean(x: torch.Tensor, mask: torch.Tensor, n: float | None = None) -> torch.Tensor:
    """Mean of ``x`` over the mask; ``n`` divides instead of the mask's own count (for accumulation)."""
    return (x * mask).sum() / (n if n is not None else mask.sum().clamp(min=1.0))


def disable_dropout(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.p = 0.0


# ==========================================================================================
# Algorithm: rollout, per-token rewards, GAE, clipped updates
# ==========================================================================================


@dataclass
class Rollout:
    """One generation batch and everything PPO derives from it before updating."""

    batch: Batch
    logprobs: torch.Tensor
    """[B, T-1] log-probabilities under the policy that sampled (the 'old' policy)"""
    values: torch.Tensor
    """[B, T-1] the value model's estimates at sampling time"""
    rewards: torch.Tensor
    """[B, T-1] per-token rewards: KL penalty on every completion token, score on the last"""
    advantages: torch.Tensor
    """[B, T-1] GAE advantages, whitened over completion tokens"""
    returns: torch.Tensor
    """[B, T-1] value targets: raw advantages + values"""
    scores: torch.Tensor
    """[B] the sequence score that was optimised"""
    kl: torch.Tensor
    """[B] sum over the completion of log p_policy - log p_ref (zeros when kl_coef is 0)"""
    completion_ids: list[list[int]] = field(default_factory=list)
    """the sampled token ids of each completion, up to and including its end token when it emitted one"""


def gae(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float,
        lam: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimates and returns; positions outside ``mask`` are ignored.

    Completions end at the last position, so the bootstrap value after it is 0.
    """
    values = values * mask
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[:, 0])
    for t in reversed(range(rewards.shape[1])):
        next_value = values[:, t + 1] if t + 1 < rewards.shape[1] else torch.zeros_like(running)
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        running = delta + gamma * lam * running
        advantages[:, t] = running
    return advantages * mask, (advantages + values) * mask


def whiten(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    mean = masked_mean(x, mask)
    var = masked_mean((x - mean) ** 2, mask)
    return (x - mean) * torch.rsqrt(var + 1e-8) * mask


@torch.no_grad()
def collect_rollout(
    policy: PreTrainedModel,
    value_model: ValueModel,
    ref_model: PreTrainedModel | None,
    tokenizer: PreTrainedTokenizerBase,
    prompts: list[str],
    score_fn: Callable[[list[str], list[str], list[list[int]]], list[float]],
    kl_coef: float,
    max_new_tokens: int,
    settings: PPOSettings,
    seed: int,
) -> tuple[Rollout, list[str]]:
    """Sample one completion per prompt (repeat prompts for several), score and baseline them."""
    device = next(policy.parameters()).device
    samples = sample(policy, tokenizer, prompts, max_new_tokens, seed=seed)
    # score exactly the ids that were sampled: the sampler's prompt ids (a BOS included when the tokenizer adds one)
    batch = make_batch(tokenizer, prompts, samples.completion_ids, device, samples.prompt_ids)
    mask = batch.completion_mask
    logprobs, _ = token_logprobs(policy, batch)
    values = value_model(batch.input_ids, batch.attention_mask)[:, :-1].float()
    scores = torch.tensor(score_fn(prompts, samples.completions, samples.completion_ids), dtype=torch.float,
                          device=device)
    if kl_coef > 0 and ref_model is not None:
        ref_logprobs, _ = token_logprobs(ref_model, batch)
        token_kl = (logprobs - ref_logprobs) * mask
    else:
        token_kl = torch.zeros_like(logprobs)
    rewards = -kl_coef * token_kl
    rewards[:, -1] += scores * mask[:, -1]  # every completion ends at the last position
    advantages, returns = gae(rewards, values, mask, settings.gamma, settings.gae_lambda)
    rollout = Rollout(batch, logprobs * mask, values * mask, rewards, whiten(advantages, mask), returns, scores,
                      token_kl.sum(-1), samples.completion_ids)
    return rollout, samples.completions


def ppo_update(
    policy: PreTrainedModel,
    value_model: ValueModel,
    policy_optimizer: torch.optim.Optimizer,
    value_optimizer: torch.optim.Optimizer,
    rollout: Rollout,
    settings: PPOSettings,
    micro_size: int = 0,
    generator: torch.Generator | None = None,
) -> dict[str, float]:
    """One pass over the rollout: ``settings.mini_batches`` optimiser steps for the policy and the value model.

    The rollout is shuffled (by ``generator``) into mini-batches; each is split into chunks of
    ``micro_size`` completions for gradient accumulation (0: no split), with losses normalised
    by the mini-batch's token count, so a step is the same however it is split. Returns the
    pass's statistics, averaged over its mini-batches.
    """
    policy.train()
    value_model.train()
    n = rollout.batch.input_ids.shape[0]
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    minis = list(torch.tensor_split(order, min(settings.mini_batches, n)))  # exactly that many (chunk may give fewer)
    totals: dict[str, float] = {}
    for mini in minis:
        stats = _minibatch_step(policy, value_model, policy_optimizer, value_optimizer, rollout, settings, mini,
                                micro_size or len(mini))
        for k, v in stats.items():
            totals[k] = totals.get(k, 0.0) + v / len(minis)
    return totals


def _minibatch_step(policy, value_model, policy_optimizer, value_optimizer, rollout: Rollout, settings: PPOSettings,
                    rows: torch.Tensor, micro_size: int) -> dict[str, float]:
    """Clipped policy loss and clipped value loss on ``rows`` of the rollout, then one step of each optimiser."""
    policy_optimizer.zero_grad(set_to_none=True)
    value_optimizer.zero_grad(set_to_none=True)
    n_tokens = rollout.batch.completion_mask[rows].sum().clamp(min=1.0)
    totals = {"losses/policy_loss": 0.0, "losses/value_loss": 0.0, "policy/clipfrac": 0.0, "value/clipfrac": 0.0,
              "policy/approx_kl": 0.0, "policy/entropy": 0.0}
    eps, eps_v = settings.clip_range, settings.value_clip_range
    for index in rows.split(micro_size):
        mb = rollout.batch.rows(index)
        mask, adv, old_logp = mb.completion_mask, rollout.advantages[index], rollout.logprobs[index]
        old_v, ret = rollout.values[index], rollout.returns[index]

        logp, entropy = token_logprobs(policy, mb)
        ratio = torch.exp(logp - old_logp)
        pg = torch.max(-adv * ratio, -adv * ratio.clamp(1 - eps, 1 + eps))
        policy_loss = masked_mean(pg, mask, n_tokens)
        policy_loss.backward()

        v = value_model(mb.input_ids, mb.attention_mask)[:, :-1].float()
        v_clipped = old_v + (v - old_v).clamp(-eps_v, eps_v)
        v_loss = 0.5 * masked_mean(torch.max((v - ret) ** 2, (v_clipped - ret) ** 2), mask, n_tokens)
        v_loss.backward()

        with torch.no_grad():
            totals["losses/policy_loss"] += policy_loss.item()
            totals["losses/value_loss"] += v_loss.item()
            totals["policy/clipfrac"] += masked_mean(((ratio - 1).abs() > eps).float(), mask, n_tokens).item()
            totals["value/clipfrac"] += masked_mean(((v - old_v).abs() > eps_v).float(), mask, n_tokens).item()
            totals["policy/approx_kl"] += masked_mean(0.5 * (logp - old_logp) ** 2, mask, n_tokens).item()
            totals["policy/entropy"] += masked_mean(entropy, mask, n_tokens).item()
    nn.utils.clip_grad_norm_(policy.parameters(), settings.max_grad_norm)
    nn.utils.clip_grad_norm_(value_model.parameters(), settings.max_grad_norm)
    policy_optimizer.step()
    value_optimizer.step()
    return totals


def explained_variance(values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor) -> float:
    """1 - Var(returns - values) / Var(returns) over completion tokens: 1 is a perfect critic."""
    var_ret = masked_mean((returns - masked_mean(returns, mask)) ** 2, mask)
    resid = returns - values
    var_res = masked_mean((resid - masked_mean(resid, mask)) ** 2, mask)
    return float(1 - var_res / var_ret) if var_ret > 0 else float("nan")


# ==========================================================================================
# The training loop: what RLStageConfig asks for, tracked like the TRL trainers
# ==========================================================================================


def prompt_stream(prompts: list[str], seed: int):
    """Training prompts in a seeded order, reshuffled at every pass."""
    rng = random.Random(f"ppo-prompts/{seed}")
    while True:
        order = list(prompts)
        rng.shuffle(order)
        yield from order


def settings_for(sft_model_dir) -> PPOSettings:
    """PPO's settings for a policy: the defaults, with the critic's learning rate by the model's kind
    (:func:`rlhf_nb.models.default_learning_rate`: 5e-4 for a preset's shape, 1e-5 for a pretrained checkpoint)."""
    from ..models import default_learning_rate

    return PPOSettings(value_learning_rate=default_learning_rate("ppo_value", sft_model_dir))


def train_ppo(
    config,
    task: Task,
    policy: PreTrainedModel,
    ref_model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    proxy: ProxyReward | None,
    tracker: PolicyTracker | None,
    settings: PPOSettings = PPOSettings(),
) -> pd.DataFrame:
    """Optimise ``policy`` in place for ``config.rl_steps`` rollouts; returns one log row per step.

    ``config`` is an :class:`rlhf_nb.stages.rl.RLStageConfig` (its knobs are validated there).
    The tracker measures gold, proxy and KL at step 0, every ``track_every_steps`` and at the end.
    """
    if config.reward == "proxy" and proxy is None:
        raise ValueError("reward='proxy' needs a trained reward model; pass one or use reward='gold'")
    torch.manual_seed(config.seed)
    device = default_device()
    policy.to(device)
    ref_model.to(device)
    if proxy is not None:
        proxy.model.to(device)
    disable_dropout(policy)
    value_model = ValueModel(policy).to(device)
    policy_optimizer = torch.optim.Adam(policy.parameters(), lr=config.learning_rate)
    value_optimizer = torch.optim.Adam(value_model.parameters(), lr=settings.value_learning_rate)

    problems = task.problems("train", config.train_prompts, config.seed)
    answers = {p.prompt: str(p.answer) for p in problems}
    gold = GoldReward(task, eos_token_ids(tokenizer))

    def gold_fn(prompts, completions, completion_ids):
        return gold(prompts, completions, answer=[answers[p] for p in prompts], completion_ids=completion_ids)

    def proxy_fn(prompts, completions, completion_ids):
        return proxy.score(prompts, completions)

    score_fn = proxy_fn if config.reward == "proxy" else gold_fn
    stream = prompt_stream(list(answers), config.seed)
    config.micro_batches()  # divisibility, checked before any training
    micro_size = config.completions_per_micro_batch
    shuffle = torch.Generator().manual_seed(config.seed)
    rows = []
    if tracker is not None:
        tracker.measure(policy, 0)
    for step in range(1, config.rl_steps + 1):
        start = time.perf_counter()
        distinct = [next(stream) for _ in range(config.prompts_per_step)]
        prompts = [p for p in distinct for _ in range(config.samples_per_prompt)]
        rollout, completions = collect_rollout(
            policy, value_model, ref_model, tokenizer, prompts, score_fn, config.kl_coef,
            config.max_completion_tokens, settings, seed=config.seed * 1_000_003 + step)
        updates = [ppo_update(policy, value_model, policy_optimizer, value_optimizer, rollout, settings, micro_size,
                              shuffle) for _ in range(settings.epochs_per_rollout)]
        mask = rollout.batch.completion_mask
        row = {"step": step, **{k: sum(u[k] for u in updates) / len(updates) for k in updates[0]}}
        row.update({
            f"rewards/{'proxy' if config.reward == 'proxy' else 'gold'}/mean": float(rollout.scores.mean()),
            "rewards/gold/mean": float(torch.tensor(gold_fn(prompts, completions, rollout.completion_ids)).mean()),
            "objective/kl": float(rollout.kl.mean()),
            "objective/score_std": float(rollout.scores.std()) if len(prompts) > 1 else 0.0,
            "value/explained_variance": explained_variance(rollout.values, rollout.returns, mask),
            "completions/mean_length": float(mask.sum(-1).mean()),
            "time/step_seconds": time.perf_counter() - start,
        })
        if config.reward == "gold" and proxy is not None:
            row["rewards/proxy/mean"] = float(sum(proxy.score(prompts, completions)) / len(prompts))
        rows.append(row)
        if tracker is not None and step % config.track_every_steps == 0:
            tracker.measure(policy, step)
    if tracker is not None:
        tracker.measure(policy, config.rl_steps)
    policy.to("cpu")
    return pd.DataFrame(rows)


def ppo_flops(n_policy: int, n_value: int, n_reward: int, tokens: int, kl_coef: float,
              settings: PPOSettings = PPOSettings()) -> float:
    """Estimated FLOPs of a PPO run over ``tokens`` (prompt + completion) tokens.

    Generation and the rollout's log-probabilities (two policy forwards), the value model's
    rollout forward, the reward model, the reference when the KL penalty is on, and
    ``epochs_per_rollout`` forward/backward passes of the policy and of the value model.
    """
    flops = 2 * forward_flops(n_policy, tokens) + forward_flops(n_value, tokens) + forward_flops(n_reward, tokens)
    if kl_coef > 0:
        flops += forward_flops(n_policy, tokens)
    return flops + settings.epochs_per_rollout * (train_flops(n_policy, tokens) + train_flops(n_value, tokens))
