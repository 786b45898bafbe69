"""fit_curve: recovery, flags, intervals. Fast versions of the Monte-Carlo cases in
test_analysis_slow.py; tolerances are from simulations with these seeds' generators (see
there for the full-size numbers)."""
import numpy as np
import pytest

from rlhf_nb.analysis import Flag, fit_curve
from rlhf_nb.analysis.bootstrap import resample_indices
from rlhf_nb.analysis.fitting import _flags
from rlhf_nb.analysis.forms import get_form
from rlhf_nb.analysis.solvers import Estimate

X_LONG = np.geomspace(1, 1e4, 20)
X_SHORT = np.geomspace(1, 30, 20)


def _satpow(x, rng, sd=0.02):
    return 2 + 5 * x**-0.3 + rng.normal(0, sd, x.size)


def test_saturating_power_noise_free_recovery_to_1e6():
    fit = fit_curve(X_LONG, 2 + 5 * X_LONG**-0.3, "saturating_power", n_boot=0)
    for k, v in {"E": 2.0, "A": 5.0, "alpha": 0.3}.items():
        assert fit.params[k] == pytest.approx(v, rel=1e-6)
    assert fit.flags == []


def test_saturating_power_recovery_fast():
    # 95th percentile of |alpha error| is ~0.0067 over 300 seeds; 30 seeds give a noisier percentile.
    rng = np.random.default_rng(0)
    err = [fit_curve(X_LONG, _satpow(X_LONG, rng), "saturating_power", n_boot=0).params["alpha"] - 0.3
           for _ in range(30)]
    assert np.percentile(np.abs(err), 95) < 0.010
    assert abs(np.mean(err)) < 0.003  # no systematic bias


def test_short_range_is_flagged_and_wider():
    rng = np.random.default_rng(1)
    long = fit_curve(X_LONG, _satpow(X_LONG, rng), "saturating_power", n_boot=200, seed=0)
    short = fit_curve(X_SHORT, _satpow(X_SHORT, rng), "saturating_power", n_boot=200, seed=0)
    assert Flag.WEAK_ASYMPTOTE in short.flags and Flag.WEAK_ASYMPTOTE not in long.flags
    assert "1.48 decades" in " ".join(short.notes)
    width = {name: f.ci["E"][1] - f.ci["E"][0] for name, f in (("long", long), ("short", short))}
    assert width["short"] > 3 * width["long"]


def test_exponent_at_bound_is_flagged():
    fit = fit_curve(X_LONG, 2 + 5 * X_LONG**-3.0, "saturating_power", bounds={"alpha": (1e-3, 2.5)}, n_boot=0)
    assert Flag.AT_BOUND in fit.flags and Flag.AT_GRID_EDGE in fit.flags
    assert any("upper bound 2.5" in n for n in fit.notes)
    free = fit_curve(X_LONG, 2 + 5 * X_LONG**-3.0, "saturating_power", bounds={"alpha": (1e-3, 4.0)}, n_boot=0)
    assert Flag.AT_BOUND not in free.flags and free.params["alpha"] == pytest.approx(3.0, rel=1e-6)


def test_log_linear_truth_puts_saturating_exponent_on_lower_bound():
    fit = fit_curve(X_LONG, 0.55 + 0.03 * np.log(X_LONG), "saturating_power", n_boot=0)
    assert Flag.AT_BOUND in fit.flags and any("lower bound" in n for n in fit.notes)


def test_exp_saturation_recovery_and_weak_plateau_flag():
    rng = np.random.default_rng(2)
    x = np.repeat([1, 2, 4, 8, 16, 32, 64.0], 3)
    fit = fit_curve(x, 0.8 - 0.4 * np.exp(-x / 4) + rng.normal(0, 0.01, x.size), "exp_saturation",
                    np.tile([0, 1, 2], 7), n_boot=200)
    assert fit.params["k"] == pytest.approx(4.0, rel=0.1) and fit.params["c"] == pytest.approx(0.8, abs=0.01)
    assert fit.ci["k"][0] < 4.0 < fit.ci["k"][1] and fit.resampled == "groups"
    assert fit.flags == []
    early = np.array([0, 1, 2, 3, 4.0])
    short = fit_curve(early, 0.8 - 0.4 * np.exp(-early / 4), "exp_saturation", n_boot=0)
    assert Flag.WEAK_ASYMPTOTE in short.flags


def test_gao_rl_recovery_fast_and_peak():
    # 95th percentiles of |error| over 300 seeds: alpha 0.012, beta 0.0066 (20 KL log-spaced in 0.5..100).
    rng = np.random.default_rng(3)
    kl = np.geomspace(0.5, 100, 20)
    d = np.sqrt(kl)
    fits = [fit_curve(kl, d * (0.35 - 0.12 * np.log(d)) + rng.normal(0, 0.03, 20), "gao_rl", x_is="kl", n_boot=0)
            for _ in range(40)]
    ea = np.abs([f.params["alpha"] - 0.35 for f in fits])
    eb = np.abs([f.params["beta"] - 0.12 for f in fits])
    assert np.percentile(ea, 95) < 0.016 and np.percentile(eb, 95) < 0.009
    assert np.median([f.derived["kl_star"] for f in fits]) == pytest.approx(46, abs=2)
    assert all(Flag.PEAK_EXTRAPOLATED not in f.flags for f in fits)


def test_gao_bon_peak_beyond_data_is_an_extrapolation():
    rng = np.random.default_rng(4)
    kl = np.linspace(0, 10, 12)  # d up to 3.2; the peak is at d* = 5
    d = np.sqrt(kl)
    fit = fit_curve(kl, 0.5 * d - 0.05 * d**2 + rng.normal(0, 0.01, kl.size), "gao_bon", x_is="kl", n_boot=200)
    assert Flag.PEAK_EXTRAPOLATED in fit.flags
    assert any("extrapolation" in n for n in fit.notes)
    assert fit.derived_ci["d_star"][0] < 5.0 < fit.derived_ci["d_star"][1]
    inside = fit_curve(np.linspace(0, 40, 12), 0.5 * np.sqrt(np.linspace(0, 40, 12)) - 0.05 * np.linspace(0, 40, 12),
                       "gao_bon", x_is="kl", n_boot=0)
    assert Flag.PEAK_EXTRAPOLATED not in inside.flags


def test_gao_without_peak_is_flagged():
    d = np.linspace(0, 3, 10)
    fit = fit_curve(d, 0.5 * d + 0.01 * d**2, "gao_bon", x_is="d", n_boot=100)
    assert Flag.NO_PEAK in fit.flags and fit.derived["d_star"] == np.inf
    assert fit.derived_ci["d_star"] == (np.inf, np.inf)


def test_power_law_fits_in_log_space():
    rng = np.random.default_rng(5)
    x = np.geomspace(1, 1e3, 12)
    fit = fit_curve(x, 3 * x**0.5 * np.exp(rng.normal(0, 0.05, x.size)), "power", n_boot=200)
    assert fit.params["b"] == pytest.approx(0.5, abs=0.05)
    assert fit.ci["b"][0] < 0.5 < fit.ci["b"][1]
    assert fit.wald_ci["c"][0] < 3 < fit.wald_ci["c"][1]


def test_bootstrap_is_seeded():
    rng = np.random.default_rng(6)
    y = _satpow(X_LONG, rng)
    a = fit_curve(X_LONG, y, "saturating_power", n_boot=100, seed=0)
    b = fit_curve(X_LONG, y, "saturating_power", n_boot=100, seed=0)
    c = fit_curve(X_LONG, y, "saturating_power", n_boot=100, seed=1)
    assert a.ci == b.ci and a.derived_ci == b.derived_ci
    assert a.ci != c.ci
    assert a.ci["alpha"][0] < a.params["alpha"] < a.ci["alpha"][1]


def test_groups_are_resampled_whole():
    x = np.tile(np.geomspace(1, 1e3, 8), 3)
    seeds = np.repeat([10, 11, 12], 8)
    y = 0.8 - 0.3 * x**-0.5 + np.repeat([0.01, -0.02, 0.005], 8) + np.linspace(-0.003, 0.003, x.size)
    by_seed = fit_curve(x, y, "saturating_power", seeds, n_boot=100)
    by_point = fit_curve(x, y, "saturating_power", n_boot=100)
    assert by_seed.resampled == "groups" and by_point.resampled == "points"
    # Three seeds drawn whole with replacement make at most 10 distinct resamples (multisets of 3).
    assert len(np.unique(by_seed.boot_params[:, 0].round(6))) <= 10
    assert len(np.unique(by_point.boot_params[:, 0].round(6))) > 50


def test_resample_indices_keep_groups_together():
    groups = np.repeat(["a", "b", "c", "d"], [2, 3, 1, 4])
    rng = np.random.default_rng(0)
    for _ in range(20):
        idx = resample_indices(groups.size, groups, rng)
        drawn = groups[idx]
        for g in np.unique(drawn):
            assert (drawn == g).sum() % (groups == g).sum() == 0  # whole copies only


def test_few_groups_fall_back_to_points_and_say_so():
    x = np.tile([1, 2, 4, 8, 16.0], 2)
    y = 0.5 + 0.05 * np.log(x) + np.tile([0.01, -0.01], 5)
    fit = fit_curve(x, y, "log_linear", np.repeat([0, 1], 5), n_boot=50)
    assert Flag.FEW_GROUPS in fit.flags and fit.resampled == "points"


def test_many_failed_resamples_are_flagged():
    # Four distinct x, one point each: most point resamples lose an x and cannot be refitted.
    x = np.array([1, 10, 100, 1000.0])
    fit = fit_curve(x, 2 + 5 * x**-0.3 + np.array([0.01, -0.01, 0.0, 0.01]), "saturating_power", n_boot=50)
    assert Flag.BOOTSTRAP_FAILURES in fit.flags and fit.n_boot_failed > 25
    assert np.isnan(fit.aicc)  # n = 4 is too few for AICc with 3 parameters and a variance


def test_disagreeing_starts_are_flagged():
    form = get_form("saturating_power")
    a = {"E": 2.0, "A": 5.0, "alpha": 0.3}
    b = {"E": 1.0, "A": 6.0, "alpha": 0.2}
    est = Estimate(params=a, sse=1.0, grid_index=50, starts=[{**a, "sse": 1.0}, {**b, "sse": 1.0}])
    flags, _ = _flags(form, est, X_LONG, X_LONG, (1e-3, 5.0), form.derived(a, 1.0, 1e4, 0.9))
    assert flags == [Flag.STARTS_DISAGREE]
    est.starts[1]["sse"] = 1.5  # a worse local minimum is not a disagreement
    flags, _ = _flags(form, est, X_LONG, X_LONG, (1e-3, 5.0), form.derived(a, 1.0, 1e4, 0.9))
    assert flags == []


def test_result_surface():
    x = np.geomspace(1, 100, 8)
    fit = fit_curve(x, 0.5 + 0.05 * np.log(x) + np.linspace(-0.005, 0.005, 8), "log_linear", n_boot=50)
    assert set(fit.params) == set(fit.ci) == set(fit.wald_ci) == {"a", "b"}
    assert set(fit.derived) == set(fit.derived_ci)
    assert fit.table().shape == (len(fit.params) + len(fit.derived), 5)
    lo, hi = fit.predict_band(x)
    assert (lo <= fit.predict(x) + 1e-12).all() and (fit.predict(x) <= hi + 1e-12).all()
    assert "log_linear" in str(fit) and np.isfinite(fit.aicc) and 0.9 < fit.r2 <= 1
    with pytest.raises(ValueError, match="n_boot > 0"):
        fit_curve(x, fit.predict(x) + 0.01 * np.sin(x), "log_linear", n_boot=0).predict_band(x)
