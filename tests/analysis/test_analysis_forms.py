"""Closed-form diminishing-return quantities: equal to the formulas on noise-free data (1e-9),
and consistent with the fitted curve itself on noisy data (they mean what their names say)."""
import numpy as np
import pytest

from rlhf_nb.analysis import bon_kl_bound, fit_curve

REL = 1e-9
Q = 0.9


def _close(got: dict, want: dict, rel=REL):
    for k, v in want.items():
        assert got[k] == pytest.approx(v, rel=rel, abs=1e-12), k


def test_saturating_power_closed_forms_noise_free():
    E, A, alpha = 2.0, 5.0, 0.3
    x = np.geomspace(1, 1e4, 20)
    fit = fit_curve(x, E + A * x**-alpha, "saturating_power", n_boot=0)
    _close(fit.params, {"E": E, "A": A, "alpha": alpha}, rel=1e-6)
    x0, xl = 1.0, 1e4
    _close(fit.derived, {
        "gain_first_doubling": -A * x0**-alpha * (1 - 2**-alpha),
        "gain_last_doubling": -A * (xl / 2) ** -alpha * (1 - 2**-alpha),
        "last_to_first_gain_ratio": (xl / 2 / x0) ** -alpha,
        "gap_closed_per_doubling": 1 - 2**-alpha,
        "x_q": x0 * (1 - Q) ** (-1 / alpha),
    })


def test_log_linear_and_power_closed_forms_noise_free():
    x = np.geomspace(2, 512, 9)
    fit = fit_curve(x, 0.55 + 0.03 * np.log(x), "log_linear", n_boot=0)
    _close(fit.derived, {"gain_per_doubling": 0.03 * np.log(2), "gain_first_doubling": 0.03 * np.log(2),
                         "last_to_first_gain_ratio": 1.0})
    fit = fit_curve(x, 3.0 * x**0.4, "power", n_boot=0)
    _close(fit.params, {"c": 3.0, "b": 0.4})
    _close(fit.derived, {"factor_per_doubling": 2**0.4, "gain_first_doubling": 3.0 * 2**0.4 * (2**0.4 - 1),
                         "last_to_first_gain_ratio": (512 / 2 / 2) ** 0.4})


def test_exp_saturation_closed_forms_noise_free():
    c, y0, k = 0.8, 0.4, 4.0
    x = np.array([0, 1, 2, 4, 8, 16, 32, 64.0])
    fit = fit_curve(x, c - (c - y0) * np.exp(-x / k), "exp_saturation", n_boot=0)
    _close(fit.params, {"c": c, "y0": y0, "k": k}, rel=1e-7)
    y1 = c - (c - y0) * np.exp(-1 / k)  # the first positive x is 1
    _close(fit.derived, {"gain_first_doubling": (c - y1) * (1 - np.exp(-1 / k)), "x_q": k * np.log(1 / (1 - Q))},
           rel=1e-7)


def test_gao_closed_forms_noise_free():
    kl = np.linspace(0, 60, 13)  # includes d = 0
    d = np.sqrt(kl)
    bon = fit_curve(kl, 0.5 * d - 0.06 * d**2, "gao_bon", x_is="kl", n_boot=0)
    _close(bon.params, {"alpha": 0.5, "beta": 0.06})
    d_star = 0.5 / (2 * 0.06)
    _close(bon.derived, {"d_star": d_star, "kl_star": d_star**2, "r_star": 0.5**2 / (4 * 0.06)})

    rl = fit_curve(kl, d * (0.35 - 0.12 * np.log(np.where(d > 0, d, 1))), "gao_rl", x_is="kl", n_boot=0)
    _close(rl.params, {"alpha": 0.35, "beta": 0.12})
    d_star = np.exp(0.35 / 0.12 - 1)
    _close(rl.derived, {"d_star": d_star, "kl_star": d_star**2, "r_star": 0.12 * d_star,
                        "d_zero": np.exp(0.35 / 0.12), "kl_zero": np.exp(0.35 / 0.12) ** 2})
    assert rl.derived["kl_star"] == pytest.approx(46.2, abs=0.1)  # the peak of docs/fitting.md


def test_derived_quantities_mean_what_they_say_on_noisy_fits():
    rng = np.random.default_rng(7)
    x = np.geomspace(1, 1e3, 15)
    fit = fit_curve(x, 0.8 - 0.3 * x**-0.5 + rng.normal(0, 0.01, x.size), "saturating_power", n_boot=0)
    p = fit.predict
    assert fit.derived["gain_first_doubling"] == pytest.approx(p(2.0)[()] - p(1.0)[()], rel=REL)
    assert fit.derived["gain_last_doubling"] == pytest.approx(p(1e3)[()] - p(500.0)[()], rel=REL)
    gap_closed = (p(fit.derived["x_q"]) - p(1.0)) / (fit.params["E"] - p(1.0))
    assert gap_closed[()] == pytest.approx(Q, rel=REL)
    assert 1 - (fit.params["E"] - p(2 * 7.0)) / (fit.params["E"] - p(7.0)) == pytest.approx(
        fit.derived["gap_closed_per_doubling"], rel=REL)

    kl = np.linspace(0.5, 100, 20)
    d = np.sqrt(kl)
    rl = fit_curve(kl, d * (0.35 - 0.12 * np.log(d)) + rng.normal(0, 0.03, 20), "gao_rl", x_is="kl", n_boot=0)
    k_star, k_zero = rl.derived["kl_star"], rl.derived["kl_zero"]
    assert rl.predict(k_star)[()] == pytest.approx(rl.derived["r_star"], rel=REL)
    assert rl.predict(k_zero)[()] == pytest.approx(0.0, abs=1e-12)
    near = rl.predict(k_star * np.array([0.99, 1.01]))
    assert (near < rl.derived["r_star"]).all()  # a maximum, not just a stationary point


def test_gao_x_is_kl_and_d_give_the_same_fit():
    kl = np.linspace(0, 20, 9)
    d = np.sqrt(kl)
    y = 0.4 * d - 0.05 * d**2 + np.linspace(-0.01, 0.01, 9)
    a = fit_curve(kl, y, "gao_bon", x_is="kl", n_boot=0)
    b = fit_curve(d, y, "gao_bon", x_is="d", n_boot=0)
    _close(a.params, b.params)
    assert a.predict(kl) == pytest.approx(b.predict(d), rel=REL)
    assert a.derived["kl_star"] == pytest.approx(b.derived["kl_star"], rel=REL)


def test_gao_rl_is_finite_at_d_zero():
    kl = np.array([0.0, 1.0, 4.0, 9.0, 16.0])
    d = np.sqrt(kl)
    fit = fit_curve(kl, d * (0.35 - 0.12 * np.log(np.where(d > 0, d, 1))), "gao_rl", x_is="kl", n_boot=0)
    pred = fit.predict(kl)
    assert np.isfinite(pred).all() and pred[0] == 0.0


def test_bon_kl_bound():
    n = np.array([1, 2, 4, 64])
    assert bon_kl_bound(n) == pytest.approx(np.log(n) - (n - 1) / n, rel=REL)
    assert bon_kl_bound(1)[()] == 0.0 and (np.diff(bon_kl_bound(n)) > 0).all()
    with pytest.raises(ValueError, match="n >= 1"):
        bon_kl_bound([0, 4])
