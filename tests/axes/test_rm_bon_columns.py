"""The best-of-n curve's exact-KL, with-replacement and split-half columns (scoring.best_of_n, pipeline.rm_runs)."""
import itertools
import math

import numpy as np
import pytest

from rlhf_nb.analysis.bon_kl import exact_bon_kl_curve
from rlhf_nb.scoring.best_of_n import (
    best_of_n_curve,
    expected_best_of_n,
    expected_best_of_n_with_replacement,
)


def brute_force_with_replacement(scores, values, n):
    """Mean over all N^n ordered draws with replacement of the value of the top-scoring draw, ties split evenly."""
    total = 0.0
    draws = list(itertools.product(range(len(scores)), repeat=n))
    for draw in draws:
        top = max(scores[i] for i in draw)
        tied = [values[i] for i in draw if scores[i] == top]
        total += sum(tied) / len(tied)
    return total / len(draws)


@pytest.mark.parametrize("pool_size", [1, 2, 3, 5])
def test_with_replacement_gold_equals_enumeration(pool_size):
    rng = np.random.default_rng(pool_size)
    for trial in range(4):
        scores = rng.integers(0, 3 if trial % 2 else 100, pool_size).astype(float).tolist()
        values = rng.integers(0, 2, pool_size).astype(float).tolist()
        for n in range(1, 5):
            assert expected_best_of_n_with_replacement(scores, values, n) == pytest.approx(
                brute_force_with_replacement(scores, values, n), abs=1e-12)


def test_with_and_without_replacement_agree_at_n_one_and_part_near_the_pool_size():
    rng = np.random.default_rng(0)
    scores, values = rng.normal(size=64), rng.integers(0, 2, 64).astype(float)
    assert expected_best_of_n_with_replacement(scores, values, 1) == pytest.approx(values.mean())
    top = values[np.argmax(scores)]
    assert expected_best_of_n(scores, values, 64) == top  # without replacement n = N keeps the top response
    # with replacement it keeps the top with probability 1 - (1 - 1/N)^N only
    p_top = 1 - (1 - 1 / 64) ** 64
    is_top = (scores == scores.max()).astype(float)
    assert expected_best_of_n_with_replacement(scores, is_top, 64) == pytest.approx(p_top, rel=1e-12)
    assert expected_best_of_n_with_replacement(scores, is_top, 4) == pytest.approx(1 - (63 / 64) ** 4, rel=1e-12)
    assert expected_best_of_n(scores, is_top, 4) == pytest.approx(4 / 64)  # without: n/N, close for n << N
    assert expected_best_of_n_with_replacement(scores, scores, 64) < expected_best_of_n(scores, scores, 64)
    with pytest.raises(ValueError, match="non-finite"):
        expected_best_of_n_with_replacement([1.0, float("nan")], [0, 1], 1)


def test_curve_holds_the_exact_kl_beside_the_bound_and_split_halves():
    rng = np.random.default_rng(1)
    scores = rng.integers(0, 6, size=(9, 16)).astype(float).tolist()  # ties: the exact KL is below the bound
    gold = rng.integers(0, 2, (9, 16)).astype(float).tolist()
    ns = [1, 2, 4, 8, 16]
    curve = best_of_n_curve(scores, gold, ns).set_index("n")
    want = np.mean([exact_bon_kl_curve(s, ns) for s in scores], axis=0)
    assert curve.kl_exact.to_numpy() == pytest.approx(want, rel=1e-12)
    assert curve.d_exact.to_numpy() == pytest.approx(np.sqrt(want))
    assert (curve.kl_exact <= curve.kl_bound + 1e-12).all() and curve.kl_exact[1] == 0.0
    assert (curve.kl_exact.loc[16] < curve.kl_bound.loc[16])
    # the with-replacement gold is the mean over prompts of the per-prompt rule
    for n in ns:
        assert curve.gold_wr[n] == pytest.approx(np.mean([expected_best_of_n_with_replacement(s, g, n)
                                                          for s, g in zip(scores, gold)]))
        even = np.mean([expected_best_of_n(s, g, n) for s, g in zip(scores[0::2], gold[0::2])])
        odd = np.mean([expected_best_of_n(s, g, n) for s, g in zip(scores[1::2], gold[1::2])])
        assert (curve.gold_even[n], curve.gold_odd[n]) == pytest.approx((even, odd))
        assert curve.gold[n] == pytest.approx((5 * even + 4 * odd) / 9)  # 5 even-index prompts, 4 odd
        wr_even = np.mean([expected_best_of_n_with_replacement(s, g, n) for s, g in zip(scores[0::2], gold[0::2])])
        wr_odd = np.mean([expected_best_of_n_with_replacement(s, g, n) for s, g in zip(scores[1::2], gold[1::2])])
        assert (curve.gold_wr_even[n], curve.gold_wr_odd[n]) == pytest.approx((wr_even, wr_odd))
    assert curve.gold_wr_gain[1] == pytest.approx(0.0) and curve.gold_gain[1] == pytest.approx(0.0)
    one = best_of_n_curve(scores[:1], gold[:1], ns)
    assert one.gold_odd.isna().all() and (one.gold_even == one.gold).all()


def test_identical_responses_are_one_response_for_the_kl():
    scores = [[0.1, 0.1, 0.7, 0.3]]
    gold = [[0.0, 0.0, 1.0, 0.0]]
    grouped = best_of_n_curve(scores, gold, [1, 2, 4], responses=[["a", "a", "b", "c"]])
    assert grouped.kl_exact.to_numpy() == pytest.approx(best_of_n_curve(scores, gold, [1, 2, 4]).kl_exact.to_numpy())
    with pytest.raises(ValueError, match="response lists"):
        best_of_n_curve(scores, gold, [1], responses=[["a"], ["b"]])
    assert math.isfinite(grouped.kl_exact.iloc[-1])
