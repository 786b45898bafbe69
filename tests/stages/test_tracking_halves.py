"""The tracker's per-half gold (G2's split-half peak) comes from the same samples as its gold, proxy and KL."""
from __future__ import annotations

import numpy as np
import pytest

from rlhf_nb.models import build_policy
from rlhf_nb.stages.evaluation import measure_samples
from rlhf_nb.stages.tracking import PolicyTracker
from rlhf_nb.tasks.addition import AdditionTask


class LengthReward:
    """A stand-in proxy: the completion's length, so that the proxy column is filled without a trained model."""

    def score(self, prompts, completions):
        return [float(len(c)) for c in completions]


def test_tracker_rows_match_measure_samples_and_split_into_halves():
    task = AdditionTask()
    model, tok = build_policy("xs", seed=0)
    ref, _ = build_policy("xs", seed=1)
    problems = task.problems("heldout", 6, 7)
    tracker = PolicyTracker(task, tok, ref, problems, every_steps=1, max_new_tokens=8, seed=3, reward=LengthReward())
    row = tracker.measure(model, 0)
    same = measure_samples(task, model, tok, problems, 2, 8, 3, ref, LengthReward())
    assert row["gold_acc"] == same["sampled_acc"]
    assert row["proxy_mean"] == same["proxy_mean"] and row["kl"] == same["kl"]
    assert row["sqrt_kl"] == pytest.approx(np.sqrt(max(same["kl"], 0.0)))
    # equal halves (3 prompts each, 2 samples per prompt): gold is their mean
    assert 0.5 * (row["gold_acc_even"] + row["gold_acc_odd"]) == pytest.approx(row["gold_acc"])
    assert list(tracker.frame().columns[:4]) == ["step", "gold_acc", "gold_acc_even", "gold_acc_odd"]


class EvenRight:
    """A task wrapper whose verifier calls every answer to a prompt at an even position right, every other wrong."""

    def __init__(self, task, problems):
        self.task, self.even = task, {p.answer for p in problems[::2]} - {p.answer for p in problems[1::2]}

    def check_answer(self, completion, answer, finished=False):
        return answer in self.even


def test_the_halves_are_the_prompts_at_even_and_odd_positions():
    task = AdditionTask()
    model, tok = build_policy("xs", seed=0)
    problems = task.problems("heldout", 5, 7)
    wrapped = EvenRight(task, problems)
    assert len(wrapped.even) == 3  # distinct answers, so the wrapper tells the halves apart
    row = PolicyTracker(wrapped, tok, model, problems, 1, 4, seed=0).measure(model, 0)
    assert (row["gold_acc_even"], row["gold_acc_odd"], row["gold_acc"]) == (1.0, 0.0, pytest.approx(0.6))


def test_a_policy_equal_to_its_reference_is_at_exactly_zero_kl():
    """Every curve starts at sqrt(KL) = 0 exactly: the Gao fits read the start as d = 0, not as a rounding residue."""
    task = AdditionTask()
    model, tok = build_policy("xs", seed=0)
    ref, _ = build_policy("xs", seed=0)
    problems = task.problems("heldout", 6, 7)
    row = PolicyTracker(task, tok, ref, problems, every_steps=1, max_new_tokens=8, seed=3).measure(model, 0)
    assert row["kl"] == 0.0 and row["sqrt_kl"] == 0.0
    assert measure_samples(task, model, tok, problems, 2, 8, 3, ref)["kl"] == 0.0
