"""Sampling draws from its own seeded stream: the caller's random state is never touched, samples never depend on it."""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from rlhf_nb.models import build_policy
from rlhf_nb.scoring.sampling import sample, sequence_logprobs

PROMPTS = ["1+2=", "12+30+4=", "5+6=", "7+8+9="] * 4


@pytest.fixture(scope="module")
def policy():
    return build_policy("xs", seed=0)


@pytest.mark.parametrize("greedy", [False, True])
def test_sample_leaves_every_random_state_as_it_was(policy, greedy, rng_states):
    model, tok = policy
    torch.manual_seed(123), random.seed(123), np.random.seed(123)
    before = rng_states.now()
    sample(model, tok, PROMPTS, 10, greedy=greedy, seed=7, batch_size=5)  # several chunks
    sequence_logprobs(model, tok, PROMPTS[:3], [[4, 5], [6], []])
    rng_states.assert_unchanged(before)


def test_the_callers_stream_continues_as_if_nothing_had_been_sampled(policy):
    model, tok = policy
    torch.manual_seed(5)
    expected = torch.rand(4)
    torch.manual_seed(5)
    sample(model, tok, PROMPTS, 10, seed=7)
    torch.testing.assert_close(torch.rand(4), expected, rtol=0, atol=0)


def test_samples_depend_on_the_seed_only(policy):
    model, tok = policy
    torch.manual_seed(1)
    a = sample(model, tok, PROMPTS, 10, seed=7)
    torch.manual_seed(2)
    torch.rand(1000)  # the caller's stream elsewhere
    b = sample(model, tok, PROMPTS, 10, seed=7)
    c = sample(model, tok, PROMPTS, 10, seed=8)
    assert a.completion_ids == b.completion_ids and a.completions == b.completions
    assert c.completion_ids != a.completion_ids


def test_seeded_rng_forks_and_restores():
    from rlhf_nb.scoring.sampling import seeded_rng

    torch.manual_seed(0)
    before = torch.get_rng_state()
    with seeded_rng(3):
        inside = torch.rand(3)
    with seeded_rng(3):
        again = torch.rand(3)
    assert torch.equal(inside, again)
    assert torch.equal(torch.get_rng_state(), before)

