"""The unbiased best-of-n estimator against brute force over every subset, and the KL bound."""
import itertools
import math

import numpy as np
import pytest

from rlhf_nb.scoring.best_of_n import (
    best_of_n_curve,
    expected_best_of_n,
    kl_bound,
    rank_weights,
)


def brute_force(scores, values, n):
    """Mean over all size-n subsets of the value of the top-scoring member, ties split evenly."""
    total, count = 0.0, 0
    for subset in itertools.combinations(range(len(scores)), n):
        top = max(scores[i] for i in subset)
        tied = [values[i] for i in subset if scores[i] == top]
        total += sum(tied) / len(tied)
        count += 1
    return total / count


@pytest.mark.parametrize("pool_size", [1, 2, 3, 5, 7, 9])
def test_estimator_equals_enumeration_of_all_subsets(pool_size):
    rng = np.random.default_rng(pool_size)
    for trial in range(6):
        # integers in a small range make ties (identical completions tie by construction)
        scores = rng.integers(0, 4 if trial % 2 else 100, pool_size).astype(float).tolist()
        values = rng.integers(0, 2, pool_size).astype(float).tolist()
        for n in range(1, pool_size + 1):
            assert expected_best_of_n(scores, values, n) == pytest.approx(brute_force(scores, values, n), abs=1e-12)
            assert expected_best_of_n(scores, scores, n) == pytest.approx(brute_force(scores, scores, n), abs=1e-12)


def test_weights_are_a_distribution_and_match_the_formula():
    for pool, n in [(1, 1), (10, 1), (10, 10), (64, 16), (256, 64)]:
        w = rank_weights(pool, n)
        assert w.sum() == pytest.approx(1.0) and (w >= 0).all()
        assert w[0] == pytest.approx(n / pool)  # the best is in a random n-subset with probability n/N
        if pool >= 3:
            assert w[2] == pytest.approx(math.comb(pool - 3, n - 1) / math.comb(pool, n))
    assert np.allclose(rank_weights(5, 1), 0.2)


def test_n_one_is_the_pool_mean_and_n_equal_pool_is_the_argmax():
    scores, values = [0.3, 0.1, 0.9, 0.2], [1, 0, 0, 1]
    assert expected_best_of_n(scores, values, 1) == pytest.approx(0.5)
    assert expected_best_of_n(scores, values, 4) == 0.0


def test_refuses_n_above_the_pool_and_non_finite_scores():
    with pytest.raises(ValueError, match="pool"):
        expected_best_of_n([1.0, 2.0], [0, 1], 3)
    with pytest.raises(ValueError, match="non-finite"):
        expected_best_of_n([1.0, float("nan")], [0, 1], 1)


def test_kl_bound():
    assert kl_bound(1) == 0.0
    assert kl_bound(2) == pytest.approx(math.log(2) - 0.5)
    assert kl_bound(64) == pytest.approx(math.log(64) - 63 / 64)
    with pytest.raises(ValueError):
        kl_bound(0)


def test_curve_columns_oracle_and_monotone_proxy():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(20, 16)).tolist()
    gold = rng.integers(0, 2, (20, 16)).astype(float).tolist()
    curve = best_of_n_curve(scores, gold, [1, 2, 4, 8, 16])
    assert list(curve.n) == [1, 2, 4, 8, 16]
    assert {"kl_bound", "d", "gold", "proxy", "oracle", "gold_gain", "proxy_gain"} <= set(curve.columns)
    assert curve.gold_gain.iloc[0] == pytest.approx(0.0) and curve.proxy_gain.iloc[0] == pytest.approx(0.0)
    assert (np.diff(curve.proxy) >= -1e-12).all()  # E[max of n] never falls with n
    # oracle: P(a right answer among n) = 1 - C(N-k, n)/C(N, n), averaged over prompts
    want = np.mean([1 - math.comb(16 - int(sum(g)), 4) / math.comb(16, 4) for g in gold])
    assert curve.set_index("n").oracle[4] == pytest.approx(want)
    assert (curve.oracle >= curve.gold - 1e-12).all()
