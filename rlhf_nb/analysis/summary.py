"""From a tidy runs table to a finding: compare forms, fit the best, plot, and say it in words.

This is what an analysis notebook calls, so the notebook holds parameters and prose only.
:func:`analyse_runs` takes a table with one row per run (x, seed, metric), compares the
candidate forms, fits the one AICc prefers with bootstrap intervals over seeds, draws it,
and writes a paragraph stating the result with its numbers and flags. With only two distinct
x values it reports a ratio instead of a law. :func:`synthetic_runs` makes a demo table so a
template notebook runs standalone.

What it does not do: read the run store (pass a table), or decide a scorecard verdict
(:func:`rlhf_nb.analysis.decide` does, from per-seed values: fits describe, per-seed numbers decide).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .compare import compare_forms
from .fitting import FitResult, fit_curve
from .plotting import plot_fit
from .ratio import RatioSummary, ratio_summary

_LABELS = {
    "gain_per_doubling": "gain per doubling",
    "factor_per_doubling": "factor per doubling",
    "gain_first_doubling": "gain over the first doubling",
    "gain_last_doubling": "gain over the last doubling",
    "last_to_first_gain_ratio": "last/first doubling gain ratio",
    "gap_closed_per_doubling": "fraction of the remaining gap closed per doubling",
    "d_star": "peak d*",
    "kl_star": "peak KL*",
    "r_star": "peak gold R*",
    "d_zero": "d where gold returns to 0",
    "kl_zero": "KL where gold returns to 0",
}


@dataclass
class Analysis:
    """What :func:`analyse_runs` found: the fit, the comparison table, a figure and the finding."""

    finding: str
    """A paragraph stating the result with its numbers, intervals and flags."""
    figure: Figure
    fit: FitResult | None = None
    comparison: pd.DataFrame | None = None
    ratio: RatioSummary | None = None
    """Set instead of fit and comparison when the table has only two distinct x values."""

    def table(self) -> pd.DataFrame:
        """The fit's parameters and derived quantities with intervals, or the two means of a ratio.

        >>> analyse_runs(synthetic_runs(x=(1, 8)), n_boot=0).table().n.tolist()
        [3, 3]
        """
        if self.fit is not None:
            return self.fit.table()
        r = self.ratio
        return pd.DataFrame({"x": [r.x_low, r.x_high], "mean": [r.mean_low, r.mean_high], "n": [r.n_low, r.n_high]})


def parse_forms(forms) -> list[str]:
    """Forms from a comma-separated string (a notebook parameter) or a list.

    >>> parse_forms("saturating_power, log_linear")
    ['saturating_power', 'log_linear']
    """
    if isinstance(forms, str):
        forms = forms.split(",")
    names = [f.strip() for f in forms if f.strip()]
    if not names:
        raise ValueError("no forms given: name at least one, e.g. 'saturating_power,log_linear'")
    return names


def synthetic_runs(x=(1, 2, 4, 8, 16, 32, 64, 128, 256), n_seeds: int = 3, *, limit: float = 0.8,
                   amplitude: float = -0.3, alpha: float = 0.5, noise: float = 0.01, seed_sd: float = 0.005,
                   seed: int = 0) -> pd.DataFrame:
    """A demo runs table: metric = limit + amplitude x^-alpha + a per-seed offset + noise.

    The default is an accuracy that rises from 0.5 towards 0.8 with halving returns per
    quadrupling of x. Columns: x, seed, metric.

    >>> synthetic_runs(n_seeds=2).shape
    (18, 3)
    """
    rng = np.random.default_rng(seed)
    xs = np.asarray(x, dtype=float)
    rows = []
    for s in range(n_seeds):
        offset = rng.normal(0.0, seed_sd)
        metric = limit + amplitude * xs ** (-alpha) + offset + rng.normal(0.0, noise, xs.size)
        rows.append(pd.DataFrame({"x": xs, "seed": s, "metric": metric}))
    return pd.concat(rows, ignore_index=True)


def _num(v: float) -> str:
    return f"{v:.3g}"


def _with_ci(v: float, ci) -> str:
    if np.isfinite(ci[0]) or np.isfinite(ci[1]):
        return f"{_num(v)} [{_num(ci[0])}, {_num(ci[1])}]"
    return _num(v)


def describe_fit(fit: FitResult, comparison: pd.DataFrame | None = None, title: str = "",
                 n_groups: int | None = None) -> str:
    """A paragraph stating a fit, its diminishing returns, the form comparison and the flags.

    >>> x = np.geomspace(1, 100, 8)
    >>> describe_fit(fit_curve(x, 0.5 + 0.05 * np.log(x), "log_linear", n_boot=0)).startswith("Finding.")
    True
    """
    parts = [f"Finding{': ' + title if title else ''}."]
    if comparison is not None and len(comparison) > 1:
        ranked = comparison.dropna(subset=["aicc"])
        text = f"Of {len(comparison)} forms, AICc prefers {ranked.form.iloc[0]}"
        if len(ranked) > 1:
            text += f" (ΔAICc to {ranked.form.iloc[1]}: {_num(ranked.delta_aicc.iloc[1])})"
        held = comparison.dropna(subset=["heldout_abs_error"]).sort_values("heldout_rank")
        if len(held):
            best = held.iloc[0]
            agree = "agreeing" if best.form == ranked.form.iloc[0] else "disagreeing"
            text += (f"; predicting the largest x = {_num(best.heldout_x)} from the smaller ones, {best.form} errs "
                     f"least ({best.heldout_error:+.3g}), {agree}")
        parts.append(text + ".")
    params = ", ".join(f"{k} = {_with_ci(v, fit.ci[k])}" for k, v in fit.params.items())
    unit = {"kl": " (x is KL; fitted in d = sqrt(KL))", "d": " (x is d = sqrt(KL))"}.get(fit.x_is, "")
    parts.append(f"Fit: {fit.equation}{unit} with {params}; n = {fit.n}, x from {_num(fit.x_range[0])} "
                 f"to {_num(fit.x_range[1])}.")
    labels = dict(_LABELS, x_q=f"x at which {fit.q:.0%} of the gain is reached")
    quantities = "; ".join(f"{labels.get(k, k)} {_with_ci(v, fit.derived_ci[k])}" for k, v in fit.derived.items())
    parts.append(f"Derived: {quantities}.")
    if fit.flags:
        parts.append("Flags: " + "; ".join(fit.notes) + ".")
    if fit.n_boot:
        over = f"{n_groups} seeds" if fit.resampled == "groups" and n_groups else "points"
        parts.append(f"Intervals: {fit.level:.0%} percentile bootstrap over {over} ({fit.n_boot} resamples); "
                     "with few seeds or points they tend to be too narrow.")
    return " ".join(parts)


def analyse_runs(table: pd.DataFrame, *, x_column: str = "x", metric_column: str = "metric",
                 seed_column: str = "seed", forms="saturating_power,log_linear,power", title: str = "",
                 n_boot: int = 1000, seed: int = 0, x_is: str | None = None) -> Analysis:
    """Compare forms, fit the AICc-preferred one over seeds, plot it, and state the finding.

    >>> result = analyse_runs(synthetic_runs(), n_boot=50, title="metric saturates in x")
    >>> result.fit.form, result.finding.startswith("Finding: metric saturates in x.")
    ('saturating_power', True)
    """
    missing = [c for c in (x_column, metric_column, seed_column) if c not in table.columns]
    if missing:
        raise ValueError(f"runs table lacks column(s) {missing}; it has {list(table.columns)}")
    x = table[x_column].to_numpy(dtype=float)
    y = table[metric_column].to_numpy(dtype=float)
    groups = table[seed_column].to_numpy()
    n_groups = len(pd.unique(groups))
    names = parse_forms(forms)
    x_is = x_is or None
    if len(np.unique(x[np.isfinite(x)])) == 2:
        ratio = ratio_summary(x, y)
        ax = Figure(figsize=(6, 4), layout="constrained").add_subplot()
        ax.plot(x, y, "o")
        ax.set(xlabel=x_column, ylabel=metric_column, title=title or "two x values: a ratio")
        finding = f"Finding{': ' + title if title else ''}. {str(ratio)[0].upper()}{str(ratio)[1:]}."
        return Analysis(finding=finding, figure=ax.figure, ratio=ratio)
    comparison, fits = compare_forms(x, y, names, groups, x_is=x_is, return_fits=True)
    if not fits:
        raise ValueError("no form could be fitted:\n" + "\n".join(comparison.form + ": " + comparison.note))
    best = comparison.dropna(subset=["aicc"]).form.iloc[0] if comparison.aicc.notna().any() else next(iter(fits))
    fit = fit_curve(x, y, best, groups, n_boot=n_boot, seed=seed, x_is=x_is if fits[best].x_is else None)
    others = tuple(f for name, f in fits.items() if name != best)
    ax = plot_fit(fit, x, y, groups, title=title or None, extra_fits=others, xlabel=x_column, ylabel=metric_column)
    finding = describe_fit(fit, comparison, title, n_groups)
    return Analysis(finding=finding, figure=ax.figure, fit=fit, comparison=comparison)


def save_analysis(analysis: Analysis, output_dir) -> list[Path]:
    """Write figure.png, finding.md, and comparison.csv and fit.csv when present; return the paths.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     names = sorted(p.name for p in save_analysis(analyse_runs(synthetic_runs(), n_boot=20), tmp))
    >>> names
    ['comparison.csv', 'figure.png', 'finding.md', 'fit.csv']
    """
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "figure.png", out / "finding.md"]
    analysis.figure.savefig(paths[0], dpi=120)
    paths[1].write_text(analysis.finding + "\n", encoding="utf-8")
    if analysis.comparison is not None:
        paths.append(out / "comparison.csv")
        analysis.comparison.to_csv(paths[-1], index=False)
    if analysis.fit is not None:
        paths.append(out / "fit.csv")
        analysis.fit.table().to_csv(paths[-1], index=False)
    return paths
