"""The ScaleRL sigmoid R(C) = R0 + (A - R0) / (1 + (C_mid / C)^B): recovery, flags, degenerate input, forecast.

Tolerances come from simulation (100 seeds of the design below: 21 points, C = 0 and 20
log-spaced values over four decades around C_mid, noise sd 0.01; the 95th percentile of |A error|
was about 0.006 and of |ln B error| about 0.11 with R0 fixed), doubled.
"""
from __future__ import annotations

import doctest

import numpy as np
import pytest

from rlhf_nb.analysis.fitting import Flag
from rlhf_nb.analysis.forms import SCALERL_FORM, scalerl_share
from rlhf_nb.analysis.scalerl import fit_scalerl, forecast_check

TRUTH = {"R0": 0.4, "A": 0.85, "C_mid": 1e14, "B": 1.5}
C = np.r_[0.0, np.geomspace(1e12, 1e16, 20)]


def curve(c=C, **overrides):
    return SCALERL_FORM.predict({**TRUTH, **overrides}, np.asarray(c, dtype=float))


def test_the_form_is_the_papers_equation_and_starts_at_r0():
    c = np.array([0.0, 1e13, 1e14, 1e15])
    expected = 0.4 + 0.45 / (1 + (1e14 / c[1:]) ** 1.5)
    assert curve(c)[0] == pytest.approx(0.4)
    np.testing.assert_allclose(curve(c)[1:], expected, rtol=1e-12)
    assert scalerl_share(np.array([1e300]), 1.0, 2.0)[0] == pytest.approx(1.0)  # no overflow far out


def test_jacobian_matches_finite_differences():
    c = C[1:]
    jac = SCALERL_FORM.jacobian(TRUTH, c)
    for k, name in enumerate(SCALERL_FORM.param_names):
        h = 1e-6 * max(abs(TRUTH[name]), 1e-3)
        up, down = dict(TRUTH), dict(TRUTH)
        up[name] += h
        down[name] -= h
        numeric = (SCALERL_FORM.predict(up, c) - SCALERL_FORM.predict(down, c)) / (2 * h)
        np.testing.assert_allclose(jac[:, k], numeric, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("r0", [0.4, None])
def test_noise_free_recovery(r0):
    fit = fit_scalerl(C, curve(), r0=r0)
    for name, value in TRUTH.items():
        assert fit.params[name] == pytest.approx(value, rel=1e-6)
    assert fit.flags == [] and fit.r0_fixed is (r0 is not None)


def test_derived_quantities_equal_their_closed_forms():
    fit = fit_scalerl(C, curve(), r0=0.4, q=0.9)
    c90 = fit.derived["c_q"]
    assert c90 == pytest.approx(1e14 * 9 ** (1 / 1.5), rel=1e-6)
    assert fit.predict([c90])[0] == pytest.approx(0.4 + 0.9 * 0.45, rel=1e-9)
    assert fit.derived["share_reached_at_x_last"] == pytest.approx(1 / (1 + (1e14 / 1e16) ** 1.5), rel=1e-6)


def test_noisy_recovery_over_seeds():
    errors = []
    for seed in range(100):
        y = curve() + np.random.default_rng(seed).normal(0, 0.01, len(C))
        fit = fit_scalerl(C, y, r0=0.4)
        errors.append((fit.params["A"] - 0.85, np.log(fit.params["B"] / 1.5)))
    errors = np.array(errors)
    p95 = np.percentile(np.abs(errors), 95, axis=0)
    assert p95[0] < 0.012 and p95[1] < 0.22
    assert abs(np.median(errors[:, 0])) < 0.003  # no systematic pull on the asymptote


def test_data_that_stop_before_the_midpoint_flag_the_asymptote():
    c = np.r_[0.0, np.geomspace(1e11, 3e13, 10)]
    y = curve(c) + np.random.default_rng(0).normal(0, 0.005, len(c))
    fit = fit_scalerl(c, y, r0=0.4)
    assert Flag.WEAK_ASYMPTOTE in fit.flags or Flag.AT_BOUND in fit.flags
    assert any("extrapolation" in n or "bound" in n for n in fit.notes)


def test_an_asymptote_past_one_is_flagged_at_its_bound():
    y = np.clip(curve(A=1.3), None, None)  # a pass rate that would pass 1: A is held at 1 and flagged
    fit = fit_scalerl(C, y, r0=0.4)
    assert fit.params["A"] == pytest.approx(1.0)
    assert Flag.AT_BOUND in fit.flags and any("A = 1" in n for n in fit.notes)


@pytest.mark.parametrize("x, y, kwargs, message", [
    ([0, 1, 2], [0.1, 0.2], {}, "length mismatch"),
    ([0, 1, 2, 3, 4, np.nan], [0.1, 0.2, 0.3, 0.4, 0.5, 0.6], {}, "x has non-finite"),
    ([0, 1, 2, 3, 4, 5], [0.1, 0.2, np.inf, 0.4, 0.5, 0.6], {}, "y has non-finite"),
    ([-1, 1, 2, 3, 4, 5], [0.1, 0.2, 0.3, 0.4, 0.5, 0.6], {}, "x < 0"),
    ([0, 1, 2, 3, 4, 5], [0.3] * 6, {}, "constant"),
    ([0, 1, 2, 3], [0.1, 0.2, 0.3, 0.35], {}, "too few distinct"),
    ([0, 1, 2, 3], [0.1, 0.2, 0.3, 0.35], {"r0": 0.1}, "needs at least 4 distinct C > 0"),
    ([0, 1, 2, 3, 4, 5], [0.1, 0.2, 0.3, 0.4, 0.5, 0.6], {"r0": float("nan")}, "r0="),
    ([0, 1, 2, 3, 4, 5], [0.1, 0.2, 0.3, 0.4, 0.5, 0.6], {"b_bounds": (0.0, 2.0)}, "b_bounds"),
    ([], [], {}, "empty"),
])
def test_degenerate_input_is_refused_by_name(x, y, kwargs, message):
    with pytest.raises(ValueError, match=message):
        fit_scalerl(x, y, **kwargs)


def test_forecast_from_the_first_half_of_compute():
    c = np.linspace(0, 2e14, 21)  # linear in compute, as tracked RL steps are
    y = curve(c, C_mid=3e13)
    out = forecast_check(c, y, r0=0.4)
    assert out["points_fitted"] == 11 and out["reason"] == ""
    assert out["observed"] == pytest.approx(y[-1])
    assert abs(out["error"]) < 1e-6


def test_a_forecast_without_enough_early_points_says_why():
    c = np.linspace(0, 6e13, 7)
    out = forecast_check(c, curve(c), r0=0.4)
    assert np.isnan(out["error"]) and "too few distinct compute values" in out["reason"]
    assert out["observed"] == pytest.approx(curve(c)[-1])


def test_docstring_examples():
    import rlhf_nb.analysis.scalerl as module

    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0
