"""Axis: RL length and KL coefficient; gold and proxy against sqrt(KL) (H6; G2, G6, G7 of Gao et al. 2022).

One RL run per KL coefficient, tracked every ``track_every_steps`` steps: with a constant
learning rate, the run truncated at step k is the run of length k, so every tracked step is a
point of the length axis. Beside them, best-of-n by the same reward model on the SFT policy,
on the tracker's own prompts, with its KL upper bound ln n - (n-1)/n.

- H6: gold rises fast then flattens on a log axis of steps, while the proxy keeps rising.
  With S the run length: the gold gain over the first S/8 steps is positive; over the last
  half (S/2 to S) the proxy still rises and the gold gain is under a third of that early gain.
- G2: with the smallest KL coefficient (0 by default) gold against d = sqrt(KL) rises then
  falls (gold at the mean curve's peak step above the final gold), and Gao's RL form
  d (alpha - beta ln d) fits at least as well as the best-of-n form d (alpha - beta d)
  (AICc within 2, alpha > 0, R^2 >= 0.5) with its peak inside the data. The forms are fitted
  up to where gold first falls back to the SFT level: accuracy floors at 0, the laws do not.
- G6: RL spends more KL than best-of-n for the same gold gain: at the KL of best-of-n for
  n = 2, 4, ... (those within the RL run's KL range), best-of-n's gold gain exceeds the best
  gain the RL run had reached by that KL (an early-stopping oracle, favourable to RL; the
  best-of-n KL is an upper bound, also favourable to RL).
- G7: a KL penalty acts like early stopping: the tracked points of the penalised runs lie on
  the unconstrained run's gold-vs-KL curve (mean gap within ``G7_MARGIN`` gold accuracy).

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

from ..analysis import (
    INCONCLUSIVE,
    NOT_SHOWN,
    SHOWN,
    Flag,
    combine,
    compare_forms,
    fit_curve,
    plot_fit,
    seed_effect,
)
from ..pipeline.policy_runs import bon_rows, point_rows, run_point
from ..store import RunStore
from .findings import claim as registered_claim
from .policy_family import (
    Scale,
    best_up_to,
    fmt,
    interp_at,
    until_back_to_baseline,
)
from .results import Finding, axis_figure, save_figure

AXIS = "rl_length_kl"
G7_MARGIN = 0.05  # "on the same frontier": mean gold gap within 5 points of accuracy
AICC_TOLERANCE = 2.0  # Gao's RL form "fits" if its AICc is within 2 of the best-of-n form's
AICC_REJECT = 10.0
MIN_R2 = 0.5  # ... and it explains at least half the variance of the gold gain


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


def _at_step(curve: pd.DataFrame, step: float, column: str) -> float:
    """Value at the tracked step nearest to ``step``."""
    return float(curve.iloc[(curve["step"] - step).abs().argmin()][column])


def analyze(table: pd.DataFrame, results_dir: str | Path) -> list[Finding]:
    rl, bon = table[table["series"] == "rl"].copy(), table[table["series"] == "bon"]
    seeds = sorted(rl["seed"].unique())
    kls = sorted(rl["kl_coef"].unique())
    free = rl[rl["kl_coef"] == kls[0]]
    S = int(free["rl_steps"].iloc[0])
    has_proxy = "proxy" in rl and rl["proxy"].notna().any()

    # --- H6: along the steps --------------------------------------------------------------
    early, late_gold, late_proxy = {}, {}, {}
    for seed, c in free.groupby("seed"):
        c = c.sort_values("step")
        early[seed] = _at_step(c, S / 8, "gold") - _at_step(c, 0, "gold")
        late_gold[seed] = _at_step(c, S, "gold") - _at_step(c, S / 2, "gold")
        late_proxy[seed] = _at_step(c, S, "proxy") - _at_step(c, S / 2, "proxy") if has_proxy else np.nan
    early, late_gold, late_proxy = (pd.Series(v, dtype=float) for v in (early, late_gold, late_proxy))
    e_early, e_late_proxy = seed_effect(early), seed_effect(late_proxy)
    e_flat = seed_effect(late_gold - early / 3)

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

    # --- G2: gold vs sqrt(KL), unconstrained ------------------------------------------------
    mean_curve = free.groupby("step")["gold"].mean()
    peak_step = int(mean_curve.idxmax())
    fall = seed_effect(pd.Series({s: _at_step(c.sort_values("step"), peak_step, "gold")
                                  - _at_step(c.sort_values("step"), S, "gold") for s, c in free.groupby("seed")}))
    fit, comparison, fit_part = None, None, INCONCLUSIVE
    law = pd.concat([until_back_to_baseline(c) for _, c in free.groupby("seed")])
    try:
        comparison = compare_forms(law["sqrt_kl"], law["gold_gain"], ["gao_rl", "gao_bon"], law["seed"], x_is="d")
        fit = fit_curve(law["sqrt_kl"], law["gold_gain"], "gao_rl", law["seed"], n_boot=200, seed=0, x_is="d")
        row = comparison.set_index("form")
        delta = float(row.loc["gao_rl", "aicc"] - row["aicc"].min())
        if delta > AICC_REJECT or fit.params["alpha"] <= 0 or fit.r2 < MIN_R2:
            fit_part = NOT_SHOWN
        elif delta <= AICC_TOLERANCE and np.isfinite(fit.derived["d_star"]) and Flag.PEAK_EXTRAPOLATED not in fit.flags:
            fit_part = SHOWN
    except (ValueError, np.linalg.LinAlgError) as err:  # too few points to fit: say so in the note
        comparison = pd.DataFrame({"form": ["gao_rl"], "note": [str(err)]})
    if fit is not None:
        plot_fit(fit, law["sqrt_kl"], law["gold_gain"], law["seed"], ax=axes[1], xlabel="d = sqrt(KL to SFT)",
                 ylabel="gold gain", title=f"G2: gold gain vs sqrt(KL), kl_coef={kls[0]:g} (until back to SFT level)")
    for kl in kls:
        m = rl[rl["kl_coef"] == kl].groupby("step")[["sqrt_kl", "gold_gain"]].mean()
        axes[2].plot(m["sqrt_kl"], m["gold_gain"], marker=".", label=f"RL, kl_coef={kl:g}")
    b = bon.groupby("n")[["d", "gold_gain"]].mean()
    axes[2].plot(b["d"], b["gold_gain"], "k-o", label="best-of-n (KL bound)")
    axes[2].set(xlabel="sqrt(KL)", ylabel="gold gain over SFT", title="G6/G7: RL and best-of-n frontiers")
    axes[2].legend(fontsize=7)
    fig.tight_layout()
    rel = save_figure(fig, results_dir, AXIS, "h6_g2_g6_g7_rl_length_kl")

    # --- G6: gold at equal KL, best-of-n against RL's best so far ------------------------------
    g6, g6_points = {}, {}
    for seed, c in free.groupby("seed"):
        bb = bon[(bon["seed"] == seed) & (bon["n"] > 1) & (bon["kl_bound"] <= c["kl"].max())]
        if len(bb):
            kl, gain = c["kl"].to_numpy(), c["gold_gain"].to_numpy()
            diffs = [r.gold_gain - best_up_to(kl, gain, r.kl_bound) for r in bb.itertuples()]
            g6[seed], g6_points[seed] = float(np.mean(diffs)), len(diffs)
    e_g6 = seed_effect(pd.Series(g6, dtype=float))

    # --- G7: penalised runs against the unconstrained frontier --------------------------------
    gaps = {}
    for seed, c in rl.groupby("seed"):
        frontier = c[c["kl_coef"] == kls[0]].sort_values("step")
        others = c[(c["kl_coef"] > kls[0]) & (c["step"] > 0)]
        diffs = [row.gold_gain - interp_at(frontier["sqrt_kl"].to_numpy(), frontier["gold_gain"].to_numpy(),
                                           row.sqrt_kl) for row in others.itertuples()]
        diffs = [d for d in diffs if np.isfinite(d)]
        if diffs:
            gaps[seed] = float(np.mean(diffs))
    e_g7 = seed_effect(pd.Series(gaps, dtype=float))
    n = len(seeds)
    nums_curve = {f"kl_coef={k:g}": {"final_gold": round(float(rl[(rl.kl_coef == k) & rl.final.astype(bool)]["gold"].mean()), 4),
                                      "final_kl": round(float(rl[(rl.kl_coef == k) & rl.final.astype(bool)]["kl"].mean()), 4)}
                  for k in kls}
    findings = [
        Finding(id="H6", claim=registered_claim("H6"),
                verdict=combine(e_early.verdict(+1), e_late_proxy.verdict(+1) if has_proxy else INCONCLUSIVE,
                                e_flat.verdict(-1)),
                effect=e_flat.estimate, ci=e_flat.ci, n_seeds=n,
                effect_label="gold gain over steps S/2..S minus a third of the gain over 0..S/8 (claim < 0)",
                figure=rel, axis=AXIS, numbers={"run_steps": S, "early_gold_gain": [e_early.estimate, *e_early.ci],
                                                "late_gold_gain": [seed_effect(late_gold).estimate, *seed_effect(late_gold).ci],
                                                "late_proxy_gain": [e_late_proxy.estimate, *e_late_proxy.ci],
                                                "by_kl_coef": nums_curve},
                note=(f"kl_coef={kls[0]:g}, {S} steps: gold +{fmt(e_early.estimate)} over the first {S // 8} steps, "
                      f"{seed_effect(late_gold).text()} over the last {S - S // 2}; proxy {e_late_proxy.text()} over "
                      "the last half.")),
        Finding(id="G2", claim=registered_claim("G2"),
                verdict=combine(fall.verdict(+1), fit_part), effect=fall.estimate, ci=fall.ci, n_seeds=n,
                effect_label=f"gold at the mean curve's peak (step {peak_step}) minus final gold (claim > 0)",
                figure=rel, axis=AXIS,
                numbers={"gao_rl": ({k: round(v, 4) for k, v in fit.params.items()} |
                                    {"kl_star": float(fit.derived["kl_star"]), "flags": [str(f.value) for f in fit.flags]})
                         if fit is not None else None,
                         "aicc": ({r.form: (round(float(r.aicc), 3) if np.isfinite(r.aicc) else None)
                                   for r in comparison.itertuples()} if comparison is not None and "aicc" in comparison
                                  else None)},
                note=(f"Gao RL fit on {len(law)} points (until gold is back to the SFT level): alpha "
                      f"{fmt(fit.params['alpha'])}, beta {fmt(fit.params['beta'])}, R^2 {fmt(fit.r2)}, peak KL "
                      f"{fmt(fit.derived['kl_star'])}" + (f" ({'; '.join(fit.notes)})" if fit.notes else "") + "."
                      if fit is not None else "The Gao RL form could not be fitted.")),
        Finding(id="G6", claim=registered_claim("G6"),
                verdict=e_g6.verdict(+1), effect=e_g6.estimate, ci=e_g6.ci, n_seeds=n,
                effect_label="best-of-n gold gain minus RL's best gain by the same KL, mean over n >= 2 (claim > 0)",
                figure=rel, axis=AXIS,
                numbers={"bon_points_per_seed": {int(k): v for k, v in g6_points.items()},
                         "bon_gold_gain": {int(k): round(float(v), 4) for k, v in bon.groupby("n")["gold_gain"].mean().items()},
                         "rl_peak_gold_gain": round(float(free.groupby("seed")["gold_gain"].max().mean()), 4)},
                note=("Best-of-n's KL is the upper bound ln n - (n-1)/n and RL is read at its best point so far, "
                      "both in RL's favour." if len(g6) else "No best-of-n point within the RL run's KL range.")),
        Finding(id="G7", claim=registered_claim("G7"),
                verdict=e_g7.equivalence(G7_MARGIN) if len(kls) > 1 else INCONCLUSIVE,
                effect=e_g7.estimate, ci=e_g7.ci, n_seeds=n,
                effect_label=f"mean gold gap of penalised runs to the kl_coef={kls[0]:g} frontier at equal KL "
                             f"(equivalence margin {G7_MARGIN})",
                figure=rel, axis=AXIS, numbers={"kl_coefs": [float(k) for k in kls]},
                note=("Positive: the penalty does better than stopping early at the same KL."
                      if len(kls) > 1 else "Only one KL coefficient: no frontier to compare.")),
    ]
    return findings
