"""What every stage asks of a task, written down once.

The stages, the pipeline and the axes annotate their ``task`` argument with :class:`Task`, never
with one task's class: the embedded addition task (:mod:`rlhf_nb.tasks.addition`) and the
local-data task (:mod:`rlhf_nb.tasks.local_data`) both satisfy it, and so can a new one.

Splits: ``"train"`` (reward-model and RL prompts), ``"heldout"`` (same distribution, disjoint
prompts) and ``"ood"`` (another distribution, never trained on by the reward model or RL). No prompt of
an evaluation split is ever an SFT, reward-model or RL training prompt.
"""
from __future__ import annotations

import random
from typing import Any, Protocol, Sequence, runtime_checkable


@runtime_checkable
class ProblemLike(Protocol):
    """One problem: the prompt text a policy completes and the gold answer the verifier checks."""

    @property
    def prompt(self) -> str: ...

    @property
    def answer(self) -> Any: ...


@runtime_checkable
class Task(Protocol):
    """What every stage asks of a task.

    A task is a frozen dataclass: its fields are part of every run id that uses it, so two
    configurations of a task never share a run.
    """

    name: str
    """short name in run ids and reports"""
    has_step_labels: bool
    """a step verifier exists (one right/wrong label per reasoning step), so a process reward model can train"""

    def problems(self, split: str, n: int, seed: int) -> Sequence[ProblemLike]:
        """``n`` problems of ``split``, the same for the same seed; raises ValueError for an unknown split."""
        ...

    def sft_problems(self, n: int, seed: int) -> Sequence[ProblemLike]:
        """``n`` SFT problems, never an evaluation prompt of any split."""
        ...

    def sft_completion(self, problem: Any, rng: random.Random) -> str:
        """The completion the SFT data shows for ``problem``."""
        ...

    def check_answer(self, completion: str, answer: Any, finished: bool = False) -> bool:
        """Gold verifier: whether ``completion``'s final answer equals ``answer``.

        ``finished``: the completion ended with an end token (not cut at the token budget).
        Callers that sampled it pass it (:func:`rlhf_nb.stages.common.finished_flags`); a
        caller that cannot tell leaves False, and a task then credits only a marked answer."""
        ...
