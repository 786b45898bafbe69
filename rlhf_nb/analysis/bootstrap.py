"""Seeded resampling and percentile intervals.

Resample whole groups (seeds) when there are enough of them, so that the points of one seed
stay together, else single points. The generator is seeded: the same call gives the same
interval. Percentile intervals tend to under-cover with few points or few seeds (with three
seeds there are only ten distinct resamples); callers should say so next to the interval.

What it does not do: fit anything. :func:`replicate` takes the statistic as a function.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

MIN_GROUPS = 3
"""Fewer groups than this and resampling falls back to points."""


def resample_indices(n: int, groups: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
    """Indices of one bootstrap resample: whole groups with replacement, or points.

    >>> rng = np.random.default_rng(0)
    >>> idx = resample_indices(4, np.array([0, 0, 1, 1]), rng)
    >>> sorted(set(idx.tolist())) in ([0, 1], [2, 3], [0, 1, 2, 3])
    True
    """
    if groups is None:
        return rng.integers(0, n, size=n)
    labels, inverse = np.unique(groups, return_inverse=True)
    members = [np.flatnonzero(inverse == i) for i in range(len(labels))]
    picks = rng.integers(0, len(labels), size=len(labels))
    return np.concatenate([members[i] for i in picks])


def replicate(stat: Callable[[np.ndarray], np.ndarray], n: int, n_boot: int, seed: int,
              groups: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """Evaluate ``stat(indices)`` on ``n_boot`` resamples.

    Returns an array (n_boot, m) with a row of nan where ``stat`` raised ``ValueError``
    (e.g. a resample with too few distinct x), and the number of such failures.

    >>> rows, failed = replicate(lambda i: np.array([i.mean()]), 5, 100, seed=0)
    >>> rows.shape, failed
    ((100, 1), 0)
    """
    rng = np.random.default_rng(seed)
    rows, failed, width = [], 0, None
    for _ in range(n_boot):
        idx = resample_indices(n, groups, rng)
        try:
            row = np.asarray(stat(idx), dtype=float)
            width = row.size
        except ValueError:
            row, failed = None, failed + 1
        rows.append(row)
    width = width or 0
    out = np.full((n_boot, width), np.nan)
    for i, row in enumerate(rows):
        if row is not None:
            out[i] = row
    return out, failed


def percentile_interval(values, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of bootstrap values, ignoring nan (failed resamples).

    Infinite values (e.g. no peak in some resamples) are kept: the interval then reaches inf.

    >>> [round(v, 6) for v in percentile_interval(np.arange(101.0), 0.9)]
    [5.0, 95.0]
    """
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    if v.size == 0:
        return (np.nan, np.nan)
    tail = (1.0 - level) / 2.0
    # Linear interpolation between two infinite order statistics gives nan; use order statistics then.
    method = "linear" if np.isfinite(v).all() else "inverted_cdf"
    lo, hi = np.quantile(v, [tail, 1.0 - tail], method=method)
    return (float(lo), float(hi))
