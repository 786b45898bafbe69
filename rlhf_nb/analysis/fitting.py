"""``fit_curve``: validate, estimate, bootstrap, flag. Returns a :class:`FitResult`.

One call fits one form to one table of (x, y) points, with seeds as ``groups`` when the
table has several per x. The result holds the parameters, their 95% percentile-bootstrap
intervals (seeded: the same call gives the same interval), Wald intervals with t quantiles,
AICc, the form's closed-form diminishing-return quantities with intervals, and flags for
anything a reader must not miss (a parameter on a bound, a weakly identified asymptote, a
peak outside the data).

The Gao forms are laws in d = sqrt(KL). ``x_is`` says what x holds: ``"kl"`` (x is KL,
converted to d = sqrt(x)) or ``"d"`` (x is already d). It is required for the Gao forms, and
``predict`` takes x in the same unit as the fit.

What it does not do: choose among forms (``compare.py``), or fit two distinct x values: two
points are a ratio, not a law (``ratio.py``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

import numpy as np
import pandas as pd
from scipy import stats

from .bootstrap import MIN_GROUPS, percentile_interval, replicate
from .forms import Form, get_form
from .solvers import GRID_SIZE, default_bounds, fit_linear, fit_varpro
from .validation import check_xy

WEAK_SPAN_DECADES = 2.0  # the asymptote of a saturating law needs about two decades of x


class Flag(str, Enum):
    """Warnings a fit carries. Each compares equal to its text, e.g. ``"parameter at a bound"``."""

    AT_BOUND = "parameter at a bound"
    AT_GRID_EDGE = "best grid point at the edge of the search grid"
    WEAK_ASYMPTOTE = "asymptote weakly identified"
    PEAK_EXTRAPOLATED = "peak beyond the data (extrapolated)"
    NO_PEAK = "no peak in the fitted curve"
    STARTS_DISAGREE = "starts disagree"
    BOOTSTRAP_FAILURES = "many bootstrap refits failed"
    FEW_GROUPS = "too few groups to resample; resampled points"


@dataclass
class FitResult:
    """One fitted form. ``ci`` and ``derived_ci`` are percentile-bootstrap intervals."""

    form: str
    equation: str
    params: dict[str, float]
    ci: dict[str, tuple[float, float]]
    """Bootstrap percentile interval per parameter; (nan, nan) when n_boot = 0."""
    wald_ci: dict[str, tuple[float, float]]
    """Wald interval with t quantiles (n - p degrees of freedom) per parameter."""
    derived: dict[str, float]
    """Closed-form diminishing-return quantities of the fitted law (see forms.py)."""
    derived_ci: dict[str, tuple[float, float]]
    flags: list[Flag]
    notes: list[str]
    """One sentence per flag: which parameter, which bound, which range."""
    aicc: float
    """AICc on the y scale (Gaussian errors; the log-space power law gets its Jacobian term)."""
    sse: float
    r2: float
    """In-sample R² on the y scale. For information only: it never decides between forms."""
    n: int
    x_range: tuple[float, float]
    x_is: str | None
    q: float
    level: float
    n_boot: int
    n_boot_failed: int
    resampled: str | None
    """"groups", "points", or None when there was no bootstrap."""
    bounds: tuple[float, float] | None
    boot_params: np.ndarray = field(repr=False, default_factory=lambda: np.empty((0, 0)))
    """Bootstrap replicates of the parameters, one row each, columns in ``params`` order."""

    @property
    def n_params(self) -> int:
        return len(self.params)

    def _to_fit_x(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        return np.sqrt(x) if self.x_is == "kl" else x

    def predict(self, x) -> np.ndarray:
        """The fitted curve at x (same unit as the fit: KL when ``x_is="kl"``).

        >>> fit = fit_curve([1, 2, 4, 8], [0.1, 0.2, 0.3, 0.4], "log_linear", n_boot=0)
        >>> fit.predict([16]).round(3)
        array([0.5])
        """
        return get_form(self.form).predict(self.params, self._to_fit_x(x))

    def predict_band(self, x, level: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Pointwise percentile band of the curve over the bootstrap replicates.

        >>> fit = fit_curve([1, 2, 4, 8, 16], [0.1, 0.22, 0.3, 0.41, 0.5], "log_linear", n_boot=50)
        >>> lo, hi = fit.predict_band([4.0])
        >>> bool(lo[0] < fit.predict([4.0])[0] < hi[0])
        True
        """
        if self.boot_params.size == 0:
            raise ValueError("no bootstrap replicates: refit with n_boot > 0 for a band")
        f, d = get_form(self.form), self._to_fit_x(x)
        rows = self.boot_params[~np.isnan(self.boot_params).any(axis=1)]
        preds = np.stack([f.predict(dict(zip(self.params, row)), d) for row in rows])
        tail = (1.0 - (level or self.level)) / 2.0
        return np.quantile(preds, tail, axis=0), np.quantile(preds, 1.0 - tail, axis=0)

    def table(self) -> pd.DataFrame:
        """Parameters and derived quantities with their intervals, one row each.

        >>> fit_curve([1, 2, 4, 8], [0.1, 0.2, 0.3, 0.4], "log_linear", n_boot=0).table().name.tolist()
        ['a', 'b', 'gain_per_doubling', 'gain_first_doubling', 'gain_last_doubling', 'last_to_first_gain_ratio']
        """
        rows = [("parameter", k, v, *self.ci[k]) for k, v in self.params.items()]
        rows += [("derived", k, v, *self.derived_ci[k]) for k, v in self.derived.items()]
        return pd.DataFrame(rows, columns=["kind", "name", "estimate", "ci_low", "ci_high"])

    def __str__(self) -> str:
        def fmt(name, value, ci):
            interval = f" [{ci[0]:.4g}, {ci[1]:.4g}]" if np.isfinite(ci).all() else ""
            return f"{name} = {value:.4g}{interval}"
        parts = [fmt(k, v, self.ci[k]) for k, v in self.params.items()]
        text = f"{self.form}: {self.equation}; " + ", ".join(parts) + f"; AICc {self.aicc:.2f}, n = {self.n}"
        if self.flags:
            text += "; flags: " + "; ".join(self.notes)
        return text


def _estimate(form: Form, x: np.ndarray, y: np.ndarray, bounds, fast: bool):
    if form.nonlinear is None:
        return fit_linear(form, x, y)
    return fit_varpro(form, x, y, bounds, max_starts=1 if fast else 4)


def _aicc(form: Form, sse: float, n: int, y: np.ndarray) -> float:
    k = form.n_params + 1  # the noise variance is a parameter too
    neg2ll = n * (np.log(2 * np.pi * max(sse, 1e-300) / n) + 1.0)
    if form.log_space:
        neg2ll += 2.0 * np.sum(np.log(y))  # density of y, not of ln y, so forms compare
    if n - k - 1 <= 0:
        return np.nan
    return float(neg2ll + 2 * k + 2 * k * (k + 1) / (n - k - 1))


def _wald(form: Form, params: dict, x: np.ndarray, sse: float, n: int, level: float) -> dict:
    p = form.n_params
    if n - p <= 0:
        return {k: (np.nan, np.nan) for k in params}
    jac = form.jacobian(params, x)
    scale = np.linalg.norm(jac, axis=0)
    scale[scale == 0] = 1.0
    js = jac / scale
    cov = sse / (n - p) * np.linalg.pinv(js.T @ js) / np.outer(scale, scale)
    half = stats.t.ppf(0.5 + level / 2.0, n - p) * np.sqrt(np.clip(np.diag(cov), 0, None))
    return {k: (float(params[k] - h), float(params[k] + h)) for k, h in zip(params, half)}


def _search_flags(form: Form, est, bounds) -> list[tuple[Flag, str]]:
    """A nonlinear parameter on a bound or the grid edge; starts that end apart at the same SSE."""
    out = []
    name, value = form.nonlinear, est.params[form.nonlinear]
    for side, b in zip(("lower", "upper"), bounds):
        if abs(np.log(value / b)) < 1e-3:
            out.append((Flag.AT_BOUND, f"{name} = {value:.4g} is at its {side} bound {b:.4g}: "
                                       "the true value may lie beyond it"))
    if est.grid_index in (0, GRID_SIZE - 1):
        out.append((Flag.AT_GRID_EDGE, f"the best grid value of {name} is at the edge of the grid "
                                       f"[{bounds[0]:.4g}, {bounds[1]:.4g}]"))
    # A start that ends at a worse SSE found another local minimum: harmless, the best is kept.
    ties = [s for s in est.starts[1:] if s["sse"] <= est.sse * (1 + 1e-6) + 1e-15]
    for s in ties:
        rel = max(abs(s[k] - est.params[k]) / max(abs(est.params[k]), 1e-12) for k in form.param_names)
        if rel > 1e-3:
            out.append((Flag.STARTS_DISAGREE, "two starts reach the same SSE with parameters more than 0.1% apart"))
            break
    return out


def _shape_flags(form: Form, params: dict, x_user: np.ndarray, d: np.ndarray, derived: dict) -> list[tuple[Flag, str]]:
    """An asymptote the data cannot pin down; a Gao peak outside the data or absent."""
    out = []
    if form.name == "saturating_power":
        decades = np.log10(x_user.max() / x_user.min())
        if decades < WEAK_SPAN_DECADES:
            out.append((Flag.WEAK_ASYMPTOTE, f"x spans {decades:.2f} decades (< {WEAK_SPAN_DECADES:g}): E is weakly "
                                             "identified; prefer a two-parameter form"))
    if form.name == "exp_saturation" and x_user.max() < 2 * params["k"]:
        out.append((Flag.WEAK_ASYMPTOTE, f"the largest x ({x_user.max():.4g}) is under 2k ({2 * params['k']:.4g}): "
                                         "the data stop short of the plateau, so c is weakly identified"))
    if form.is_gao:
        if not np.isfinite(derived["d_star"]):
            out.append((Flag.NO_PEAK, "beta <= 0: the fitted gold curve has no peak"))
        elif derived["d_star"] > d.max():
            peak = f"d* = {derived['d_star']:.4g} (KL* = {derived['kl_star']:.4g})"
            out.append((Flag.PEAK_EXTRAPOLATED, f"the peak {peak} lies beyond the largest d in the data "
                                                f"({d.max():.4g}): it is an extrapolation"))
    return out


def _flags(form: Form, est, x_user: np.ndarray, d: np.ndarray, bounds, derived) -> tuple[list, list]:
    found = _search_flags(form, est, bounds) if form.nonlinear is not None else []
    found += _shape_flags(form, est.params, x_user, d, derived)
    return [f for f, _ in found], [note for _, note in found]


def _bootstrap(f: Form, d, y, g, nl_bounds, n_boot: int, seed: int):
    """Refit on resamples (fast path: one start). Returns rows, failures, what was resampled, flags."""
    found = []
    use_groups = g is not None and len(np.unique(g)) >= MIN_GROUPS
    if g is not None and not use_groups:
        found.append((Flag.FEW_GROUPS, f"only {len(np.unique(g))} groups (< {MIN_GROUPS}): "
                                       "the bootstrap resampled points"))

    def stat(idx):
        xb, yb, _ = check_xy(d[idx], y[idx], f)
        return list(_estimate(f, xb, yb, nl_bounds, fast=True).params.values())

    boot, failed = replicate(stat, len(y), n_boot, seed, g if use_groups else None)
    if failed > 0.05 * n_boot:
        found.append((Flag.BOOTSTRAP_FAILURES, f"{failed} of {n_boot} resamples could not be fitted "
                                               "(too few distinct x or constant y)"))
    return boot, failed, "groups" if use_groups else "points", found


def fit_curve(x, y, form: str, groups=None, *, n_boot: int = 1000, seed: int = 0, x_is: str | None = None,
              bounds: dict[str, tuple[float, float]] | None = None, q: float = 0.9,
              level: float = 0.95) -> FitResult:
    """Fit one form to (x, y), with bootstrap intervals and flags.

    Args:
        x, y: the points, one per run (several seeds per x are fine).
        form: "power", "saturating_power", "log_linear", "exp_saturation", "gao_bon" or "gao_rl".
        groups: a label per point (usually the seed). Given with at least 3 distinct labels,
            the bootstrap resamples whole groups; otherwise it resamples points.
        n_boot: bootstrap resamples; 0 skips the bootstrap (intervals are nan).
        seed: seeds the bootstrap, so the same call returns the same intervals.
        x_is: Gao forms only, required: "kl" if x is KL (fitted in d = sqrt(KL)), "d" if x is d.
        bounds: search range of the nonlinear parameter, e.g. {"alpha": (1e-3, 2.0)}.
        q: fraction of the gain for the ``x_q`` quantity (0.9: x at which 90% is reached).
        level: interval coverage.

    >>> import numpy as np
    >>> x = np.geomspace(1, 1e4, 20)
    >>> fit = fit_curve(x, 2 + 5 * x**-0.3, "saturating_power", n_boot=0)
    >>> round(fit.params["alpha"], 6), fit.flags
    (0.3, [])
    """
    f = get_form(form)
    if f.is_gao and x_is not in ("kl", "d"):
        raise ValueError(f"the {f.name} form is a law in d = sqrt(KL): pass x_is='kl' if x holds KL, "
                         f"or x_is='d' if x already holds d (got x_is={x_is!r})")
    if not f.is_gao and x_is is not None:
        raise ValueError(f"x_is applies to the Gao forms only, not to {f.name}")
    if not 0 < q < 1 or not 0 < level < 1:
        raise ValueError(f"q and level must lie in (0, 1), got q={q}, level={level}")
    x_user, y, g = check_xy(x, y, f, groups)
    d = np.sqrt(x_user) if x_is == "kl" else x_user
    nl_bounds = None
    unknown = set(bounds or {}) - {f.nonlinear}
    if unknown and f.nonlinear is not None:
        raise ValueError(f"bounds names {sorted(unknown)}, but the {f.name} form searches only {f.nonlinear!r}")
    if f.nonlinear is not None:
        nl_bounds = tuple((bounds or {}).get(f.nonlinear, default_bounds(f, d)))
    elif bounds:
        raise ValueError(f"the {f.name} form is linear in its parameters and takes no bounds")

    est = _estimate(f, d, y, nl_bounds, fast=False)
    positive = x_user[x_user > 0]
    x_first, x_last = float(positive.min()), float(x_user.max())
    derived = f.derived(est.params, x_first, x_last, q)
    flags, notes = _flags(f, est, x_user, d, nl_bounds, derived)

    boot, failed, resampled = np.empty((0, f.n_params)), 0, None
    if n_boot > 0:
        boot, failed, resampled, found = _bootstrap(f, d, y, g, nl_bounds, n_boot, seed)
        flags += [fl for fl, _ in found]
        notes += [note for _, note in found]

    names = list(est.params)
    ci = {k: percentile_interval(boot[:, i], level) if n_boot else (np.nan, np.nan) for i, k in enumerate(names)}
    boot_derived = [f.derived(dict(zip(names, row)), x_first, x_last, q)
                    for row in boot if not np.isnan(row).any()]
    derived_ci = {k: percentile_interval([b[k] for b in boot_derived], level) if boot_derived else (np.nan, np.nan)
                  for k in derived}

    pred = f.predict(est.params, d)
    r2 = 1.0 - float(np.sum((y - pred) ** 2) / np.sum((y - y.mean()) ** 2))
    return FitResult(
        form=f.name, equation=f.equation, params=est.params, ci=ci,
        wald_ci=_wald(f, est.params, d, est.sse, len(y), level),
        derived={k: float(v) for k, v in derived.items()}, derived_ci=derived_ci,
        flags=flags, notes=notes, aicc=_aicc(f, est.sse, len(y), y), sse=est.sse, r2=r2, n=len(y),
        x_range=(float(x_user.min()), x_last), x_is=x_is, q=q, level=level, n_boot=n_boot,
        n_boot_failed=failed, resampled=resampled, bounds=nl_bounds, boot_params=boot,
    )
