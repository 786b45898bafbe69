"""Point estimates for one form on one data set: linear least squares or variable projection.

Linear forms (power law in log space, log-linear, both Gao forms) are solved by one
``lstsq``: no optimiser, no starting point. Forms with one nonlinear parameter (the exponent
alpha of the saturating power law, the scale k of the exponential saturation) are solved by
variable projection: the nonlinear parameter is searched on a log-spaced grid with the linear
coefficients in closed form, then every local minimum of the grid is refined with
``scipy.optimize.least_squares`` inside the bounds, with tight tolerances (a loose tolerance
stops early at a wrong answer while reporting success). The refined starts must agree.

What it does not do: validate input (``validation.py``), bootstrap or flag (``fitting.py``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import least_squares

from .forms import Form

GRID_SIZE = 121
MAX_STARTS = 4
_TOL = 1e-12


@dataclass
class Estimate:
    """A point estimate and what the search saw on the way."""

    params: dict[str, float]
    sse: float
    """Sum of squared residuals in the space fitted (ln y for the power law)."""
    grid_index: int | None = None
    """Index of the best grid point (None for linear forms): 0 or GRID_SIZE-1 is the edge."""
    starts: list[dict[str, float]] = field(default_factory=list)
    """Refined results of every start, best first, each with its "sse"."""


def default_bounds(form: Form, x: np.ndarray) -> tuple[float, float]:
    """Search range of the nonlinear parameter.

    The saturating exponent alpha lies in [1e-3, 5]: alpha -> 0 is the log-linear limit,
    and beyond 5 the curve is flat after the first x. The exponential scale k lies between a
    tenth of the smallest positive x and ten times the largest x.

    >>> from rlhf_nb.analysis.forms import get_form
    >>> default_bounds(get_form("saturating_power"), np.array([1.0, 10.0]))
    (0.001, 5.0)
    """
    if form.nonlinear == "alpha":
        return (1e-3, 5.0)
    if form.nonlinear == "k":
        positive = x[x > 0]
        return (float(positive.min()) / 10.0, float(x.max()) * 10.0)
    raise ValueError(f"the {form.name} form has no nonlinear parameter")


def _target(form: Form, y: np.ndarray) -> np.ndarray:
    return np.log(y) if form.log_space else y


def fit_linear(form: Form, x: np.ndarray, y: np.ndarray) -> Estimate:
    """Least squares for a form linear in its parameters (through the origin for Gao forms).

    >>> from rlhf_nb.analysis.forms import get_form
    >>> d = np.array([0.0, 1.0, 2.0, 3.0])
    >>> est = fit_linear(get_form("gao_bon"), d, 0.5 * d - 0.1 * d**2)
    >>> round(est.params["alpha"], 6), round(est.params["beta"], 6)
    (0.5, 0.1)
    """
    t = _target(form, y)
    coef, *_ = np.linalg.lstsq(form.basis(x, None), t, rcond=None)
    params = form.from_coefs(coef, None)
    resid = t - _fitted(form, params, x)
    return Estimate(params=params, sse=float(resid @ resid))


def _fitted(form: Form, params, x: np.ndarray) -> np.ndarray:
    pred = form.predict(params, x)
    return np.log(pred) if form.log_space else pred


def profile(form: Form, x: np.ndarray, y: np.ndarray, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """SSE and linear coefficients at each grid value of the nonlinear parameter.

    Uses the pseudo-inverse so a degenerate basis (e.g. exp(-x/k) ~ 0 for tiny k) gives a
    finite answer instead of an error.

    >>> from rlhf_nb.analysis.forms import get_form
    >>> x = np.geomspace(1, 100, 10)
    >>> sse, coefs = profile(get_form("saturating_power"), x, 1 + 2 * x**-0.5, np.array([0.25, 0.5, 1.0]))
    >>> int(np.argmin(sse)), coefs[1].round(6).tolist()
    (1, [1.0, 2.0])
    """
    designs = np.stack([form.basis(x, theta) for theta in grid])  # (G, n, 2)
    coefs = np.linalg.pinv(designs, rcond=1e-13) @ y  # (G, 2)
    resid = y[None, :] - np.einsum("gnk,gk->gn", designs, coefs)
    return np.einsum("gn,gn->g", resid, resid), coefs


def _local_minima(sse: np.ndarray) -> np.ndarray:
    """Grid indices of local minima of the profile, best first."""
    left = np.r_[np.inf, sse[:-1]]
    right = np.r_[sse[1:], np.inf]
    idx = np.flatnonzero((sse <= left) & (sse <= right))
    return idx[np.argsort(sse[idx])]


def _refine(form: Form, x: np.ndarray, y: np.ndarray, start: dict[str, float],
            bounds: tuple[float, float]) -> dict[str, float]:
    names = form.param_names
    j = names.index(form.nonlinear)
    lo = np.full(len(names), -np.inf)
    hi = np.full(len(names), np.inf)
    lo[j], hi[j] = bounds
    p0 = np.array([start[n] for n in names])
    # least_squares wants a strictly feasible start; grid edges sit on the bounds.
    p0[j] = np.clip(p0[j], bounds[0] * (1 + 1e-9), bounds[1] * (1 - 1e-9))

    def resid(p):
        return form.predict(dict(zip(names, p)), x) - y

    def jac(p):
        return form.jacobian(dict(zip(names, p)), x)

    sol = least_squares(resid, p0, jac=jac, bounds=(lo, hi), method="trf", x_scale="jac",
                        ftol=_TOL, xtol=_TOL, gtol=_TOL, max_nfev=2000)
    out = dict(zip(names, map(float, sol.x)))
    out["sse"] = float(sol.fun @ sol.fun)
    return out


def fit_varpro(form: Form, x: np.ndarray, y: np.ndarray, bounds: tuple[float, float], *,
               max_starts: int = MAX_STARTS, grid_size: int = GRID_SIZE) -> Estimate:
    """Grid search over the nonlinear parameter, then bounded refinement from several starts.

    ``max_starts=1`` refines only the best grid point (the bootstrap's fast path).

    >>> from rlhf_nb.analysis.forms import get_form
    >>> x = np.geomspace(1, 1e4, 20)
    >>> est = fit_varpro(get_form("saturating_power"), x, 2 + 5 * x**-0.3, (1e-3, 5.0))
    >>> round(est.params["alpha"], 6)
    0.3
    """
    lo, hi = bounds
    if not (0 < lo < hi):
        raise ValueError(f"bounds for {form.nonlinear} must satisfy 0 < low < high, got {bounds}")
    grid = np.geomspace(lo, hi, grid_size)
    sse, coefs = profile(form, x, y, grid)
    minima = _local_minima(sse)
    chosen = list(minima[:max_starts])
    if max_starts > 1 and len(chosen) < 2:
        # A single valley still gets a second start, from the far side of the grid, to check
        # that the refinement lands in the same place.
        far = 0 if minima[0] > grid_size // 2 else grid_size - 1
        chosen.append(far)
    starts = []
    for i in chosen:
        start = form.from_coefs(coefs[i], grid[i])
        starts.append(_refine(form, x, y, start, bounds))
    starts.sort(key=lambda s: s["sse"])
    if sse[minima[0]] < starts[0]["sse"]:  # refinement must never make the grid answer worse
        grid_best = form.from_coefs(coefs[minima[0]], grid[minima[0]])
        starts.insert(0, {**grid_best, "sse": float(sse[minima[0]])})
    best = {k: v for k, v in starts[0].items() if k != "sse"}
    return Estimate(params=best, sse=starts[0]["sse"], grid_index=int(minima[0]), starts=starts)
