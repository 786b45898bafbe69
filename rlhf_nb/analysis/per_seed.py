"""Per-seed numbers a finding is decided on: least-squares slopes and linear Gao fits of one run or one seed.

The decision protocol (``docs/findings.md``) reduces each seed to one number; these are the
reductions several axes share, written once:

- :func:`slope`: the least-squares slope of y on x over the finite points;
- :func:`row_slopes`: that slope for every row (seed) of a wide table;
- :func:`linear_form_fit`: the coefficients of a form that is linear in its parameters (the
  Gao best-of-n and RL forms, :mod:`rlhf_nb.analysis.forms`) by least squares, for one curve.

What it does not do: decide (see :mod:`rlhf_nb.analysis.decision`) or give intervals.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .forms import Form


def slope(x, y, min_distinct: int = 2) -> float:
    """Least-squares slope of ``y`` on ``x`` (1-D, same length) over the finite pairs; NaN under ``min_distinct``
    distinct x (a claim "over at least 3 sizes" gives no value to a seed that covers fewer).

    >>> slope([0, 1, 2], [1.0, 3.0, 5.0])
    2.0
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if np.unique(x).size < max(min_distinct, 2):
        return float("nan")
    xc = x - x.mean()
    return float(xc @ (y - y.mean()) / (xc @ xc))


def row_slopes(wide: pd.DataFrame, x, min_distinct: int = 2) -> pd.Series:
    """:func:`slope` of each row of ``wide`` (index seed, one column per grid point) on ``x`` (one value per column)."""
    x = np.asarray(x, dtype=float)
    return pd.Series([slope(x, row, min_distinct) for row in wide.to_numpy(dtype=float)], index=wide.index,
                     dtype=float)


def linear_form_fit(form: Form, d, y, min_distinct: int = 2) -> dict[str, float]:
    """Parameters of ``form`` (linear in them, e.g. Gao's best-of-n and RL forms in d = sqrt(KL)) fitted by least
    squares through the origin to one curve.

    Non-finite points are dropped; with fewer than ``min_distinct`` distinct d > 0 the parameters
    are not identified and every one is NaN. Returns ``{name: value}`` as :meth:`Form.from_coefs`.
    """
    d, y = np.asarray(d, dtype=float), np.asarray(y, dtype=float)
    ok = np.isfinite(d) & np.isfinite(y)
    d, y = d[ok], y[ok]
    if np.unique(d[d > 0]).size < max(min_distinct, form.n_params):
        return dict.fromkeys(form.param_names, float("nan"))
    coef, *_ = np.linalg.lstsq(form.basis(d, None), y, rcond=None)
    return dict(form.from_coefs(coef, None))
