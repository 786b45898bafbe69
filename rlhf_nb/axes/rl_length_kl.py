"""Axis: RL length and KL coefficient; gold and proxy against sqrt(KL) (H6; G2, G6, G7 of Gao et al. 2022).

One RL run per KL coefficient, tracked every ``track_every_steps`` steps: with a constant
learning rate, the run truncated at step k is the run of length k, so every tracked step is a
point of the length axis. Beside them, best-of-n by the same reward model on the SFT policy, on
the tracker's own prompts, at its exact KL over the sample pool (``kl_exact``; the bound
ln n - (n-1)/n is reported beside it).

Every finding is decided by the pre-registered protocol of docs/findings.md: each seed is
reduced to one number per part (the ``*_parts`` functions below, which take the axis table and
return :class:`rlhf_nb.analysis.PartSpec` records), and :func:`rlhf_nb.axes.results.decided_finding`
decides on t intervals over seeds. The runs: the *unpenalised* run is the one at KL coefficient
0 (a grid without 0 has none, and its parts have no values); the *penalised* run of H6 is the
one at the largest KL coefficient of the grid. S is the run length in steps; the thirds of the
tracked steps are the tracked steps k with 0 < k <= S/3 (first), S/3 < k <= 2S/3 (middle) and
2S/3 < k <= S (last), each summarised by the mean over its tracked steps.

- H6 (:func:`h6_parts`), per seed:
  (1) penalised run, early gain = mean gold over the first third - gold at step 0, "greater", δ 0.02;
  (2) penalised run, late gain - early gain / 3, with late gain = mean gold over the last third -
      mean gold over the middle third, "less", δ 0.01;
  (3a) unpenalised run, proxy rise over the last third (mean over the last third - mean over
       the middle third, as the late gain), "greater", δ 0.02;
  (3b) unpenalised run, gold rise over the same window minus 0.02, "less", δ 0: shown when the
       interval of the gold rise lies below 0.02, not shown when it lies above 0.02. This is
       findings.md's "gold over the same window < δ 0.02" as a one-sided test of "rise < 0.02".
- G2 (:func:`g2_parts`), unpenalised run, per seed:
  (1) β of gold gain(d) = d(α - β ln d), least squares over every tracked point of the seed's run
      (no intercept: the gain is 0 at d = 0; the accuracy floor is not modelled), "greater", δ 0;
  (2) fall from the peak to the last tracked point, with the peak chosen on one half of the
      tracking prompts and measured on the other (:func:`split_half_fall`: both ways, averaged),
      "greater", δ 0.02.
- G6 (:func:`g6_parts`): at matched sqrt(KL), best-of-n gold gain minus the unpenalised RL
  run's gold gain, per seed the mean over the RL run's tracked points (step > 0) whose sqrt(KL)
  lies within best-of-n's range: best-of-n's gain there is interpolated linearly in sqrt(KL)
  between its n = 1, 2, 4, ... points at their EXACT sqrt(KL); "greater", δ 0.02. Why the
  best-of-n curve is the one interpolated: both curves are concave in d, and linear
  interpolation under-reads a concave curve; reading RL between its tracked points (coarse near
  d = 0, where Gao's d ln d is steepest) favoured best-of-n (a calibration test measured "shown"
  in 15-30 % of studies with no true difference), reading best-of-n favours RL, the
  conservative side of a claim "best-of-n > RL". Best-of-n's gold is ``gold_wr_gain``, the
  selection rule whose KL ``kl_exact`` is (``gold_gain``, unbiased without replacement, where
  the table has no ``gold_wr_gain``). The same contrast at the KL bound (``d``, with
  ``gold_gain``) is reported beside it.
- G7 (:func:`g7_parts`), one part per penalised KL coefficient: per seed, the gap of each
  tracked point in the last third of the penalised run (where the penalty holds it) to the
  unpenalised run's gold gain at the same sqrt(KL), relative to 25 % of that gain: value =
  Σ gap / (0.25 Σ gain_unpenalised), the sums over those points; "equivalent", δ 1 (|mean gap|
  < 25 % of the mean unpenalised gain there, per seed). The unpenalised run is read at each
  sqrt(KL) by the parabola through the crossing segment and its next tracked point
  (``gain_at_sqrt_kl(..., order=2)``): a line under-reads its concave curve between coarse
  tracked points, which biased the gap upwards and made the lower margin too easy to meet (a
  calibration test measured "shown" in 4 % of studies at 5 seeds with the truth on the
  margin; 2.3-2.9 % with the parabola). A seed whose unpenalised gain there sums to <= 0 has no margin and no value. The signed
  gap itself (gold accuracy) is reported beside.

Reading a run at a sqrt(KL) d (:func:`gain_at_sqrt_kl`): along the tracked steps in order, the
first segment whose end reaches d, linearly interpolated in sqrt(KL): the gold the run had when
it first spent that KL (an estimated KL that dips later does not send the reading back). NaN
when the run never reaches d.

Cost at the defaults (3 KL coefficients, GRPO 16 x 8, 60 steps tracked every 10; one torch
thread, in the default study on 2 cores): 45-55 s per seed when the runs at KL 0 and 0.2 are
already in the store (the policy-size axis trains them); about 2.5 min per seed otherwise,
including a best-of-64 pool on 128 prompts.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from ..analysis.decision import PartSpec, decide
from ..analysis.forms import GAO_RL_FORM
from ..analysis.per_seed import linear_form_fit
from ..pipeline.policy_runs import bon_rows, point_rows, run_point
from ..store import RunStore
from .policy_family import Scale
from .halves import HALVES, bon_half, crossfit_fall, halves_of, rl_half
from .results import Finding, axis_figure, decided_finding, save_figure

AXIS = "rl_length_kl"
H6_EARLY_DELTA = 0.02
"""H6 (1): SESOI of the early gold gain of the penalised run"""
H6_LATE_DELTA = 0.01
"""H6 (2): SESOI of late gain - early gain / 3 (claim < 0)"""
H6_PROXY_DELTA = 0.02
"""H6 (3a): SESOI of the proxy rise over the last third of the unpenalised run (proxy units)"""
H6_GOLD_FLAT = 0.02
"""H6 (3b): the gold rise over the same window must lie below this"""
G2_FALL_DELTA = 0.02
"""G2 (2): SESOI of the fall from the peak to the last tracked point"""
G6_DELTA = 0.02
"""G6: SESOI of best-of-n gold gain - RL gold gain at matched sqrt(KL)"""
G7_SHARE = 0.25
"""G7: the equivalence margin as a share of the unpenalised run's gain at the same sqrt(KL)"""


def run_seed(seed: int, store: RunStore | str | Path, *, kl_coefs: list[float], bon_n: int = 64,
             scale: Scale = Scale()) -> pd.DataFrame:
    """One tracked RL run per KL coefficient, and best-of-n on the tracker's prompts, for one seed."""
    store = store if isinstance(store, RunStore) else RunStore(store)
    if any(k < 0 for k in kl_coefs) or not kl_coefs:
        raise ValueError(f"kl_coefs={kl_coefs}: give one or more KL coefficients >= 0")
    if bon_n < 1 or bon_n & (bon_n - 1):
        raise ValueError(f"bon_n={bon_n}: use a power of two (best-of-n is reported at n = 1, 2, 4, ..., bon_n)")
    config = scale.pipeline(seed)
    frames, seen, runs = [], set(), None
    for kl in sorted(set(kl_coefs)):
        runs = run_point(store, replace(config, rl=replace(config.rl, kl_coef=float(kl))))
        frames.append(point_rows(runs, seen, series="rl"))
    # The tracker's prompts and budget, so RL and best-of-n gains are measured on the same problems.
    problems = config.task.problems("heldout", config.rl.track_prompts, config.rl.seed + 7)
    frames.append(bon_rows(store, config, runs.sft, runs.reward, problems, bon_n, config.rl.max_completion_tokens,
                           sample_seed=config.rl.seed + 99, series="bon", seed=seed, policy=config.sft.policy))
    return pd.concat(frames, ignore_index=True)


# ------------------------------------------------------------------------------------------
# Reading one run
# ------------------------------------------------------------------------------------------


def gain_at_sqrt_kl(sqrt_kl, y, d: float, order: int = 1) -> float:
    """``y`` of a run at sqrt(KL) ``d``: first crossing along the tracked steps, interpolated in sqrt(KL).

    ``sqrt_kl`` and ``y`` are in step order (step 0 first). The reading is on the first segment
    whose end reaches ``d``: with i the first index with x[i] >= d (y[0] when i = 0),
    ``order`` 1 is the line through points i-1 and i; ``order`` 2 the parabola through them and
    the next tracked point i+1 (or i-2 at the end of the run), which removes most of the
    under-reading of a concave curve that a line between coarse tracked points gives; it falls
    back to the line when the three sqrt(KL) are not increasing. NaN when the run never reaches
    ``d`` or ``d`` is NaN.

    >>> gain_at_sqrt_kl([0.0, 1.0, 0.5, 2.0], [0.0, 0.2, 0.1, 0.4], 0.5)
    0.1
    """
    x, v = np.asarray(sqrt_kl, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(v)
    x, v = x[keep], v[keep]
    if not np.isfinite(d) or not len(x):
        return float("nan")
    reached = np.flatnonzero(x >= d)
    if not len(reached):
        return float("nan")
    i = int(reached[0])
    if i == 0:
        return float(v[0])
    if order == 2 and len(x) >= 3:
        idx = [i - 1, i, i + 1] if i + 1 < len(x) else [i - 2, i - 1, i]
        xs, ys = x[idx], v[idx]
        if np.all(np.diff(xs) > 0):
            (x0, x1, x2), (y0, y1, y2) = xs, ys
            return float(y0 * (d - x1) * (d - x2) / ((x0 - x1) * (x0 - x2))
                         + y1 * (d - x0) * (d - x2) / ((x1 - x0) * (x1 - x2))
                         + y2 * (d - x0) * (d - x1) / ((x2 - x0) * (x2 - x1)))
    x0, x1, y0, y1 = x[i - 1], x[i], v[i - 1], v[i]
    return float(y0 + (y1 - y0) * (d - x0) / (x1 - x0))


def _runs(rl: pd.DataFrame, kl_coef: float) -> dict[int, pd.DataFrame]:
    """seed -> the run at ``kl_coef``, sorted by step."""
    part = rl[np.isclose(rl["kl_coef"].to_numpy(float), kl_coef)]
    return {int(s): c.sort_values("step") for s, c in part.groupby("seed")}


def _thirds(curve: pd.DataFrame, column: str) -> tuple[float, float, float, float]:
    """(value at step 0, mean over the first, middle and last thirds of the tracked steps) of ``column``."""
    steps = curve["step"].to_numpy(int)
    S = int(curve["rl_steps"].iloc[0]) if "rl_steps" in curve else int(steps.max())
    v = curve[column].to_numpy(float)
    start = v[steps == 0]
    out = [float(start[0]) if len(start) else float("nan")]
    for lo, hi in ((0, 1), (1, 2), (2, 3)):
        m = (3 * steps > lo * S) & (3 * steps <= hi * S)
        out.append(float(v[m].mean()) if m.any() else float("nan"))
    return tuple(out)


# ------------------------------------------------------------------------------------------
# H6
# ------------------------------------------------------------------------------------------


def _kl_levels(rl: pd.DataFrame) -> tuple[bool, float | None, list[float]]:
    """(has an unpenalised run, the largest KL coefficient if > 0, every positive KL coefficient)."""
    kls = sorted(float(k) for k in rl["kl_coef"].unique())
    penalised = [k for k in kls if k > 0]
    return (bool(kls) and kls[0] == 0.0), (penalised[-1] if penalised else None), penalised


def h6_parts(rl: pd.DataFrame) -> tuple[list[PartSpec], dict]:
    """H6's four counted parts and the numbers beside them, from the RL rows of the axis table."""
    has_free, pen_kl, _ = _kl_levels(rl)
    pen = _runs(rl, pen_kl) if pen_kl is not None else {}
    free = _runs(rl, 0.0) if has_free else {}
    seeds = sorted(set(pen) | set(free))
    early, late, proxy_rise, gold_rise = ({s: np.nan for s in seeds} for _ in range(4))
    for s, c in pen.items():
        start, first, middle, last = _thirds(c, "gold")
        early[s], late[s] = first - start, last - middle
    has_proxy = "proxy" in rl and rl["proxy"].notna().any()
    for s, c in free.items():
        _, _, g_mid, g_last = _thirds(c, "gold")
        gold_rise[s] = g_last - g_mid
        if has_proxy:
            _, _, p_mid, p_last = _thirds(c, "proxy")
            proxy_rise[s] = p_last - p_mid
    e, la = np.array([early[s] for s in seeds]), np.array([late[s] for s in seeds])
    pr, gr = np.array([proxy_rise[s] for s in seeds]), np.array([gold_rise[s] for s in seeds])
    kl_txt = f"kl_coef={pen_kl:g}" if pen_kl is not None else "no penalised run"
    parts = [
        PartSpec(e, "greater", H6_EARLY_DELTA, f"early gold gain, first third - start ({kl_txt})"),
        PartSpec(la - e / 3, "less", H6_LATE_DELTA, f"late gain (last - middle third) - early/3 ({kl_txt})"),
        PartSpec(pr, "greater", H6_PROXY_DELTA, "proxy rise over the last third (kl_coef=0)"),
        PartSpec(gr - H6_GOLD_FLAT, "less", 0.0, f"gold rise over the last third - {H6_GOLD_FLAT} (kl_coef=0)"),
    ]
    numbers = {"seeds": seeds, "penalised_kl_coef": pen_kl, "unpenalised_run": has_free,
               "late_gold_gain_penalised": decide(la, "greater", H6_EARLY_DELTA).to_dict() | {"values": la.tolist()},
               "gold_rise_last_third_unpenalised": gr.tolist()}
    return parts, numbers


# ------------------------------------------------------------------------------------------
# G2
# ------------------------------------------------------------------------------------------


def gao_rl_params(sqrt_kl, gain) -> tuple[float, float]:
    """(α, β) of gain = d(α - β ln d) by least squares over one run's tracked points; NaN if not identified."""
    params = linear_form_fit(GAO_RL_FORM, sqrt_kl, gain)
    return params["alpha"], params["beta"]


def split_half_fall(curve: pd.DataFrame) -> float:
    """Fall of gold from its peak to the last tracked point, the peak chosen on one half of the prompts.

    Peak step k_A = the first argmax over tracked steps of the gold on half A (``gold_even``), the
    fall measured on half B (``gold_odd``): B(k_A) - B(last); and the same with the halves swapped;
    the mean of the two. NaN when the table has no per-half gold.
    """
    if "gold_even" not in curve or "gold_odd" not in curve:
        return float("nan")
    c = curve.sort_values("step")
    return crossfit_fall(c["gold_even"], c["gold_odd"])


def g2_parts(rl: pd.DataFrame) -> tuple[list[PartSpec], dict]:
    """G2's two counted parts (unpenalised run) and the per-seed fits beside them."""
    has_free, _, _ = _kl_levels(rl)
    free = _runs(rl, 0.0) if has_free else {}
    seeds = sorted(free)
    params = {s: gao_rl_params(c["sqrt_kl"], c["gold_gain"]) for s, c in free.items()}
    beta = np.array([params[s][1] for s in seeds])
    fall = np.array([split_half_fall(c) for c in (free[s] for s in seeds)])
    parts = [PartSpec(beta, "greater", 0.0, "β of gold gain = d(α - β ln d), per-seed fit (kl_coef=0)"),
             PartSpec(fall, "greater", G2_FALL_DELTA,
                      "fall from the peak (chosen on one half of the tracking prompts) to the last point, "
                      "measured on the other half (kl_coef=0)")]
    alpha = np.array([params[s][0] for s in seeds])
    numbers: dict = {"seeds": seeds, "alpha": alpha.tolist(), "beta": beta.tolist()}
    if len(seeds) and np.isfinite(alpha).any() and np.isfinite(beta).any():
        a, b = float(np.nanmean(alpha)), float(np.nanmean(beta))
        derived = GAO_RL_FORM.derived({"alpha": a, "beta": b}, np.nan, np.nan, np.nan)
        numbers["gao_rl_mean_params"] = {"alpha": a, "beta": b, "kl_star": float(derived["kl_star"])}
    if len(seeds) and not np.isfinite(fall).any():
        numbers["fall_note"] = "no per-half gold in the table (runs tracked before per-half columns): part 2 untested"
    return parts, numbers


# ------------------------------------------------------------------------------------------
# G6
# ------------------------------------------------------------------------------------------


def _g6_contrast(free: dict[int, pd.DataFrame], bon: pd.DataFrame, d_col: str, gain_col: str
                 ) -> tuple[np.ndarray, list[int], list[int]]:
    """Per seed: mean over the RL run's tracked points (step > 0) within best-of-n's sqrt(KL) range of
    best-of-n's gold gain interpolated at the point's sqrt(KL) minus the RL point's gold gain.

    Returns (values in seed order, seeds, points compared per seed).
    """
    seeds = sorted(free)
    if d_col not in bon or gain_col not in bon:
        return np.full(len(seeds), np.nan), seeds, [0] * len(seeds)
    by_seed = {int(s): b.sort_values("n") for s, b in bon.groupby("seed")}
    values, counts = [], []
    for s in seeds:
        b, c = by_seed.get(s), free[s]
        if b is None:
            values.append(np.nan)
            counts.append(0)
            continue
        bd, bg = b[d_col].to_numpy(float), b[gain_col].to_numpy(float)
        pts = c[(c["step"] > 0) & (c["sqrt_kl"] <= np.nanmax(bd))]
        diffs = [gain_at_sqrt_kl(bd, bg, d) - g for d, g in zip(pts["sqrt_kl"], pts["gold_gain"])]
        diffs = [x for x in diffs if np.isfinite(x)]
        values.append(float(np.mean(diffs)) if diffs else np.nan)
        counts.append(len(diffs))
    return np.array(values, dtype=float), seeds, counts


def g6_parts(rl: pd.DataFrame, bon: pd.DataFrame) -> tuple[list[PartSpec], dict]:
    """G6's counted part (best-of-n at exact KL against the unpenalised RL run) and the bound beside it."""
    has_free, _, _ = _kl_levels(rl)
    free = _runs(rl, 0.0) if has_free else {}
    gain_col = "gold_wr_gain" if "gold_wr_gain" in bon else "gold_gain"
    values, seeds, ns = _g6_contrast(free, bon, "d_exact", gain_col)
    bound, _, ns_bound = _g6_contrast(free, bon, "d", "gold_gain")
    parts = [PartSpec(values, "greater", G6_DELTA,
                      f"best-of-n gold gain ({gain_col}, at exact sqrt(KL)) - RL gold gain, at each tracked RL "
                      "point's sqrt(KL), mean over the points")]
    numbers = {"seeds": seeds, "rl_points_compared": ns, "bon_gain_column": gain_col,
               "at_kl_bound": {"rl_points_compared": ns_bound, "values": bound.tolist(),
                               **decide(bound, "greater", G6_DELTA).to_dict()}}
    if "kl_exact" in bon:
        numbers["bon_kl"] = {int(n): {"exact": float(g["kl_exact"].mean()), "bound": float(g["kl_bound"].mean())}
                             for n, g in bon.groupby("n")}
    return parts, numbers


# ------------------------------------------------------------------------------------------
# G7
# ------------------------------------------------------------------------------------------


def g7_seed_values(penalised: pd.DataFrame, free: pd.DataFrame) -> tuple[float, float]:
    """(Σ gap / (0.25 Σ gain_free), mean gap) of one seed's penalised run against its unpenalised run.

    The sums run over the penalised run's tracked steps in the last third of its length (where
    the penalty holds it), each read against the unpenalised run at the same sqrt(KL).
    """
    steps, S = penalised["step"].to_numpy(int), int(penalised["rl_steps"].iloc[0])
    pts = penalised[3 * steps > 2 * S]
    ref = np.array([gain_at_sqrt_kl(free["sqrt_kl"], free["gold_gain"], d, order=2) for d in pts["sqrt_kl"]])
    keep = np.isfinite(ref)
    if not keep.any():
        return float("nan"), float("nan")
    gap = pts["gold_gain"].to_numpy(float)[keep] - ref[keep]
    total = float(ref[keep].sum())
    ratio = float(gap.sum() / (G7_SHARE * total)) if total > 0 else float("nan")
    return ratio, float(gap.mean())


def g7_parts(rl: pd.DataFrame) -> tuple[list[PartSpec], dict]:
    """G7: one equivalence part per penalised KL coefficient, and the signed gaps beside them."""
    has_free, _, penalised = _kl_levels(rl)
    free = _runs(rl, 0.0) if has_free else {}
    parts, numbers = [], {"kl_coefs": penalised, "signed_gap": {}}
    for k in penalised:
        pen = _runs(rl, k)
        seeds = sorted(set(pen) | set(free))
        vals = [g7_seed_values(pen[s], free[s]) if s in pen and s in free else (np.nan, np.nan) for s in seeds]
        ratio, gap = np.array([v[0] for v in vals]), np.array([v[1] for v in vals])
        parts.append(PartSpec(ratio, "equivalent", 1.0,
                              f"kl_coef={k:g}: gap to the kl_coef=0 curve / ({G7_SHARE:g} x its gain), same sqrt(KL)"))
        d = decide(gap, "greater", 0.0)
        numbers["signed_gap"][f"kl_coef={k:g}"] = {"values": gap.tolist(), "estimate": d.to_dict()["estimate"],
                                                   "ci": d.to_dict()["ci"]}
    if not parts:  # no penalised run: one part without values, so the finding says inconclusive
        parts.append(PartSpec([], "equivalent", 1.0, "no penalised run in the grid"))
    return parts, numbers


# ------------------------------------------------------------------------------------------
# The axis
# ------------------------------------------------------------------------------------------


def gao_rl_panel(ax, points: pd.DataFrame, mean_params: dict | None) -> None:
    """Every (sqrt_kl, gold_gain) point coloured by seed, and the Gao RL form at the mean of the per-seed fits."""
    for s, c in points.groupby("seed"):
        ax.plot(c["sqrt_kl"], c["gold_gain"], ".", alpha=0.6, color=f"C{int(s) % 10}")
    if mean_params is not None and len(points):
        d = np.linspace(0, float(points["sqrt_kl"].max()), 100)
        ax.plot(d, GAO_RL_FORM.predict(mean_params, d), "k-", label="d(α - β ln d), mean of per-seed fits")
        ax.legend(fontsize=7)


def _figure(rl: pd.DataFrame, bon: pd.DataFrame, g2_numbers: dict, results_dir: str | Path) -> str:
    kls = sorted(rl["kl_coef"].unique())
    has_proxy = "proxy" in rl and rl["proxy"].notna().any()
    fig, axes = axis_figure(3)
    proxy_ax = axes[0].twinx() if has_proxy else None
    for kl in kls:
        m = rl[rl["kl_coef"] == kl].groupby("step")[["gold", "proxy"] if has_proxy else ["gold"]].mean()
        m = m[m.index > 0]  # a log axis of steps
        line = axes[0].plot(m.index, m["gold"], marker=".", label=f"gold, kl_coef={kl:g}")[0]
        if proxy_ax is not None:
            proxy_ax.plot(m.index, m["proxy"], ls="--", color=line.get_color())
    axes[0].set(xscale="log", xlabel="RL step (log)", ylabel="held-out gold accuracy (solid)",
                title="H6: gold (solid) and proxy (dashed) by step")
    if proxy_ax is not None:
        proxy_ax.set_ylabel("proxy reward (dashed)")
    axes[0].legend(fontsize=7, loc="lower left")

    free = rl[rl["kl_coef"] == 0]
    gao_rl_panel(axes[1], free, g2_numbers.get("gao_rl_mean_params"))
    axes[1].set(xlabel="d = sqrt(KL to SFT)", ylabel="gold gain", title="G2: gold gain vs sqrt(KL), kl_coef=0")

    for kl in kls:
        m = rl[rl["kl_coef"] == kl].groupby("step")[["sqrt_kl", "gold_gain"]].mean()
        axes[2].plot(m["sqrt_kl"], m["gold_gain"], marker=".", label=f"RL, kl_coef={kl:g}")
    if len(bon):
        gain_col = "gold_wr_gain" if "gold_wr_gain" in bon else "gold_gain"
        if "d_exact" in bon:
            b = bon.groupby("n")[["d_exact", gain_col]].mean()
            axes[2].plot(b["d_exact"], b[gain_col], "k-o", label="best-of-n (exact KL)")
        b = bon.groupby("n")[["d", "gold_gain"]].mean()
        axes[2].plot(b["d"], b["gold_gain"], "k:", marker="x", label="best-of-n (KL bound)")
    axes[2].set(xlabel="sqrt(KL)", ylabel="gold gain over SFT", title="G6/G7: RL and best-of-n frontiers")
    axes[2].legend(fontsize=7)
    return save_figure(fig, results_dir, AXIS, "h6_g2_g6_g7_rl_length_kl")


def _text(record: dict) -> str:
    est, (lo, hi) = record.get("estimate"), record.get("ci", [None, None])
    if est is None:
        return f"n/a ({record.get('verdict', '')})"
    ci = f"[{lo:+.3g}, {hi:+.3g}]" if lo is not None and hi is not None else "[no interval]"
    return f"{est:+.3g} {ci}" + (f" ({record['verdict']})" if "verdict" in record else "")


def analyze(table: pd.DataFrame, results_dir: str | Path) -> list[Finding]:
    rl = table[table["series"] == "rl"].copy()
    bon = table[table["series"] == "bon"].copy() if "series" in table else table.iloc[:0]
    has_free, pen_kl, penalised = _kl_levels(rl)

    h6_p, h6_n = h6_parts(rl)
    g2_p, g2_n = g2_parts(rl)
    g6_p, g6_n = g6_parts(rl, bon)
    g7_p, g7_n = g7_parts(rl)
    # The variance split of each part (reported, not evidence): the same parts on each half of the tracking prompts.
    rl_v = {h: rl_half(rl, h) for h in HALVES}
    bon_v = {h: (bon_half(bon, h) if len(bon) else None) for h in HALVES}
    h6_h = halves_of(lambda v: h6_parts(v)[0], rl_v, len(h6_p),
                     {2: "the proxy reward is tracked on all prompts only: no per-half values"})
    g2_h = halves_of(lambda v: g2_parts(v)[0], rl_v, len(g2_p),
                     {1: "the part already chooses the peak on one half and measures it on the other: "
                         "a split would need quarters of the prompts"})
    both = {h: (rl_v[h], bon_v[h]) if rl_v[h] is not None and bon_v[h] is not None else None for h in HALVES}
    g6_h = halves_of(lambda v: g6_parts(*v)[0], both, len(g6_p),
                     missing="the RL curves or the best-of-n rows have no per-half gold")
    if g6_h[0] is not None and "gold_wr_even" not in bon and "gold_wr_gain" in bon:
        g6_h = (None, ["the best-of-n rows have no per-half gold_wr (gold_wr_even / gold_wr_odd: evaluations made "
                       "before those columns)"])
    g7_h = halves_of(lambda v: g7_parts(v)[0], rl_v, len(g7_p))
    rel = _figure(rl, bon, g2_n, results_dir)
    kls = sorted(rl["kl_coef"].unique())
    by_kl = {f"kl_coef={k:g}": {"final_gold": round(float(rl[(rl.kl_coef == k) & rl.final.astype(bool)]["gold"].mean()), 4),
                                "final_kl": round(float(rl[(rl.kl_coef == k) & rl.final.astype(bool)]["kl"].mean()), 4)}
             for k in kls}
    h6_n["by_kl_coef"] = by_kl
    free_note = "" if has_free else " The grid has no kl_coef=0 run: the unpenalised parts have no values."

    h6 = decided_finding("H6", h6_p, effect_label=f"early gold gain of the kl_coef={pen_kl} run (part 1, claim > 0)"
                         if pen_kl is not None else "early gold gain (no penalised run)", figure=rel, axis=AXIS,
                         numbers=h6_n, halves=h6_h[0], no_split=h6_h[1])
    h6.note = ("Parts: " + "; ".join(f"({i + 1}) {p['name']}: {_text(p)}" for i, p in enumerate(h6.parts))
               + "." + free_note)
    g2 = decided_finding("G2", g2_p, effect_label="β of d(α - β ln d), mean of per-seed fits (part 1, claim > 0)",
                         figure=rel, axis=AXIS, numbers=g2_n,
                         halves=g2_h[0], no_split=g2_h[1])
    g2.note = ("Parts: " + "; ".join(f"({i + 1}) {p['name']}: {_text(p)}" for i, p in enumerate(g2.parts)) + "."
               + (f" {g2_n['fall_note']}." if "fall_note" in g2_n else "") + free_note)
    g6 = decided_finding("G6", g6_p, effect_label="best-of-n gold gain - RL gold gain at matched sqrt(KL), exact "
                         "best-of-n KL (claim > 0)", figure=rel, axis=AXIS, numbers=g6_n,
                         halves=g6_h[0], no_split=g6_h[1])
    g6.note = (f"RL points compared per seed: {g6_n['rl_points_compared']}. "
               f"At the KL bound instead (reported, not counted): {_text(g6_n['at_kl_bound'])}." + free_note)
    g7 = decided_finding("G7", g7_p, effect_label=f"gap / ({G7_SHARE:g} x unpenalised gain) at the same sqrt(KL), "
                         "first penalised run (equivalence, δ 1)", figure=rel, axis=AXIS, numbers=g7_n,
                         halves=g7_h[0], no_split=g7_h[1])
    g7.note = ("Signed gold gap to the kl_coef=0 curve: "
               + "; ".join(f"{k}: {_text(v)}" for k, v in g7_n["signed_gap"].items())
               + " (positive: the penalty does better than stopping early at the same KL)."
               if penalised and has_free else "Needs a kl_coef=0 run and at least one penalised run.")
    return [h6, g2, g6, g7]
