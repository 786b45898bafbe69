"""Effect sizes with intervals, and the verdict rule of the findings scorecard.

:func:`effect_ci` gives mean(a) - mean(b) with a seeded interval: paired by seed when both
inputs are pandas Series indexed by the same seeds, unpaired otherwise. :func:`verdict`
turns an effect and its interval into "shown", "not shown" or "inconclusive" for a
directional claim; :func:`equivalence_verdict` does the same for "A ≈ B" claims.

With three seeds a percentile bootstrap has only a handful of distinct resamples and its
interval is too narrow; ``method="t"`` gives the t interval, which is honest about it. Either
way, report the number of seeds next to the verdict.

What it does not do: choose the margin. A margin is part of the claim and is stated with it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from .bootstrap import percentile_interval

SHOWN, NOT_SHOWN, INCONCLUSIVE = "shown", "not shown", "inconclusive"


@dataclass(frozen=True)
class Effect:
    """mean(a) - mean(b) and its interval."""

    estimate: float
    ci: tuple[float, float]
    paired: bool
    n_a: int
    n_b: int
    method: str

    def __str__(self) -> str:
        kind = "paired by seed" if self.paired else "unpaired"
        return (f"{self.estimate:+.4g} [{self.ci[0]:+.4g}, {self.ci[1]:+.4g}] "
                f"({kind}, n = {self.n_a} vs {self.n_b}, {self.method})")


def _values(v, name) -> np.ndarray:
    arr = np.asarray(v, dtype=float)
    if arr.ndim != 1 or arr.size < 2:
        raise ValueError(f"{name} needs at least 2 values (one per seed), got {arr.size}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} has non-finite values at indices {np.flatnonzero(~np.isfinite(arr)).tolist()}")
    return arr


def effect_ci(values_a, values_b, *, seed: int = 0, n_boot: int = 2000, level: float = 0.95,
              method: str = "bootstrap") -> Effect:
    """Mean difference a - b with a seeded interval, paired by seed when the indices match.

    Pass pandas Series indexed by seed to pair: the difference is taken seed by seed.
    ``method`` is "bootstrap" (percentile) or "t".

    >>> a = pd.Series([0.61, 0.64, 0.60], index=[0, 1, 2])
    >>> b = pd.Series([0.55, 0.57, 0.56], index=[0, 1, 2])
    >>> e = effect_ci(a, b)
    >>> e.paired, round(e.estimate, 3)
    (True, 0.057)
    """
    if method not in ("bootstrap", "t"):
        raise ValueError(f"method must be 'bootstrap' or 't', got {method!r}")
    paired = (isinstance(values_a, pd.Series) and isinstance(values_b, pd.Series)
              and values_a.index.is_unique and values_b.index.is_unique and set(values_a.index) == set(values_b.index))
    if paired:
        diff = _values(values_a.sort_index().to_numpy() - values_b.sort_index().to_numpy(), "paired differences")
        a = b = diff
    else:
        a, b = _values(values_a, "values_a"), _values(values_b, "values_b")
    estimate = float(diff.mean()) if paired else float(a.mean() - b.mean())
    if method == "t":
        if paired:
            se, df = diff.std(ddof=1) / np.sqrt(diff.size), diff.size - 1
        else:  # Welch
            va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
            se = np.sqrt(va + vb)
            df = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1)) if se > 0 else a.size + b.size - 2
        half = stats.t.ppf(0.5 + level / 2, df) * se
        ci = (estimate - half, estimate + half)
    else:
        rng = np.random.default_rng(seed)
        if paired:
            boot = diff[rng.integers(0, diff.size, (n_boot, diff.size))].mean(axis=1)
        else:
            boot = (a[rng.integers(0, a.size, (n_boot, a.size))].mean(axis=1)
                    - b[rng.integers(0, b.size, (n_boot, b.size))].mean(axis=1))
        ci = percentile_interval(boot, level)
    return Effect(estimate=estimate, ci=(float(ci[0]), float(ci[1])), paired=paired, n_a=len(a), n_b=len(b),
                  method=method)


def _interval(effect, ci):
    if isinstance(effect, Effect):
        return effect.ci if ci is None else ci
    if ci is None:
        raise ValueError("pass ci=(low, high) with a plain number, or pass an Effect")
    lo, hi = map(float, ci)
    if not lo <= hi:
        raise ValueError(f"ci must be (low, high) with low <= high, got {ci}")
    return lo, hi


def verdict(effect, ci=None, direction: int = +1, margin: float = 0.0) -> str:
    """Verdict for the claim "effect > margin" (direction=+1) or "effect < margin" (direction=-1).

    shown: the whole interval is on the claimed side of margin; not shown: the whole interval
    is on the other side; inconclusive: it covers the margin. ``effect`` is an :class:`Effect`
    or a number with ``ci=(low, high)``.

    >>> verdict(0.05, (0.01, 0.09))
    'shown'
    >>> verdict(-0.02, (-0.05, 0.01))
    'inconclusive'
    >>> verdict(0.2, (0.1, 0.3), direction=-1, margin=1/3)  # claim: ratio under a third
    'shown'
    """
    if direction not in (1, -1):
        raise ValueError(f"direction must be +1 or -1, got {direction}")
    lo, hi = _interval(effect, ci)
    if direction == -1:
        lo, hi, margin = -hi, -lo, -margin
    if lo > margin:
        return SHOWN
    if hi <= margin:
        return NOT_SHOWN
    return INCONCLUSIVE


def equivalence_verdict(effect, ci=None, margin: float = 0.0) -> str:
    """Verdict for "A ≈ B": shown when the interval of a - b lies within (-margin, margin).

    not shown: the interval lies entirely outside (all above margin or all below -margin);
    inconclusive otherwise, including a narrow margin the interval straddles.

    >>> equivalence_verdict(0.004, (-0.01, 0.018), margin=0.02)
    'shown'
    >>> equivalence_verdict(0.05, (0.03, 0.07), margin=0.02)
    'not shown'
    """
    if margin <= 0:
        raise ValueError(f"an equivalence claim needs a margin > 0, got {margin}")
    lo, hi = _interval(effect, ci)
    if -margin < lo and hi < margin:
        return SHOWN
    if lo >= margin or hi <= -margin:
        return NOT_SHOWN
    return INCONCLUSIVE
