"""Axis: policy size with the reward model fixed (H4, Hou et al. 2024; G8, Gao et al. 2022).

Every policy preset gets its own SFT run (same SFT config) and is trained by RL against ONE
reward model: the one built on the SFT model of ``rm_policy`` (default: the pipeline's
default policy preset). The SFT baseline of each policy is reported beside its gain, because
a larger policy starts from a stronger SFT model, which alone could make it gain less.

Two runs per policy, because the two papers ask different questions of RL:

- H4 (Hou et al.): RL gain, final held-out sampled gold accuracy minus the SFT policy's, falls
  with policy size, in RL as it is practised: with a KL penalty (the largest of ``kl_coefs``).
  Effect: per seed, the least-squares slope of the gain on log10(parameters).
- G8 (Gao et al.): without a KL penalty (the smallest of ``kl_coefs``), a larger policy gains
  less gold from the same reward model (peak gold gain along the tracked RL curve, same slope)
  and peaks at about the same KL (ln KL at the peak of the largest policy minus the
  smallest's, within ln 2, i.e. a factor of 2). Unconstrained, the final score only says how
  far each run has collapsed (in a small run at preset xs every policy lost about 0.36 of
  gold accuracy by step 150), which is why H4 does not read it.

Cost at the defaults (xs and s; GRPO 16 x 8, 60 steps, KL coefficients 0 and 0.2; one torch
thread, in the default study on 2 cores): with m as well, 200-215 s per seed of RL and
evaluation once the SFT models exist (SFT of 800 steps costs about 45 s for xs, 95 s for s,
190 s for m per seed, shared with the reward-model size axes); m's two runs are about 110 s
of that.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from ..analysis import INCONCLUSIVE, combine, seed_effect
from ..models import check_model_spec
from ..pipeline.policy_runs import point_rows, run_point
from ..store import RunStore
from .findings import claim as registered_claim
from .policy_family import Scale, final_rows, fmt
from .results import Finding, axis_figure, save_figure

AXIS = "policy_size"
GAIN = "gain_heldout_sampled_acc"
KL_FACTOR = 2.0  # "about the same KL": within a factor of 2 from the smallest to the largest policy


def run_seed(seed: int, store: RunStore | str | Path, *, policies: list[str], rm_policy: str = "",
             kl_coefs: list[float] = (0.0, 0.2), scale: Scale = Scale()) -> pd.DataFrame:
    """RL of every policy preset against one reward model, at each KL coefficient, for one seed."""
    store = store if isinstance(store, RunStore) else RunStore(store)
    for spec in policies:
        check_model_spec(spec)
    if not kl_coefs or min(kl_coefs) < 0:
        raise ValueError(f"kl_coefs={list(kl_coefs)}: give one or more KL coefficients >= 0")
    config = scale.pipeline(seed)
    rm_policy = rm_policy or config.sft.policy
    frames, seen = [], set()
    for spec in policies:
        for kl in sorted(set(kl_coefs)):
            point = replace(config, sft=replace(config.sft, policy=spec), rl=replace(config.rl, kl_coef=float(kl)))
            frames.append(point_rows(run_point(store, point, rm_policy=rm_policy), seen))
    return pd.concat(frames, ignore_index=True)


def peaks(table: pd.DataFrame) -> pd.DataFrame:
    """Per (seed, policy): the tracked step with the highest gold, its gold gain and KL."""
    idx = table.groupby(["seed", "policy"])["gold"].idxmax()
    out = table.loc[idx, ["seed", "policy", "policy_params", "step", "gold_gain", "kl"]]
    return out.rename(columns={"step": "peak_step", "gold_gain": "peak_gold_gain", "kl": "peak_kl"})


def _slopes(frame: pd.DataFrame, value: str) -> pd.Series:
    """Per seed: least-squares slope of ``value`` on log10(policy parameters)."""
    out = {}
    for seed, part in frame.groupby("seed"):
        x, y = np.log10(part["policy_params"].astype(float)), part[value].astype(float)
        ok = np.isfinite(y)
        if ok.sum() >= 2 and x[ok].nunique() >= 2:
            out[seed] = float(np.polyfit(x[ok], y[ok], 1)[0])
    return pd.Series(out, dtype=float)


def analyze(table: pd.DataFrame, results_dir: str | Path) -> list[Finding]:
    """H4 from the most penalised runs' final results, G8 from the unconstrained runs' curves."""
    kls = sorted(table["kl_coef"].unique())
    free = table[table["kl_coef"] == kls[0]]
    final = final_rows(table[table["kl_coef"] == kls[-1]])
    seeds = sorted(final["seed"].unique())
    order = final.groupby("policy")["policy_params"].first().sort_values()
    pk = peaks(free)

    fig, axes = axis_figure(3)
    stats = final.groupby("policy")[["policy_params", "sft_heldout_sampled_acc", "rl_heldout_sampled_acc", GAIN]]
    means, sds = stats.mean().loc[order.index], stats.std().loc[order.index].fillna(0)
    axes[0].errorbar(means["policy_params"], means["sft_heldout_sampled_acc"], sds["sft_heldout_sampled_acc"],
                     marker="s", capsize=3, label="SFT baseline")
    axes[0].errorbar(means["policy_params"], means["rl_heldout_sampled_acc"], sds["rl_heldout_sampled_acc"],
                     marker="o", capsize=3, label="after RL")
    axes[0].set(xscale="log", xlabel="policy parameters", ylabel="held-out sampled gold accuracy",
                title=f"SFT baseline and RL result (kl_coef={kls[-1]:g})")
    axes[0].legend()
    axes[1].errorbar(means["policy_params"], means[GAIN], sds[GAIN], marker="o", capsize=3)
    axes[1].axhline(0, color="0.6", lw=1)
    axes[1].set(xscale="log", xlabel="policy parameters", ylabel="RL gain over SFT",
                title=f"H4: gain vs size (kl_coef={kls[-1]:g})")
    for policy in order.index:
        part = free[free["policy"] == policy].groupby("step")[["sqrt_kl", "gold_gain"]].mean()
        axes[2].plot(part["sqrt_kl"], part["gold_gain"], marker=".", label=policy)
    axes[2].set(xlabel="sqrt(KL to SFT)", ylabel="gold gain (tracked)",
                title=f"G8: gold gain vs sqrt(KL) (kl_coef={kls[0]:g})")
    axes[2].legend(title="policy")
    fig.tight_layout()
    rel = save_figure(fig, results_dir, AXIS, "h4_g8_policy_size")

    baselines = {p: round(float(means.loc[p, "sft_heldout_sampled_acc"]), 4) for p in order.index}
    gains = {p: round(float(means.loc[p, GAIN]), 4) for p in order.index}
    if len(order) < 2:
        nan2 = (float("nan"), float("nan"))
        return [Finding(i, registered_claim(i), INCONCLUSIVE, float("nan"), nan2, len(seeds), "", rel, AXIS,
                        note="only one policy size: nothing to compare")
                for i in ("H4", "G8")]
    slope = seed_effect(_slopes(final, GAIN))
    h4 = Finding(
        id="H4", claim=registered_claim("H4"), verdict=slope.verdict(direction=-1),
        effect=slope.estimate, ci=slope.ci, n_seeds=len(seeds),
        effect_label=f"slope of RL gain (sampled gold acc, kl_coef={kls[-1]:g}) per decade of policy parameters "
                     "(claim < 0)",
        figure=rel, axis=AXIS,
        numbers={"sft_baseline": baselines, "rl_gain": gains,
                 "policy_params": {p: int(v) for p, v in order.items()},
                 "rm_policy": str(final["rm_policy"].iloc[0]), "kl_coef": float(kls[-1]),
                 "rl_gain_unconstrained": {p: round(float(v), 4) for p, v in
                                           final_rows(free).groupby("policy")[GAIN].mean().items()}},
        note=("Gain over SFT by policy: " + ", ".join(f"{p} {fmt(gains[p])} (SFT {fmt(baselines[p])})"
                                                      for p in order.index)
              + "; a stronger SFT start leaves less room, so read the gain beside its baseline."),
    )
    peak_slope = seed_effect(_slopes(pk, "peak_gold_gain"))
    small, large = order.index[0], order.index[-1]
    wide = pk.pivot_table(index="seed", columns="policy", values="peak_kl")
    log_ratio = seed_effect(np.log(wide[large].clip(lower=1e-6)) - np.log(wide[small].clip(lower=1e-6)))
    peak_gain = pk.groupby("policy")["peak_gold_gain"].mean()
    peak_kl = pk.groupby("policy")["peak_kl"].mean()
    g8 = Finding(
        id="G8", claim=registered_claim("G8"),
        verdict=combine(peak_slope.verdict(direction=-1), log_ratio.equivalence(np.log(KL_FACTOR))),
        effect=peak_slope.estimate, ci=peak_slope.ci, n_seeds=len(seeds),
        effect_label=f"slope of peak tracked gold gain (kl_coef={kls[0]:g}) per decade of policy parameters "
                     "(claim < 0)",
        figure=rel, axis=AXIS,
        numbers={"peak_gold_gain": {p: round(float(peak_gain[p]), 4) for p in order.index},
                 "peak_kl": {p: round(float(peak_kl[p]), 4) for p in order.index},
                 "ln_peak_kl_largest_minus_smallest": [log_ratio.estimate, *log_ratio.ci]},
        note=(f"ln(KL at peak) of {large} minus {small}: {log_ratio.text()} (same KL within a factor "
              f"{KL_FACTOR:g} means |.| < {np.log(KL_FACTOR):.2f}). A peak at the last tracked step means the run "
              "had not overoptimised yet."),
    )
    return [h4, g8]
