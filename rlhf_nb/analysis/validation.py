"""Input checks run before every fit, so bad data fails loudly instead of fitting quietly.

scipy often returns a meaningless answer to bad input without a warning. Every public fit
function calls :func:`check_xy` first; it raises ``ValueError`` naming the problem and, where
it is a per-point problem, the indices.

What it does not do: clean data (no dropping, clipping or imputing). The caller decides.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from .forms import Form

_MAX_SHOWN = 10


def _indices(mask: np.ndarray) -> str:
    idx = np.flatnonzero(mask).tolist()
    more = f" ... ({len(idx)} in all)" if len(idx) > _MAX_SHOWN else ""
    return f"{idx[:_MAX_SHOWN]}{more}"


def as_float_array(values, name: str) -> np.ndarray:
    """A 1-D float array from a list, array or Series; ValueError if that is impossible.

    >>> as_float_array([1, 2], "x")
    array([1., 2.])
    """
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be numeric: {err}") from None
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    return arr


def check_xy(x, y, form: Form, groups: Sequence | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Validate x, y (and optional groups) for ``form``; return them as arrays.

    Checks, in order: lengths, emptiness, non-finite x or y, x outside the form's domain,
    y <= 0 for a log-space fit, too few distinct x, constant y.

    >>> from rlhf_nb.analysis.forms import get_form
    >>> check_xy([1, 2, 4], [1.0, float("nan"), 2.0], get_form("log_linear"))
    Traceback (most recent call last):
    ...
    ValueError: y has non-finite values (nan or inf) at indices [1]
    """
    x = as_float_array(x, "x")
    y = as_float_array(y, "y")
    if len(x) != len(y):
        raise ValueError(f"length mismatch: x has {len(x)} values, y has {len(y)}")
    if len(x) == 0:
        raise ValueError("x and y are empty")
    g = None
    if groups is not None:
        g = np.asarray(groups)
        if g.ndim != 1 or len(g) != len(x):
            raise ValueError(f"length mismatch: groups has {g.size} values, x has {len(x)}")
        missing = pd.isna(g)
        if missing.any():
            raise ValueError(f"groups has missing labels at indices {_indices(missing)}")
    for name, arr in (("x", x), ("y", y)):
        bad = ~np.isfinite(arr)
        if bad.any():
            raise ValueError(f"{name} has non-finite values (nan or inf) at indices {_indices(bad)}")
    if form.x_domain == "positive" and (x <= 0).any():
        raise ValueError(
            f"x <= 0 at indices {_indices(x <= 0)}: the {form.name} form takes ln x or x^-alpha, so x must be > 0"
        )
    if form.x_domain == "nonnegative" and (x < 0).any():
        raise ValueError(f"x < 0 at indices {_indices(x < 0)}: the {form.name} form needs x >= 0")
    if form.log_space and (y <= 0).any():
        raise ValueError(
            f"y <= 0 at indices {_indices(y <= 0)}: the {form.name} form is fitted in log space and needs y > 0"
        )
    distinct = np.unique(x)
    need = form.n_params + 1
    if len(distinct) < need:
        hint = " Two distinct x values are a ratio, not a law: use ratio_summary(x, y)." if len(distinct) == 2 else ""
        raise ValueError(
            f"too few distinct x: the {form.name} form has {form.n_params} parameters and needs at least "
            f"{need} distinct x values, got {len(distinct)} ({distinct.tolist()}).{hint}"
        )
    scale = max(1.0, float(np.max(np.abs(y))))
    if np.ptp(y) <= 1e-12 * scale:
        raise ValueError(f"y is constant (all values {y[0]!r}): there is no curve to fit")
    return x, y, g
