"""The ScaleRL compute curve: fit R(C) = R0 + (A - R0) / (1 + (C_mid / C)^B) to one run, and forecast with it.

Khatri et al. 2025 ("The Art of Scaling Reinforcement Learning Compute for LLMs", eq. 1) fit
this sigmoid of pass rate against RL compute C: A is the asymptote, B the efficiency exponent
(how sharply the curve climbs in ln C), C_mid the compute at half the gain and R0 the pass rate
before RL. They report that recipes mostly move B and C_mid, not A, and that a fit on early
compute predicts later performance; :func:`forecast_check` is that check on one run.

:func:`fit_scalerl` follows ``docs/fitting.md``'s practice for a nonlinear form, with two
nonlinear parameters instead of one: (C_mid, B) searched on a log-spaced grid with (R0, A) in
closed form at each grid point (variable projection: the curve is linear in R0 and A), then
the best local minima of the grid refined by ``scipy.optimize.curve_fit`` (bounded trust-region
reflective, tight tolerances) in (A, ln C_mid, ln B) [and R0]. Several starts must agree.
``fit_curve`` is not used because its search is one-dimensional. R0 may be fixed (``r0``: the
measured pass rate at C = 0, as the paper treats it), leaving three free parameters.

Flags (:class:`rlhf_nb.analysis.fitting.Flag`): a parameter on its bound (A at 0 or 1 for a
pass rate, B or C_mid at the edge of the search range); a weakly identified asymptote when the
fitted midpoint lies beyond the largest compute in the data (A is then an extrapolation); starts
that end at the same SSE with different parameters.

What it does not do: decide anything (the axes reduce per-seed parameters and call
:mod:`rlhf_nb.analysis.decision`) or give intervals (per-seed values give them, over seeds).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from scipy.optimize import curve_fit

from .fitting import Flag
from .forms import SCALERL_FORM, scalerl_share
from .validation import check_xy

_TOL = 1e-12
GRID_C_MID = 61
GRID_B = 41
MAX_STARTS = 4
DEFAULT_A_BOUNDS = (0.0, 1.0)
"""A is a pass rate: between 0 and 1"""
DEFAULT_B_BOUNDS = (0.05, 20.0)
"""B below 0.05 is a straight line in ln C over any range we fit; above 20 a step"""
C_MID_SPAN = 100.0
"""C_mid is searched from the smallest positive compute / C_MID_SPAN to the largest x C_MID_SPAN"""


@dataclass
class SigmoidFit:
    """One fitted ScaleRL curve."""

    params: dict[str, float]
    """R0, A, C_mid (compute units of the input), B"""
    r0_fixed: bool
    """R0 was given, not fitted"""
    derived: dict[str, float]
    """c_q (compute at q of the gain), share_reached_at_x_last, gain_doubling_at_c_mid (see forms.py)"""
    flags: list[Flag]
    notes: list[str]
    """one sentence per flag"""
    sse: float
    n: int
    x_range: tuple[float, float]
    bounds: dict[str, tuple[float, float]]
    starts: list[dict[str, float]] = field(default_factory=list, repr=False)
    """refined results of every start, best first, each with its "sse\""""

    def predict(self, compute) -> np.ndarray:
        """The fitted curve at ``compute`` (same unit as the fit).

        >>> from rlhf_nb.analysis.forms import SCALERL_FORM
        >>> c = np.r_[0.0, np.geomspace(1, 1e4, 12)]
        >>> fit = fit_scalerl(c, SCALERL_FORM.predict({"R0": 0.3, "A": 0.8, "C_mid": 100.0, "B": 1.2}, c), r0=0.3)
        >>> float(fit.predict([100.0])[0].round(6))
        0.55
        """
        return SCALERL_FORM.predict(self.params, np.asarray(compute, dtype=float))


def _free_names(r0_fixed: bool) -> tuple[str, ...]:
    return ("A", "C_mid", "B") if r0_fixed else ("R0", "A", "C_mid", "B")


def _validate(compute, y, r0):
    free = _free_names(r0 is not None)
    c, v, _ = check_xy(compute, y, replace(SCALERL_FORM, param_names=free))
    distinct_pos = np.unique(c[c > 0])
    if len(distinct_pos) < len(free) + 1:
        raise ValueError(f"too few distinct compute values > 0: the ScaleRL sigmoid has {len(free)} free parameters "
                         f"({', '.join(free)}) and needs at least {len(free) + 1} distinct C > 0, got "
                         f"{len(distinct_pos)}")
    if r0 is not None and not np.isfinite(float(r0)):
        raise ValueError(f"r0={r0!r}: give a finite pass rate at C = 0, or None to fit it")
    return c, v


def _grid_profile(c, y, r0, cm_grid, b_grid, a_bounds):
    """SSE and (R0, A) at every (C_mid, B) of the grid; A clipped into its bounds."""
    sse = np.empty((len(cm_grid), len(b_grid)))
    coefs = np.empty((len(cm_grid), len(b_grid), 2))
    for i, cm in enumerate(cm_grid):
        for j, b in enumerate(b_grid):
            s = scalerl_share(c, cm, b)
            if r0 is not None:
                gain = float(s @ (y - r0) / (s @ s)) if s @ s > 0 else 0.0
                a = float(np.clip(r0 + gain, *a_bounds))
                r = float(r0)
            else:
                basis = np.column_stack([1.0 - s, s])
                (r, a), *_ = np.linalg.lstsq(basis, y, rcond=None)
                if not a_bounds[0] <= a <= a_bounds[1]:  # best R0 given A on its bound
                    a = float(np.clip(a, *a_bounds))
                    w = 1.0 - s
                    r = float(w @ (y - a * s) / (w @ w)) if w @ w > 0 else float(y.mean())
            resid = y - (r + (a - r) * s)
            sse[i, j] = resid @ resid
            coefs[i, j] = (r, a)
    return sse, coefs


def _local_minima_2d(sse: np.ndarray) -> list[tuple[int, int]]:
    """Grid cells no larger than any of their 8 neighbours, best first."""
    padded = np.pad(sse, 1, constant_values=np.inf)
    is_min = np.ones_like(sse, dtype=bool)
    for di in (-1, 0, 1):
        for dj in (-1, 0, 1):
            if di or dj:
                is_min &= sse <= padded[1 + di:1 + di + sse.shape[0], 1 + dj:1 + dj + sse.shape[1]]
    cells = list(zip(*np.nonzero(is_min)))
    return sorted(cells, key=lambda ij: sse[ij])


def _refine(c, y, r0, start, a_bounds, cm_bounds, b_bounds):
    """curve_fit from ``start`` in (R0,) A, ln C_mid, ln B inside the bounds; returns params and SSE."""
    fixed = r0 is not None

    def unpack(theta):
        if fixed:
            a, lcm, lb = theta
            return {"R0": float(r0), "A": a, "C_mid": np.exp(lcm), "B": np.exp(lb)}
        r, a, lcm, lb = theta
        return {"R0": r, "A": a, "C_mid": np.exp(lcm), "B": np.exp(lb)}

    def model(_x, *theta):
        return SCALERL_FORM.predict(unpack(theta), c)

    def jac(_x, *theta):
        p = unpack(theta)
        j = SCALERL_FORM.jacobian(p, c)  # columns R0, A, C_mid, B
        j[:, 2] *= p["C_mid"]  # chain rule to ln C_mid and ln B
        j[:, 3] *= p["B"]
        return j[:, 1:] if fixed else j

    lo = [a_bounds[0], np.log(cm_bounds[0]), np.log(b_bounds[0])]
    hi = [a_bounds[1], np.log(cm_bounds[1]), np.log(b_bounds[1])]
    p0 = [start["A"], np.log(start["C_mid"]), np.log(start["B"])]
    if not fixed:
        lo, hi, p0 = [-np.inf] + lo, [np.inf] + hi, [start["R0"]] + p0
    lo, hi = np.array(lo), np.array(hi)
    margin = np.where(np.isfinite(lo) & np.isfinite(hi), 1e-9 * (hi - lo), 0.0)
    with np.errstate(invalid="ignore"):  # inf - inf in the unbounded R0 column is masked to 0 above
        p0 = np.clip(np.array(p0, dtype=float), lo + margin, hi - margin)  # strictly feasible start
    try:
        theta, _ = curve_fit(model, c, y, p0=p0, bounds=(lo, hi), jac=jac, method="trf", ftol=_TOL, xtol=_TOL,
                             gtol=_TOL, max_nfev=5000)
    except RuntimeError:  # no convergence within max_nfev: keep the grid start, never a worse point
        theta = p0
    p = {k: float(v) for k, v in unpack(theta).items()}
    resid = y - SCALERL_FORM.predict(p, c)
    return {**p, "sse": float(resid @ resid)}


def fit_scalerl(compute, y, *, r0: float | None = None, a_bounds: tuple[float, float] = DEFAULT_A_BOUNDS,
                b_bounds: tuple[float, float] = DEFAULT_B_BOUNDS, q: float = 0.9) -> SigmoidFit:
    """Fit the ScaleRL sigmoid to one curve of pass rate ``y`` against compute ``compute``.

    Args:
        compute: C >= 0 per point (FLOPs, or any unit: C_mid comes back in it), 1-D.
        y: pass rate (or any score) per point, same length.
        r0: the pass rate at C = 0 if known (held fixed; points at C = 0 then only add a constant
            residual); None fits it.
        a_bounds: range of A (a pass rate: [0, 1]).
        b_bounds: range of B.
        q: fraction of the gain for the derived ``c_q``.

    Raises ValueError naming the problem: length mismatch, non-finite values, C < 0, constant y,
    fewer distinct C > 0 than free parameters + 1, a non-finite ``r0``, bad bounds.

    >>> from rlhf_nb.analysis.forms import SCALERL_FORM
    >>> c = np.r_[0.0, np.geomspace(1e12, 1e16, 20)]
    >>> fit = fit_scalerl(c, SCALERL_FORM.predict({"R0": 0.4, "A": 0.85, "C_mid": 1e14, "B": 1.5}, c), r0=0.4)
    >>> round(fit.params["A"], 6), round(fit.params["B"], 6), fit.flags
    (0.85, 1.5, [])
    """
    c, v = _validate(compute, y, r0)
    if not (a_bounds[0] < a_bounds[1] and 0 < b_bounds[0] < b_bounds[1]):
        raise ValueError(f"a_bounds={a_bounds}, b_bounds={b_bounds}: need low < high, and B > 0")
    if not 0 < q < 1:
        raise ValueError(f"q={q}: a fraction of the gain in (0, 1)")
    pos = c[c > 0]
    cm_bounds = (float(pos.min()) / C_MID_SPAN, float(pos.max()) * C_MID_SPAN)
    cm_grid = np.geomspace(*cm_bounds, GRID_C_MID)
    b_grid = np.geomspace(*b_bounds, GRID_B)
    sse, coefs = _grid_profile(c, v, r0, cm_grid, b_grid, a_bounds)
    cells = _local_minima_2d(sse)[:MAX_STARTS]
    if len(cells) < 2:  # one valley still gets a second start, from the far corner, to check agreement
        i0, j0 = cells[0]
        cells.append((0 if i0 > GRID_C_MID // 2 else GRID_C_MID - 1, 0 if j0 > GRID_B // 2 else GRID_B - 1))
    starts = []
    for i, j in cells:
        r, a = coefs[i, j]
        start = {"R0": float(r0) if r0 is not None else float(r), "A": float(a), "C_mid": float(cm_grid[i]),
                 "B": float(b_grid[j])}
        starts.append(_refine(c, v, r0, start, a_bounds, cm_bounds, b_bounds))
    starts.sort(key=lambda s: s["sse"])
    best = {k: starts[0][k] for k in SCALERL_FORM.param_names}
    flags, notes = _flags(best, starts, c, r0 is not None, a_bounds, cm_bounds, b_bounds)
    derived = SCALERL_FORM.derived(best, float(pos.min()), float(c.max()), q)
    return SigmoidFit(params=best, r0_fixed=r0 is not None, derived={k: float(x) for k, x in derived.items()},
                      flags=flags, notes=notes, sse=starts[0]["sse"], n=len(v), x_range=(float(c.min()), float(c.max())),
                      bounds={"A": tuple(a_bounds), "C_mid": cm_bounds, "B": tuple(b_bounds)}, starts=starts)


def _flags(best, starts, c, r0_fixed, a_bounds, cm_bounds, b_bounds) -> tuple[list[Flag], list[str]]:
    found: list[tuple[Flag, str]] = []
    for side, bound in zip(("lower", "upper"), a_bounds):
        if abs(best["A"] - bound) < 1e-6:
            found.append((Flag.AT_BOUND, f"A = {best['A']:.4g} is at its {side} bound {bound:g}: the fitted "
                                         "asymptote would lie beyond it"))
    for name, bounds in (("C_mid", cm_bounds), ("B", b_bounds)):
        for side, bound in zip(("lower", "upper"), bounds):
            if abs(np.log(best[name] / bound)) < 1e-3:
                found.append((Flag.AT_BOUND, f"{name} = {best[name]:.4g} is at its {side} bound {bound:.4g}: the "
                                             "true value may lie beyond it"))
    if best["C_mid"] > c.max():
        found.append((Flag.WEAK_ASYMPTOTE, f"the midpoint C_mid = {best['C_mid']:.4g} lies beyond the largest compute "
                                           f"in the data ({c.max():.4g}): A is an extrapolation"))
    free = _free_names(r0_fixed)
    for s in starts[1:]:
        if s["sse"] <= starts[0]["sse"] * (1 + 1e-6) + 1e-15:
            rel = max(abs(s[k] - best[k]) / max(abs(best[k]), 1e-12) for k in free)
            if rel > 1e-3:
                found.append((Flag.STARTS_DISAGREE, "two starts reach the same SSE with parameters more than 0.1% "
                                                    "apart: the curve does not pin them down"))
                break
    return [f for f, _ in found], [n for _, n in found]


def forecast_check(compute, y, *, r0: float | None = None, fraction: float = 0.5, **fit_kwargs) -> dict:
    """Fit on the points with C <= ``fraction`` x the largest C, predict the pass rate at the largest C.

    Returns ``{"predicted", "observed", "error" (predicted - observed), "points_fitted", "flags",
    "reason"}``: ``observed`` is the mean of ``y`` at the largest C; every number is NaN, with the
    reason, when the first part has too few points for a fit (the ValueError's message).
    """
    if not 0 < fraction < 1:
        raise ValueError(f"fraction={fraction}: the share of the compute fitted, in (0, 1)")
    c, v = np.asarray(compute, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(c) & np.isfinite(v)
    c, v = c[keep], v[keep]
    out = {"predicted": np.nan, "observed": np.nan, "error": np.nan, "points_fitted": 0, "flags": [], "reason": ""}
    if not len(c):
        out["reason"] = "no finite points"
        return out
    c_last = float(c.max())
    out["observed"] = float(v[c == c_last].mean())
    early = c <= fraction * c_last
    out["points_fitted"] = int(early.sum())
    try:
        fit = fit_scalerl(c[early], v[early], r0=r0, **fit_kwargs)
    except ValueError as err:
        out["reason"] = str(err)
        return out
    out["predicted"] = float(fit.predict([c_last])[0])
    out["error"] = out["predicted"] - out["observed"]
    out["flags"] = [str(f.value) for f in fit.flags]
    return out
