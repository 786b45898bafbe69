"""Axis: policy size with the reward model fixed (H4, Hou et al. 2024; G8, Gao et al. 2022).

Every policy preset gets its own SFT run (same SFT config) and is trained by RL against ONE
reward model, trained on comparisons POOLED from every policy's SFT samples
(:mod:`rlhf_nb.pipeline.pooled_rm`, store stage ``pooled_reward``): ``rm_prompts`` prompts and
``rm_comparisons`` comparisons in all (0: two per prompt, the pipeline's default reward stage's
most), split evenly over the policies, so each size contributes as many comparisons and none is
judged by an RM that only saw another size's samples. The RM starts from the SFT model of
``rm_policy`` (default: the pipeline's default policy preset). The SFT baseline of each policy is
reported beside its gain, because a larger policy starts from a stronger SFT model, which alone
could make it gain less.

Two runs per policy, because the two papers ask different questions of RL:

- **H4** (Hou et al.) "a larger policy gains less from a fixed RM": per seed, the least-squares
  slope of the RL gain (final held-out sampled gold accuracy minus the SFT policy's, the run with
  the largest of ``kl_coefs``: RL as practised) on log10(policy parameters), "less", δ 0.02 per
  decade. Beside it: each size's SFT baseline, the slope of the SFT baseline, and, as a reported
  sensitivity (no verdict: no margin was registered for it), the slope of the gain as a share of
  the SFT headroom, gain / (1 - SFT accuracy).
- **G8** (Gao et al.) on the unconstrained runs (the smallest of ``kl_coefs``): each run is fitted
  with Gao's RL form, gold gain = d (α - β ln d), d = sqrt(KL) (per run, by least squares, up to
  where gold first falls back to the SFT level; :func:`rlhf_nb.axes.rm_size_for_rl.run_fits`).
  The fit's peak is d* = exp(α/β - 1), gain β d*, KL d*². (1) per seed, the slope of the peak gold
  gain on log10(parameters), "less", δ 0.02 per decade; (2) per seed, ln KL* of the largest
  policy minus that of the smallest, "equivalent" within ln 2 (a factor of 2). A fitted peak
  beyond the tracked range (or a fit with β <= 0) was not reached: the run has no measured peak,
  so its peak gain and KL are NaN and its seed drops out of both parts (``decide`` counts the
  dropped values in the part's note; the finding's note gives how many runs reached their peak).
  The fitted curve's maximum over the tracked range is reported beside (``range_max_gain``, a
  lower bound on such a run's peak), never decided on.

Both findings ask for at least 3 policy sizes (docs/findings.md): with fewer, every part is still
computed and reported, but the verdict is inconclusive.

Cost, measured for one seed with xs, s and m at the notebook defaults (GRPO 16 x 8, 60 steps,
KL coefficients 0 and 0.2, 128 evaluation prompts; one torch thread; CPU seconds, which are the
wall seconds of an otherwise idle core): SFT 48 s (xs), 121 s (s), 207 s (m), shared with the
reward-model size axes, which train the same SFT runs; the pooled RM 10 s (sampling its chunks
from the three policies, training, the held-out check on each policy's samples); RL 13 + 14 s
(xs), 25 + 28 s (s), 44 + 49 s (m), and 2-4 s per evaluation. So m adds about 110 s a seed
(its two RL runs and three evaluations) once its SFT model exists; the whole seed is about
210 s without the SFT runs, 585 s with them.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ..analysis import PartSpec, decide
from ..analysis.forms import GAO_RL_FORM
from ..analysis.per_seed import row_slopes
from ..models import check_model_spec
from ..pipeline.policy_runs import PointRuns, point_rows
from ..pipeline.pooled_rm import pooled_config, run_pooled_reward
from ..pipeline.runs import run_eval, run_rl, run_sft
from ..store import RunStore, as_store
from .policy_family import Scale, final_rows, fmt
from .halves import HALVES, halves_of, rl_half
from .results import Finding, axis_figure, decided_finding, save_figure
from .task_heterogeneity import NO_SPLIT as EVAL_NO_SPLIT
from .rm_size_for_rl import by_size, ends, run_fits

AXIS = "policy_size"
GAIN = "gain_heldout_sampled_acc"
SFT = "sft_heldout_sampled_acc"
SLOPE_DELTA = 0.02
"""SESOI of every slope here, in gold accuracy per decade of policy parameters (docs/findings.md)"""
KL_FACTOR = 2.0
"""G8 (2): "about the same KL" is within a factor of 2, i.e. |ln KL*_largest - ln KL*_smallest| < ln 2"""
MIN_SIZES = 3
"""policy sizes both findings need (docs/findings.md: "over at least 3 sizes")"""


def run_seed(seed: int, store: RunStore | str | Path, *, policies: list[str], rm_policy: str = "",
             kl_coefs: Sequence[float] = (0.0, 0.2), scale: Scale = Scale(), rm_comparisons: int = 0) -> pd.DataFrame:
    """RL of every policy preset against one reward model trained on all of their pooled samples, at each KL
    coefficient, for one seed. One row per tracked RL step."""
    store = as_store(store)
    for spec in policies:
        check_model_spec(spec)
    if not policies:
        raise ValueError("policies is empty: give one or more policy presets")
    if not kl_coefs or min(kl_coefs) < 0:
        raise ValueError(f"kl_coefs={list(kl_coefs)}: give one or more KL coefficients >= 0")
    if rm_comparisons < 0:
        raise ValueError(f"rm_comparisons={rm_comparisons}: use 0 (two per prompt) or a positive total")
    config = scale.pipeline(seed)
    task = config.task
    rm_policy = rm_policy or config.sft.policy
    rm_cfg = pooled_config(config.reward, rm_comparisons)  # refuses impossible totals before anything trains
    sfts = {p: run_sft(store, task, replace(config.sft, policy=p)) for p in dict.fromkeys(policies)}
    init = sfts.get(rm_policy) or run_sft(store, task, replace(config.sft, policy=rm_policy))
    reward = run_pooled_reward(store, task, rm_cfg, list(sfts.values()), init)
    frames, seen = [], set()
    for spec, sft in sfts.items():
        own = scale.pipeline(seed, policy=spec)  # knobs left at 0 resolve by this policy (RL rate, budgets)
        point = replace(config, sft=replace(config.sft, policy=spec), reward=rm_cfg, eval=own.eval)
        sft_eval = run_eval(store, task, own.eval, sft, sft, reward)
        for kl in sorted({float(k) for k in kl_coefs}):
            rl_cfg = replace(own.rl, kl_coef=kl)
            rl = run_rl(store, task, rl_cfg, sft, reward)
            rl_eval = run_eval(store, task, own.eval, rl, sft, reward)
            runs = PointRuns(replace(point, rl=rl_cfg), sft, init, reward, rl, sft_eval, rl_eval)
            rows = point_rows(runs, seen, rm_data="pooled")
            rows["rm_pairwise_acc_own_samples"] = reward.metrics.get(f"rm/heldout/pairwise_acc/{Path(spec).name}",
                                                                     np.nan)
            frames.append(rows)
    return pd.concat(frames, ignore_index=True)


# ------------------------------------------------------------------------------------------
# Pure pieces of the analysis
# ------------------------------------------------------------------------------------------


def fitted_peak(alpha: float, beta: float, d_max: float) -> tuple[float, float, bool, float]:
    """(peak gain, KL at the peak, reached, range maximum) of gain = d (α - β ln d) tracked over [0, d_max].

    Reached: β > 0 and d* = exp(α/β - 1) <= d_max; the peak is (β d*, d*²). Otherwise the run has
    no measured peak: gain and KL are NaN. The last value is the fitted curve's maximum over
    [0, d_max] either way (the peak when reached, else at an end of the range: a lower bound).
    """
    nan = float("nan")
    if not (np.isfinite(alpha) and np.isfinite(beta) and np.isfinite(d_max)) or d_max <= 0:
        return nan, nan, False, nan
    if beta > 0 and alpha / beta - 1.0 <= np.log(d_max):
        d_star = float(np.exp(alpha / beta - 1.0))
        return beta * d_star, d_star**2, True, beta * d_star
    end = float(GAO_RL_FORM.predict({"alpha": alpha, "beta": beta}, np.array([d_max]))[0])
    return nan, nan, False, max(0.0, end)


def peak_table(curves: pd.DataFrame) -> pd.DataFrame:
    """Per unconstrained run: the Gao fit and its peak (``peak_gain``, ``peak_kl``, ``peak_reached``, ``range_max_gain``)."""
    fits = run_fits(curves, "policy", "policy_params")
    peaks = [fitted_peak(a, b, d) for a, b, d in zip(fits["alpha"], fits["beta"], fits["d_max"])]
    for i, column in enumerate(("peak_gain", "peak_kl", "peak_reached", "range_max_gain")):
        fits[column] = [p[i] for p in peaks]
    return fits


def h4_arms(final: pd.DataFrame) -> pd.DataFrame:
    """Per (seed, policy) of the penalised runs' final rows: policy_params, gain, sft, rl and headroom share."""
    arms = final.groupby(["seed", "policy"]).agg(policy_params=("policy_params", "first"), gain=(GAIN, "mean"),
                                                 sft=(SFT, "mean"), rl=("rl_heldout_sampled_acc", "mean"))
    arms = arms.reset_index()
    headroom = 1.0 - arms["sft"]
    arms["headroom_share"] = np.where(headroom > 0, arms["gain"] / headroom.where(headroom > 0), np.nan)
    return arms


def h4_parts(arms: pd.DataFrame) -> list[PartSpec]:
    """H4's one part: per seed, the slope of the RL gain on log10(policy parameters)."""
    wide, x = by_size(arms, "policy", "policy_params", "gain")
    return [PartSpec(row_slopes(wide, x, MIN_SIZES).to_numpy(), "less", SLOPE_DELTA,
                     name="slope of (RL gold - SFT gold) per decade of policy parameters")]


def g8_parts(peaks: pd.DataFrame) -> list[PartSpec]:
    """G8's two parts from one row per (seed, policy): ``policy_params``, ``peak_gain``, ``peak_kl``."""
    gain, x = by_size(peaks, "policy", "policy_params", "peak_gain")
    log_kl = peaks.assign(log_kl=np.log(peaks["peak_kl"].where(peaks["peak_kl"] > 0)))
    kl, _ = by_size(log_kl, "policy", "policy_params", "log_kl")
    covered = kl.notna().sum(axis=1) >= MIN_SIZES  # findings.md: over at least 3 policy sizes
    return [PartSpec(row_slopes(gain, x, MIN_SIZES).to_numpy(), "less", SLOPE_DELTA,
                     name="slope of the fitted peak gold gain per decade of policy parameters"),
            PartSpec(ends(kl).where(covered).to_numpy(), "equivalent", float(np.log(KL_FACTOR)),
                     name="ln KL at the peak, largest - smallest policy")]


def sensitivity(arms: pd.DataFrame, column: str) -> dict:
    """Per-seed slope of ``column`` on log10(policy parameters), its mean and 95 % t interval: reported, never decided."""
    wide, x = by_size(arms, "policy", "policy_params", column)
    values = row_slopes(wide, x, MIN_SIZES)
    d = decide(values.to_numpy(), "less", SLOPE_DELTA)
    return {"values": [float(v) for v in values], "estimate": d.estimate, "ci": list(d.ci), "n": d.n,
            "note": "reported, not decided: no margin was registered for it"}


# ------------------------------------------------------------------------------------------
# The analysis
# ------------------------------------------------------------------------------------------


def _figure(arms: pd.DataFrame, free: pd.DataFrame, peaks: pd.DataFrame, order: list[str], kl_pen: float,
            kl_free: float):
    fig, axes = axis_figure(4)
    params = arms.groupby("policy")["policy_params"].first().loc[order].to_numpy(float)
    g = arms.groupby("policy")
    for column, marker, label in (("sft", "s", "SFT baseline"), ("rl", "o", "after RL")):
        axes[0].errorbar(params, g[column].mean().loc[order], g[column].std().reindex(order).fillna(0),
                         marker=marker, capsize=3, label=label)
    axes[0].set(xscale="log", xlabel="policy parameters", ylabel="held-out sampled gold accuracy",
                title=f"SFT baseline and RL result (kl_coef={kl_pen:g})")
    axes[0].legend(fontsize=8)
    axes[1].errorbar(params, g["gain"].mean().loc[order], g["gain"].std().reindex(order).fillna(0), marker="o",
                     capsize=3)
    axes[1].axhline(0, color="0.6", lw=1)
    axes[1].set(xscale="log", xlabel="policy parameters", ylabel="RL gain over SFT",
                title=f"H4: gain vs size, fixed pooled RM (kl_coef={kl_pen:g})")
    for policy in order:
        part = free[free["policy"] == policy].groupby("step")[["sqrt_kl", "gold_gain"]].mean()
        axes[2].plot(part["sqrt_kl"], part["gold_gain"], marker=".", label=policy)
    axes[2].set(xlabel="sqrt(KL to SFT)", ylabel="gold gain (tracked)",
                title=f"G8: gold gain vs sqrt(KL) (kl_coef={kl_free:g})")
    axes[2].legend(title="policy", fontsize=8)
    p = peaks.groupby("policy")
    for column, fmt_, label in (("peak_gain", "o-", "fitted peak gain (reached)"),
                                ("range_max_gain", "o:", "fitted maximum over the tracked range")):
        m = p[column].mean().reindex(order).to_numpy(float)
        ok = np.isfinite(m)
        if ok.any():
            axes[3].plot(params[ok], m[ok], fmt_, mfc="none" if column == "range_max_gain" else None, label=label)
    axes[3].set(xscale="log", xlabel="policy parameters", ylabel="fitted peak gold gain",
                title="G8: per-run Gao RL fits")
    kl = p["peak_kl"].mean().reindex(order).to_numpy(float)
    if np.isfinite(kl).any():
        twin = axes[3].twinx()
        ok = np.isfinite(kl)
        twin.plot(params[ok], kl[ok], "s--", color="C2", label="KL at the fitted peak")
        twin.set(ylabel="KL at the fitted peak")
        twin.legend(fontsize=8, loc="upper right")
    if axes[3].get_legend_handles_labels()[0]:
        axes[3].legend(fontsize=8, loc="upper left")
    return fig


def _means(frame: pd.DataFrame, column: str, order: list[str]) -> dict[str, float]:
    m = frame.groupby("policy")[column].mean()
    return {p: round(float(m.get(p, np.nan)), 4) for p in order}


def _size_note(finding: Finding, n_sizes: int) -> Finding:
    if n_sizes < MIN_SIZES:  # the parts then have no per-seed values, and the protocol gives no verdict
        finding.note = f"{n_sizes} policy size(s): the claim needs at least {MIN_SIZES}. {finding.note}"
    return finding


def analyze(table: pd.DataFrame, results_dir: str | Path) -> list[Finding]:
    """H4 from the most penalised runs' final results, G8 from per-run fits of the unconstrained runs' curves."""
    kl_pen, kl_free = float(table["kl_coef"].max()), float(table["kl_coef"].min())
    free = table[table["kl_coef"] == kl_free]
    arms = h4_arms(final_rows(table[table["kl_coef"] == kl_pen]))
    peaks = peak_table(free)
    order = list(arms.groupby("policy")["policy_params"].first().sort_values().index)
    rel = save_figure(_figure(arms, free, peaks, order, kl_pen, kl_free), results_dir, AXIS, "h4_g8_policy_size")
    baselines, gains = _means(arms, "sft", order), _means(arms, "gain", order)
    rm = {k: str(table[k].dropna().iloc[0]) for k in ("rm_policy", "rm_data") if k in table and table[k].notna().any()}

    h4 = decided_finding(
        "H4", h4_parts(arms), axis=AXIS, figure=rel, no_split=EVAL_NO_SPLIT,
        effect_label=(f"slope of the RL gain (held-out sampled gold accuracy, kl_coef={kl_pen:g}) per decade of "
                      "policy parameters (claim < 0)"),
        numbers={"sft_baseline": baselines, "rl_gain": gains,
                 "policy_params": {p: int(v) for p, v in arms.groupby("policy")["policy_params"].first()
                                   .loc[order].items()},
                 "kl_coef": kl_pen, **rm,
                 "sft_baseline_slope": sensitivity(arms, "sft"),
                 "headroom_share": _means(arms, "headroom_share", order),
                 "headroom_share_slope": sensitivity(arms, "headroom_share"),
                 "rl_gain_unconstrained": _means(h4_arms(final_rows(free)), "gain", order)},
        note=("Gain over SFT by policy: " + ", ".join(f"{p} {fmt(gains[p])} (SFT {fmt(baselines[p])})" for p in order)
              + "; a stronger SFT start leaves less room: the gain as a share of the SFT headroom is reported beside "
                "it (headroom_share_slope)."))

    reached = int(peaks["peak_reached"].sum())
    small, large = (order[0], order[-1]) if order else ("", "")
    g8_p = g8_parts(peaks)
    # the variance split (reported, not evidence): the same per-run fits on each half of the tracking prompts
    g8_halves, g8_no_split = halves_of(lambda v: g8_parts(peak_table(v)), {h: rl_half(free, h) for h in HALVES},
                                       len(g8_p))
    g8 = decided_finding(
        "G8", g8_p, axis=AXIS, figure=rel, halves=g8_halves, no_split=g8_no_split,
        effect_label=(f"slope of the fitted peak gold gain (kl_coef={kl_free:g}) per decade of policy parameters "
                      "(claim < 0)"),
        numbers={"peak_gold_gain": _means(peaks, "peak_gain", order), "peak_kl": _means(peaks, "peak_kl", order),
                 "alpha": _means(peaks, "alpha", order), "beta": _means(peaks, "beta", order),
                 "range_max_gain": _means(peaks, "range_max_gain", order),
                 "peaks_reached": f"{reached} of {len(peaks)}", "kl_coef": kl_free,
                 "fits": peaks.to_dict(orient="records")},
        note=(f"per-run Gao RL fits: the fitted peak lies inside the tracked range in {reached} of {len(peaks)} runs "
              "(a run whose peak was not reached has none: its seed drops out of both parts); ln KL* of "
              f"{large} minus {small} must lie within ±{np.log(KL_FACTOR):.3f}."))
    return [_size_note(h4, len(order)), _size_note(g8, len(order))]
