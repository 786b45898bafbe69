"""effect_ci and the verdict rules of the findings scorecard."""
import numpy as np
import pandas as pd
import pytest

from rlhf_nb.analysis import (
    INCONCLUSIVE,
    NOT_SHOWN,
    SHOWN,
    effect_ci,
    equivalence_verdict,
    verdict,
)


def test_paired_by_seed_when_both_are_indexed_by_the_same_seeds():
    # A large shared seed effect: pairing removes it, so the paired interval is much narrower.
    seed_effect = np.array([0.0, 0.1, -0.1, 0.05, -0.05])
    a = pd.Series(0.60 + seed_effect + [0.01, 0.012, 0.009, 0.011, 0.010]).iloc[::-1]  # order must not matter
    b = pd.Series(0.60 + seed_effect)
    paired = effect_ci(a, b)
    unpaired = effect_ci(a.sort_index().to_numpy(), b.to_numpy())
    assert paired.paired and not unpaired.paired
    assert paired.estimate == pytest.approx(0.0104) == pytest.approx(unpaired.estimate)
    assert paired.ci[0] > 0.008 and paired.ci[1] < 0.013
    assert unpaired.ci[1] - unpaired.ci[0] > 10 * (paired.ci[1] - paired.ci[0])


def test_pairing_follows_the_index_not_the_order():
    a = pd.Series([1.0, 2.0, 3.0], index=["s2", "s0", "s1"])
    b = pd.Series([0.0, 1.0, 2.0], index=["s0", "s1", "s2"])  # a - b per seed: 2, 2, -1
    e = effect_ci(a, b)
    assert e.paired and e.estimate == pytest.approx(1.0) and e.ci[0] < 0.5


def test_different_seeds_are_unpaired():
    e = effect_ci(pd.Series([1.0, 2.0], index=[0, 1]), pd.Series([1.0, 2.0], index=[2, 3]))
    assert not e.paired


def test_seeded_and_sized():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0.1, 1, 8), rng.normal(0, 1, 6)
    assert effect_ci(a, b, seed=3) == effect_ci(a, b, seed=3)
    assert effect_ci(a, b, seed=3).ci != effect_ci(a, b, seed=4).ci
    with pytest.raises(ValueError, match="at least 2 values"):
        effect_ci([1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match=r"non-finite values at indices \[1\]"):
        effect_ci([1.0, np.nan], [1.0, 2.0])


def test_t_interval_covers_at_its_level():
    # Coverage of the t interval over 400 draws of 5 vs 5 seeds: nominal 0.95.
    rng = np.random.default_rng(1)
    hits = [(lambda e: e.ci[0] < 0.3 < e.ci[1])(effect_ci(rng.normal(0.3, 1, 5), rng.normal(0, 1, 5), method="t"))
            for _ in range(400)]
    assert 0.92 <= np.mean(hits) <= 0.98


@pytest.mark.parametrize("effect, ci, direction, margin, want", [
    (0.05, (0.01, 0.09), 1, 0.0, SHOWN),
    (-0.05, (-0.09, -0.01), 1, 0.0, NOT_SHOWN),
    (0.01, (-0.02, 0.04), 1, 0.0, INCONCLUSIVE),
    (0.03, (0.01, 0.05), 1, 0.02, INCONCLUSIVE),  # above 0 but not clearly above the margin
    (0.015, (0.01, 0.019), 1, 0.02, NOT_SHOWN),  # entirely short of the margin
    (-0.05, (-0.09, -0.01), -1, 0.0, SHOWN),
    (0.2, (0.1, 0.3), -1, 1 / 3, SHOWN),  # H1: last doubling's gain under a third of the first's
    (0.5, (0.4, 0.6), -1, 1 / 3, NOT_SHOWN),
])
def test_verdict(effect, ci, direction, margin, want):
    assert verdict(effect, ci, direction=direction, margin=margin) == want


def test_verdict_takes_an_effect_and_checks_arguments():
    e = effect_ci(pd.Series([0.7, 0.72, 0.71]), pd.Series([0.6, 0.61, 0.6]))
    assert verdict(e) == SHOWN and verdict(e, direction=-1) == NOT_SHOWN
    with pytest.raises(ValueError, match="direction"):
        verdict(e, direction=2)
    with pytest.raises(ValueError, match="pass ci"):
        verdict(0.1)
    with pytest.raises(ValueError, match="low <= high"):
        verdict(0.1, (0.2, 0.0))


def test_equivalence_verdict():
    assert equivalence_verdict(0.0, (-0.01, 0.01), margin=0.02) == SHOWN
    assert equivalence_verdict(0.05, (0.03, 0.07), margin=0.02) == NOT_SHOWN
    assert equivalence_verdict(-0.05, (-0.07, -0.03), margin=0.02) == NOT_SHOWN
    assert equivalence_verdict(0.0, (-0.03, 0.03), margin=0.02) == INCONCLUSIVE
    with pytest.raises(ValueError, match="margin > 0"):
        equivalence_verdict(0.0, (-0.01, 0.01))
