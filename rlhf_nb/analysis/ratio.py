"""Two distinct x values: report a ratio and a difference, never an exponent or a law.

With two x values any two-parameter curve passes through both means exactly, so a fitted
"scaling exponent" is just the log-ratio restated and an interval on it would be invented.
:func:`ratio_summary` says what the data do show: the mean at each x, their difference and
ratio, and how many points stand behind each mean.

What it does not do: fit, extrapolate, or give intervals (use :func:`rlhf_nb.analysis.decide` on per-seed values to put an
interval on the difference of the two groups of seeds).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .validation import as_float_array


@dataclass(frozen=True)
class RatioSummary:
    """Means at the two x values, their difference and ratio."""

    x_low: float
    x_high: float
    mean_low: float
    mean_high: float
    n_low: int
    n_high: int

    @property
    def x_ratio(self) -> float:
        return self.x_high / self.x_low if self.x_low != 0 else np.inf

    @property
    def difference(self) -> float:
        """mean_high - mean_low."""
        return self.mean_high - self.mean_low

    @property
    def ratio(self) -> float:
        """mean_high / mean_low (inf or nan when mean_low is 0)."""
        return self.mean_high / self.mean_low if self.mean_low != 0 else np.nan

    def __str__(self) -> str:
        return (f"two x values only, a ratio, not a law: going from x = {self.x_low:.4g} to {self.x_high:.4g} "
                f"(x {self.x_ratio:.3g}-fold) moves the mean from {self.mean_low:.4g} (n = {self.n_low}) to "
                f"{self.mean_high:.4g} (n = {self.n_high}): a difference of {self.difference:+.4g}, "
                f"a ratio of {self.ratio:.4g}")


def ratio_summary(x, y) -> RatioSummary:
    """Summarise data with exactly two distinct x values as a ratio.

    >>> s = ratio_summary([1, 1, 4, 4], [0.5, 0.7, 0.9, 0.9])
    >>> round(s.difference, 3), round(s.ratio, 3)
    (0.3, 1.5)
    """
    x, y = as_float_array(x, "x"), as_float_array(y, "y")
    if len(x) != len(y):
        raise ValueError(f"length mismatch: x has {len(x)} values, y has {len(y)}")
    bad = ~(np.isfinite(x) & np.isfinite(y))
    if bad.any():
        raise ValueError(f"non-finite x or y at indices {np.flatnonzero(bad).tolist()}")
    values = np.unique(x)
    if len(values) != 2:
        raise ValueError(f"ratio_summary needs exactly 2 distinct x values, got {len(values)}; "
                         "with 3 or more, fit a curve with fit_curve")
    lo, hi = values
    return RatioSummary(x_low=float(lo), x_high=float(hi), mean_low=float(y[x == lo].mean()),
                        mean_high=float(y[x == hi].mean()), n_low=int((x == lo).sum()), n_high=int((x == hi).sum()))
