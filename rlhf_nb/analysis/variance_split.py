"""How a part's seed-to-seed variance splits into measurement noise and training noise: a reported diagnostic.

The decision protocol (``docs/findings.md``) reduces each seed to one number v_s and decides on
a t interval over seeds; the spread of v_s over seeds mixes two sources: the training noise of
the seed (its SFT model, reward model, RL trajectory) and the measurement noise of evaluating
that seed on a finite set of prompts. This module estimates the second within each seed, with
the two-group (split-half) prompt jackknife, so that a reader can see whether more evaluation
prompts or more seeds would narrow an interval. It never enters a verdict: the protocol is
unchanged, this is reported beside it, not evidence.

The estimator (:func:`split_variance`). For seed s, v_s is the part's value on all evaluation
(or tracking) prompts, v_s^even the same computation on the prompts at even positions and
v_s^odd on those at odd positions. With two groups the delete-a-group jackknife variance of v_s
is ((g - 1)/g) Σ_j (v_s^(-j) - mean_j v_s^(-j))² with g = 2, v_s^(-1) = v_s^odd and
v_s^(-2) = v_s^even, which is

    var_meas(v_s) = (v_s^even - v_s^odd)² / 4

(Efron & Stein 1981; Shao & Tu 1995, "The Jackknife and Bootstrap", sec. 1.3 and 5.2, the
delete-d / grouped jackknife). It is unbiased for an estimand linear in per-prompt means (an
accuracy, a difference of accuracies, a slope of accuracies over grid points): with P prompts,
per-prompt variance σ², each half mean has variance 2σ²/P, so E[(v^even - v^odd)²] = 4σ²/P and
the estimate is σ²/P, the variance of v_s. For a nonlinear estimand (a peak chosen over steps, a
least-squares fit of a curve, a ratio) it is the usual first-order (delta-method) approximation
and can be off in either direction; the record says which kind the part is only through its
name, so read these shares as indicative. With one pair of halves per seed each seed's estimate
has one degree of freedom; the mean over seeds is what is reported.

Then, over the n seeds where v_s and both halves are finite:

- measurement_var = mean_s (v_s^even - v_s^odd)² / 4;
- total_var = sample variance of v_s over seeds (ddof = 1);
- training_var = max(0, total_var - measurement_var);
- measurement_share = min(1, measurement_var / total_var) (NaN with fewer than 2 seeds or a zero
  total variance).

When every seed is measured on the same prompts (e.g. the reward-model axes' fixed evaluation
seed), the prompt effect shared by all seeds does not appear in the spread over seeds but is
counted by the jackknife; the share is then an upper bound on what more prompts would remove
from the spread, which is one reason it is capped at 1.

What more data would buy (:func:`halfwidth_ratios`). The interval's half-width is
t_{n-1} · se with se² = (training_var + measurement_var) / n. Four times the prompts divides the
measurement variance by 4 at the same seeds:

    prompts_x4_halfwidth_ratio = sqrt((training_var + measurement_var / 4) / (training_var + measurement_var));

twice the seeds halves se² and gains degrees of freedom:

    seeds_x2_halfwidth_ratio = (t_{2n-1} / t_{n-1}) · sqrt(1 / 2),

both at the decision level's two-sided quantile (0.975 for 95 %). A ratio below the other says
which purchase narrows the interval more; neither is a licence to add seeds to a running study
(findings.md: more seeds only in a design declared before it starts).

>>> s = split_variance([0.50, 0.60, 0.70], [0.52, 0.58, 0.71], [0.48, 0.62, 0.69])
>>> round(s.measurement_var, 6), round(s.total_var, 6), round(s.measurement_share, 3)
(0.0003, 0.01, 0.03)
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

__all__ = ["METHOD", "VarianceSplit", "halfwidth_ratios", "split_variance"]

METHOD = "two-group (split-half) prompt jackknife: var_meas(v_s) = (v_s^even - v_s^odd)^2 / 4"
"""what the record's ``method`` says"""


def _num(x: float) -> float | None:
    """A strict-JSON number: None for NaN or infinity."""
    x = float(x)
    return x if math.isfinite(x) else None


@dataclass(frozen=True)
class VarianceSplit:
    """The split of one part's per-seed variance (see the module docstring for every formula).

    Attributes:
        n_seeds: seeds whose value and both halves are finite (the ones used).
        total_var: sample variance (ddof 1) of the per-seed values over those seeds; NaN for n < 2.
        measurement_var: mean over those seeds of (v^even - v^odd)² / 4; NaN for n = 0.
        training_var: max(0, total_var - measurement_var); NaN where total_var is.
        measurement_share: min(1, measurement_var / total_var); NaN for n < 2 or total_var = 0.
        prompts_x4_halfwidth_ratio: interval half-width with 4x the prompts / now.
        seeds_x2_halfwidth_ratio: interval half-width with 2x the seeds / now.
        level: the interval level the seed ratio's t quantiles are taken at.
    """

    n_seeds: int
    total_var: float
    measurement_var: float
    training_var: float
    measurement_share: float
    prompts_x4_halfwidth_ratio: float
    seeds_x2_halfwidth_ratio: float
    level: float = 0.95

    def to_dict(self) -> dict:
        """A strict-JSON record (NaN as None) with the method named: what a finding's part carries."""
        out = {k: (_num(v) if isinstance(v, float) else v) for k, v in asdict(self).items()}
        out["method"] = METHOD
        out["use"] = "reported diagnostic, not evidence: the verdict does not read it"
        return out


def halfwidth_ratios(training_var: float, measurement_var: float, n_seeds: int,
                     level: float = 0.95) -> tuple[float, float]:
    """(half-width with 4x the prompts, half-width with 2x the seeds), each relative to the half-width now.

    Half-width = t_{n-1} · sqrt((training_var + measurement_var) / n) at the two-sided ``level``
    quantile. 4x prompts: measurement_var / 4, same n, so the ratio is
    sqrt((T + M/4) / (T + M)). 2x seeds: (t_{2n-1} / t_{n-1}) · sqrt(1/2). NaN where undefined
    (n < 2, non-finite or zero variance for the prompt ratio).

    >>> [round(r, 3) for r in halfwidth_ratios(0.0, 1.0, 3)]
    [0.5, 0.422]
    """
    n = int(n_seeds)
    if n < 2:
        return float("nan"), float("nan")
    q = 0.5 + float(level) / 2.0
    seeds = float(stats.t.ppf(q, 2 * n - 1) / stats.t.ppf(q, n - 1) * math.sqrt(0.5))
    t, m = float(training_var), float(measurement_var)
    if not (math.isfinite(t) and math.isfinite(m)) or t + m <= 0:
        return float("nan"), seeds
    return math.sqrt((t + m / 4.0) / (t + m)), seeds


def split_variance(values: Sequence[float], even: Sequence[float], odd: Sequence[float],
                   level: float = 0.95) -> VarianceSplit:
    """The measurement / training split of per-seed ``values`` from the same values on two halves of the prompts.

    ``values[i]``, ``even[i]`` and ``odd[i]`` are one seed's value on all prompts, on the prompts at
    even positions and on those at odd positions. Seeds with a non-finite entry in any of the
    three are left out. Raises ValueError when the three lengths differ (the halves must be
    aligned with the values, seed by seed).
    """
    v, e, o = (np.asarray(x, dtype=float).ravel() for x in (values, even, odd))
    if not (len(v) == len(e) == len(o)):
        raise ValueError(f"{len(v)} values, {len(e)} even-half and {len(o)} odd-half values: give one of each per seed")
    keep = np.isfinite(v) & np.isfinite(e) & np.isfinite(o)
    v, e, o = v[keep], e[keep], o[keep]
    n = int(len(v))
    nan = float("nan")
    meas = float(np.mean((e - o) ** 2) / 4.0) if n else nan
    total = float(np.var(v, ddof=1)) if n >= 2 else nan
    train = max(0.0, total - meas) if math.isfinite(total) else nan
    share = min(1.0, meas / total) if n >= 2 and total > 0 else nan
    # se² = (training + measurement) / n: with the clip, training + measurement = max(total, measurement).
    p4, s2 = halfwidth_ratios(train, meas, n, level) if n >= 2 else (nan, nan)
    return VarianceSplit(n, total, meas, train, share, p4, s2, float(level))
