"""Plot a fitted curve over its data: seed spread, fitted line, bootstrap band, the finding as title.

Works headless: it draws on a given Axes or on a new Figure from ``matplotlib.figure``
(no pyplot state, no display needed), and never changes the global backend.

What it does not do: fit, or save files (``fig.savefig`` is the caller's call).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .fitting import FitResult, Flag

_LOG_FORMS = {"power", "saturating_power", "log_linear"}


def _curve_x(fit: FitResult, x: np.ndarray, logx: bool, n: int = 200) -> np.ndarray:
    lo, hi = float(x.min()), float(x.max())
    if logx:
        return np.geomspace(max(lo, x[x > 0].min()), hi, n)
    return np.linspace(lo, hi, n)


def plot_fit(fit: FitResult, x, y, groups=None, *, ax: Axes | None = None, title: str | None = None,
             spread: str = "sd", logx: bool | None = None, logy: bool = False, band: bool = True,
             extra_fits: tuple[FitResult, ...] = (), xlabel: str = "x", ylabel: str = "metric") -> Axes:
    """Draw data and fit; return the Axes (its figure is ``ax.figure``).

    spread: "sd" draws the mean ± one standard deviation at each x over faint raw points;
    "points" draws the raw points only, one colour per group when groups are given.
    logx defaults to a log axis for the power and log forms when x spans a decade or more.
    extra_fits are drawn as dashed lines, for comparison.

    >>> import numpy as np
    >>> from rlhf_nb.analysis import fit_curve
    >>> x = np.repeat([1, 2, 4, 8, 16], 3); y = 0.5 + 0.05 * np.log(x)
    >>> fit = fit_curve(x, y + 0.01 * np.tile([-1, 0, 1], 5), "log_linear", n_boot=50)
    >>> ax = plot_fit(fit, x, y, title="metric rises with x")
    >>> ax.get_title()
    'metric rises with x'
    """
    if spread not in ("sd", "points"):
        raise ValueError(f"spread must be 'sd' or 'points', got {spread!r}")
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if ax is None:
        ax = Figure(figsize=(6, 4), layout="constrained").add_subplot()
    if logx is None:
        positive = x[x > 0]
        logx = fit.form in _LOG_FORMS and positive.size > 0 and positive.max() / positive.min() >= 10
    if spread == "points" and groups is not None:
        frame = pd.DataFrame({"x": x, "y": y, "g": np.asarray(groups)})
        for label, part in frame.groupby("g"):
            ax.plot(part.x, part.y, "o", ms=4, alpha=0.7, label=f"seed {label}")
    else:
        ax.plot(x, y, "o", ms=3, color="0.6", alpha=0.5 if spread == "sd" else 0.9, label="runs")
    if spread == "sd":
        stats = pd.DataFrame({"x": x, "y": y}).groupby("x")["y"].agg(["mean", "std"]).fillna(0.0)
        ax.errorbar(stats.index, stats["mean"], yerr=stats["std"], fmt="o", color="k", ms=5, capsize=3,
                    label="mean ± sd")
    grid = _curve_x(fit, x, logx)
    line = ax.plot(grid, fit.predict(grid), "-", lw=2, label=f"{fit.form}: {fit.equation}")[0]
    if band and fit.boot_params.size:
        lo, hi = fit.predict_band(grid)
        ax.fill_between(grid, lo, hi, color=line.get_color(), alpha=0.2, lw=0,
                        label=f"{fit.level:.0%} bootstrap band")
    if fit.form in ("gao_bon", "gao_rl") and np.isfinite(fit.derived["d_star"]):
        peak = fit.derived["kl_star"] if fit.x_is == "kl" else fit.derived["d_star"]
        where = "extrapolated" if Flag.PEAK_EXTRAPOLATED in fit.flags else "fitted"
        ax.axvline(peak, color="0.4", ls=":", lw=1, label=f"peak ({where}) at {peak:.3g}")
    for other in extra_fits:
        ax.plot(grid, other.predict(grid), "--", lw=1.2, label=f"{other.form} (AICc {other.aicc:.1f})")
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel + (" (log scale)" if logx else ""))
    ax.set_ylabel(ylabel)
    ax.set_title(title if title is not None else f"{fit.form}: {fit.equation}")
    ax.legend(fontsize=7)
    return ax
