"""Axis: direct alignment (DPO) against reward model + RL on the same preferences (D1, D2; beyond the two papers).

Rafailov et al. 2024 ("Scaling Laws for Reward Model Overoptimization in Direct Alignment
Algorithms") found that DPO-style methods overoptimise too: gold quality against sqrt(KL to the
reference) rises and then falls, along curves of Gao's kind, with no reward model to blame.
Here, per seed, one DPO run per beta on exactly the comparisons the seed's reward model learned
from (:func:`rlhf_nb.pipeline.dpo_runs.run_dpo`), from the SFT policy, which is also the
reference; and one GRPO run against that reward model (the pipeline's RL stage: at the method
axis's settings it is the method axis's own GRPO run, loaded from the store). Both are tracked
by the same tracker on the same prompts with the same sampling seed, so the two curves of gold
against sqrt(KL to the SFT policy) are read on the same axes.

Decided by the pre-registered protocol of docs/findings.md ("Beyond the papers"), each seed
reduced to one number per part:

- D1 (:func:`d1_parts`), "along DPO training, gold against sqrt(KL) rises then falls":
  (1) β of gold gain(d) = d(α - β ln d) (Gao et al. 2022's RL form), least squares through the
      origin over every tracked point of every DPO run of the seed (all betas of the grid pooled,
      as Rafailov et al. 2024 fit one frontier over KL budgets), "greater", δ 0;
  (2) on the run at the smallest beta (the one that travels furthest in KL), the fall from the
      peak (chosen on one half of the tracking prompts, measured on the other, both ways,
      averaged: :func:`rlhf_nb.axes.rl_length_kl.split_half_fall`) to the last tracked point,
      "greater", δ 0.02.
- D2 (:func:`d2_parts`), "at equal preference data and matched KL, RM + RL gold minus DPO gold
  is within 0.03": per seed, the GRPO run's tracked gold minus the DPO run's, both read at the
  largest sqrt(KL) the two runs reach (H5's rule: :func:`rlhf_nb.axes.method.matched_kl_difference`,
  first crossing, linear in sqrt(KL); the KL is chosen from the KL, never from the gold),
  "equivalent", δ 0.03. The DPO run is the one at the grid's median beta (the lower middle of
  an even grid): fixed by the grid, not by the data. The same contrast at every other beta, and
  the final held-out gold, are reported beside, not counted.

Cost at the notebook defaults (policy s, 144-154 comparisons, 3 betas x 20 epochs of 32 pairs =
100 steps each, tracked every 10 steps on 128 prompts; one torch thread): a DPO run trains in
15 s alone on 2 cores and 34-83 s with the cores shared by other work; with its evaluation
the three runs add about 2-4 min per seed once the SFT policy and reward model exist. The RM +
GRPO arm is free where the method axis ran first (its GRPO run, 60 steps: 22-25 s). At toy scale
(preset xs, 48 comparisons, 1 epoch of 8) a seed costs about 5 s.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..analysis.decision import PartSpec, decide
from ..analysis.forms import GAO_RL_FORM
from ..analysis.per_seed import linear_form_fit
from ..models import default_learning_rate
from ..pipeline.dpo_runs import dpo_point, dpo_rows
from ..pipeline.policy_runs import point_rows, run_point
from ..stages.dpo import DPOStageConfig
from ..store import RunStore
from .method import matched_kl_difference
from .policy_family import Scale
from .results import Finding, axis_figure, decided_finding, part_notes, save_figure
from .rl_length_kl import gao_rl_panel, split_half_fall

AXIS = "direct_alignment"
D1_FALL_DELTA = 0.02
"""D1 (2): SESOI of the fall from the peak to the last tracked point (gold accuracy)"""
D2_DELTA = 0.03
"""D2: equivalence margin of RM + RL gold - DPO gold at matched KL (gold accuracy), a constant"""


def dpo_config(seed: int, scale: Scale, *, beta: float, loss_type: str, epochs: int, learning_rate: float,
               comparisons_per_step: int) -> DPOStageConfig:
    """The DPO stage of one grid point, tracked exactly as the scale's RL runs are (interval, prompts, budget).

    ``learning_rate`` 0: by the policy's kind (5e-5 preset, 1e-6 checkpoint); DPO's sequences are the reward
    model's comparisons, so ``scale.rm_max_tokens`` bounds them (0: from the data).
    """
    config = scale.pipeline(seed)
    rl = config.rl
    return DPOStageConfig(beta=beta, loss_type=loss_type, epochs=epochs, comparisons_per_step=comparisons_per_step,
                          learning_rate=learning_rate or default_learning_rate("dpo", config.sft.policy),
                          track_every_steps=rl.track_every_steps, track_prompts=rl.track_prompts,
                          max_completion_tokens=rl.max_completion_tokens, seed=seed,
                          max_sequence_tokens=scale.rm_max_tokens)


def run_seed(seed: int, store: RunStore | str | Path, *, betas: list[float], loss_type: str = "sigmoid",
             dpo_epochs: int = 20, dpo_learning_rate: float = 0.0, dpo_comparisons_per_step: int = 32,
             scale: Scale = Scale()) -> pd.DataFrame:
    """One DPO run per beta and the GRPO run against the reward model, for one seed (rows: series dpo / rl)."""
    store = store if isinstance(store, RunStore) else RunStore(store)
    if not betas or any(not b > 0 for b in betas):
        raise ValueError(f"betas={betas}: give one or more betas > 0, e.g. 0.03,0.1,0.3")
    configs = [dpo_config(seed, scale, beta=float(b), loss_type=loss_type, epochs=dpo_epochs,
                          learning_rate=dpo_learning_rate, comparisons_per_step=dpo_comparisons_per_step)
               for b in sorted(set(betas))]  # every knob validated before any training
    config = scale.pipeline(seed)
    if config.rl.reward != "proxy":
        raise ValueError(f"rl_reward={config.rl.reward!r}: D2 compares RL against the reward model with DPO on its "
                         "comparisons; use rl_reward='proxy'")
    frames = [dpo_rows(dpo_point(store, config, c), series="dpo") for c in configs]
    rl = point_rows(run_point(store, config), series="rl")
    return pd.concat(frames + [rl], ignore_index=True)


def describe_dpo(betas: list[float], *, scale: Scale, loss_type: str, dpo_epochs: int, dpo_learning_rate: float,
                 dpo_comparisons_per_step: int) -> dict[str, str]:
    """The DPO arm's setup as lines for :meth:`Scale.describe`, from the values in force (validated here)."""
    c = dpo_config(0, scale, beta=float(betas[0]), loss_type=loss_type, epochs=dpo_epochs,
                   learning_rate=dpo_learning_rate, comparisons_per_step=dpo_comparisons_per_step)
    name = {"sigmoid": "DPO", "ipo": "IPO"}[c.loss_type]
    return {
        "DPO": f"{name} (TRL loss_type={c.loss_type!r}) from the SFT policy (also its reference), on the reward "
               f"model's own comparisons, {c.epochs} epochs of {c.comparisons_per_step} comparisons per step, "
               f"learning rate {c.learning_rate:g}, tracked every {c.track_every_steps} steps on {c.track_prompts} "
               "held-out prompts as the RL run",
        "betas": ", ".join(f"{float(b):g}" for b in sorted(set(betas)))
                 + f" (D1 part 2 on {min(betas):g}, D2 on the median {median_beta(betas):g})",
    }


def median_beta(betas) -> float:
    """The grid's median beta (the lower middle one of an even grid): D2's DPO run.

    >>> median_beta([0.3, 0.03, 0.1]), median_beta([0.1, 0.3])
    (0.1, 0.1)
    """
    values = sorted(set(float(b) for b in betas))
    if not values:
        raise ValueError("no betas in the table")
    return values[(len(values) - 1) // 2]


def _dpo_runs(dpo: pd.DataFrame, beta: float) -> dict[int, pd.DataFrame]:
    part = dpo[np.isclose(dpo["beta"].to_numpy(float), beta)]
    return {int(s): c.sort_values("step") for s, c in part.groupby("seed")}


def d1_parts(dpo: pd.DataFrame) -> tuple[list[PartSpec], dict]:
    """D1's two counted parts (pooled Gao RL fit's β; split-half fall on the smallest-beta run) and the fits beside."""
    seeds = sorted(int(s) for s in dpo["seed"].unique()) if len(dpo) else []
    betas = sorted(float(b) for b in dpo["beta"].unique()) if len(dpo) else []
    pooled = {s: linear_form_fit(GAO_RL_FORM, c["sqrt_kl"], c["gold_gain"]) for s, c in dpo.groupby("seed")}
    beta_fit = np.array([pooled[s]["beta"] for s in seeds], dtype=float)
    smallest = _dpo_runs(dpo, betas[0]) if betas else {}
    fall = np.array([split_half_fall(smallest[s]) if s in smallest else np.nan for s in seeds], dtype=float)
    label = f"beta={betas[0]:g}" if betas else "no DPO run"
    parts = [PartSpec(beta_fit, "greater", 0.0, "β of gold gain = d(α - β ln d), per-seed fit over every tracked "
                                                "point of every DPO run (betas pooled)"),
             PartSpec(fall, "greater", D1_FALL_DELTA, f"fall from the peak (chosen on one half of the tracking "
                                                      f"prompts) to the last point, measured on the other half ({label})")]
    alpha = np.array([pooled[s]["alpha"] for s in seeds], dtype=float)
    numbers: dict = {"seeds": seeds, "betas": betas, "alpha": alpha.tolist(), "beta_gao": beta_fit.tolist()}
    if np.isfinite(alpha).any() and np.isfinite(beta_fit).any():
        a, b = float(np.nanmean(alpha)), float(np.nanmean(beta_fit))
        derived = GAO_RL_FORM.derived({"alpha": a, "beta": b}, np.nan, np.nan, np.nan)
        numbers["gao_rl_mean_params"] = {"alpha": a, "beta": b, "kl_star": float(derived["kl_star"])}
    per_beta = {}
    for b in betas:
        runs = _dpo_runs(dpo, b)
        fits = [linear_form_fit(GAO_RL_FORM, c["sqrt_kl"], c["gold_gain"]) for c in runs.values()]
        per_beta[f"beta={b:g}"] = {"alpha": [f["alpha"] for f in fits], "beta_gao": [f["beta"] for f in fits],
                                   "final_sqrt_kl": [float(c["sqrt_kl"].iloc[-1]) for c in runs.values()]}
    numbers["per_beta_fits"] = per_beta
    return parts, numbers


def d2_parts(dpo: pd.DataFrame, rl: pd.DataFrame) -> tuple[list[PartSpec], dict]:
    """D2's counted part (RL - DPO at the median beta, matched KL) and the same contrast at every beta beside it."""
    rl_runs = {int(s): c.sort_values("step") for s, c in rl.groupby("seed")}
    seeds = sorted(set(rl_runs) | {int(s) for s in dpo["seed"].unique()})
    betas = sorted(float(b) for b in dpo["beta"].unique()) if len(dpo) else []
    numbers: dict = {"seeds": seeds, "by_beta": {}}
    values = {}
    for b in betas:
        runs = _dpo_runs(dpo, b)
        diffs, ds = [], []
        for s in seeds:
            if s in rl_runs and s in runs:
                diff, d = matched_kl_difference(rl_runs[s], runs[s])
            else:
                diff, d = float("nan"), float("nan")
            diffs.append(diff)
            ds.append(float(d))
        values[b] = np.array(diffs, dtype=float)
        numbers["by_beta"][f"beta={b:g}"] = {"values": values[b].tolist(), "d_match": ds,
                                             **decide(values[b], "equivalent", D2_DELTA).to_dict()}
    if not betas or not rl_runs:
        return [PartSpec([], "equivalent", D2_DELTA, "needs DPO runs and an RL run")], numbers
    b = median_beta(betas)
    numbers["beta"] = b
    parts = [PartSpec(values[b], "equivalent", D2_DELTA, f"RM + GRPO tracked gold - DPO (beta={b:g}) tracked gold, "
                                                          "at the largest common sqrt(KL)")]
    return parts, numbers


def _figure(dpo: pd.DataFrame, rl: pd.DataFrame, d1_numbers: dict, results_dir: str | Path) -> str:
    fig, axes = axis_figure(4)
    for b in sorted(dpo["beta"].unique()):
        m = dpo[dpo["beta"] == b].groupby("step")[["sqrt_kl", "gold"]].mean()
        axes[0].plot(m["sqrt_kl"], m["gold"], marker=".", label=f"DPO, beta={b:g}")
    if len(rl):
        m = rl.groupby("step")[["sqrt_kl", "gold"]].mean()
        axes[0].plot(m["sqrt_kl"], m["gold"], "k-s", ms=3, label=f"RM + {rl['algorithm'].iloc[0].upper()}, "
                                                                 f"kl_coef={float(rl['kl_coef'].iloc[0]):g}")
    axes[0].set(xlabel="d = sqrt(KL to SFT), tracked", ylabel="tracked gold accuracy",
                title="D2: gold against sqrt(KL), mean over seeds by step")
    axes[0].legend(fontsize=7)

    gao_rl_panel(axes[1], dpo, d1_numbers.get("gao_rl_mean_params"))
    axes[1].set(xlabel="d = sqrt(KL to SFT)", ylabel="gold gain over SFT", title="D1: every DPO point (colour: seed)")

    for b in sorted(dpo["beta"].unique()):
        m = dpo[(dpo["beta"] == b) & (dpo["step"] > 0)].groupby("step")[["implicit_margin"]].mean()
        axes[2].plot(m.index, m["implicit_margin"], marker=".", label=f"beta={b:g}")
    axes[2].set(xlabel="DPO step", ylabel="implicit reward margin, training pairs",
                title="DPO's implicit reward: chosen - rejected")
    axes[2].legend(fontsize=7)

    has_proxy = "proxy" in dpo and dpo["proxy"].notna().any()
    for b in sorted(dpo["beta"].unique()) if has_proxy else []:
        m = dpo[dpo["beta"] == b].groupby("step")[["sqrt_kl", "proxy"]].mean()
        axes[3].plot(m["sqrt_kl"], m["proxy"], marker=".", label=f"DPO, beta={b:g}")
    if has_proxy and len(rl) and "proxy" in rl:
        m = rl.groupby("step")[["sqrt_kl", "proxy"]].mean()
        axes[3].plot(m["sqrt_kl"], m["proxy"], "k-s", ms=3, label="RM + RL (optimises it)")
    axes[3].set(xlabel="d = sqrt(KL to SFT), tracked", ylabel="reward model's score (proxy)",
                title="The reward model's score of each policy's samples")
    if axes[3].get_legend_handles_labels()[0]:
        axes[3].legend(fontsize=7)
    return save_figure(fig, results_dir, AXIS, "d1_d2_direct_alignment")


def analyze(table: pd.DataFrame, results_dir: str | Path) -> list[Finding]:
    """D1 and D2 from the axis table (rows of series ``dpo`` and ``rl``)."""
    dpo = table[table["series"] == "dpo"].copy()
    rl = table[table["series"] == "rl"].copy()
    d1_p, d1_n = d1_parts(dpo)
    d2_p, d2_n = d2_parts(dpo, rl)
    final_dpo = dpo[dpo["final"].astype(bool)]
    final_rl = rl[rl["final"].astype(bool)]
    final = {f"dpo/beta={b:g}": round(float(g["dpo_heldout_sampled_acc"].mean()), 4)
             for b, g in final_dpo.groupby("beta")}
    if len(final_rl):
        final["rl"] = round(float(final_rl["rl_heldout_sampled_acc"].mean()), 4)
        final["sft"] = round(float(final_rl["sft_heldout_sampled_acc"].mean()), 4)
    d2_n["final_heldout_gold"] = final
    d2_n["comparisons"] = sorted(int(c) for c in dpo["comparisons"].unique()) if len(dpo) else []
    rel = _figure(dpo, rl, d1_n, results_dir)
    d1 = decided_finding("D1", d1_p, effect_label="β of d(α - β ln d) over the DPO points, mean of per-seed fits "
                                                  "(part 1, claim > 0)", figure=rel, axis=AXIS, numbers=d1_n)
    d1.note = "Parts: " + part_notes(d1) + "."
    d2 = decided_finding("D2", d2_p, effect_label=f"RM + RL gold - DPO gold at matched sqrt(KL) (equivalence, "
                                                  f"δ {D2_DELTA:g})", figure=rel, axis=AXIS, numbers=d2_n)
    beside = "; ".join(f"{k}: {v['estimate']:+.3f}" if v.get("estimate") is not None else f"{k}: n/a"
                       for k, v in d2_n["by_beta"].items())
    d2.note = (f"Parts: {part_notes(d2)}. At every beta (reported): {beside}. Final held-out gold: "
               + ", ".join(f"{k} {v:.3f}" for k, v in final.items()) + ".")
    return [d1, d2]
