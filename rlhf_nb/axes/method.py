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

S1 (beyond the two papers: recipes differ in compute efficiency more than in asymptote) is read
off the equal-samples runs too, by :mod:`rlhf_nb.axes.compute_curves`: the ScaleRL sigmoid of
tracked gold against RL FLOPs per run, per-seed A and B compared across PPO, GRPO and RLOO.

H5 (PPO ≈ GRPO), decided by the pre-registered protocol of docs/findings.md (:func:`h5_parts`):
per seed, PPO - GRPO in tracked gold at matched KL to the SFT policy, "equivalent" within the
constant δ 0.03. The rule (one of the two findings.md allows, fixed here): on the equal-samples
runs, d_match = the largest sqrt(KL) both runs of the seed reach (the smaller of their largest
tracked sqrt(KL)); each run's gold is read at d_match on its tracked curve, first crossing,
linear in sqrt(KL) (:func:`rlhf_nb.axes.rl_length_kl.gain_at_sqrt_kl`). d_match is chosen from
the KL, never from the gold. The same contrast on the equal-compute runs, and the final
held-out gold difference at both budgets, are reported beside, not counted. Stability is
reported per method and budget: the share of seeds whose gold collapses, a collapse being a
final tracked gold more than 0.02 below the run's gold at step 0 (its SFT policy); with the
drawdown (peak tracked gold minus final tracked gold) beside it.

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

from ..analysis.decision import PartSpec, decide
from ..pipeline.policy_runs import parameter_count, point_rows, run_point
from ..pipeline.runs import run_reward, run_sft
from ..stages.rl import ALGORITHMS, rl_flops
from ..store import RunStore
from .policy_family import Scale, final_rows, fmt
from .results import Finding, axis_figure, decided_finding, save_figure
from .compute_curves import s1_finding
from .rl_length_kl import gain_at_sqrt_kl
from .halves import HALVES, halves_of, rl_half
from .task_heterogeneity import h8_finding

AXIS = "method"
METRIC = "rl_heldout_sampled_acc"
H5_DELTA = 0.03
"""H5's pre-registered equivalence margin (gold accuracy), a constant"""
COLLAPSE_DROP = 0.02
"""a run collapses when its final tracked gold is more than this below its gold at step 0"""


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


def matched_kl_difference(a: pd.DataFrame, b: pd.DataFrame) -> tuple[float, float]:
    """(gold of run a - gold of run b at d_match, d_match): d_match the largest sqrt(KL) both runs reach.

    ``a`` and ``b`` are one run each (tracked rows with ``step``, ``sqrt_kl``, ``gold``). NaN when
    either run never leaves sqrt(KL) 0 (no KL to match at).
    """
    a, b = a.sort_values("step"), b.sort_values("step")
    d = float(min(a["sqrt_kl"].max(), b["sqrt_kl"].max()))
    if not np.isfinite(d) or d <= 0:
        return float("nan"), d
    return gain_at_sqrt_kl(a["sqrt_kl"], a["gold"], d) - gain_at_sqrt_kl(b["sqrt_kl"], b["gold"], d), d


def collapsed(curve: pd.DataFrame, drop: float = COLLAPSE_DROP) -> bool:
    """Whether one run's final tracked gold lies more than ``drop`` below its gold at step 0."""
    c = curve.sort_values("step")
    return bool(float(c["gold"].iloc[-1]) < float(c["gold"].iloc[0]) - drop)


def h5_parts(table: pd.DataFrame) -> tuple[list[PartSpec], dict]:
    """H5's counted part (PPO - GRPO at matched KL, equal-samples runs) and the contrasts beside it."""
    numbers: dict = {}
    values = {}
    for budget in ("equal_samples", "equal_compute"):
        runs = {(a, int(s)): c for (a, s), c in
                table[table["budget"] == budget].groupby(["algorithm", "seed"])}
        seeds = sorted({s for (_, s) in runs})
        diffs, ds = [], []
        for s in seeds:
            if ("ppo", s) in runs and ("grpo", s) in runs:
                diff, d = matched_kl_difference(runs[("ppo", s)], runs[("grpo", s)])
            else:
                diff, d = float("nan"), float("nan")
            diffs.append(diff)
            ds.append(d)
        values[budget] = (seeds, np.array(diffs, dtype=float), ds)
    seeds, main, d_match = values["equal_samples"]
    parts = [PartSpec(main, "equivalent", H5_DELTA, "PPO - GRPO tracked gold at the largest common sqrt(KL), "
                                                  "equal samples")]
    numbers["seeds"] = seeds
    numbers["d_match_equal_samples"] = [float(d) for d in d_match]
    _, comp, d_comp = values["equal_compute"]
    numbers["matched_kl_equal_compute"] = {"values": comp.tolist(), "d_match": [float(d) for d in d_comp],
                                           **decide(comp, "equivalent", H5_DELTA).to_dict()}
    final = final_rows(table)
    for budget in ("equal_samples", "equal_compute"):
        wide = final[final["budget"] == budget].pivot_table(index="seed", columns="algorithm", values=METRIC)
        if {"ppo", "grpo"} <= set(wide.columns):
            diff = (wide["ppo"] - wide["grpo"]).to_numpy(float)
            numbers[f"final_heldout_gold_ppo_minus_grpo_{budget}"] = {
                "values": diff.tolist(), **decide(diff, "equivalent", H5_DELTA).to_dict()}
    return parts, numbers


def stability(table: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Per ``budget/algorithm``: the share of seeds whose gold collapses, with the seeds and the mean drawdown."""
    out = {}
    for (b, a), runs in table.groupby(["budget", "algorithm"]):
        flags = [collapsed(c) for _, c in runs.groupby("seed")]
        draw = [float(c["gold"].max() - c.sort_values("step")["gold"].iloc[-1]) for _, c in runs.groupby("seed")]
        out[f"{b}/{a}"] = {"collapsed_share": float(np.mean(flags)), "collapsed": int(np.sum(flags)),
                           "seeds": len(flags), "mean_drawdown": round(float(np.mean(draw)), 4)}
    return out


def analyze(table: pd.DataFrame, results_dir: str | Path) -> list[Finding]:
    """H8, H5 and S1 (:mod:`rlhf_nb.axes.compute_curves`) from the method axis's table; H5's margin is the
    pre-registered constant :data:`H5_DELTA`."""
    final = final_rows(table)
    algorithms = [a for a in ALGORITHMS if a in set(final["algorithm"])]
    same = final[final["budget"] == "equal_samples"]  # the runs H8 reads

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
        m = c.groupby("step")[["sqrt_kl", "gold"]].mean()
        axes[2].plot(m["sqrt_kl"], m["gold"], marker=".", label=a)
    axes[2].set(xlabel="sqrt(KL to SFT), tracked", ylabel="tracked gold accuracy",
                title="H5: gold along training against sqrt(KL), equal samples")
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
    rel = save_figure(fig, results_dir, AXIS, "h5_method")

    stats = final.groupby(["budget", "algorithm"])[METRIC].agg(["mean", "std"])
    numbers = {
        "final_gold": {f"{b}/{a}": round(float(v), 4) for (b, a), v in stats["mean"].items()},
        "seed_sd": {f"{b}/{a}": (round(float(v), 4) if np.isfinite(v) else None) for (b, a), v in stats["std"].items()},
        "stability": stability(table),
        "rl_flops": {f"{b}/{a}": float(v) for (b, a), v in
                     final.groupby(["budget", "algorithm"])["rl_compute_to_step"].mean().items()},
        "rl_step_seconds": {a: round(float(v), 4) for a, v in
                            same.groupby("algorithm")["rl_step_seconds"].mean().items()},
        "sft_gold": round(float(final["sft_heldout_sampled_acc"].mean()), 4),
        "margin": H5_DELTA,
    }
    h8 = h8_finding(same, AXIS, figure=rel)
    s1 = s1_finding(table, results_dir, AXIS)  # beyond the papers: ScaleRL compute curves (compute_curves.py)
    if not {"ppo", "grpo"} <= set(algorithms):
        parts = [PartSpec([], "equivalent", H5_DELTA, "PPO and GRPO were not both run")]
        return [h8, decided_finding("H5", parts, figure=rel, axis=AXIS, numbers=numbers,
                                    note="PPO and GRPO were not both run."), s1]
    parts, h5_numbers = h5_parts(table)
    # the variance split (reported, not evidence): the same part on each half of the tracking prompts
    h5_halves, h5_no_split = halves_of(lambda v: h5_parts(v)[0], {h: rl_half(table, h) for h in HALVES}, len(parts))
    numbers.update(h5_numbers)
    h5 = decided_finding("H5", parts, figure=rel, axis=AXIS, numbers=numbers, halves=h5_halves, no_split=h5_no_split,
                         effect_label=f"PPO - GRPO tracked gold at matched sqrt(KL), equal samples "
                                      f"(equivalence, δ {H5_DELTA:g})")
    p = h5.parts[0]
    comp = numbers["matched_kl_equal_compute"]
    collapse = ", ".join(f"{k} {v['collapsed']}/{v['seeds']}" for k, v in numbers["stability"].items())
    h5.note = (f"PPO - GRPO at the largest common sqrt(KL): {_text(p)}; at equal compute (reported): {_text(comp)}. "
               "Final gold: " + ", ".join(f"{a} {fmt(numbers['final_gold'].get('equal_samples/' + a, np.nan))}"
                                         for a in algorithms)
               + f" (SFT {fmt(numbers['sft_gold'])}). Seeds whose gold collapsed: {collapse}.")
    return [h8, h5, s1]


def _text(record: dict) -> str:
    est, (lo, hi) = record.get("estimate"), record.get("ci", [None, None])
    if est is None:
        return f"n/a ({record.get('verdict', '')})"
    ci = f"[{lo:+.3f}, {hi:+.3f}]" if lo is not None and hi is not None else "[no interval]"
    return f"{est:+.3f} {ci} ({record['verdict']})"
