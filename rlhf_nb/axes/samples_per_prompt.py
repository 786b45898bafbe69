"""Axis: responses sampled per prompt during RL (H1, Hou et al. 2024: samples per prompt saturate).

Two series, so that "more samples per prompt" and "a bigger batch" are told apart (the
reviewers' objection to the paper, where growing the samples also grew the batch):

- ``fixed_prompts``: ``prompts_per_step`` fixed and ``samples_per_prompt`` = n growing, so the
  batch grows with n, as in the paper;
- ``equal_total``: ``prompts_per_step x samples_per_prompt`` held at ``equal_total`` completions,
  so more samples per prompt means fewer distinct prompts per step.

Default: PPO (the paper's main method, and the only one here with a baseline for n = 1)
against the gold verifier. Why gold: the question is how the sampling budget drives
optimisation; against the learned reward model, a bigger batch also overoptimises it faster
(the ``rl_length_kl`` axis), and "saturation" could then be the reward model failing rather
than sampling saturating. ``rl_reward="proxy"`` runs the paper's setting instead.

The measured outcome is the held-out *sampled* gold accuracy of the final policy (greedy
accuracy saturates near 0.95 quickly on this task), with the SFT policy's beside it.

Cost at the defaults (policy s, GRPO against the gold verifier, 2/4/8 samples and the
equal-total series, 60 steps; one torch thread, in the default study on 2 cores): about
100-105 s per seed once the SFT model exists.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from ..analysis import INCONCLUSIVE, NOT_SHOWN, SHOWN, combine, seed_effect
from ..pipeline.policy_runs import point_rows, run_point
from ..store import RunStore
from .findings import claim as registered_claim
from .policy_family import Scale, final_rows, fmt
from .results import Finding, axis_figure, save_figure

AXIS = "samples_per_prompt"
METRIC = "rl_heldout_sampled_acc"


def grid(samples: list[int], prompts_per_step: int, equal_total: int, algorithm: str) -> list[tuple[str, int, int]]:
    """(series, prompts_per_step, samples_per_prompt) of every run, validated before any training."""
    samples = sorted(set(int(n) for n in samples))
    if min(samples) < 1:
        raise ValueError(f"samples_per_prompt={samples}: every value must be at least 1")
    if algorithm in ("grpo", "rloo") and min(samples) < 2:
        raise ValueError(f"samples_per_prompt={samples} with {algorithm}: its group baseline needs at least 2 "
                         "samples per prompt; drop 1 from the list or use algorithm='ppo'")
    if prompts_per_step <= 0:
        raise ValueError(f"prompts_per_step={prompts_per_step}: must be a positive number")
    points = [("fixed_prompts", prompts_per_step, n) for n in samples]
    if equal_total:
        bad = [n for n in samples if equal_total % n]
        if bad:
            raise ValueError(f"equal_total={equal_total} completions is not divisible by samples_per_prompt {bad}: "
                             f"pick a multiple of {int(np.lcm.reduce(samples))}")
        points += [("equal_total", equal_total // n, n) for n in samples]
    return points


def run_seed(seed: int, store: RunStore | str | Path, *, samples: list[int], prompts_per_step: int,
             equal_total: int, scale: Scale = Scale()) -> pd.DataFrame:
    """Every run of both series for one seed: tidy rows, one per tracked RL step."""
    store = store if isinstance(store, RunStore) else RunStore(store)
    config = scale.pipeline(seed)
    frames, seen = [], set()
    for series, prompts, n in grid(samples, prompts_per_step, equal_total, config.rl.algorithm):
        point = replace(config, rl=replace(config.rl, prompts_per_step=prompts, samples_per_prompt=n))
        frames.append(point_rows(run_point(store, point), seen, series=series))
    return pd.concat(frames, ignore_index=True)


def doubling_gains(final: pd.DataFrame, series: str) -> pd.DataFrame:
    """Per seed (rows) and doubling (columns 'n_lo->n_hi'): gain in final gold accuracy."""
    wide = final[final["series"] == series].pivot_table(index="seed", columns="samples_per_prompt", values=METRIC)
    ns = sorted(wide.columns)
    return pd.DataFrame({f"{a}->{b}": wide[b] - wide[a] for a, b in zip(ns, ns[1:])}, index=wide.index)


def analyze(table: pd.DataFrame, results_dir: str | Path) -> list[Finding]:
    """H1 from the fixed-prompts series; the equal-total series is reported beside it."""
    final = final_rows(table)
    seeds = sorted(final["seed"].unique())
    fig, axes = axis_figure(2)
    for series, ax in zip(("fixed_prompts", "equal_total"), axes):
        part = final[final["series"] == series]
        if part.empty:
            ax.set_visible(False)
            continue
        stats = part.groupby("samples_per_prompt")[[METRIC, "sft_heldout_sampled_acc"]].agg(["mean", "std"])
        ax.errorbar(stats.index, stats[(METRIC, "mean")], yerr=stats[(METRIC, "std")].fillna(0), marker="o",
                    capsize=3, label="after RL")
        ax.plot(stats.index, stats[("sft_heldout_sampled_acc", "mean")], "k--", label="SFT baseline")
        ax.set_xscale("log", base=2)
        what = ("prompts per step fixed" if series == "fixed_prompts"
                else f"prompts x samples = {int(part['completions_per_step'].iloc[0])}")
        ax.set(xlabel="samples per prompt (log2)", ylabel="held-out sampled gold accuracy", title=what)
        ax.legend()
    fig.suptitle("H1: gold accuracy after RL against samples per prompt (mean ± sd over seeds)")
    fig.tight_layout()
    rel = save_figure(fig, results_dir, AXIS, "h1_samples_per_prompt")

    gains = doubling_gains(final, "fixed_prompts")
    numbers: dict = {"seeds": [int(s) for s in seeds]}
    if gains.shape[1] < 2:
        return [Finding("H1", registered_claim("H1"), INCONCLUSIVE, float("nan"), (float("nan"),) * 2,
                        len(seeds), "last - first/3 doubling gain", rel, AXIS,
                        note="fewer than three values of samples per prompt: no doubling to compare")]
    first, last = gains.iloc[:, 0], gains.iloc[:, -1]
    rise = seed_effect(first)
    shrink = seed_effect(last - first / 3)
    last_e = seed_effect(last)
    # "The last doubling's gain is under a third of the first's, or within noise."
    saturates = shrink.verdict(direction=-1)
    if saturates != SHOWN and last_e.n >= 2 and last_e.ci[0] <= 0 <= last_e.ci[1]:
        saturates = SHOWN
    verdict_ = combine(rise.verdict(+1), saturates)
    means = final[final["series"] == "fixed_prompts"].groupby("samples_per_prompt")[METRIC].mean()
    numbers.update({
        "gold_by_n_fixed_prompts": {int(k): round(float(v), 4) for k, v in means.items()},
        "sft_gold": round(float(final["sft_heldout_sampled_acc"].mean()), 4),
        "gain_first_doubling": [rise.estimate, *rise.ci],
        "gain_last_doubling": [last_e.estimate, *last_e.ci],
        "first_doubling": gains.columns[0], "last_doubling": gains.columns[-1],
    })
    eq = final[final["series"] == "equal_total"]
    note_eq = ""
    if not eq.empty:
        eq_means = eq.groupby("samples_per_prompt")[METRIC].mean()
        eq_gains = doubling_gains(final, "equal_total")
        span = seed_effect(eq_gains.sum(axis=1)) if eq_gains.shape[1] else None
        numbers["gold_by_n_equal_total"] = {int(k): round(float(v), 4) for k, v in eq_means.items()}
        if span is not None:
            numbers["equal_total_gain_smallest_to_largest_n"] = [span.estimate, *span.ci]
            reading = {SHOWN: "more samples per prompt help even at a fixed batch.",
                       NOT_SHOWN: "at a fixed batch more samples per prompt do not help: the rise above comes "
                                  "with the bigger batch.",
                       INCONCLUSIVE: "whether the rise above is the samples or the bigger batch is not resolved "
                                     "at this many seeds."}[span.verdict(+1)]
            note_eq = (f" At equal total completions ({int(eq['completions_per_step'].iloc[0])} per step), going "
                       f"from n={eq_means.index.min()} to n={eq_means.index.max()} changes gold by {span.text()}: "
                       + reading)
    return [Finding(
        id="H1", claim=registered_claim("H1"), verdict=verdict_, effect=shrink.estimate, ci=shrink.ci,
        n_seeds=len(seeds), effect_label="last doubling gain - first/3 (gold acc, claim < 0)", figure=rel,
        axis=AXIS, numbers=numbers,
        note=(f"Final held-out sampled gold rises by {rise.text()} over the first doubling "
              f"({gains.columns[0]}) and {last_e.text()} over the last ({gains.columns[-1]}); SFT baseline "
              f"{fmt(numbers['sft_gold'])}." + note_eq),
    )]
