"""``compare_forms``: rank candidate forms by AICc and by a held-out extrapolation check.

Each form is fitted to all points (AICc, in-sample R²) and, separately, to the points at the
smaller x values only, to predict the mean at the largest x (the held-out check: a law that
fits but does not extrapolate is not a law). The table reports both rankings side by side; R²
is shown for information and never ranks.

What it does not do: pick a winner for you when the two rankings disagree, or bootstrap the
comparison (fit the chosen form with ``fit_curve`` for intervals).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .fitting import FitResult, fit_curve
from .forms import get_form
from .validation import as_float_array

COLUMNS = ["form", "n_params", "aicc", "delta_aicc", "aicc_weight", "aicc_rank", "heldout_x", "heldout_obs",
           "heldout_pred", "heldout_error", "heldout_abs_error", "heldout_rank", "r2", "flags", "note"]


def _fit(x, y, name, groups, x_is, bounds, n_boot, seed) -> FitResult:
    f = get_form(name)
    own_bounds = {k: v for k, v in (bounds or {}).items() if k == f.nonlinear} or None
    return fit_curve(x, y, name, groups, n_boot=n_boot, seed=seed, x_is=x_is if f.is_gao else None,
                     bounds=own_bounds)


def compare_forms(x, y, forms, groups=None, *, x_is: str | None = None, n_holdout: int = 1, n_boot: int = 0,
                  seed: int = 0, bounds: dict | None = None, return_fits: bool = False):
    """Fit every form; rank by AICc and by the error predicting the largest x from the rest.

    Args:
        forms: names of forms, e.g. ["saturating_power", "log_linear", "power"].
        groups: seed label per point, passed to ``fit_curve`` (used only when n_boot > 0).
        x_is: "kl" or "d", passed to the Gao forms only.
        n_holdout: how many of the largest distinct x values to hold out.
        n_boot: bootstrap resamples per full fit (0: none, fast).
        bounds: per nonlinear parameter, e.g. {"alpha": (1e-3, 2.0)}.
        return_fits: also return {form: FitResult} of the full-data fits.

    A form that cannot be fitted (e.g. a power law on y <= 0) gets a row of nan and its reason
    in ``note``. ``heldout_error`` is predicted minus observed mean at the largest x.

    >>> import numpy as np
    >>> x = np.geomspace(1, 1e4, 20)
    >>> table = compare_forms(x, 0.55 + 0.03 * np.log(x), ["log_linear", "power"])
    >>> table.form.iloc[0]
    'log_linear'
    """
    x_arr, y_arr = as_float_array(x, "x"), as_float_array(y, "y")
    if len(x_arr) != len(y_arr):
        raise ValueError(f"length mismatch: x has {len(x_arr)} values, y has {len(y_arr)}")
    if isinstance(forms, str):
        forms = [forms]
    if not forms:
        raise ValueError("forms is empty: name at least one form")
    if n_holdout < 1:
        raise ValueError(f"n_holdout must be >= 1, got {n_holdout}")
    distinct = np.unique(x_arr[np.isfinite(x_arr)])
    held = distinct[-n_holdout:] if len(distinct) > n_holdout else distinct[:0]
    train = ~np.isin(x_arr, held)
    rows, fits = [], {}
    for name in forms:
        n_params = get_form(name).n_params
        row = dict.fromkeys(COLUMNS, np.nan)
        row.update(form=name, n_params=n_params, flags="", note="")
        try:
            fit = _fit(x_arr, y_arr, name, groups, x_is, bounds, n_boot, seed)
        except ValueError as err:
            row["note"] = f"not fitted: {err}"
            rows.append(row)
            continue
        fits[name] = fit
        row.update(aicc=fit.aicc, r2=fit.r2, flags="; ".join(fl.value for fl in fit.flags))
        if len(held):
            try:
                small = _fit(x_arr[train], y_arr[train], name, None, x_is, bounds, 0, seed)
                obs = np.array([y_arr[x_arr == h].mean() for h in held])
                pred = small.predict(held)
                row.update(heldout_x=float(held[-1]), heldout_obs=float(obs[-1]), heldout_pred=float(pred[-1]),
                           heldout_error=float(pred[-1] - obs[-1]),
                           heldout_abs_error=float(np.mean(np.abs(pred - obs))))
            except ValueError as err:
                row["note"] = f"held-out fit failed: {err}"
        rows.append(row)
    table = pd.DataFrame(rows, columns=COLUMNS)
    if table["aicc"].notna().any():
        table["delta_aicc"] = table["aicc"] - table["aicc"].min()
        weights = np.exp(-0.5 * table["delta_aicc"])
        table["aicc_weight"] = weights / weights.sum()
        table["aicc_rank"] = table["aicc"].rank(method="min")
    table["heldout_rank"] = table["heldout_abs_error"].rank(method="min")
    table = table.sort_values(["aicc_rank", "heldout_rank"], na_position="last").reset_index(drop=True)
    return (table, fits) if return_fits else table
