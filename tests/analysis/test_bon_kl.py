"""exact_bon_kl: the exact KL of best-of-n over an empirical pool (docs/findings.md, Best-of-n KL)."""
import itertools
import math

import numpy as np
import pytest

from rlhf_nb.analysis import forms
from rlhf_nb.analysis.bon_kl import bon_kl_bound, exact_bon_kl, exact_bon_kl_curve


def brute_force_kl(scores, n, responses=None):
    """KL(best-of-n || base) by enumerating all N**n ordered draws, ties broken uniformly among tied draws."""
    scores = list(map(float, scores))
    N = len(scores)
    ids = list(range(N)) if responses is None else list(responses)
    p, q = {}, {}
    for r in ids:
        p[r] = p.get(r, 0.0) + 1.0 / N
    for draw in itertools.product(range(N), repeat=n):
        best = max(scores[i] for i in draw)
        tied = [i for i in draw if scores[i] == best]  # positions, so a twice-drawn response counts twice
        for i in tied:
            q[ids[i]] = q.get(ids[i], 0.0) + (1.0 / N ** n) / len(tied)
    return sum(qi * math.log(qi / p[r]) for r, qi in q.items() if qi > 0)


POOLS = [
    ([0.3, 0.1, 0.9], None),                       # distinct
    ([0.5, 0.5, 0.2], None),                       # a tie at the top
    ([0.2, 0.7, 0.2, 0.7], None),                  # two tie blocks
    ([0.4, 0.4, 0.4, 0.4], None),                  # all tied: best-of-n is the base
    ([1.0, 3.0, 2.0, 5.0, 4.0], None),             # distinct, unsorted
    ([0.1, 0.9, 0.1, 0.5, 0.9], None),
    ([0.1, 0.9, 0.1, 0.5], ["a", "b", "a", "c"]),  # a duplicate response (same score)
    ([0.3, 0.3, 0.8, 0.3, 0.8], ["x", "x", "y", "z", "y"]),  # duplicates and a tie across responses
    ([0.6, 0.2, 0.6], ["u", "v", "w"]),            # distinct responses tied in score
]


@pytest.mark.parametrize("scores,responses", POOLS)
@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_matches_brute_force_enumeration(scores, responses, n):
    assert exact_bon_kl(scores, n, responses) == pytest.approx(brute_force_kl(scores, n, responses),
                                                                rel=1e-10, abs=1e-13)


def test_hand_computed_three_draws():
    # F = 1/3, 2/3, 1; n = 2: q = 1/9, 3/9, 5/9 against p = 1/3 each.
    expected = (1 / 9) * math.log(1 / 3) + (3 / 9) * math.log(1) + (5 / 9) * math.log(5 / 3)
    assert exact_bon_kl([0.9, 0.1, 0.5], 2) == pytest.approx(expected, rel=1e-12)


def test_identical_responses_take_their_mean_score():
    # "a" drawn twice with scores 0.1 and 0.5 is one response, p = 2/3, scored 0.3 > "b" (0.2).
    # n = 2: q_b = (1/3)^2, q_a = 1 - 1/9.
    expected = (1 / 9) * math.log((1 / 9) / (1 / 3)) + (8 / 9) * math.log((8 / 9) / (2 / 3))
    assert exact_bon_kl([0.1, 0.5, 0.2], 2, ["a", "a", "b"]) == pytest.approx(expected, rel=1e-12)
    # Mean 0.2 ties "b": one block, best-of-n is the base.
    assert exact_bon_kl([0.1, 0.3, 0.2], 3, ["a", "a", "b"]) == pytest.approx(0.0, abs=1e-15)


def test_grouping_identical_responses_with_identical_scores_changes_nothing():
    scores = [0.1, 0.9, 0.1, 0.5, 0.9, 0.9]
    grouped = exact_bon_kl_curve(scores, [2, 3, 7], responses=["a", "b", "a", "c", "b", "b"])
    assert grouped == pytest.approx(exact_bon_kl_curve(scores, [2, 3, 7]), rel=1e-12)


def test_n1_is_zero_and_all_tied_is_zero():
    rng = np.random.default_rng(1)
    assert exact_bon_kl(rng.normal(size=50), 1) == 0.0
    assert exact_bon_kl_curve(np.full(7, 0.3), [1, 2, 10, 1000]) == pytest.approx(np.zeros(4), abs=1e-15)


def test_order_of_the_pool_does_not_matter():
    rng = np.random.default_rng(2)
    s = rng.integers(0, 5, size=40).astype(float)
    perm = rng.permutation(40)
    assert exact_bon_kl_curve(s[perm], [2, 5, 9]) == pytest.approx(exact_bon_kl_curve(s, [2, 5, 9]), rel=1e-12)


def test_bound_is_the_one_in_forms():
    assert bon_kl_bound is forms.bon_kl_bound


def test_large_pool_of_distinct_scores_approaches_the_bound_from_below():
    scores = np.random.default_rng(3).normal(size=100_000)
    ns = np.array([2, 4, 16, 64])
    kl = exact_bon_kl_curve(scores, ns)
    bound = bon_kl_bound(ns)
    assert (kl <= bound + 1e-12).all()
    assert kl == pytest.approx(bound, abs=1e-4)


def test_ties_keep_the_kl_below_the_bound_and_nondecreasing_in_n():
    rng = np.random.default_rng(4)
    ns = np.arange(1, 60)
    for _ in range(200):
        size = int(rng.integers(1, 25))
        scores = rng.integers(0, int(rng.integers(1, 8)), size=size).astype(float)  # many ties
        kl = exact_bon_kl_curve(scores, ns)
        assert (np.diff(kl) >= -1e-12).all(), scores
        assert (kl <= bon_kl_bound(ns) + 1e-12).all(), scores


def test_coarse_pool_is_strictly_below_the_bound():
    # Two equally likely blocks: KL -> ln 2 as n grows, far under ln n - (n-1)/n.
    kl = exact_bon_kl_curve([0.0, 1.0], [2, 8, 64])
    assert kl[-1] == pytest.approx(math.log(2), rel=1e-12)
    assert (kl < bon_kl_bound([2, 8, 64]) - 1e-3).all()


def test_huge_n_is_finite_and_tends_to_log_inverse_top_mass():
    scores = np.arange(1000.0)
    assert exact_bon_kl(scores, 10**7) == pytest.approx(math.log(1000), rel=1e-9)
    # Top block of 3 draws out of 10: limit ln(10/3).
    assert exact_bon_kl([1, 2, 3, 4, 5, 6, 7, 9, 9, 9], 10**6) == pytest.approx(math.log(10 / 3), rel=1e-9)


def test_curve_matches_scalar_and_keeps_the_shape_of_ns():
    s = np.random.default_rng(5).normal(size=30).round(1)
    ns = np.array([[1, 2], [8, 33]])
    curve = exact_bon_kl_curve(s, ns)
    assert curve.shape == (2, 2)
    for idx in np.ndindex(ns.shape):
        assert curve[idx] == pytest.approx(exact_bon_kl(s, int(ns[idx])), rel=1e-12, abs=0)


@pytest.mark.parametrize("bad_n", [0, -1, 1.5, float("nan")])
def test_bad_n_raises(bad_n):
    with pytest.raises(ValueError, match="n >= 1"):
        exact_bon_kl([0.1, 0.2], bad_n)
    with pytest.raises(ValueError, match="n >= 1"):
        exact_bon_kl_curve([0.1, 0.2], [2, bad_n])


def test_bad_pools_raise():
    with pytest.raises(ValueError, match="non-empty"):
        exact_bon_kl([], 2)
    with pytest.raises(ValueError, match="non-finite"):
        exact_bon_kl([0.1, float("nan")], 2)
    with pytest.raises(ValueError, match="one per draw"):
        exact_bon_kl([0.1, 0.2, 0.3], 2, responses=["a", "b"])
    with pytest.raises(ValueError, match="1-d"):
        exact_bon_kl([[0.1, 0.2]], 2)
