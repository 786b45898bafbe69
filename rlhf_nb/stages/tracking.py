"""Tracking a policy along RL training: gold accuracy, proxy reward and KL to the SFT policy.

A TrainerCallback for TRL trainers (and a plain ``measure`` for loops of our own) that
samples the same held-out prompts every ``every_steps`` optimizer steps, so that a
gold-vs-sqrt(KL) curve can be drawn for every RL run (Gao et al. 2022).

A measurement leaves the trainer's random state alone (sampling draws from its own seeded
stream, see :func:`rlhf_nb.scoring.sampling.seeded_rng`), so a run's trajectory is the same
however often it is tracked: the TRL trainers sample their rollouts from torch's global
random stream, which a tracker that reseeded it would restart at every tracking point.

Each row also holds the gold accuracy of each half of the tracking prompts (``gold_acc_even``:
prompts at even positions of ``problems``, ``gold_acc_odd``: odd positions), from the same
samples as ``gold_acc``. A peak along the run (a step, a KL) can then be chosen on one half and
measured on the other, so that choosing it does not select on the noise it is measured with
(docs/findings.md, "Selection on the same data is avoided").
"""
from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase, TrainerCallback

from ..scoring.reward_models import ProxyReward
from ..scoring.sampling import sample, sequence_logprobs
from ..tasks.addition import Problem
from .common import finished_flags


class PolicyTracker(TrainerCallback):
    """Measures the policy at step 0, every ``every_steps`` steps and at the end."""

    def __init__(
        self,
        task,
        tokenizer: PreTrainedTokenizerBase,
        ref_model: PreTrainedModel,
        problems: list[Problem],
        every_steps: int,
        max_new_tokens: int,
        seed: int,
        reward: ProxyReward | None = None,
        samples_per_prompt: int = 2,
    ):
        self.task, self.tokenizer, self.ref_model, self.problems = task, tokenizer, ref_model, problems
        self.every_steps, self.max_new_tokens, self.seed = every_steps, max_new_tokens, seed
        self.reward, self.samples_per_prompt = reward, samples_per_prompt
        self.rows: list[dict[str, float]] = []
        self.seconds = 0.0
        """wall seconds spent measuring so far (sampling, scoring, log-probs)"""

    def measure(self, model: PreTrainedModel, step: int) -> dict[str, float]:
        """Gold accuracy (all prompts and each half), proxy mean and KL (nats per sequence) of ``model`` at ``step``.

        The same seed every time, and the same samples and numbers as
        :func:`rlhf_nb.stages.evaluation.measure_samples` gives for ``gold_acc``, ``proxy_mean``
        and ``kl``; ``gold_acc_even`` / ``gold_acc_odd`` are the gold accuracy over the prompts at
        even / odd positions of ``problems`` (NaN for a half without prompts). Leaves the model's
        train/eval mode and every random state (torch, numpy, ``random``) as it found them.
        """
        if self.rows and self.rows[-1]["step"] == step:
            return self.rows[-1]
        start = time.perf_counter()
        was_training = model.training
        k = self.samples_per_prompt
        prompts = [p.prompt for p in self.problems for _ in range(k)]
        expanded = [p for p in self.problems for _ in range(k)]
        s = sample(model, self.tokenizer, prompts, self.max_new_tokens, seed=self.seed)
        done = finished_flags(s.completion_ids, self.tokenizer)
        right = np.array([float(self.task.check_answer(c, p.answer, finished=f))
                          for p, c, f in zip(expanded, s.completions, done)])
        half = np.repeat(np.arange(len(self.problems)) % 2, k)
        row: dict[str, float] = {"step": step, "gold_acc": float(right.mean())}
        for name, parity in (("gold_acc_even", 0), ("gold_acc_odd", 1)):
            row[name] = float(right[half == parity].mean()) if (half == parity).any() else float("nan")
        if self.reward is not None:
            row["proxy_mean"] = float(np.mean(self.reward.score(prompts, s.completions)))
        if self.ref_model is not None:  # both score exactly the ids that were sampled
            # teacher-forced, both: at step 0 the policy is the reference and the KL is exactly 0 (the sampler's own
            # log-probs agree only to ~1e-6 per token, which would give sqrt(KL) ~ 1e-3 at the start of every curve)
            lp = sequence_logprobs(model, self.tokenizer, prompts, s.completion_ids, prompt_ids=s.prompt_ids)
            lr = sequence_logprobs(self.ref_model, self.tokenizer, prompts, s.completion_ids, prompt_ids=s.prompt_ids)
            row["kl"] = float((lp - lr).mean())
            row["sqrt_kl"] = math.sqrt(max(row["kl"], 0.0))
        self.rows.append(row)
        model.train(was_training)
        self.seconds += time.perf_counter() - start
        return row

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        if getattr(args, "bf16", False):
            self.match_bf16_autocast()
        self.measure(model, 0)

    def match_bf16_autocast(self) -> None:
        """Run the reference model under bf16 autocast, as accelerate runs the policy's forward in bf16 training.

        Otherwise the two score the same tokens at different precision and identical weights show a
        nonzero KL (-0.003 nats per sequence at step 0, measured on an H200).
        """
        if not getattr(self.ref_model, "_rlhf_nb_autocast", False):
            device_type = next(self.ref_model.parameters()).device.type
            self.ref_model.forward = torch.autocast(device_type, dtype=torch.bfloat16)(self.ref_model.forward)
            self.ref_model._rlhf_nb_autocast = True

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if state.global_step % self.every_steps == 0:
            self.measure(model, state.global_step)

    def on_train_end(self, args, state, control, model=None, **kwargs):
        self.measure(model, state.global_step)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows)
