"""Inference-budget axis: best-of-n with proxy RMs of several sizes, gold and proxy against d = sqrt(KL).

Findings tested: G1 (gold vs d fits d(alpha - beta d); proxy rises monotonically; weak proxies
peak and fall within the n range) and G3 (alpha_bon rises and beta_bon falls with RM size).

The runs are the RM-size axis's (:func:`rlhf_nb.axes.rm_size.run_seed`): the same reward
models and pools, read along n. KL is the analytic best-of-n bound ln n - (n-1)/n, an UPPER
BOUND on the true KL (many samples repeat on this task, so the true KL is smaller), and d is
its square root. Gold and proxy are gains over n = 1, so the Gao form passes through the
origin as it assumes.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..analysis import (
    INCONCLUSIVE,
    NOT_SHOWN,
    SHOWN,
    combine,
    fit_curve,
    paired_seed_effect,
    verdict,
)
from .findings import claim as registered_claim
from .results import Finding, axis_figure, save_figure
from .rm_size import RMSizeGrid, run_seed, size_order  # noqa: F401  (run_seed: this axis's runs are rm_size's)

AXIS = "best_of_n"
__all__ = ["AXIS", "RMSizeGrid", "run_seed", "analyze", "gao_fits"]


def gao_fits(table: pd.DataFrame, split: str = "heldout", n_boot: int = 500) -> dict[str, object]:
    """The Gao best-of-n form fitted per RM size to gold gain vs KL bound, seeds as bootstrap groups."""
    fits = {}
    for size in size_order(table):
        sel = table[(table.rm_size == size) & (table.split == split)]
        boot = n_boot if sel.seed.nunique() >= 3 else 0
        fits[size] = fit_curve(sel.kl_bound, sel.gold_gain, "gao_bon", sel.seed, n_boot=boot, x_is="kl")
    return fits


def _per_seed_params(table: pd.DataFrame, split: str = "heldout") -> pd.DataFrame:
    """alpha and beta of the Gao form fitted to each (seed, size) curve alone."""
    rows = []
    for (seed, size), sel in table[table.split == split].groupby(["seed", "rm_size"]):
        fit = fit_curve(sel.kl_bound, sel.gold_gain, "gao_bon", n_boot=0, x_is="kl")
        rows.append({"seed": seed, "rm_size": size, **fit.params})
    return pd.DataFrame(rows)


def _figure(table: pd.DataFrame, fits: dict, split: str) -> Figure:
    fig, axes = axis_figure(3)
    sel = table[table.split == split]
    grid = np.linspace(0, sel.kl_bound.max(), 100)
    for size in fits:
        part = sel[sel.rm_size == size]
        m = part.groupby("d")[["gold_gain", "proxy_gain"]].mean()
        line = axes[0].plot(m.index, m.gold_gain, "o", ms=4, label=f"RM {size}")[0]
        axes[0].plot(np.sqrt(grid), fits[size].predict(grid), "-", color=line.get_color(), lw=1)
        axes[1].plot(m.index, m.proxy_gain, "-o", ms=4, color=line.get_color(), label=f"RM {size}")
    oracle = sel.groupby("d")[["oracle", "gold"]].mean()
    start = float((sel.gold - sel.gold_gain).mean())
    axes[0].plot(oracle.index, oracle.oracle - start, ":", color="0.5", label="oracle (pick by gold)")
    axes[0].set(xlabel="d = sqrt(KL bound)  [KL <= ln n - (n-1)/n]", ylabel="gold gain over n = 1",
                title=f"gold ({split}): fitted d(alpha - beta d)")
    axes[1].set(xlabel="d = sqrt(KL bound)", ylabel="proxy score gain over n = 1", title="proxy")
    params = pd.DataFrame({s: f.params for s, f in fits.items()}).T
    size_params = sel.groupby("rm_size")["rm_params"].first().loc[params.index]
    axes[2].plot(size_params, params.alpha, "-o", label="alpha_bon")
    axes[2].plot(size_params, params.beta, "-s", label="beta_bon")
    axes[2].set(xscale="log", xlabel="RM parameters", title="Gao BoN coefficients vs RM size")
    for ax in axes:
        ax.legend(fontsize=7)
    return fig


def analyze(table: pd.DataFrame, results_dir: str | Path, split: str = "heldout", n_boot: int = 500) -> list[Finding]:
    """G1 and G3 from the table alone."""
    fits = gao_fits(table, split, n_boot)
    fig_rel = save_figure(_figure(table, fits, split), results_dir, AXIS, AXIS)
    order = list(fits)
    small, large = order[0], order[-1]
    sel = table[table.split == split]

    # G1 (a): the weakest proxy's gold curve is concave (beta > 0); (b) proxy never falls with n;
    # (c) the weakest proxy's gold peaks inside the n range and falls after it.
    weak = fits[small]
    beta_ci = weak.ci["beta"]
    concave = verdict(weak.params["beta"], beta_ci) if np.isfinite(beta_ci).all() else INCONCLUSIVE
    steps = sel.sort_values("n").groupby(["seed", "rm_size"])["proxy"].apply(lambda s: float(np.diff(s).min()))
    monotone = SHOWN if (steps >= -1e-9).all() else NOT_SHOWN
    weak_rows = sel[sel.rm_size == small]
    mean_curve = weak_rows.groupby("n")["gold"].mean()
    n_peak, n_max = int(mean_curve.idxmax()), int(mean_curve.index.max())
    drop = paired_seed_effect(weak_rows[weak_rows.n == n_peak].set_index("seed").gold,
                       weak_rows[weak_rows.n == n_max].set_index("seed").gold)
    falls = drop.verdict() if n_peak < n_max else NOT_SHOWN
    g1_parts = [concave, monotone, falls]
    shape = {s: {"alpha": f.params["alpha"], "beta": f.params["beta"], "beta_ci": list(f.ci["beta"]), "r2": f.r2,
                 "flags": [str(fl.value) for fl in f.flags]} for s, f in fits.items()}
    g1 = Finding(
        id="G1", axis=AXIS, claim=registered_claim("G1"),
        verdict=combine(*g1_parts), effect=drop.estimate, ci=drop.ci, n_seeds=drop.n,
        effect_label=f"weakest RM ({small}): gold at its peak n = {n_peak} minus gold at n = {n_max}",
        figure=fig_rel,
        numbers={"gao_fits": shape, "proxy_monotone": monotone == SHOWN, "weak_peak_n": n_peak,
                 "kl_note": "KL is the analytic bound ln n - (n-1)/n, an upper bound"},
        note=(f"weakest RM {small}: beta = {weak.params['beta']:.3g} CI {np.round(beta_ci, 3).tolist()} (concave: "
              f"{concave}); proxy monotone in n: {monotone}; gold peak at n = {n_peak}, drop to n = {n_max} "
              f"{drop.signed()} ({falls})"),
    )

    # G3: per-seed alpha and beta, largest RM against smallest.
    per_seed = _per_seed_params(table, split).pivot(index="seed", columns="rm_size")
    d_alpha = paired_seed_effect(per_seed["alpha"][large], per_seed["alpha"][small])
    d_beta = paired_seed_effect(per_seed["beta"][small], per_seed["beta"][large])
    g3_parts = [d_alpha.verdict(), d_beta.verdict()]
    means = per_seed.mean()
    g3 = Finding(
        id="G3", axis=AXIS, claim=registered_claim("G3"),
        verdict=combine(*g3_parts), effect=d_alpha.estimate, ci=d_alpha.ci, n_seeds=d_alpha.n,
        effect_label=f"alpha_bon of RM {large} minus RM {small} (per-seed fits)",
        figure=fig_rel,
        numbers={"alpha_by_size": {s: float(means["alpha"][s]) for s in order},
                 "beta_by_size": {s: float(means["beta"][s]) for s in order},
                 "beta_small_minus_large": [d_beta.estimate, *d_beta.ci],
                 "pooled_fit_ci": {s: {"alpha": list(f.ci["alpha"]), "beta": list(f.ci["beta"])}
                                   for s, f in fits.items()}},
        note=(f"alpha {large} - {small} = {d_alpha.signed()} ({g3_parts[0]}); beta {small} - {large} = "
              f"{d_beta.signed()} ({g3_parts[1]})"),
    )
    return [g1, g3]
