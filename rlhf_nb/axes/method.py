"""Axis: the RL algorithm, PPO (with a value model), GRPO and RLOO, at equal samples and at equal compute (H5).

Same SFT policy, reward model, prompts, KL coefficient and evaluation for every algorithm. The
notebook's default KL coefficient is 0.2: without a penalty all three overoptimised the reward
model and collapsed within 100 steps in a small run (preset xs: final gold 0.12-0.31 from an SFT
level of 0.42), so the final score would measure how fast each collapses rather than how well
it optimises (the ``rl_length_kl`` axis studies that).

- Equal samples: every algorithm runs ``rl_steps`` steps of ``prompts_per_step x
  samples_per_prompt`` completions.
- Equal compute: the budget is the estimated FLOPs of the cheapest algorithm's equal-samples
  run (:func:`rlhf_nb.stages.rl.rl_flops`); every other algorithm runs as many steps as fit in
  it. PPO's value model (run and trained on every batch) and the log-probabilities of its
  rollouts make its steps dearer, so it gets fewer of them. (An algorithm whose steps cost the budget's rate reuses its
  equal-samples run from the store.)

H8 (task heterogeneity) is read off the same runs: RL and reward-model data hold only
in-distribution problems, so the RL gain on held-out problems is set against the gain on the
out-of-distribution split (:mod:`rlhf_nb.axes.task_heterogeneity`), averaged over the
equal-samples runs of every algorithm and paired by seed.

H5 (PPO ≈ GRPO): the final held-out sampled gold accuracy of PPO minus GRPO, paired by seed,
lies within ``margin`` (the larger of the notebook's margin and the seed spread of GRPO's
result). Stability is reported beside: the seed spread of each algorithm's result and its
drawdown (peak tracked gold minus final tracked gold).

Cost at the defaults (policy s, 16 x 8, 60 steps, KL coefficient 0.2; one torch thread, in
the default study on 2 cores): about 110 s per seed once the SFT model and reward model exist
(the GRPO run is shared with the other RL axes). PPO's estimated FLOPs are about twice GRPO's,
so it gets about half the steps at equal compute.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from ..analysis import INCONCLUSIVE, seed_effect
from ..pipeline.policy_runs import parameter_count, point_rows, run_point
from ..pipeline.runs import run_reward, run_sft
from ..stages.rl import ALGORITHMS, rl_flops
from ..store import RunStore
from .findings import claim as registered_claim
from .policy_family import Scale, final_rows, fmt
from .results import Finding, axis_figure, save_figure
from .task_heterogeneity import h8_finding

AXIS = "method"
METRIC = "rl_heldout_sampled_acc"


def equal_compute_steps(config, algorithms: list[str], n_policy: int, n_reward: int) -> dict[str, int]:
    """RL steps per algorithm so that each spends about the cheapest one's equal-samples FLOPs."""
    cost = {a: rl_flops(replace(config.rl, algorithm=a), n_policy, n_reward) for a in algorithms}
    budget = min(cost.values())
    return {a: max(1, int(round(config.rl.rl_steps * budget / c))) for a, c in cost.items()}


def run_seed(seed: int, store: RunStore | str | Path, *, algorithms: list[str], scale: Scale = Scale()) -> pd.DataFrame:
    """Every algorithm at equal samples and at equal compute, for one seed."""
    store = store if isinstance(store, RunStore) else RunStore(store)
    unknown = [a for a in algorithms if a not in ALGORITHMS]
    if unknown or not algorithms:
        raise ValueError(f"algorithms={algorithms}: use some of {ALGORITHMS}")
    config = scale.pipeline(seed)
    for a in algorithms:  # every knob validated before any training (e.g. GRPO with 1 sample per prompt)
        replace(config.rl, algorithm=a)
    sft = run_sft(store, config.task, config.sft)
    reward = run_reward(store, config.task, config.reward, sft)
    steps = equal_compute_steps(config, algorithms, parameter_count(sft), parameter_count(reward))
    frames, seen = [], set()
    for a in algorithms:
        for budget, n_steps in (("equal_samples", config.rl.rl_steps), ("equal_compute", steps[a])):
            rl = replace(config.rl, algorithm=a, rl_steps=n_steps,
                         track_every_steps=min(config.rl.track_every_steps, n_steps))
            frames.append(point_rows(run_point(store, replace(config, rl=rl)), seen, budget=budget))
    return pd.concat(frames, ignore_index=True)


def analyze(table: pd.DataFrame, results_dir: str | Path, margin: float = 0.03) -> list[Finding]:
    final = final_rows(table)
    seeds = sorted(final["seed"].unique())
    algorithms = [a for a in ALGORITHMS if a in set(final["algorithm"])]
    by_run = table.groupby(["budget", "algorithm", "seed"])
    peak = by_run["gold"].max()
    same = final[final["budget"] == "equal_samples"]  # the runs H8 and the stability figures read
    drawdown = peak - by_run.apply(lambda c: float(c.sort_values("step")["gold"].iloc[-1]), include_groups=False)

    fig, axes = axis_figure(4)
    for i, budget in enumerate(("equal_samples", "equal_compute")):
        part = final[final["budget"] == budget]
        stats = part.groupby("algorithm")[METRIC].agg(["mean", "std"]).reindex(algorithms)
        axes[i].bar(stats.index, stats["mean"], yerr=stats["std"].fillna(0), capsize=4, color="C0", alpha=0.7)
        axes[i].axhline(float(part["sft_heldout_sampled_acc"].mean()), color="k", ls="--", label="SFT baseline")
        steps = part.groupby("algorithm")["rl_steps"].first().reindex(algorithms)
        axes[i].set(ylabel="held-out sampled gold accuracy",
                    title=f"{budget.replace('_', ' ')}: steps " + ", ".join(f"{a} {int(s)}" for a, s in steps.items()))
        axes[i].legend()
    for a in algorithms:
        c = table[(table["algorithm"] == a) & (table["budget"] == "equal_samples")]
        m = c.groupby("rl_compute_to_step")["gold"].mean()
        axes[2].plot(m.index, m.values, marker=".", label=a)
    axes[2].set(xlabel="RL FLOPs spent (estimated)", ylabel="tracked gold accuracy",
                title="gold along training against compute")
    axes[2].legend()
    gains = same.groupby("algorithm")[["gain_heldout_sampled_acc", "gain_ood_sampled_acc"]].agg(["mean", "std"])
    gains = gains.reindex(algorithms)
    x = np.arange(len(algorithms))
    for j, (split, label) in enumerate((("heldout", "in distribution (trained)"), ("ood", "out of distribution"))):
        col = f"gain_{split}_sampled_acc"
        axes[3].bar(x + (j - 0.5) * 0.4, gains[(col, "mean")], width=0.4, label=label,
                    yerr=gains[(col, "std")].fillna(0), capsize=4, color=f"C{j}", alpha=0.7)
    axes[3].axhline(0, color="k", lw=0.8)
    axes[3].set(xticks=x, xticklabels=algorithms, ylabel="RL gain in sampled gold accuracy",
                title="H8: gain on the trained skill vs an untrained one")
    axes[3].legend()
    fig.tight_layout()
    rel = save_figure(fig, results_dir, AXIS, "h5_method")

    stats = final.groupby(["budget", "algorithm"])[METRIC].agg(["mean", "std"])
    numbers = {
        "final_gold": {f"{b}/{a}": round(float(v), 4) for (b, a), v in stats["mean"].items()},
        "seed_sd": {f"{b}/{a}": (round(float(v), 4) if np.isfinite(v) else None) for (b, a), v in stats["std"].items()},
        "peak_tracked_gold": {f"{b}/{a}": round(float(v), 4) for (b, a), v in peak.groupby(level=[0, 1]).mean().items()},
        "drawdown": {f"{b}/{a}": round(float(v), 4) for (b, a), v in drawdown.groupby(level=[0, 1]).mean().items()},
        "rl_flops": {f"{b}/{a}": float(v) for (b, a), v in
                     final.groupby(["budget", "algorithm"])["rl_compute_to_step"].mean().items()},
        "rl_step_seconds": {a: round(float(v), 4) for a, v in
                            same.groupby("algorithm")["rl_step_seconds"].mean().items()},
        "sft_gold": round(float(final["sft_heldout_sampled_acc"].mean()), 4),
    }
    h8 = h8_finding(same, AXIS, figure=rel)
    if not {"ppo", "grpo"} <= set(algorithms):
        return [h8, Finding("H5", registered_claim("H5"), INCONCLUSIVE, float("nan"), (float("nan"), float("nan")), len(seeds),
                        figure=rel, axis=AXIS, numbers=numbers, note="PPO and GRPO were not both run")]
    effects = {}
    for budget in ("equal_samples", "equal_compute"):
        wide = final[final["budget"] == budget].pivot_table(index="seed", columns="algorithm", values=METRIC)
        effects[budget] = seed_effect(wide["ppo"] - wide["grpo"])
    spread = same[same.algorithm == "grpo"][METRIC].std()
    used_margin = max(margin, float(spread) if np.isfinite(spread) else 0.0)
    main = effects["equal_samples"]
    numbers["ppo_minus_grpo_equal_compute"] = [effects["equal_compute"].estimate, *effects["equal_compute"].ci]
    numbers["margin"] = used_margin
    return [h8, Finding(
        id="H5", claim=registered_claim("H5"), verdict=main.equivalence(used_margin), effect=main.estimate, ci=main.ci,
        n_seeds=len(seeds), effect_label="PPO - GRPO final held-out sampled gold acc at equal samples "
                                         f"(equivalence margin {used_margin:.3g})",
        figure=rel, axis=AXIS, numbers=numbers,
        note=(f"At equal compute PPO - GRPO is {effects['equal_compute'].text()}. Final gold: "
              + ", ".join(f"{a} {fmt(numbers['final_gold'].get('equal_samples/' + a, np.nan))}" for a in algorithms)
              + f" (SFT {fmt(numbers['sft_gold'])}); peak tracked gold along training: "
              + ", ".join(f"{a} {fmt(numbers['peak_tracked_gold'].get('equal_samples/' + a, np.nan))}"
                          for a in algorithms) + "."),
    )]
