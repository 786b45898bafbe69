"""decide / decide_compound: the pre-registered decision rules of docs/findings.md, and their calibration."""
import dataclasses
import json
import math

import numpy as np
import pytest
from scipy import stats

from rlhf_nb.analysis import INCONCLUSIVE, NOT_SHOWN, SHOWN
from rlhf_nb.analysis.decision import (
    EXACT_BY_CONSTRUCTION,
    FEWER_THAN_3_SEEDS,
    IDENTICAL_VALUES,
    SMALLER_THAN_DELTA,
    TWO_LOOK_LEVELS,
    CompoundDecision,
    Decision,
    PartSpec,
    decide,
    decide_compound,
    expected_false_verdicts,
    holm_count,
    multiplicity_summary,
    seeds_needed,
    two_look_level,
)

T95_DF2 = stats.t.ppf(0.975, 2)  # 4.3027


def three(mean, half_width, level=0.95):
    """Three per-seed values with this mean whose t interval at ``level`` has this half-width."""
    s = half_width * math.sqrt(3) / stats.t.ppf(1 - (1 - level) / 2, 2)  # sd of mean + s*(-1, 0, 1) is s
    return [mean - s, mean, mean + s]


def scipy_interval(values, level=0.95):
    v = np.asarray(values, dtype=float)
    return stats.t.interval(level, len(v) - 1, loc=v.mean(), scale=stats.sem(v))


# ------------------------------------------------------------------ every rule branch

BRANCHES = [
    # claim, delta, mean, half-width, verdict, note
    ("greater", 0.02, 0.05, 0.03, SHOWN, ""),                    # (0.02, 0.08)
    ("greater", 0.02, 0.01, 0.005, SHOWN, SMALLER_THAN_DELTA),    # (0.005, 0.015) inside (0, δ)
    ("greater", 0.02, 0.0, 0.015, NOT_SHOWN, ""),                 # hi 0.015 < δ
    ("greater", 0.02, -0.1, 0.01, NOT_SHOWN, ""),                 # the other sign
    ("greater", 0.02, 0.01, 0.02, INCONCLUSIVE, ""),              # (-0.01, 0.03)
    ("greater", 0.0, 0.01, 0.02, INCONCLUSIVE, ""),               # δ 0: covers 0
    ("greater", 0.0, -0.05, 0.02, NOT_SHOWN, ""),                 # δ 0: hi < 0
    ("less", 0.02, -0.05, 0.03, SHOWN, ""),
    ("less", 0.02, -0.01, 0.005, SHOWN, SMALLER_THAN_DELTA),      # inside (-δ, 0)
    ("less", 0.02, 0.0, 0.015, NOT_SHOWN, ""),                    # lo -0.015 > -δ
    ("less", 0.02, 0.1, 0.01, NOT_SHOWN, ""),
    ("less", 0.02, -0.01, 0.02, INCONCLUSIVE, ""),
    ("equivalent", 0.03, 0.01, 0.015, SHOWN, ""),                 # (-0.005, 0.025) inside (-0.03, 0.03)
    ("equivalent", 0.03, 0.06, 0.02, NOT_SHOWN, ""),              # (0.04, 0.08) wholly above
    ("equivalent", 0.03, -0.06, 0.02, NOT_SHOWN, ""),             # wholly below
    ("equivalent", 0.03, 0.03, 0.01, INCONCLUSIVE, ""),           # straddles δ
    ("equivalent", 0.03, 0.0, 0.05, INCONCLUSIVE, ""),            # covers both margins
    ("noninferior", 0.02, 0.0, 0.015, SHOWN, ""),                 # lo -0.015 > -δ
    ("noninferior", 0.02, -0.05, 0.02, NOT_SHOWN, ""),            # hi -0.03 < -δ
    ("noninferior", 0.02, -0.02, 0.01, INCONCLUSIVE, ""),
]


@pytest.mark.parametrize("claim,delta,mean,hw,expected,note", BRANCHES)
def test_rule_branches(claim, delta, mean, hw, expected, note):
    values = three(mean, hw)
    lo, hi = scipy_interval(values)
    assert (lo, hi) == pytest.approx((mean - hw, mean + hw), abs=1e-12)  # the fixture does what it says
    d = decide(values, claim, delta)
    assert isinstance(d, Decision)
    assert d.verdict == expected
    assert d.note == note
    assert d.ci == pytest.approx((lo, hi), abs=1e-12)
    assert d.estimate == pytest.approx(mean, abs=1e-15)
    assert (d.n, d.claim, d.delta, d.level) == (3, claim, delta, 0.95)


def test_interval_and_p_values_match_scipy_on_five_seeds():
    v = np.array([0.031, 0.012, 0.052, 0.018, 0.026])
    d = 0.02
    ttest = lambda c, alt: stats.ttest_1samp(v, c, alternative=alt).pvalue
    g = decide(v, "greater", d)
    assert g.ci == pytest.approx(scipy_interval(v), rel=1e-12)
    assert g.sd == pytest.approx(v.std(ddof=1))
    assert g.p_shown == pytest.approx(ttest(0, "greater"), rel=1e-10)
    assert g.p_not_shown == pytest.approx(ttest(d, "less"), rel=1e-10)
    ls = decide(v, "less", d)
    assert ls.p_shown == pytest.approx(ttest(0, "less"), rel=1e-10)
    assert ls.p_not_shown == pytest.approx(ttest(-d, "greater"), rel=1e-10)
    ni = decide(v, "noninferior", d)
    assert ni.p_shown == pytest.approx(ttest(-d, "greater"), rel=1e-10)
    assert ni.p_not_shown == pytest.approx(ttest(-d, "less"), rel=1e-10)
    eq = decide(v, "equivalent", 0.05)
    assert eq.p_shown == pytest.approx(max(ttest(-0.05, "greater"), ttest(0.05, "less")), rel=1e-10)  # TOST
    assert eq.p_not_shown == pytest.approx(min(ttest(0.05, "greater"), ttest(-0.05, "less")), rel=1e-10)
    assert g.verdict == SHOWN and g.p_value == g.p_shown
    assert math.isnan(decide(v - 0.02, "greater", 0.02).p_value)  # (-0.011, 0.027): inconclusive, no deciding test


@pytest.mark.parametrize("claim", ["greater", "less", "equivalent", "noninferior"])
def test_verdict_from_the_interval_agrees_with_the_p_values(claim):
    rng = np.random.default_rng(11)
    seen = set()
    for _ in range(300):
        n = int(rng.integers(3, 8))
        v = rng.normal(rng.normal(0, 0.04), 0.03, size=n)
        d = decide(v, claim, 0.02)
        seen.add(d.verdict)
        if d.verdict == SHOWN:
            assert d.p_shown < d.alpha
        elif d.verdict == NOT_SHOWN:
            assert d.p_not_shown <= d.alpha and not d.p_shown < d.alpha
        else:
            assert d.p_shown >= d.alpha and d.p_not_shown >= d.alpha
    assert seen == {SHOWN, NOT_SHOWN, INCONCLUSIVE}


# ------------------------------------------------------------------ errors and degenerate inputs

def test_unknown_claim_names_the_allowed_ones():
    with pytest.raises(ValueError, match="greater.*less.*equivalent.*noninferior"):
        decide([1, 2, 3], "bigger", 0.02)


@pytest.mark.parametrize("delta", [-0.01, float("nan"), float("inf"), "abc", None])
def test_bad_delta_raises(delta):
    with pytest.raises(ValueError, match="delta"):
        decide([1, 2, 3], "greater", delta)


def test_equivalence_needs_a_positive_margin():
    with pytest.raises(ValueError, match="delta > 0"):
        decide([1, 2, 3], "equivalent", 0.0)
    assert decide([1, 1.1, 1.2], "greater", 0.0).verdict == SHOWN  # δ = 0 is fine for a directional claim


@pytest.mark.parametrize("level", [0.0, 1.0, 1.5, -0.2])
def test_bad_level_raises(level):
    with pytest.raises(ValueError, match="level"):
        decide([1, 2, 3], "greater", 0.02, level=level)


def test_values_must_be_one_per_seed():
    with pytest.raises(ValueError, match="1-d"):
        decide([[1, 2], [3, 4]], "greater", 0.02)


@pytest.mark.parametrize("values", [[], [0.5], [0.1, 0.2], [0.1, float("nan"), 0.2, float("inf")]])
def test_fewer_than_three_seeds_give_no_interval_and_no_verdict(values):
    d = decide(values, "greater", 0.0)
    assert d.verdict == INCONCLUSIVE
    assert all(math.isnan(x) for x in d.ci)
    assert FEWER_THAN_3_SEEDS in d.note
    finite = [x for x in values if np.isfinite(x)]
    assert d.n == len(finite)
    if finite:
        assert d.estimate == pytest.approx(np.mean(finite))
    else:
        assert math.isnan(d.estimate)


def test_non_finite_values_are_dropped_and_counted():
    clean = decide([0.03, 0.05, 0.04], "greater", 0.02)
    dirty = decide([0.03, float("nan"), 0.05, float("-inf"), 0.04], "greater", 0.02)
    assert dirty.n == 3 and dirty.verdict == clean.verdict == SHOWN
    assert dirty.ci == clean.ci and dirty.estimate == clean.estimate
    assert "2 non-finite values dropped" in dirty.note and "dropped" not in clean.note


@pytest.mark.parametrize("values", [[0.5, 0.5, 0.5], [0.1 + 0.2, 0.3, 0.3], [1000.0, 1000.0 + 1e-10, 1000.0]])
def test_identical_values_give_no_interval_and_no_verdict(values):
    d = decide(values, "greater", 0.02)
    assert d.verdict == INCONCLUSIVE and d.note == IDENTICAL_VALUES
    assert all(math.isnan(x) for x in d.ci) and not d.tested


def test_tiny_but_real_spread_is_not_identical():
    d = decide([1e-9, 2e-9, 3e-9], "greater", 0.0)  # spread far above rounding at this scale
    assert d.note == "" and np.isfinite(d.ci).all() and d.verdict == INCONCLUSIVE  # lo < 0 with 3 seeds


def test_exact_by_construction_is_reported_never_a_verdict():
    d = decide([0.7, 0.7, 0.7], "greater", 0.0, exact_by_construction=True)
    assert d.verdict == INCONCLUSIVE and d.note == EXACT_BY_CONSTRUCTION
    assert d.ci == pytest.approx((0.7, 0.7), abs=1e-15) and d.ci[0] == d.ci[1] and d.exact_by_construction and not d.tested
    clear = decide([1.0, 1.1, 1.2], "greater", 0.0, exact_by_construction=True)  # lo far above 0
    assert clear.verdict == INCONCLUSIVE and clear.note == EXACT_BY_CONSTRUCTION
    assert clear.ci == pytest.approx(scipy_interval([1.0, 1.1, 1.2])) and math.isnan(clear.p_shown)


def test_to_dict_is_strict_json():
    for d in (decide([0.1, 0.2], "greater", 0.02), decide([0.03, 0.05, 0.04], "greater", 0.02),
              decide([], "equivalent", 0.1)):
        text = json.dumps(d.to_dict(), allow_nan=False)
        back = json.loads(text)
        assert back["verdict"] == d.verdict and back["n"] == d.n and back["claim"] == d.claim
    nan_d = decide([0.1, 0.2], "greater", 0.02).to_dict()
    assert nan_d["ci"] == [None, None] and nan_d["p_value"] is None and nan_d["estimate"] == pytest.approx(0.15)


def test_decision_is_frozen():
    d = decide([0.03, 0.05, 0.04], "greater", 0.02)
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.verdict = NOT_SHOWN


# ------------------------------------------------------------------ two looks

def test_two_look_levels():
    assert TWO_LOOK_LEVELS == {"first": 0.99, "final": 0.958}
    assert (1 - two_look_level("first")) / 2 == pytest.approx(0.005)
    assert (1 - two_look_level("final")) / 2 == pytest.approx(0.021)
    with pytest.raises(ValueError, match="first"):
        two_look_level("second")


def test_first_look_decides_only_at_99_percent():
    v = three(0.05, 0.04)  # 95 %: (0.01, 0.09), shown at a single look
    assert decide(v, "greater", 0.02).verdict == SHOWN
    first = decide(v, "greater", 0.02, level=TWO_LOOK_LEVELS["first"])
    assert first.verdict == INCONCLUSIVE
    assert first.ci == pytest.approx(scipy_interval(v, 0.99))
    assert first.ci[0] < 0 < first.ci[1]


# ------------------------------------------------------------------ compound claims

def test_compound_shown_when_every_part_is_shown():
    c = decide_compound([(three(0.05, 0.03), "greater", 0.02, "first doubling"),
                         PartSpec(three(-0.03, 0.02), "less", 0.01, name="last vs first/3")])
    assert isinstance(c, CompoundDecision)
    assert c.verdict == SHOWN and c.k == 2
    assert [p.verdict for p in c.parts] == [SHOWN, SHOWN]
    assert c.names == ("first doubling", "last vs first/3")
    assert c.p_value == pytest.approx(max(p.p_shown for p in c.parts))


def test_compound_part_not_shown_at_95_but_not_at_bonferroni_is_inconclusive():
    s = 0.01 * math.sqrt(3)  # sd of the part; standard error 0.01
    part2 = [-0.03 - s, -0.03, -0.03 + s]
    lo95, hi95 = scipy_interval(part2, 0.95)
    lo_b, hi_b = scipy_interval(part2, 1 - 0.05 / 2)
    assert lo95 < 0 and hi95 < 0.02  # not shown at 95 % ...
    assert lo_b < 0 and hi_b > 0.02  # ... inconclusive at 97.5 %
    c = decide_compound([(three(0.05, 0.03), "greater", 0.02), (part2, "greater", 0.02)])
    assert c.bonferroni_level == pytest.approx(0.975)
    assert [p.verdict for p in c.parts] == [SHOWN, NOT_SHOWN]
    assert c.parts_bonferroni[1].verdict == INCONCLUSIVE
    assert c.verdict == INCONCLUSIVE
    # Move the part down until it is not shown at 97.5 % too: the compound is then not shown.
    part2_low = [x - 0.02 for x in part2]
    assert scipy_interval(part2_low, 0.975)[1] < 0.02
    c2 = decide_compound([(three(0.05, 0.03), "greater", 0.02), (part2_low, "greater", 0.02)])
    assert c2.verdict == NOT_SHOWN
    assert c2.p_value == pytest.approx(2 * c2.parts[1].p_not_shown)  # Bonferroni p
    assert c2.p_value < 0.025 < 2 * c.parts[1].p_not_shown


def test_compound_with_one_part_shown_one_inconclusive_is_inconclusive():
    c = decide_compound([(three(0.05, 0.03), "greater", 0.02), (three(0.01, 0.02), "greater", 0.02)])
    assert c.verdict == INCONCLUSIVE


def test_a_part_exact_by_construction_never_counts():
    exact = PartSpec(three(-0.1, 0.01), "greater", 0.02, name="proxy rises", exact_by_construction=True)
    # counted alone this part would be "not shown" and sink the compound
    assert decide(exact.values, exact.claim, exact.delta).verdict == NOT_SHOWN
    c = decide_compound([(three(0.05, 0.03), "greater", 0.02), exact, (three(0.06, 0.03), "greater", 0.02)])
    assert c.k == 2 and c.bonferroni_level == pytest.approx(0.975)
    assert c.verdict == SHOWN
    assert c.parts[1].verdict == INCONCLUSIVE and c.parts[1].note == EXACT_BY_CONSTRUCTION
    only_exact = decide_compound([exact])
    assert only_exact.verdict == INCONCLUSIVE and only_exact.k == 0 and not only_exact.tested


def test_compound_to_dict_shows_every_part():
    c = decide_compound([(three(0.05, 0.03), "greater", 0.02, "a"), ([0.1, 0.2], "less", 0.01, "b")])
    d = json.loads(json.dumps(c.to_dict(), allow_nan=False))
    assert d["verdict"] == INCONCLUSIVE and [p["name"] for p in d["parts"]] == ["a", "b"]
    assert d["parts"][0]["ci"][0] == pytest.approx(0.02) and d["parts"][1]["ci"] == [None, None]
    assert d["parts"][0]["bonferroni"]["level"] == pytest.approx(0.975)


def test_compound_errors():
    with pytest.raises(ValueError, match="at least one part"):
        decide_compound([])
    with pytest.raises(ValueError, match="PartSpec"):
        decide_compound([([1, 2, 3], "greater")])
    with pytest.raises(ValueError, match="claim"):
        decide_compound([([1, 2, 3], "up", 0.0)])


# ------------------------------------------------------------------ seeds needed

def brute_seeds(sd, dist, level=0.95, power=0.5):
    q = 1 - (1 - level) / 2
    for n in range(3, 100_000):
        if (stats.t.ppf(q, n - 1) + stats.t.ppf(power, n - 1)) * sd / math.sqrt(n) < dist:
            return n
    raise AssertionError


def test_seeds_needed_for_an_inconclusive_directional_result():
    v = [0.005 - 0.05, 0.005, 0.005 + 0.05]  # mean 0.005, sd 0.05
    assert decide(v, "greater", 0.02).verdict == INCONCLUSIVE
    # the interval decides as soon as lo > 0 (needs hw < 0.005) OR hi < 0.02 (needs hw < 0.015)
    n = seeds_needed(v, "greater", 0.02)
    assert n == brute_seeds(0.05, 0.015)
    assert 40 < n < 200
    assert seeds_needed(v, "greater", 0.02, power=0.8) == brute_seeds(0.05, 0.015, power=0.8) > n
    assert seeds_needed(v, "greater", 0.02, level=0.99) == brute_seeds(0.05, 0.015, level=0.99) > n


def test_seeds_needed_equivalence_and_noninferior():
    v = [0.01 - 0.04, 0.01, 0.01 + 0.04]
    assert seeds_needed(v, "equivalent", 0.03) == brute_seeds(0.04, 0.02)
    assert seeds_needed(v, "noninferior", 0.02) == brute_seeds(0.04, 0.03)
    assert seeds_needed(v, "less", 0.02) == brute_seeds(0.04, 0.03)  # lo > -δ: distance m + δ


def test_seeds_needed_never_below_three():
    assert seeds_needed(three(0.5, 0.01), "greater", 0.02) == 3


def test_seeds_needed_none_on_a_boundary_or_without_spread():
    assert seeds_needed([0.25, 0.5, 0.75], "equivalent", 0.5) is None  # mean exactly δ
    assert seeds_needed([-0.25, 0.0, 0.25], "greater", 0.0) is None   # mean exactly 0 with δ 0
    assert seeds_needed([0.3, 0.3, 0.3], "greater", 0.02) is None
    assert seeds_needed([0.3], "greater", 0.02) is None
    with pytest.raises(ValueError, match="power"):
        seeds_needed([0.1, 0.2, 0.3], "greater", 0.02, power=0.3)


# ------------------------------------------------------------------ multiplicity

def with_p(p, sd=1.0):
    """Three values whose one-sided t-test of mean > 0 has p-value ``p``."""
    m = stats.t.isf(p, 2) * sd / math.sqrt(3)
    return [m - sd, m, m + sd]


def test_holm_count_and_expected_false_verdicts():
    def card(ps):
        return [decide(with_p(p), "greater", 0.0) for p in ps]

    ds = card([0.001, 0.012, 0.02, 0.2])
    assert [d.p_value for d in ds[:3]] == pytest.approx([0.001, 0.012, 0.02], rel=1e-8)
    assert [d.verdict for d in ds] == [SHOWN, SHOWN, SHOWN, INCONCLUSIVE]
    # m = 4 tested: 0.001 < 0.025/4 passes; 0.012 < 0.025/3 fails and stops.
    assert holm_count(ds) == 1
    # 0.001 < 0.025/4, 0.008 < 0.025/3, 0.012 < 0.025/2 all pass.
    assert holm_count(card([0.001, 0.008, 0.012, 0.2])) == 3
    # The inconclusive finding is in the family: without it m = 3 and all three pass
    # (0.001 < 0.025/3, 0.012 < 0.025/2, 0.02 < 0.025).
    assert holm_count(card([0.001, 0.012, 0.02])) == 3
    untested = [decide([1.0, 2.0], "greater", 0.0), decide([0.4, 0.5, 0.6], "greater", 0.0, exact_by_construction=True)]
    assert holm_count(ds + untested) == 1
    assert expected_false_verdicts(ds + untested) == pytest.approx(4 * 0.025)
    assert expected_false_verdicts(ds, level=0.99) == pytest.approx(4 * 0.005)
    summary = multiplicity_summary(ds + untested)
    assert summary == {"findings": 6, "tested": 4, "decided": 3, "decided_holm": 1,
                       "expected_false_verdicts": pytest.approx(0.1), "level": 0.95}


def test_holm_uses_the_deciding_test_and_counts_not_shown():
    ns = decide([-0.001, 0.0, 0.001], "greater", 0.02)  # hi far below δ: not shown with a tiny p
    assert ns.verdict == NOT_SHOWN and ns.p_value == ns.p_not_shown < 1e-3
    assert holm_count([ns, decide(with_p(0.2), "greater", 0.0)]) == 1


def test_holm_refuses_mixed_levels_unless_told():
    ds = [decide(with_p(0.001), "greater", 0.0), decide(with_p(0.001), "greater", 0.0, level=0.99)]
    with pytest.raises(ValueError, match="levels"):
        holm_count(ds)
    assert holm_count(ds, level=0.95) == 2


def test_compound_decisions_count_once():
    c = decide_compound([(with_p(0.001), "greater", 0.0), (with_p(0.004), "greater", 0.0)])
    assert c.verdict == SHOWN and c.p_value == pytest.approx(0.004, rel=1e-8)  # intersection-union
    assert expected_false_verdicts([c]) == pytest.approx(0.025)
    assert holm_count([c, decide(with_p(0.3), "greater", 0.0)]) == 1  # 0.004 < 0.025 / 2


# ------------------------------------------------------------------ calibration of decide itself

def simulate(rng, studies, n, mean, sd, claim, delta, level=0.95):
    return [decide(rng.normal(mean, sd, size=n), claim, delta, level) for _ in range(studies)]


def rate(decisions, verdict):
    return float(np.mean([d.verdict == verdict for d in decisions]))


def mc_se(p, studies):
    return math.sqrt(p * (1 - p) / studies)


def calibration(studies, seed):
    rng = np.random.default_rng(seed)
    for n in (3, 5):
        df, t_crit = n - 1, stats.t.ppf(0.975, n - 1)
        # (a) no effect, claim "greater": shown at most 2.5 % (exactly 2.5 % for the t interval).
        a = simulate(rng, studies, n, 0.0, 1.0, "greater", 0.5)
        assert abs(rate(a, SHOWN) - 0.025) <= 3 * mc_se(0.025, studies), (n, rate(a, SHOWN))
        # (b) planted effect: shown at the power the noncentral t predicts.
        mu = {3: 2.6, 5: 1.3}[n]
        power = stats.nct.sf(t_crit, df, mu * math.sqrt(n))
        assert 0.3 < power < 0.8
        # a z interval would have much more "power": the check can tell them apart
        assert stats.nct.sf(1.96, df, mu * math.sqrt(n)) - power > 6 * mc_se(power, studies)
        b = simulate(rng, studies, n, mu, 1.0, "greater", 0.5)
        assert abs(rate(b, SHOWN) - power) <= 3 * mc_se(power, studies), (n, rate(b, SHOWN), power)
        # (c) equivalence with the true effect exactly at ±δ: TOST size at most 2.5 %.
        for edge in (+10.0, -10.0):
            c = simulate(rng, studies, n, edge, 1.0, "equivalent", 10.0)
            assert rate(c, SHOWN) <= 0.025 + 3 * mc_se(0.025, studies), (n, edge, rate(c, SHOWN))
        # (d) no effect, small noise, claim "greater", δ 0.02: not shown.
        d = simulate(rng, studies, n, 0.0, 0.002, "greater", 0.02)
        p_hi_below = stats.nct.cdf(-t_crit, df, -0.02 * math.sqrt(n) / 0.002)  # P(hi < δ)
        assert p_hi_below > 0.95
        r = rate(d, NOT_SHOWN)
        # not shown = hi < δ, less the (at most 2.5 %) studies with lo > 0, which are shown "smaller than δ"
        assert p_hi_below - 0.025 - 3 * mc_se(0.025, studies) <= r <= p_hi_below + 3 * mc_se(p_hi_below, studies)
        assert all(x.note == SMALLER_THAN_DELTA for x in d if x.verdict == SHOWN)


def test_calibration_fast():
    calibration(studies=400, seed=20240601)


@pytest.mark.slow
def test_calibration_slow():
    calibration(studies=4000, seed=20240602)


def test_exported_from_the_analysis_package():
    from rlhf_nb import analysis
    from rlhf_nb.analysis import bon_kl, decision

    assert analysis.decide is decision.decide and analysis.exact_bon_kl is bon_kl.exact_bon_kl
    assert decision.SHOWN == "shown"  # one set of verdict constants
