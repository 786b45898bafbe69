"""Effects over seeds and the study's verdict rule, shared by every axis.

A per-seed quantity (an RL gain, an accuracy difference) becomes a :class:`SeedEffect`: its
mean, a 95 % t interval and the number of seeds. A t interval, not a bootstrap: with three
seeds a bootstrap has a handful of distinct resamples and is too narrow. A verdict needs at
least :data:`MIN_SEEDS` seeds; fewer give numbers, not verdicts.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .effects import (
    INCONCLUSIVE,
    NOT_SHOWN,
    SHOWN,
    effect_ci,
    equivalence_verdict,
    verdict,
)

MIN_SEEDS = 3


@dataclass(frozen=True)
class SeedEffect:
    """Mean of a per-seed quantity and its 95 % t interval (nan with fewer than 2 seeds)."""

    estimate: float
    ci: tuple[float, float]
    n: int

    def _has_interval(self) -> bool:
        return self.n >= MIN_SEEDS and all(np.isfinite(self.ci))

    def verdict(self, direction: int = +1, margin: float = 0.0) -> str:
        """Shown when the interval clears ``margin`` in ``direction``, not shown when it clears it the other way."""
        if not self._has_interval():
            return INCONCLUSIVE
        return verdict(self.estimate, self.ci, direction=direction, margin=margin)

    def equivalence(self, margin: float) -> str:
        """Shown when the whole interval lies within ``±margin``."""
        if not self._has_interval():
            return INCONCLUSIVE
        return equivalence_verdict(self.estimate, self.ci, margin=margin)

    def text(self, digits: int = 3) -> str:
        """``+0.0512 [0.0251, 0.0779]``: significant digits, for effects of any size."""
        lo, hi = self.ci
        ci = f"[{lo:.{digits}g}, {hi:.{digits}g}]" if np.isfinite(lo) else "[n/a: one seed]"
        return f"{self.estimate:+.{digits}g} {ci}"

    def signed(self) -> str:
        """``+0.051 [+0.025, +0.078]``: three decimals, for accuracies and gold differences."""
        if np.isfinite(self.ci).all():
            return f"{self.estimate:+.3f} [{self.ci[0]:+.3f}, {self.ci[1]:+.3f}]"
        return f"{self.estimate:+.3f} [no interval]"


def seed_effect(values: pd.Series) -> SeedEffect:
    """Mean over seeds of ``values`` (indexed by seed, non-finite dropped) with a 95 % t interval."""
    v = pd.Series(values, dtype=float).dropna()
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return SeedEffect(float("nan"), (float("nan"), float("nan")), 0)
    if len(v) < 2 or float(v.std()) == 0.0:
        spread = 0.0 if len(v) >= 2 else float("nan")
        return SeedEffect(float(v.mean()), (float(v.mean()) - spread, float(v.mean()) + spread) if len(v) >= 2
                          else (float("nan"), float("nan")), len(v))
    e = effect_ci(v, pd.Series(0.0, index=v.index), method="t")
    return SeedEffect(e.estimate, e.ci, len(v))


def paired_seed_effect(a: pd.Series, b: pd.Series) -> SeedEffect:
    """``a - b`` paired by seed (both indexed by seed; seeds missing from either are left out)."""
    return seed_effect(pd.Series(a, dtype=float) - pd.Series(b, dtype=float))


def combine(*verdicts: str) -> str:
    """A claim made of parts: shown if every part is, not shown if any part is not, else inconclusive."""
    if any(v == NOT_SHOWN for v in verdicts):
        return NOT_SHOWN
    if all(v == SHOWN for v in verdicts):
        return SHOWN
    return INCONCLUSIVE
