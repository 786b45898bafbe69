"""RL against a reward: GRPO and RLOO from TRL, PPO from :mod:`rlhf_nb.stages.ppo`.

Knobs are named by their unit: ``prompts_per_step`` distinct prompts per optimizer step and
``samples_per_prompt`` responses to each (GRPO's group size), so that growing the samples
does not silently grow anything else unrecorded. Each optimizer step consumes exactly one
fresh generation batch of ``prompts_per_step * samples_per_prompt`` completions.

The reward is a plain callable (:mod:`rlhf_nb.scoring.rewards`): the proxy reward model, or the gold
verifier. The other one is passed with weight 0, so TRL logs the gold reward of every
training batch without optimising it (and the proxy's, when training on gold).

Rollouts (``RLStageConfig.sampler``): TRL's trainers sample with HF ``generate``, which on
tiny models costs several times the arithmetic per token. With the fast sampler
(:mod:`rlhf_nb.scoring.fast_sampler`) GRPO draws its rollouts through TRL's own
``rollout_func`` hook and RLOO (which has none) through :func:`fast_rloo_trainer_class`, a
subclass that replaces only ``_generate_single_turn``; scoring, advantages, losses and
optimisation stay TRL's. :func:`resolve_sampler` decides which sampler a run uses; the run
records it (metric ``rl/sampler``), and ``sampler`` is a config field, so a run asked to sample
another way is another run id.
"""
from __future__ import annotations

import functools
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from datasets import Dataset

from ..compute import forward_flops, train_flops
from ..device import VLLM_MODES, vllm_generation_kwargs
from ..models import count_parameters, is_preset_model, load_causal_lm, load_tokenizer
from ..scoring.reward_models import load_reward
from ..scoring.rewards import GoldReward
from ..scoring.sampling import SAMPLERS, eos_token_ids, sampler_name, use_sampler
from ..tasks.protocol import Task
from ..typed_values import normalize_fields
from .common import log_history_frame, quiet, save_trained, trainer_kwargs
from .tracking import PolicyTracker

ALGORITHMS = ("grpo", "rloo", "ppo")
REWARDS = ("proxy", "gold")


@dataclass(frozen=True)
class RLStageConfig:
    """Policy optimisation against the proxy reward model or the gold verifier."""

    algorithm: str = "grpo"
    """grpo or rloo (TRL), or ppo (rlhf_nb's own, with a value model)"""
    reward: str = "proxy"
    """proxy: the learned reward model; gold: the task's verifier"""
    rl_steps: int = 150
    """optimizer steps, each on one fresh generation batch (against the default proxy, gold peaks near step 40)"""
    prompts_per_step: int = 16
    """distinct prompts per optimizer step"""
    samples_per_prompt: int = 8
    """responses sampled per prompt (the group size of GRPO/RLOO)"""
    completions_per_micro_batch: int = 0
    """completions per forward/backward pass (gradient accumulation); 0 = the whole step at once"""
    kl_coef: float = 0.0
    """weight of the KL penalty to the SFT policy (TRL's beta); 0 = unconstrained"""
    learning_rate: float = 3e-5
    """constant learning rate; 1e-5..1e-4 suits 0.1M-5M policies (2e-4 destroyed a weak one in 5 steps)"""
    max_completion_tokens: int = 40
    """generation budget during training"""
    train_prompts: int = 5000
    """distinct training prompts cycled through"""
    track_every_steps: int = 15
    """measure gold, proxy and KL on held-out prompts every this many steps"""
    track_prompts: int = 128
    """held-out prompts used for tracking (2 samples each)"""
    precision: str = "auto"
    """auto, fp32 or bf16 (see rlhf_nb.device)"""
    seed: int = 0
    """seed for sampling, data order and dropout"""
    use_vllm: str = "off"
    """GRPO/RLOO generation: off (HF generate), auto (vLLM when installed and on a GPU) or on (vLLM or an error)"""
    sampler: str = "auto"
    """rollouts: fast (rlhf_nb.scoring.fast_sampler), hf (HF generate) or auto (fast where the policy allows it)"""

    def __post_init__(self):
        normalize_fields(self)  # declared types: one configuration, one run id, whatever typed it
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"algorithm={self.algorithm!r}: use one of {ALGORITHMS}")
        if self.reward not in REWARDS:
            raise ValueError(f"reward={self.reward!r}: use one of {REWARDS}")
        for name in ("rl_steps", "prompts_per_step", "samples_per_prompt", "max_completion_tokens",
                     "train_prompts", "track_every_steps", "track_prompts"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}={getattr(self, name)}: must be a positive number")
        if self.algorithm in ("grpo", "rloo") and self.samples_per_prompt < 2:
            raise ValueError(
                f"samples_per_prompt={self.samples_per_prompt}: {self.algorithm} baselines each response against "
                "the others of its group, so it needs at least 2; use ppo for 1 sample per prompt"
            )
        if self.use_vllm not in VLLM_MODES:
            raise ValueError(f"use_vllm={self.use_vllm!r}: use one of {VLLM_MODES}")
        if self.sampler not in SAMPLERS:
            raise ValueError(f"sampler={self.sampler!r}: use one of {SAMPLERS}")
        if self.sampler == "fast" and self.use_vllm != "off" and self.algorithm != "ppo":
            raise ValueError(f"sampler='fast' with use_vllm={self.use_vllm!r}: the rollouts are drawn one way; "
                             "pick sampler='fast' with use_vllm='off', or a vLLM mode with sampler='auto' or 'hf'")
        if self.kl_coef < 0:
            raise ValueError(f"kl_coef={self.kl_coef}: a KL penalty weight cannot be negative")
        if not 0 < self.learning_rate < 1:
            raise ValueError(f"learning_rate={self.learning_rate}: expected a value like 3e-5")
        self.micro_batches()  # divisibility, checked before any training

    @property
    def completions_per_step(self) -> int:
        return self.prompts_per_step * self.samples_per_prompt

    def micro_batches(self, num_processes: int | None = None) -> int:
        """Forward/backward passes per optimizer step on each process; raises if the batch does not divide."""
        procs = num_processes or int(os.environ.get("WORLD_SIZE", "1"))
        micro = self.completions_per_micro_batch or self.completions_per_step // procs
        total = self.completions_per_step
        if micro <= 0 or total % (micro * procs) != 0:
            raise ValueError(
                f"completions_per_micro_batch={micro} x {procs} process(es) does not divide the generation batch "
                f"prompts_per_step x samples_per_prompt = {self.prompts_per_step} x {self.samples_per_prompt} = "
                f"{total}; pick a micro batch that divides {total // procs if total % procs == 0 else total}"
            )
        return total // (micro * procs)


def _trl_config(config: RLStageConfig, out_dir: Path, reward_weights: list[float], model_is_preset: bool = True):
    from trl import GRPOConfig, RLOOConfig

    micro_steps = config.micro_batches()
    micro = config.completions_per_step // (micro_steps * int(os.environ.get("WORLD_SIZE", "1")))
    common = dict(
        **trainer_kwargs(str(out_dir / "trainer"), config.seed, config.learning_rate, config.rl_steps, micro,
                         model_is_preset=model_is_preset, precision=config.precision, logging_steps=1),
        num_generations=config.samples_per_prompt,
        steps_per_generation=micro_steps,
        max_completion_length=config.max_completion_tokens,
        temperature=1.0,
        beta=config.kl_coef,
        reward_weights=reward_weights,
        num_iterations=1,
        log_completions=False,
        disable_dropout=True,
    )
    common["gradient_accumulation_steps"] = micro_steps  # one optimizer step per generation batch
    common.update(vllm_generation_kwargs(config.use_vllm))
    cls = GRPOConfig if config.algorithm == "grpo" else RLOOConfig
    return cls(**common)


def train_rl(
    config: RLStageConfig,
    task: Task,
    sft_model_dir: Path,
    reward_model_dir: Path | None,
    out_dir: Path,
) -> dict[str, Any]:
    """Optimise the SFT policy; writes ``model/``, ``curve.csv`` (tracking) and ``train_log.csv``."""
    if config.reward == "proxy" and reward_model_dir is None:
        raise ValueError("reward='proxy' needs a trained reward model; run the reward stage first or use reward='gold'")
    policy, tokenizer = load_causal_lm(sft_model_dir), load_tokenizer(sft_model_dir)
    ref_model = load_causal_lm(sft_model_dir)
    # an outcome, multi-task or process reward model, behind one callable
    proxy = load_reward(reward_model_dir) if reward_model_dir is not None else None
    tracker = PolicyTracker(task, tokenizer, ref_model, task.problems("heldout", config.track_prompts, config.seed + 7),
                            config.track_every_steps, config.max_completion_tokens, config.seed, reward=proxy)
    sampler = resolve_sampler(config, policy)
    start = time.perf_counter()
    # the stage's own samples (PPO's rollouts, the tracker's) are drawn as the run's: by HF generate when it
    # resolved to hf, else as sample() chooses (fast for the policy that resolve_sampler found supported)
    with use_sampler("hf" if sampler == "hf" else "auto"):
        if config.algorithm == "ppo":
            from .ppo import settings_for, train_ppo

            log = train_ppo(config, task, policy, ref_model, tokenizer, proxy, tracker, settings_for(sft_model_dir))
            model = policy
        else:
            trainer, log = _train_trl(config, task, policy, tokenizer, proxy, tracker, out_dir,
                                      is_preset_model(sft_model_dir), sampler=sampler)
            model = trainer.model
    seconds = time.perf_counter() - start
    if config.algorithm == "ppo":
        model.save_pretrained(out_dir / "model")
        tokenizer.save_pretrained(out_dir / "model")
    else:
        save_trained(trainer, out_dir / "model", tokenizer)  # gathers ZeRO-3/FSDP shards under accelerate
    log.to_csv(out_dir / "train_log.csv", index=False)
    curve = tracker.frame()
    curve.to_csv(out_dir / "curve.csv", index=False)

    n_policy = count_parameters(model, non_embedding=True)
    n_rm = count_parameters(proxy.model, non_embedding=True) if proxy else 0
    flops = rl_flops(config, n_policy, n_rm)
    best = curve.loc[curve["gold_acc"].idxmax()]
    parts = _seconds_by_part(trainer if config.algorithm != "ppo" else None, proxy)
    parts["rl/seconds_tracking"] = tracker.seconds
    return {
        "rl/seconds": seconds,
        **parts,
        "rl/flops": flops,
        "rl/completions": config.rl_steps * config.completions_per_step,
        "rl/final/gold_acc": float(curve["gold_acc"].iloc[-1]),
        "rl/final/kl": float(curve["kl"].iloc[-1]),
        "rl/final/proxy_mean": float(curve["proxy_mean"].iloc[-1]) if "proxy_mean" in curve else float("nan"),
        "rl/peak/gold_acc": float(best["gold_acc"]),
        "rl/peak/step": int(best["step"]),
        "rl/start/gold_acc": float(curve["gold_acc"].iloc[0]),
        "rl/sampler": sampler,
    }


def _seconds_by_part(trainer, proxy) -> dict[str, float]:
    """Wall seconds of a GRPO/RLOO run spent drawing rollouts (the fast sampler's only; NaN for HF ``generate``,
    vLLM and PPO, which are not timed apart) and scoring them with the proxy reward model (NaN for PPO).
    The rest of ``rl/seconds`` minus these and ``rl/seconds_tracking`` is TRL's training step."""
    nan = float("nan")
    if trainer is None:
        return {"rl/seconds_rollouts": nan, "rl/seconds_reward": nan}
    rollouts = getattr(trainer, "fast_rollouts", None) or getattr(trainer, "rollout_func", None)
    return {"rl/seconds_rollouts": rollouts.seconds if isinstance(rollouts, FastRollouts) else nan,
            "rl/seconds_reward": proxy.call_seconds if proxy is not None else 0.0}


#: ``num_iterations`` that :func:`_trl_config` gives TRL: each generation batch is optimised on once.
TRL_NUM_ITERATIONS = 1


def _generates_with_vllm(config: RLStageConfig) -> bool:
    """Whether TRL will generate with vLLM for this config on this machine (as :func:`_trl_config` decides)."""
    return config.use_vllm == "on" or bool(vllm_generation_kwargs(config.use_vllm))


def rl_pass_counts(config: RLStageConfig) -> dict[str, int]:
    """Passes over every completion (its prompt and completion tokens) that a GRPO/RLOO run makes, by kind.

    Keys (each a count of passes per completion, the same for every optimizer step):

    - ``generation``: the policy samples the completion (HF ``generate`` with a KV cache, the
      fast sampler (``sampler``) or vLLM: each prompt and each sampled token goes through the
      policy once), forward only;
    - ``old_logprobs``: the policy re-scores the finished batch under ``torch.no_grad`` to get
      the "old" log-probabilities of the clipped ratio, forward only;
    - ``reference``: the reference (SFT) model scores it, forward only, when ``kl_coef > 0``;
    - ``train``: the policy's forward + backward in the loss, once per ``num_iterations``;
    - ``reward``: the reward model scores it, forward only (counted with the reward model's size).

    As TRL 1.16 does it at the settings :func:`_trl_config` passes (``num_iterations=1``,
    ``gradient_accumulation_steps == steps_per_generation``, ``beta = kl_coef``):

    - GRPO (``trl/trainer/grpo_trainer.py``, ``_generate_and_score_completions``): the
      old-policy pass runs only ``if self.args.gradient_accumulation_steps % generate_every != 0
      or (self.use_vllm and self.vllm_importance_sampling_correction)`` with ``generate_every =
      steps_per_generation * num_iterations``. Our steps are aligned, so it is skipped, except
      under vLLM (``vllm_importance_sampling_correction`` defaults to True); ``_compute_loss``
      then uses ``per_token_logps.detach()`` as the old log-probabilities. The reference pass
      runs ``if self.beta != 0.0``.
    - RLOO (``trl/trainer/rloo_trainer.py``, ``_generate_and_score_completions``):
      ``old_per_token_logps, _, _ = self._get_per_token_logps_and_entropies(self.model, ...)``
      runs unconditionally (it also feeds the KL penalty, which RLOO puts in the reward), so
      RLOO makes one more policy forward per completion than GRPO. The reference pass runs
      ``if self.beta != 0.0``.
    - Both: ``_compute_loss`` runs ``self._get_per_token_logps_and_entropies(model, ...)`` with
      gradients on each micro batch once per ``num_iterations``; ``_calculate_rewards`` calls
      every reward function once per completion (a weight-0 reward is still computed).

    ``tests/stages/test_rl_flops.py`` checks these counts against the forward calls of a real
    run. Raises ValueError for PPO (see :func:`rlhf_nb.stages.ppo.ppo_flops`).
    """
    if config.algorithm not in ("grpo", "rloo"):
        raise ValueError(f"algorithm={config.algorithm!r}: pass counts are for TRL's grpo and rloo; "
                         "PPO's cost is rlhf_nb.stages.ppo.ppo_flops")
    generate_every = config.micro_batches() * TRL_NUM_ITERATIONS  # steps_per_generation x num_iterations
    grad_accumulation = config.micro_batches()  # _trl_config: one optimizer step per generation batch
    if config.algorithm == "rloo":
        old = 1
    else:
        old = int(grad_accumulation % generate_every != 0 or _generates_with_vllm(config))
    return {"generation": 1, "old_logprobs": old, "reference": int(config.kl_coef > 0),
            "train": TRL_NUM_ITERATIONS, "reward": 1}


def rl_tokens(config: RLStageConfig) -> int:
    """Estimated tokens of all the completions of a run with their prompts: 10 prompt tokens plus half the
    completion budget per completion (an estimate for comparison, not a count)."""
    return config.rl_steps * config.completions_per_step * (10 + config.max_completion_tokens // 2)


def rl_flops(config: RLStageConfig, n_policy: int, n_reward: int) -> float:
    """Estimated FLOPs of an RL run, from its config and non-embedding parameter counts (no training needed).

    Input: the stage config, the policy's and the reward model's non-embedding parameter counts
    (``n_reward`` 0 when there is none). Output: FLOPs (float), the usual 2N per token forward
    and 6N per token forward + backward (:mod:`rlhf_nb.compute`) over :func:`rl_tokens` tokens.

    GRPO/RLOO: the passes of :func:`rl_pass_counts` (generation, old-policy log-probs when TRL
    computes them, reference log-probs when ``kl_coef > 0``, forward + backward, reward model):
    ``tokens * (2 n_policy (generation + old_logprobs + reference) + 6 n_policy train + 2 n_reward reward)``.
    At ``kl_coef = 0`` that is 8 N per token for GRPO and 10 N for RLOO, plus 2 N_reward for the reward model.
    PPO: see :func:`rlhf_nb.stages.ppo.ppo_flops` (its value model is policy-sized).
    """
    tokens = rl_tokens(config)
    if config.algorithm == "ppo":
        from .ppo import ppo_flops

        return ppo_flops(n_policy, n_policy, n_reward, tokens, config.kl_coef)
    passes = rl_pass_counts(config)
    forward_passes = passes["generation"] + passes["old_logprobs"] + passes["reference"]
    return (forward_passes * forward_flops(n_policy, tokens) + passes["train"] * train_flops(n_policy, tokens)
            + passes["reward"] * forward_flops(n_reward, tokens))


def _sharded_launch() -> str | None:
    """Why the policy's weights are not whole on every process (DeepSpeed or FSDP under accelerate), or None."""
    for var, name in (("ACCELERATE_USE_DEEPSPEED", "DeepSpeed"), ("ACCELERATE_USE_FSDP", "FSDP")):
        if os.environ.get(var, "false").lower() in ("1", "true", "yes"):
            return f"{name} launch (the sampler needs the whole weights on each process)"
    return None


def resolve_sampler(config: RLStageConfig, policy) -> str:
    """How a run draws its rollouts: "fast", "hf" or (GRPO/RLOO under vLLM) "vllm".

    ``config.sampler``: "hf" is HF ``generate``; "fast" is :mod:`rlhf_nb.scoring.fast_sampler`
    and raises ValueError, with the reason, where it cannot run (a policy it does not support,
    attention dropout, which TRL's rollouts would apply in training mode, or weights sharded by
    DeepSpeed/FSDP); "auto" is fast wherever fast would not raise, else hf. When TRL generates
    with vLLM (``use_vllm``), the rollouts are vLLM's whatever the sampler.
    """
    if config.algorithm in ("grpo", "rloo") and _generates_with_vllm(config):
        return "vllm"
    if config.sampler == "hf":
        return "hf"
    reasons = []
    if config.algorithm in ("grpo", "rloo"):
        if float(getattr(policy.config, "attention_dropout", 0.0) or 0.0) > 0:
            reasons.append("attention dropout (TRL samples in training mode)")
        if _sharded_launch():
            reasons.append(_sharded_launch())
    if reasons:
        if config.sampler == "fast":
            raise ValueError(f"sampler='fast' cannot draw these rollouts: {'; '.join(reasons)}; use 'auto' or 'hf'")
        return "hf"
    return sampler_name(policy, config.sampler)


class FastRollouts:
    """A TRL trainer's rollouts drawn by the fast sampler, with the trainer's own generation settings.

    Called as GRPO's ``rollout_func(prompts, trainer)`` (TRL 1.16's contract: the prompts of this
    process, each already repeated once per sample by TRL's sampler; returns ``prompt_ids``,
    ``completion_ids`` and the sampled tokens' ``logprobs``), and by
    :func:`fast_rloo_trainer_class` through :meth:`completions`. Prompts are tokenized by the
    trainer (``_tokenize_prompts``, as its own generation path does); completions are cut after the
    first of the trainer's ``eos_token_ids`` and run to ``max_completion_length`` otherwise, sampled
    at the trainer's ``temperature`` (TRL's other generation settings, top-k/top-p/min-p and
    repetition penalty, must be off: :func:`_fast_rollouts_ok`). Call k on process r draws from a
    ``torch.Generator`` seeded with (seed, r, k): the same run draws the same rollouts, and the
    global random streams are neither read nor advanced.
    """

    def __init__(self, seed: int):
        self.seed = int(seed)
        self.calls = 0
        self.seconds = 0.0
        """wall seconds spent drawing rollouts so far"""

    def _generator(self, trainer, device: torch.device) -> torch.Generator:
        import numpy as np

        state = np.random.SeedSequence([self.seed, int(trainer.accelerator.process_index), self.calls])
        self.calls += 1
        return torch.Generator(device=device).manual_seed(int(state.generate_state(1)[0]))

    def completions(self, trainer, prompt_ids: list[list[int]]) -> tuple[list[list[int]], list[list[float]]]:
        from ..scoring.fast_sampler import FastLlamaDecoder

        start = time.perf_counter()
        model = trainer.accelerator.unwrap_model(trainer.model)
        decoder = FastLlamaDecoder(model)  # raises, with the reason, for a model it cannot run
        generator = self._generator(trainer, decoder.device)
        rows = decoder.generate([list(p) for p in prompt_ids], trainer.max_completion_length, trainer.eos_token_ids,
                                trainer._tokenizer.pad_token_id, temperature=trainer.temperature,
                                generator=generator).rows()
        self.seconds += time.perf_counter() - start
        return rows

    def __call__(self, prompts: list, trainer) -> dict[str, list]:
        prompt_ids, images, multimodal_fields = trainer._tokenize_prompts(prompts)
        if images is not None or multimodal_fields:
            raise ValueError("the fast sampler draws text-only rollouts; use sampler='hf' for multimodal prompts")
        completion_ids, logprobs = self.completions(trainer, prompt_ids)
        return {"prompt_ids": [list(p) for p in prompt_ids], "completion_ids": completion_ids, "logprobs": logprobs}


def _fast_rollouts_ok(args) -> None:
    """Refuse TRL generation settings the fast sampler does not apply (it samples plainly at ``temperature``)."""
    on = {name: getattr(args, name, None) for name, is_off in (
        ("top_p", lambda v: v is None or v == 1.0),
        ("top_k", lambda v: not v),
        ("min_p", lambda v: not v),
        ("repetition_penalty", lambda v: v is None or v == 1.0),
        ("generation_kwargs", lambda v: not v),
        ("use_transformers_continuous_batching", lambda v: not v),
    ) if not is_off(getattr(args, name, None))}
    if on:
        raise ValueError(f"the fast sampler samples plainly at the trainer's temperature, but these are set: {on}; "
                         "use sampler='hf'")


@functools.cache
def fast_rloo_trainer_class():
    """TRL's ``RLOOTrainer`` with its rollouts drawn by :class:`FastRollouts` (``fast_rollouts`` attribute).

    RLOO in TRL 1.16 has no ``rollout_func``: its text-only, HF-``generate`` path is
    ``_generate_single_turn(prompt_ids, images, multimodal_fields) -> completion_ids``, and that
    one method is overridden (vLLM, continuous batching and multimodal prompts go to TRL's own).
    """
    from trl import RLOOTrainer

    class FastSamplingRLOOTrainer(RLOOTrainer):
        fast_rollouts: FastRollouts | None = None

        def _generate_single_turn(self, prompt_ids, images, multimodal_fields):
            if (self.fast_rollouts is None or self.use_vllm or self.use_transformers_continuous_batching
                    or images is not None or multimodal_fields):
                return super()._generate_single_turn(prompt_ids, images, multimodal_fields)
            completion_ids, _ = self.fast_rollouts.completions(self, prompt_ids)
            return completion_ids

    return FastSamplingRLOOTrainer


def _train_trl(config, task, policy, tokenizer, proxy, tracker, out_dir, model_is_preset=True, sampler=None):
    """Build and run TRL's GRPO/RLOO trainer; ``sampler`` (default: :func:`resolve_sampler`) draws its rollouts."""
    from trl import GRPOTrainer

    sampler = sampler or resolve_sampler(config, policy)
    gold = GoldReward(task, eos_token_ids(tokenizer))
    if config.reward == "proxy":
        funcs, weights = [proxy, gold], [1.0, 0.0]
    else:
        funcs, weights = [gold] + ([proxy] if proxy else []), [1.0] + ([0.0] if proxy else [])
    problems = task.problems("train", config.train_prompts, config.seed)
    data = Dataset.from_dict({"prompt": [p.prompt for p in problems], "answer": [str(p.answer) for p in problems]})
    args = _trl_config(config, out_dir, weights, model_is_preset)
    kwargs = dict(model=policy, reward_funcs=funcs, args=args, train_dataset=data, processing_class=tokenizer,
                  callbacks=[tracker])
    if sampler == "fast":
        _fast_rollouts_ok(args)
        rollouts = FastRollouts(config.seed)
        if config.algorithm == "grpo":
            with warnings.catch_warnings():  # TRL 1.16 marks rollout_func experimental
                warnings.filterwarnings("ignore", message=".*'rollout_func'.*experimental", category=UserWarning)
                trainer = GRPOTrainer(**kwargs, rollout_func=rollouts)
        else:
            trainer = fast_rloo_trainer_class()(**kwargs)
            trainer.fast_rollouts = rollouts
    else:
        from trl import RLOOTrainer

        trainer = (GRPOTrainer if config.algorithm == "grpo" else RLOOTrainer)(**kwargs)
    trainer = quiet(trainer)
    trainer.train()
    return trainer, log_history_frame(trainer.state.log_history)
