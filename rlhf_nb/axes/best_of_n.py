"""Inference-budget axis: best-of-n with proxy RMs of several sizes, gold and proxy against d = sqrt(KL).

Findings tested (docs/findings.md; every part decided over per-seed values by
:func:`rlhf_nb.axes.results.decided_finding`):

- G1, per seed, the weakest proxy (the smallest RM by parameters): (1) β of
  gold(d) = d(α - βd), fitted per seed by least squares through the origin, "> 0", δ 0;
  (2) gold at the peak n chosen on one half of the evaluation prompts minus gold at the largest
  n, measured on the other half, "> 0", δ 0.02 (split by prompt index parity, both ways, the
  two cross-fits averaged within the seed); (3) proxy rising in n, flagged exact by
  construction (E[max of n] never falls in n over a fixed pool): reported, never evidence.
- G3, over at least 3 proxy sizes trained on the same data: per seed, the least-squares slope
  of α_bon on log10(RM parameters) "> 0" and of β_bon "< 0", each with δ = 10 % of the mean
  fitted value (over seeds and sizes) per decade; each RM's pairwise accuracy is reported.

d² is the EXACT KL of best-of-n over the evaluation pool (``kl_exact``: per prompt, with
replacement from the pool's empirical distribution, averaged over prompts); the bound
ln n - (n-1)/n (``kl_bound``) is reported beside it. The gold the fit reads is ``gold_wr``, the
gold of that same with-replacement selection rule, as a gain over n = 1, so that x and y
describe one selection rule at every n <= N (the unbiased ``gold`` draws without replacement;
the two agree for n << N; see :mod:`rlhf_nb.scoring.best_of_n`). The peak-and-fall part reads
the unbiased per-half gold (``gold_even``, ``gold_odd``), no KL involved.

The runs are the RM-size axis's (:func:`rlhf_nb.axes.rm_size.run_seed`): the same reward
models and pools, read along n.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..analysis.decision import GREATER, LESS, PartSpec
from ..analysis.forms import GAO_BON_FORM
from ..analysis.per_seed import linear_form_fit, slope
from .halves import HALVES, bon_half, crossfit_fall, halves_of
from .results import Finding, axis_figure, decided_finding, part_notes, save_figure
from .rm_size import (  # run_seed: this axis's runs are rm_size's
    RMSizeGrid,
    run_seed,
    size_order,
)

AXIS = "best_of_n"
__all__ = ["AXIS", "MIN_SIZES", "RMSizeGrid", "analyze", "crossfit_drop", "fit_gao_bon", "g1_parts", "g3_parts",
           "per_seed_fits", "run_seed"]

DROP_DELTA = 0.02
"""G1 (2): SESOI of the fall from the peak, gold accuracy"""
SHARE_OF_MEAN = 0.10
"""G3: δ of each slope is this share of the mean fitted value, per decade of RM parameters"""
MIN_SIZES = 3
"""G3 is decided over at least this many proxy sizes"""
FIT_COLUMNS = ("kl_exact", "gold_wr_gain")
HALF_COLUMNS = ("gold_even", "gold_odd")


def fit_gao_bon(kl: np.ndarray, gain: np.ndarray) -> tuple[float, float]:
    """(α, β) of gain = d(α - β d), d = sqrt(kl), by least squares through the origin (the form is linear).

    NaN, NaN when fewer than two distinct d > 0 (the two coefficients are not identified).
    """
    params = linear_form_fit(GAO_BON_FORM, np.sqrt(np.maximum(np.asarray(kl, dtype=float), 0.0)), gain)
    return params["alpha"], params["beta"]


def per_seed_fits(table: pd.DataFrame, split: str = "heldout") -> pd.DataFrame:
    """α and β of the Gao best-of-n form fitted to each (seed, RM size) curve alone, gold_wr gain against kl_exact.

    Columns: seed, rm_size, rm_params, alpha, beta, pairwise_acc. NaN coefficients when the
    table lacks the exact-KL columns (an evaluation made before they existed).
    """
    rows = []
    has = all(c in table for c in FIT_COLUMNS)
    for (seed, size), sel in table[table.split == split].groupby(["seed", "rm_size"]):
        sel = sel.sort_values("n")
        alpha, beta = (fit_gao_bon(sel.kl_exact.to_numpy(), sel.gold_wr_gain.to_numpy()) if has
                       else (float("nan"), float("nan")))
        rows.append({"seed": seed, "rm_size": size, "rm_params": float(sel.rm_params.iloc[0]), "alpha": alpha,
                     "beta": beta, "pairwise_acc": float(sel.pairwise_acc.mean())})
    return pd.DataFrame(rows, columns=["seed", "rm_size", "rm_params", "alpha", "beta", "pairwise_acc"])


def crossfit_drop(ns: np.ndarray, half_a: np.ndarray, half_b: np.ndarray) -> float:
    """Gold at the peak n chosen on one half minus gold at the largest n, measured on the other; both ways, averaged
    (:func:`rlhf_nb.axes.halves.crossfit_fall` over the points ordered by n). NaN when a half has no finite values.
    """
    order = np.argsort(np.asarray(ns), kind="stable")
    return crossfit_fall(np.asarray(half_a, dtype=float)[order], np.asarray(half_b, dtype=float)[order])


def g1_parts(weak: pd.DataFrame) -> list[PartSpec]:
    """G1's parts from the weakest proxy's curves: one row per (seed, n) with kl_exact, gold_wr_gain,
    gold_even, gold_odd, proxy."""
    betas, drops, rises = [], [], []
    for _, sel in weak.groupby("seed"):
        sel = sel.sort_values("n")
        betas.append(fit_gao_bon(sel.kl_exact, sel.gold_wr_gain)[1] if all(c in sel for c in FIT_COLUMNS)
                     else float("nan"))
        drops.append(crossfit_drop(sel.n.to_numpy(), sel.gold_even, sel.gold_odd)
                     if all(c in sel for c in HALF_COLUMNS) else float("nan"))
        rises.append(float(sel.proxy.iloc[-1] - sel.proxy.iloc[0]))
    return [PartSpec(betas, GREATER, 0.0, name="β of gold(d) = d(α - βd), d² the exact best-of-n KL (per-seed fit)"),
            PartSpec(drops, GREATER, DROP_DELTA,
                     name="gold at the peak n (chosen on one half of the prompts) - gold at the largest n (other half)"),
            PartSpec(rises, GREATER, 0.0, name="proxy at the largest n - proxy at the smallest n",
                     exact_by_construction=True)]


def _slopes(fits: pd.DataFrame, column: str) -> np.ndarray:
    """Per seed: least-squares slope of ``column`` on log10(rm_params) over the seed's sizes; NaN for a seed with
    fewer than :data:`MIN_SIZES` fitted sizes (findings.md: G3 is over at least 3 proxy sizes)."""
    return np.asarray([slope(np.log10(sel.rm_params.to_numpy(dtype=float)), sel[column], MIN_SIZES)
                       for _, sel in fits.groupby("seed")], dtype=float)


def g3_parts(fits: pd.DataFrame) -> tuple[list[PartSpec], dict[str, float]]:
    """G3's two parts from per-seed fits (:func:`per_seed_fits`), and the δs used.

    δ of each slope is :data:`SHARE_OF_MEAN` of the absolute mean fitted value over every seed
    and size (a share of a measured scale, fixed by the claim), per decade.
    """
    deltas = {c: SHARE_OF_MEAN * abs(float(np.nanmean(fits[c]))) if np.isfinite(fits[c]).any() else 0.0
              for c in ("alpha", "beta")}
    return ([PartSpec(_slopes(fits, "alpha"), GREATER, deltas["alpha"],
                      name="slope of α_bon on log10(RM parameters), per decade"),
             PartSpec(_slopes(fits, "beta"), LESS, deltas["beta"],
                      name="slope of β_bon on log10(RM parameters), per decade")],
            deltas)


def _figure(table: pd.DataFrame, fits: pd.DataFrame, split: str, order: list[str]) -> Figure:
    fig, axes = axis_figure(3)
    sel = table[table.split == split]
    exact = "kl_exact" in sel
    xcol = "d_exact" if exact else "d"
    ycol = "gold_wr_gain" if "gold_wr_gain" in sel else "gold_gain"
    means = fits.groupby("rm_size")[["alpha", "beta"]].mean()
    for size in order:
        part = sel[sel.rm_size == size]
        m = part.groupby("n")[[xcol, "d", ycol, "proxy_gain"]].mean()
        line = axes[0].plot(m[xcol], m[ycol], "o", ms=4, label=f"RM {size}")[0]
        if size in means.index and np.isfinite(means.loc[size]).all():
            grid = np.linspace(0, m[xcol].max(), 100)
            axes[0].plot(grid, GAO_BON_FORM.predict(means.loc[size].to_dict(), grid), "-", color=line.get_color(), lw=1)
        axes[1].plot(m[xcol], m.proxy_gain, "-o", ms=4, color=line.get_color(), label=f"RM {size}")
        if exact:
            axes[1].plot(m["d"], m.proxy_gain, ":", color=line.get_color(), lw=1)
    oracle = sel.groupby("n")[[xcol, "oracle"]].mean()
    start = float((sel.gold - sel.gold_gain).mean())
    axes[0].plot(oracle[xcol], oracle.oracle - start, ":", color="0.5", label="oracle (pick by gold)")
    label = "d = sqrt(exact best-of-n KL)" if exact else "d = sqrt(KL bound)  [no exact KL in this table]"
    axes[0].set(xlabel=label, ylabel="gold gain over n = 1",
                title=f"gold ({split}): per-seed fits of d(α - βd), mean curve")
    axes[1].set(xlabel=label + ("; dotted: against the bound ln n - (n-1)/n" if exact else ""),
                ylabel="proxy score gain over n = 1", title="proxy")
    by_size = fits.groupby("rm_size")[["rm_params", "alpha", "beta"]].agg(["mean", "std"]).reindex(order)
    for col, fmt in (("alpha", "-o"), ("beta", "-s")):
        axes[2].errorbar(by_size["rm_params"]["mean"], by_size[col]["mean"], yerr=by_size[col]["std"].fillna(0.0),
                         fmt=fmt, capsize=3, label=f"{col}_bon (mean ± sd over seeds)")
    axes[2].set(xscale="log", xlabel="RM parameters", title="Gao BoN coefficients vs RM size")
    for ax in axes:
        ax.legend(fontsize=7)
    return fig


def analyze(table: pd.DataFrame, results_dir: str | Path, split: str = "heldout") -> list[Finding]:
    """G1 and G3 from the table alone, by the pre-registered protocol (docs/findings.md): see the module docstring.

    Nothing here is bootstrapped over seeds (findings.md: never a bootstrap over fewer than 10
    seed groups; fits describe, per-seed parameters decide).
    """
    order = size_order(table)
    small = order[0]
    fits = per_seed_fits(table, split)
    fig_rel = save_figure(_figure(table, fits, split, order), results_dir, AXIS, AXIS)
    sel = table[table.split == split]
    kl_cols = [c for c in ("kl_exact", "kl_bound") if c in sel]
    kl_means = sel.groupby(["rm_size", "n"])[kl_cols].mean()
    kl_table = {str(size): {int(n): {c: float(kl_means.loc[(size, n), c]) for c in kl_cols}
                            for n in kl_means.loc[size].index} for size in order}

    weak = sel[sel.rm_size == small]
    weak_fits = fits[fits.rm_size == small]
    peak_n = {}
    if all(c in weak for c in HALF_COLUMNS):
        for half in HALF_COLUMNS:
            curve = weak.groupby("n")[half].mean()
            peak_n[half] = int(curve.idxmax()) if curve.notna().any() else None
    # the variance split (reported, not evidence): the same parts on each half of the evaluation prompts
    views = {h: bon_half(table, h) for h in HALVES}
    no_wr = ("the table has no per-half gold_wr (gold_wr_even / gold_wr_odd: evaluations made before those columns)"
             if not all(f"gold_wr_{h}" in table for h in HALVES) else "")
    g1_p = g1_parts(weak)
    g1_halves, g1_no_split = halves_of(
        lambda v: g1_parts(v[(v.split == split) & (v.rm_size == small)]), views, len(g1_p),
        {**({0: no_wr} if no_wr else {}),
         1: "the part already chooses the peak n on one half and measures it on the other: a split would need "
            "quarters of the prompts"})
    g1 = decided_finding(
        "G1", g1_p, axis=AXIS, figure=fig_rel, halves=g1_halves, no_split=g1_no_split,
        effect_label=f"β_bon of the weakest RM ({small}), per-seed fits against the exact best-of-n KL",
        numbers={"weakest_rm": small,
                 "per_seed_alpha_beta": weak_fits[["seed", "alpha", "beta"]].to_dict("records"),
                 "mean_peak_n_by_half (descriptive; each seed's peak is chosen on its own half)": peak_n,
                 "kl_exact_and_bound_by_n": kl_table,
                 "kl_note": "d² is the exact best-of-n KL over the pool (kl_exact); ln n - (n-1)/n (kl_bound) is its "
                            "upper bound, reported beside it; the fit reads gold_wr, the gold of the same "
                            "with-replacement selection rule",
                 "split_halves": "prompts of even / odd index in the pool's order"})
    g1.note = part_notes(g1)

    sizes = fits.rm_size.nunique()
    parts, deltas = g3_parts(fits)
    g3_halves, g3_no_split = halves_of(lambda v: g3_parts(per_seed_fits(v, split))[0], views, len(parts),
                                       {i: no_wr for i in range(len(parts))} if no_wr else None)
    g3 = decided_finding(
        "G3", parts, axis=AXIS, figure=fig_rel, halves=g3_halves, no_split=g3_no_split,
        effect_label="slope of α_bon on log10(RM parameters), per decade (per-seed fits)",
        numbers={"delta_alpha_per_decade": deltas["alpha"], "delta_beta_per_decade": deltas["beta"],
                 "alpha_by_size": {s: float(v) for s, v in fits.groupby("rm_size")["alpha"].mean().reindex(order).items()},
                 "beta_by_size": {s: float(v) for s, v in fits.groupby("rm_size")["beta"].mean().reindex(order).items()},
                 "rm_params_by_size": {s: float(v) for s, v in
                                       fits.groupby("rm_size")["rm_params"].first().reindex(order).items()},
                 "pairwise_acc_by_size": {s: float(v) for s, v in
                                          fits.groupby("rm_size")["pairwise_acc"].mean().reindex(order).items()},
                 "pairwise_acc_per_seed": fits[["seed", "rm_size", "pairwise_acc"]].to_dict("records"),
                 "sizes": sizes})
    why = f"{sizes} proxy sizes: G3 needs at least {MIN_SIZES}, so no seed has a value; " if sizes < MIN_SIZES else ""
    g3.note = why + part_notes(g3)
    return [g1, g3]
