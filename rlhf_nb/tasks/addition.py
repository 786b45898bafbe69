"""The embedded task: multi-step addition written as a chain of thought.

A prompt is ``17+25+8=`` and a correct completion ``17+25=42;42+8=50``: one step per
addition, each step starting from the previous partial sum. The module owns the task's
data (deterministic problems, disjoint splits), its gold verifier (final answer) and its
step verifier (one label per step, for process supervision), and the controlled bias of
the SFT data. It does not tokenize or train anything.

Why a bias: RL only sharpens what the SFT policy already samples. An unbiased but weak
policy gains nothing measurable from RL; a capable policy that often "forgets the carry"
(because its SFT data does) gains a lot, and a learned reward model can be fooled by it.
"""
from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from typing import ClassVar

from ..typed_values import normalize_fields

STEP_SEPARATOR = ";"
SPLITS = ("train", "heldout", "ood")
EVALUATION_SPLITS = ("heldout", "ood")
"""splits only evaluated on: drawn from the held-out share, so never an SFT, reward-model or RL prompt"""


@dataclass(frozen=True)
class Problem:
    """One addition problem: its terms, prompt text and gold answer."""

    terms: tuple[int, ...]

    @property
    def prompt(self) -> str:
        return "+".join(str(t) for t in self.terms) + "="

    @property
    def answer(self) -> int:
        return sum(self.terms)

    @property
    def partial_sums(self) -> list[int]:
        """The result each step should write: s1 = t0 + t1, s2 = s1 + t2, ..."""
        sums, running = [], self.terms[0]
        for term in self.terms[1:]:
            running += term
            sums.append(running)
        return sums


def forgot_carry_sum(a: int, b: int) -> int:
    """a + b written by someone who drops the carry out of the units column."""
    return a + b - 10 if (a % 10 + b % 10) >= 10 else a + b


def has_units_carry(a: int, b: int) -> bool:
    return (a % 10 + b % 10) >= 10


def solution(problem: Problem, carry_error_rate: float = 0.0, rng: random.Random | None = None) -> str:
    """A chain-of-thought completion; each carry step is done wrong with ``carry_error_rate``.

    An error propagates: later steps start from the wrong partial sum, as a person's would.
    """
    if carry_error_rate > 0 and rng is None:
        raise ValueError("solution() needs an rng when carry_error_rate > 0, so the bias is reproducible")
    steps, running = [], problem.terms[0]
    for term in problem.terms[1:]:
        if has_units_carry(running, term) and carry_error_rate > 0 and rng.random() < carry_error_rate:
            result = forgot_carry_sum(running, term)
        else:
            result = running + term
        steps.append(f"{running}+{term}={result}")
        running = result
    return STEP_SEPARATOR.join(steps)


def parse_final_answer(completion: str) -> int | None:
    """The integer after the last '=' of a completion, or None if there is none."""
    if "=" not in completion:
        return None
    tail = completion.rsplit("=", 1)[1].strip()
    return int(tail) if tail.isdigit() else None


def gold_correct(problem: Problem, completion: str) -> bool:
    """Gold verifier: the final answer equals the true sum."""
    return parse_final_answer(completion) == problem.answer


def step_labels(problem: Problem, completion: str) -> list[bool]:
    """One label per written step, True when the answer is still on a correct path after that step.

    Input: a problem and a completion; its steps are the pieces between ``;`` (an empty
    completion is one empty step), one per offset of :func:`step_end_offsets`.
    Output: ``len(completion.split(";"))`` booleans. Step ``i`` is right when it is exactly
    ``{s_i}+{t_(i+1)}={s_(i+1)}`` (the true partial sums) and every earlier step is right: a step
    that starts from a wrong partial sum is wrong even if its own arithmetic holds, the usual
    process-supervision reading. A step beyond the ``len(terms) - 1`` the problem needs is wrong.
    So a step's label depends only on that step and the ones before it, never on what follows:
    a prefix of steps gets the same labels whether or not more steps follow it.

    A truncated answer (fewer steps than the problem needs) is labelled by what it wrote and
    nothing more: its written steps get the labels they get in any answer that starts with
    them, and no label stands for the missing steps. A scorer reading each step-end token sees
    the same prefix in a truncated answer as in a complete one that goes on, so a "missing
    step" label there would contradict the label of the complete answer. Whether an answer is
    finished is judged by its final answer (:func:`gold_correct`: a truncated answer's last
    partial sum is not the total), not by the step labels.
    """
    expected = problem.partial_sums
    labels: list[bool] = []
    running = problem.terms[0]
    for i, step in enumerate(completion.split(STEP_SEPARATOR)):
        ok = False
        if i < len(expected):
            want = f"{running}+{problem.terms[i + 1]}={expected[i]}"
            ok = step.strip() == want and (not labels or labels[-1])
            running = expected[i]
        labels.append(ok)
    return labels


def step_end_offsets(completion: str) -> list[int]:
    """Character offset of the last character of each step (where a process RM reads its score)."""
    offsets, start = [], 0
    for step in completion.split(STEP_SEPARATOR):
        offsets.append(start + len(step) - 1)
        start += len(step) + 1
    return offsets


def in_heldout_share(text: str, fraction: float) -> bool:
    """Whether ``text`` falls in the held-out share: a hash of the text, so the split never depends on order or seed."""
    digest = hashlib.sha256(text.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


@dataclass(frozen=True)
class AdditionTask:
    """Multi-step addition with a chain of thought and a controllable SFT bias.

    The reward model and RL train on ``terms``-term problems (the ``train`` split) and are
    evaluated in distribution on the ``heldout`` split. The ``ood`` split has ``ood_terms``
    terms: the SFT data covers that length (so the policy can solve it at all, and the metric
    is not stuck at zero), but no reward-model or RL data does.

    One held-out rule for every evaluation split: a prompt is held out when the hash of its text
    falls under ``heldout_fraction`` (:func:`in_heldout_share`); ``heldout`` and ``ood`` draw
    only held-out prompts, SFT and ``train`` (reward model, RL) only the others. So no
    evaluation prompt of any split is ever an SFT, reward-model or RL prompt, whatever the
    seeds and sizes; SFT still sees ``ood_terms``-term problems, just never the ones evaluated.
    """

    digits: int = 1
    """digits per term (terms are drawn from 0 .. 10^digits - 1 for 1 digit, else 10^(digits-1) ..)"""
    terms: int = 4
    """terms per problem for reward-model and RL data and in-distribution evaluation (terms - 1 steps)"""
    ood_terms: int = 5
    """terms per problem in the out-of-distribution split"""
    sft_min_terms: int = 2
    """fewest terms per SFT problem"""
    sft_max_terms: int = 5
    """most terms per SFT problem; SFT covers the OOD length so that OOD accuracy is measurable"""
    heldout_fraction: float = 0.1
    """share of problems reserved for held-out evaluation (by hash of the prompt, so disjoint)"""
    carry_error_rate: float = 0.5
    """probability that a carry step in the SFT data forgets its carry: makes the SFT policy capable but biased
    (0.5 puts held-out accuracy near 0.4 both greedy and sampled; at 0.6 greedy decoding falls to ~0.1)"""
    name: str = field(default="addition", init=False)
    has_step_labels: ClassVar[bool] = True
    """the step verifier labels every step, so process reward models can train here"""

    def __post_init__(self):
        normalize_fields(self)  # declared types: one configuration, one run id, whatever typed it
        if not 1 <= self.digits <= 4:
            raise ValueError(f"digits={self.digits}: use 1..4 digits per term")
        if self.terms < 2 or self.ood_terms < 2:
            raise ValueError(f"terms={self.terms}, ood_terms={self.ood_terms}: a problem needs at least 2 terms")
        if self.ood_terms == self.terms:
            raise ValueError(
                f"ood_terms={self.ood_terms} equals terms: the OOD split must differ from the RL/RM training "
                "distribution; pick another ood_terms"
            )
        if not 2 <= self.sft_min_terms <= self.sft_max_terms:
            raise ValueError(f"sft_min_terms={self.sft_min_terms}, sft_max_terms={self.sft_max_terms}: "
                             "need 2 <= sft_min_terms <= sft_max_terms")
        if not self.sft_min_terms <= self.terms <= self.sft_max_terms:
            raise ValueError(f"terms={self.terms} lies outside the SFT range {self.sft_min_terms}..{self.sft_max_terms}: "
                             "the SFT policy would never have seen the RL problems; widen the SFT range")
        if not 0 < self.heldout_fraction < 1:
            raise ValueError(f"heldout_fraction={self.heldout_fraction}: use a share strictly between 0 and 1")
        if not 0 <= self.carry_error_rate < 1:
            raise ValueError(f"carry_error_rate={self.carry_error_rate}: use a probability in [0, 1)")

    def _is_heldout(self, problem: Problem) -> bool:
        return in_heldout_share(problem.prompt, self.heldout_fraction)

    def problems(self, split: str, n: int, seed: int) -> list[Problem]:
        """``n`` problems of a split (drawn with replacement), the same for the same seed.

        ``train``: ``terms`` terms, outside the held-out share. ``heldout``: ``terms`` terms and
        ``ood``: ``ood_terms`` terms, both inside the held-out share, so neither ever shares a
        prompt with ``train`` or :meth:`sft_problems`. Raises ValueError for an unknown split,
        ``n <= 0``, or a split too small to draw from.
        """
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}: use one of {SPLITS}")
        lengths = (self.ood_terms,) if split == "ood" else (self.terms,)
        return self._draw(split, lengths, n, seed, heldout=split in EVALUATION_SPLITS)

    def sft_problems(self, n: int, seed: int) -> list[Problem]:
        """SFT problems of every length in the SFT range (the OOD length too), never a held-out prompt (so never
        a ``heldout`` or ``ood`` evaluation prompt)."""
        return self._draw("sft", tuple(range(self.sft_min_terms, self.sft_max_terms + 1)), n, seed, heldout=False)

    def _draw(self, stream: str, lengths: tuple[int, ...], n: int, seed: int, heldout: bool) -> list[Problem]:
        if n <= 0:
            raise ValueError(f"n={n}: ask for at least one problem")
        lo, hi = (10 ** (self.digits - 1) if self.digits > 1 else 0), 10**self.digits - 1
        # A separate random stream per split, so e.g. train and held-out draws are independent.
        rng = random.Random(f"{self.name}/{stream}/{seed}")
        out, attempts = [], 0
        while len(out) < n:
            attempts += 1
            if attempts > 200 * n + 1000:
                raise ValueError(f"cannot draw {n} {stream} problems: the split is too small for these knobs")
            p = Problem(tuple(rng.randint(lo, hi) for _ in range(rng.choice(lengths))))
            if self._is_heldout(p) == heldout:
                out.append(p)
        return out

    def check_answer(self, completion: str, answer: int | str, finished: bool = True) -> bool:
        """Gold verifier by answer: the completion's final number equals ``answer``.

        ``finished`` (whether it ended with an end token) is not needed here: a cut chain's last
        number is a partial sum, which :func:`parse_final_answer` reads as the answer it wrote."""
        return parse_final_answer(completion) == int(answer)

    def sft_completion(self, problem: Problem, rng: random.Random) -> str:
        """A completion as the SFT data shows it: correct, except for the planted carry errors."""
        return solution(problem, self.carry_error_rate, rng)
