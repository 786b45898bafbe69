"""The cost knobs every notebook shares: batch, learning rate and token budget of each stage.

A pretrained checkpoint needs other settings than the tiny presets (a learning rate a hundred
times lower, micro-batches that fit in memory, token budgets for solutions of hundreds of
tokens), so every notebook exposes the same knobs under the same names as the pipeline
notebook. Each is 0 by default, which means "by model kind or from the data":

- learning rates: :func:`rlhf_nb.models.default_learning_rate` (presets 2e-3 SFT, 1e-4 reward
  model, 3e-5 RL; checkpoints 1e-5, 1e-5, 1e-6);
- micro-batches: the whole step for a preset, by memory for a checkpoint (the stages decide);
- token budgets: :func:`rlhf_nb.pipeline.runs.sampling_budgets` (the addition task's constants,
  else from the longest SFT example of the data file as the policy's tokenizer reads it:
  sequences hold it, sampling allows 1.5 times its worked solution).

On the embedded addition task with presets a knob left at 0 resolves to the constant the
stage always used (budgets 128/48/40/64 tokens, RL learning rate 3e-5), so those run ids do
not depend on the knobs. On a data file the budgets follow the data, and a checkpoint's RL
learning rate is 1e-6: a store made before the knobs existed recomputes such runs.

In an axis over models (``rm_size`` sizes, ``policy_size`` policies, ``rm_size_for_rl``
reward models) a knob that is given applies to every model of the axis; one left at 0
resolves for each model by its own kind.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True)
class CostKnobs:
    """Per-stage cost knobs as a notebook gives them; 0 keeps the default of the model's kind or the data's."""

    sft_examples_per_step: int = 0
    """SFT examples per optimizer step; 0: the pipeline's default (64)"""
    sft_micro_batch: int = 0
    """SFT examples per forward/backward pass (gradient accumulation); 0: whole step (preset), by memory (checkpoint)"""
    sft_learning_rate: float = 0.0
    """SFT peak learning rate; 0: by model kind (2e-3 preset, 1e-5 checkpoint)"""
    sft_max_tokens: int = 0
    """longest SFT sequence in tokens; 0: derived from the data (128 for addition)"""
    rm_micro_batch: int = 0
    """reward-model pairs per forward/backward pass; 0: whole step (preset), 4 pairs (checkpoint)"""
    rm_learning_rate: float = 0.0
    """reward-model learning rate; 0: by model kind (1e-4 preset, 1e-5 checkpoint)"""
    rm_max_tokens: int = 0
    """longest reward-model sequence in tokens; 0: derived from the data (128 for addition)"""
    rm_sample_tokens: int = 0
    """tokens sampled per reward-model response; 0: derived from the data (48 for addition)"""
    eval_max_tokens: int = 0
    """tokens sampled per evaluation completion; 0: derived from the data (64 for addition, 48 for reward-model
    evaluation pools)"""

    def sft_overrides(self) -> dict[str, Any]:
        """The :class:`~rlhf_nb.stages.sft.SFTStageConfig` fields these knobs set (only those given)."""
        return _given(examples_per_step=self.sft_examples_per_step, examples_per_micro_batch=self.sft_micro_batch,
                      learning_rate=self.sft_learning_rate, max_sequence_tokens=self.sft_max_tokens)

    def reward_overrides(self) -> dict[str, Any]:
        """The :class:`~rlhf_nb.stages.reward.RewardStageConfig` fields these knobs set (only those given)."""
        return _given(comparisons_per_micro_batch=self.rm_micro_batch, learning_rate=self.rm_learning_rate,
                      max_sequence_tokens=self.rm_max_tokens, max_new_tokens=self.rm_sample_tokens)

    def cost_knobs(self) -> dict[str, Any]:
        """These knobs by name (for building another scale with the same costs)."""
        return {f.name: getattr(self, f.name) for f in fields(CostKnobs)}

    def cost_lines(self) -> dict[str, str]:
        """The knobs set away from their defaults, for a notebook's setup text (empty when none is)."""
        given = {f.name: getattr(self, f.name) for f in fields(CostKnobs) if getattr(self, f.name)}
        return {"cost knobs": ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}"
                                        for k, v in given.items())} if given else {}


def _given(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v}
