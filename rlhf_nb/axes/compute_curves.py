"""RL compute curves on the method axis: the ScaleRL sigmoid per run, and S1 (beyond the two papers).

Khatri et al. 2025 ("The Art of Scaling Reinforcement Learning Compute for LLMs") fit
R(C) = R0 + (A - R0) / (1 + (C_mid / C)^B) to pass rate against RL compute and report that
recipe choices move the efficiency B (and C_mid) more than the asymptote A, and that a fit on
early compute forecasts later performance. Here, for every equal-samples run of the method
axis (PPO, GRPO, RLOO; same SFT policy, reward model, prompts and tracker), per seed: the
tracked gold against the run's estimated RL FLOPs up to each tracked step
(``rl_compute_to_step``), fitted by :func:`rlhf_nb.analysis.scalerl.fit_scalerl` with R0 held at
the run's tracked gold at step 0 (the SFT policy's, as the paper treats R0), so A, C_mid and B
are free. (The paper leaves out the earliest, noisiest compute of its long runs; these runs are
short, so every tracked point is fitted and R0 anchors the start.)

S1 (:func:`s1_parts`), decided by the pre-registered protocol of docs/findings.md ("Beyond the
papers"), GRPO the reference recipe, each seed reduced to one number per part:

- (1) A_PPO - A_GRPO, "equivalent", δ 0.03; (2) A_RLOO - A_GRPO, "equivalent", δ 0.03;
- (3) ln B_PPO - ln B_GRPO and (4) ln B_RLOO - ln B_GRPO, each "differs from 0", δ 0.25 (a
  ratio of B of about 1.28): a two-sided claim, decided as the protocol's directional claim on
  the side of the estimate (per-seed values multiplied by the sign of their mean; the claim
  "greater", δ 0.25). With the same t interval, that part is shown exactly when the two-sided
  95 % interval of the difference excludes 0, and not shown exactly when it lies inside
  (-0.25, 0.25), i.e. when B is equivalent within δ; the record says which side it was read on.

A seed whose fit cannot be made (too few tracked points) gives no value. Fits whose asymptote
is an extrapolation (the midpoint beyond the data) or on a bound keep their value and are
counted in ``numbers["flags"]``. The forecast check (:func:`rlhf_nb.analysis.scalerl.forecast_check`),
reported, not counted: per method and seed, fit on the tracked points with at most half the
run's compute, predict the tracked gold at the end; the error is set against the spread over
seeds of the final tracked gold of that method.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..analysis.decision import PartSpec
from ..analysis.scalerl import fit_scalerl, forecast_check
from .results import Finding, axis_figure, decided_finding, part_notes, save_figure

S1_A_DELTA = 0.03
"""S1 (1, 2): equivalence margin of the asymptote A (gold accuracy), a constant"""
S1_LOG_B_DELTA = 0.25
"""S1 (3, 4): smallest difference of interest in ln B"""
REFERENCE = "grpo"
OTHERS = ("ppo", "rloo")
FORECAST_FRACTION = 0.5
"""the forecast check fits the first half of each run's compute"""


def run_fits(table: pd.DataFrame, budget: str = "equal_samples") -> pd.DataFrame:
    """One row per (algorithm, seed) run of ``budget``: fitted R0, A, C_mid, B, flags, and the forecast check.

    ``table``: the method axis's rows (``algorithm``, ``seed``, ``budget``, ``step``, ``gold``,
    ``rl_compute_to_step``). A run whose fit raises gets NaN parameters and the reason.
    """
    rows = []
    part = table[table["budget"] == budget] if "budget" in table else table
    for (algorithm, seed), run in part.groupby(["algorithm", "seed"]):
        c = run.sort_values("step")
        compute, gold = c["rl_compute_to_step"].to_numpy(float), c["gold"].to_numpy(float)
        r0 = float(gold[c["step"].to_numpy(int) == 0][0]) if (c["step"] == 0).any() else None
        row = {"algorithm": algorithm, "seed": int(seed), "points": len(c), "final_gold": float(gold[-1]),
               "compute": float(np.nanmax(compute)) if len(compute) else np.nan}
        try:
            fit = fit_scalerl(compute, gold, r0=r0)
            row.update({**fit.params, "flags": "; ".join(str(f.value) for f in fit.flags), "reason": ""})
        except ValueError as err:
            row.update({"R0": r0, "A": np.nan, "C_mid": np.nan, "B": np.nan, "flags": "", "reason": str(err)})
        fc = forecast_check(compute, gold, r0=r0, fraction=FORECAST_FRACTION)
        row.update({"forecast_predicted": fc["predicted"], "forecast_observed": fc["observed"],
                    "forecast_error": fc["error"], "forecast_points": fc["points_fitted"],
                    "forecast_reason": fc["reason"]})
        rows.append(row)
    return pd.DataFrame(rows)


def two_sided_part(values, delta: float, name: str) -> PartSpec:
    """A claim "effect differs from 0" as the protocol's "greater" claim on the side of the estimate.

    Values are multiplied by the sign of their mean (NaN-ignoring; + when the mean is 0 or
    undefined): the interval is the same t interval mirrored, so the part is shown exactly when
    the two-sided interval excludes 0, and not shown exactly when it lies inside (-δ, δ).
    """
    v = np.asarray(values, dtype=float)
    mean = float(np.nanmean(v)) if np.isfinite(v).any() else 0.0
    sign = -1.0 if mean < 0 else 1.0
    side = "read as (reference - other), the side of the estimate" if sign < 0 else "read on the side of the estimate"
    return PartSpec(sign * v, "greater", delta, f"{name}, differs from 0 ({side})")


def s1_parts(fits: pd.DataFrame) -> tuple[list[PartSpec], dict]:
    """S1's four counted parts from :func:`run_fits` rows, and the per-method fits beside them."""
    seeds = sorted(int(s) for s in fits["seed"].unique()) if len(fits) else []
    wide = {k: fits.pivot_table(index="seed", columns="algorithm", values=k, dropna=False).reindex(seeds)
            for k in ("A", "B")} if len(fits) else {}
    parts, numbers = [], {"seeds": seeds, "reference": REFERENCE}

    def column(name, algorithm):
        w = wide.get(name)
        return w[algorithm].to_numpy(float) if w is not None and algorithm in w else np.full(len(seeds), np.nan)

    for other in OTHERS:
        parts.append(PartSpec(column("A", other) - column("A", REFERENCE), "equivalent", S1_A_DELTA,
                              f"A_{other.upper()} - A_{REFERENCE.upper()} (asymptote)"))
    for other in OTHERS:
        with np.errstate(invalid="ignore", divide="ignore"):
            diff = np.log(column("B", other)) - np.log(column("B", REFERENCE))
        parts.append(two_sided_part(diff, S1_LOG_B_DELTA, f"ln B_{other.upper()} - ln B_{REFERENCE.upper()} "
                                                          "(efficiency)"))
    for algorithm, g in fits.groupby("algorithm") if len(fits) else []:
        errors = g["forecast_error"].to_numpy(float)
        finite = errors[np.isfinite(errors)]
        spread = float(g["final_gold"].std(ddof=1)) if len(g) > 1 else float("nan")
        numbers[algorithm] = {
            "A": g["A"].tolist(), "B": g["B"].tolist(), "C_mid": g["C_mid"].tolist(), "R0": g["R0"].tolist(),
            "flags": [f for f in g["flags"].tolist() if f], "fit_failures": [r for r in g["reason"].tolist() if r],
            "forecast": {"errors": errors.tolist(), "mean_error": float(finite.mean()) if len(finite) else None,
                         "mean_abs_error": float(np.abs(finite).mean()) if len(finite) else None,
                         "seed_sd_final_gold": spread,
                         "not_fitted": sorted({r for r in g["forecast_reason"].tolist() if r})}}
    return parts, numbers


def _figure(table: pd.DataFrame, fits: pd.DataFrame, results_dir: str | Path, axis: str) -> str:
    from ..analysis.forms import SCALERL_FORM

    fig, axes = axis_figure(2)
    part = table[table["budget"] == "equal_samples"] if "budget" in table else table
    for i, (algorithm, runs) in enumerate(part.groupby("algorithm")):
        colour = f"C{i}"
        for seed, run in runs.groupby("seed"):
            c = run.sort_values("step")
            axes[0].plot(c["rl_compute_to_step"], c["gold"], ".", color=colour, alpha=0.6)
            f = fits[(fits["algorithm"] == algorithm) & (fits["seed"] == seed)]
            if len(f) and np.isfinite(f["A"].iloc[0]):
                grid = np.linspace(0, float(c["rl_compute_to_step"].max()), 100)
                params = {k: float(f[k].iloc[0]) for k in ("R0", "A", "C_mid", "B")}
                axes[0].plot(grid, SCALERL_FORM.predict(params, grid), "-", color=colour, alpha=0.6,
                             label=algorithm if seed == runs["seed"].min() else None)
    axes[0].set(xlabel="RL FLOPs (estimated) up to the tracked step", ylabel="tracked gold accuracy",
                title="S1: gold against RL compute, ScaleRL fit per seed")
    if axes[0].get_legend_handles_labels()[0]:
        axes[0].legend(fontsize=7)
    fitted = fits[np.isfinite(fits["B"].to_numpy(float))] if len(fits) else fits
    for i, (algorithm, g) in enumerate(fitted.groupby("algorithm")):
        axes[1].scatter(g["B"], g["A"], color=f"C{i}", label=algorithm)
    if len(fitted):  # a log axis needs at least one fitted B
        axes[1].set(xscale="log")
        axes[1].legend(fontsize=7)
    else:
        axes[1].text(0.5, 0.5, "no run had enough tracked points for a fit", ha="center", transform=axes[1].transAxes)
    axes[1].set(xlabel="B (efficiency, log scale)", ylabel="A (asymptote)",
                title="S1: per-seed asymptote against efficiency")
    return save_figure(fig, results_dir, axis, "s1_compute_curves")


def s1_finding(table: pd.DataFrame, results_dir: str | Path, axis: str = "method") -> Finding:
    """S1 decided from the method axis's table, with its own figure."""
    fits = run_fits(table)
    parts, numbers = s1_parts(fits)
    rel = _figure(table, fits, results_dir, axis)
    finding = decided_finding("S1", parts, effect_label=f"A_PPO - A_GRPO (equivalence, δ {S1_A_DELTA:g})",
                              figure=rel, axis=axis, numbers=numbers)
    forecast = "; ".join(
        f"{a}: mean error {numbers[a]['forecast']['mean_error']:+.3f} (seed sd of final gold "
        f"{numbers[a]['forecast']['seed_sd_final_gold']:.3f})"
        if numbers[a]["forecast"]["mean_error"] is not None else f"{a}: not fitted ("
        + "; ".join(numbers[a]["forecast"]["not_fitted"])[:120] + ")"
        for a in sorted(fits["algorithm"].unique())) if len(fits) else "no runs"
    finding.note = f"Parts: {part_notes(finding)}. Forecast from the first half of the compute: {forecast}."
    return finding
