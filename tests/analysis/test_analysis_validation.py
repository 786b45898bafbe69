"""Every degenerate input raises ValueError naming the problem (docs/fitting.md, "Bad input")."""
import numpy as np
import pytest

from rlhf_nb.analysis import FORMS, compare_forms, fit_curve

X = np.array([1.0, 2.0, 4.0, 8.0, 16.0, 32.0])
Y = np.array([0.50, 0.60, 0.66, 0.70, 0.72, 0.73])


def _fit(x, y, form="saturating_power", **kw):
    if form in FORMS and FORMS[form].is_gao:
        kw.setdefault("x_is", "kl")
    return fit_curve(x, y, form, n_boot=0, **kw)


@pytest.mark.parametrize("form", sorted(FORMS))
def test_non_finite_y_names_the_indices(form):
    y = Y.copy()
    y[[1, 4]] = [np.nan, np.inf]
    with pytest.raises(ValueError, match=r"y has non-finite values .* indices \[1, 4\]"):
        _fit(X, y, form)


@pytest.mark.parametrize("form", sorted(FORMS))
def test_non_finite_x_names_the_indices(form):
    x = X.copy()
    x[2] = np.nan
    with pytest.raises(ValueError, match=r"x has non-finite values .* indices \[2\]"):
        _fit(x, Y, form)


@pytest.mark.parametrize("form", ["power", "saturating_power", "log_linear"])
def test_x_not_positive_for_power_and_log_forms(form):
    x = X.copy()
    x[0] = 0.0
    with pytest.raises(ValueError, match=r"x <= 0 at indices \[0\].*must be > 0"):
        _fit(x, Y, form)


@pytest.mark.parametrize("form", ["exp_saturation", "gao_bon", "gao_rl"])
def test_negative_x_refused_but_zero_accepted(form):
    x = X - 1.0  # starts at 0: accepted
    _fit(x, Y, form)
    x[3] = -0.5
    with pytest.raises(ValueError, match=r"x < 0 at indices \[3\]"):
        _fit(x, Y, form)


def test_log_space_fit_needs_positive_y():
    y = Y - 0.6
    with pytest.raises(ValueError, match=r"y <= 0 at indices \[0, 1\].*log space"):
        _fit(X, y, "power")
    _fit(X, y, "log_linear")  # the same y is fine for a form fitted on the y scale


@pytest.mark.parametrize("form", sorted(FORMS))
def test_too_few_distinct_x(form):
    need = FORMS[form].n_params + 1
    x = np.repeat(X[: need - 1], 3)  # many points, one distinct x short
    y = np.linspace(0.4, 0.8, x.size)
    with pytest.raises(ValueError, match=rf"needs at least {need} distinct x values, got {need - 1}"):
        _fit(x, y, form)


@pytest.mark.parametrize("form", sorted(FORMS))
def test_constant_y(form):
    with pytest.raises(ValueError, match="y is constant"):
        _fit(X, np.full(X.size, 0.7), form)


@pytest.mark.parametrize("form", sorted(FORMS))
def test_length_mismatch(form):
    with pytest.raises(ValueError, match="length mismatch: x has 6 values, y has 5"):
        _fit(X, Y[:5], form)


def test_groups_length_mismatch_and_missing_labels():
    with pytest.raises(ValueError, match="groups has 3 values"):
        _fit(X, Y, groups=[0, 1, 2])
    with pytest.raises(ValueError, match=r"groups has missing labels at indices \[2\]"):
        _fit(X, Y, groups=[0, 1, None, 0, 1, 0])


def test_empty_and_multidimensional_input():
    with pytest.raises(ValueError, match="empty"):
        _fit([], [])
    with pytest.raises(ValueError, match="one-dimensional"):
        _fit(np.ones((3, 2)), np.ones((3, 2)))


def test_long_index_lists_are_truncated_with_a_count():
    x = np.arange(1.0, 31.0)
    y = np.full(30, np.nan)
    with pytest.raises(ValueError, match=r"\.\.\. \(30 in all\)"):
        _fit(x, y, "log_linear")


def test_gao_forms_require_x_is_and_others_refuse_it():
    with pytest.raises(ValueError, match="x_is='kl'.*x_is='d'"):
        fit_curve(X, Y, "gao_rl", n_boot=0)
    with pytest.raises(ValueError, match="Gao forms only"):
        fit_curve(X, Y, "log_linear", n_boot=0, x_is="kl")


def test_bad_options():
    with pytest.raises(ValueError, match="unknown form 'cubic'"):
        _fit(X, Y, "cubic")
    with pytest.raises(ValueError, match="0 < low < high"):
        _fit(X, Y, bounds={"alpha": (2.0, 1.0)})
    with pytest.raises(ValueError, match=r"bounds names \['k'\]"):
        _fit(X, Y, bounds={"k": (0.1, 1.0)})
    with pytest.raises(ValueError, match="takes no bounds"):
        _fit(X, Y, "log_linear", bounds={"alpha": (0.1, 1.0)})
    with pytest.raises(ValueError, match="q and level"):
        _fit(X, Y, q=1.5)


def test_compare_forms_validates_too():
    with pytest.raises(ValueError, match="length mismatch"):
        compare_forms(X, Y[:4], ["log_linear"])
    with pytest.raises(ValueError, match="forms is empty"):
        compare_forms(X, Y, [])
