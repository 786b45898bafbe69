"""The split-half prompt jackknife recovers known measurement and training variances; edge cases are defined."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from rlhf_nb.analysis.variance_split import METHOD, halfwidth_ratios, split_variance


def _simulate(rng, seeds: int, prompts: int, sd_train: float, sd_prompt: float):
    """Per seed: the mean of ``prompts`` per-prompt scores = μ + t_s + e_si, on all prompts and on each half."""
    t = rng.normal(0.0, sd_train, size=seeds)
    y = 0.6 + t[:, None] + rng.normal(0.0, sd_prompt, size=(seeds, prompts))
    return y.mean(axis=1), y[:, 0::2].mean(axis=1), y[:, 1::2].mean(axis=1)


def test_recovers_both_variances_on_average():
    rng = np.random.default_rng(0)
    sd_train, sd_prompt, prompts = 0.03, 0.4, 128
    true_meas, true_train = sd_prompt**2 / prompts, sd_train**2
    meas, diff = [], []
    for _ in range(4000):
        v, e, o = _simulate(rng, 5, prompts, sd_train, sd_prompt)
        s = split_variance(v, e, o)
        meas.append(s.measurement_var)
        diff.append(s.total_var - s.measurement_var)  # unclipped: unbiased for the training variance
    assert np.mean(meas) == pytest.approx(true_meas, rel=0.03)
    assert np.mean(diff) == pytest.approx(true_train, rel=0.08)


def test_share_tracks_the_true_share():
    rng = np.random.default_rng(1)
    for sd_train, sd_prompt in ((0.0, 0.5), (0.05, 0.1), (0.02, 0.45)):
        prompts = 64
        true_meas = sd_prompt**2 / prompts
        truth = true_meas / (true_meas + sd_train**2)
        shares = []
        for _ in range(1500):
            v, e, o = _simulate(rng, 40, prompts, sd_train, sd_prompt)  # many seeds: a share near its expectation
            shares.append(split_variance(v, e, o).measurement_share)
        assert np.median(shares) == pytest.approx(truth, abs=0.06), (sd_train, sd_prompt)


def test_linear_contrast_of_binary_outcomes():
    """A paired difference of two arms' accuracies (0/1 per prompt), like most parts: still unbiased."""
    rng = np.random.default_rng(2)
    prompts, seeds = 100, 6
    meas = []
    for _ in range(3000):
        p = 0.5 + rng.normal(0, 0.05, size=seeds)
        a = rng.random((seeds, prompts)) < p[:, None]
        b = rng.random((seeds, prompts)) < (p[:, None] - 0.1)
        d = a.astype(float) - b.astype(float)
        s = split_variance(d.mean(1), d[:, 0::2].mean(1), d[:, 1::2].mean(1))
        meas.append(s.measurement_var)
    expected = (0.5 * 0.5 + 0.4 * 0.6) / prompts  # var of a mean difference of two independent Bernoulli means
    assert np.mean(meas) == pytest.approx(expected, rel=0.05)


def test_exact_numbers_and_record():
    s = split_variance([0.50, 0.60, 0.70], [0.52, 0.58, 0.71], [0.48, 0.62, 0.69])
    assert s.n_seeds == 3
    assert s.measurement_var == pytest.approx((0.04**2 + 0.04**2 + 0.02**2) / 4 / 3)
    assert s.total_var == pytest.approx(0.01)
    assert s.training_var == pytest.approx(0.01 - 0.0003)
    assert s.measurement_share == pytest.approx(0.03)
    assert s.prompts_x4_halfwidth_ratio == pytest.approx(math.sqrt((0.0097 + 0.0003 / 4) / 0.01))
    q = stats.t.ppf(0.975, [5, 2])
    assert s.seeds_x2_halfwidth_ratio == pytest.approx(q[0] / q[1] / math.sqrt(2))
    record = s.to_dict()
    assert record["method"] == METHOD and "not evidence" in record["use"]
    assert record["n_seeds"] == 3


def test_measurement_larger_than_total_is_capped():
    s = split_variance([0.5, 0.5001, 0.5002], [0.6, 0.4, 0.7], [0.4, 0.6, 0.3])
    assert s.measurement_share == 1.0
    assert s.training_var == 0.0
    assert s.prompts_x4_halfwidth_ratio == pytest.approx(0.5)  # all of se² is measurement: sqrt(1/4)


def test_non_finite_seeds_dropped_and_too_few_seeds():
    s = split_variance([0.5, np.nan, 0.7, 0.6], [0.5, 0.6, np.nan, 0.61], [0.5, 0.6, 0.7, 0.59])
    assert s.n_seeds == 2  # seeds 1 and 2 lack a value or a half
    one = split_variance([0.5], [0.49], [0.51])
    assert one.n_seeds == 1 and one.measurement_var == pytest.approx(0.0001)
    assert math.isnan(one.total_var) and math.isnan(one.measurement_share) and math.isnan(one.training_var)
    assert math.isnan(one.seeds_x2_halfwidth_ratio)
    assert one.to_dict()["measurement_share"] is None  # strict JSON
    none = split_variance([], [], [])
    assert none.n_seeds == 0 and math.isnan(none.measurement_var)


def test_zero_total_variance_gives_no_share():
    s = split_variance([0.5, 0.5, 0.5], [0.5, 0.5, 0.5], [0.5, 0.5, 0.5])
    assert math.isnan(s.measurement_share)
    assert s.total_var == 0.0 and s.measurement_var == 0.0
    assert math.isnan(s.prompts_x4_halfwidth_ratio)


def test_misaligned_halves_refused():
    with pytest.raises(ValueError, match="one of each per seed"):
        split_variance([0.1, 0.2], [0.1], [0.2, 0.3])


def test_halfwidth_ratios():
    p4, s2 = halfwidth_ratios(1.0, 0.0, 5)
    assert p4 == 1.0  # no measurement noise: more prompts buy nothing
    assert s2 == pytest.approx(stats.t.ppf(0.975, 9) / stats.t.ppf(0.975, 4) / math.sqrt(2))
    assert halfwidth_ratios(0.0, 1.0, 4)[0] == pytest.approx(0.5)
    assert all(math.isnan(r) for r in halfwidth_ratios(1.0, 1.0, 1))
    assert halfwidth_ratios(1.0, 1.0, 3, level=0.99)[1] < halfwidth_ratios(1.0, 1.0, 3)[1]
