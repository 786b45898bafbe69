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

H1 is decided by the pre-registered protocol (docs/findings.md; :func:`h1_parts`), per seed on
the fixed-prompts series, with n_1 < n_2 < ... < n_k the values of samples per prompt:

1. first doubling gain, gold(n_2) - gold(n_1), claim "greater", δ 0.02;
2. last doubling gain minus a third of the first, (gold(n_k) - gold(n_{k-1})) - (gold(n_2) -
   gold(n_1)) / 3, claim "less", δ 0.01 (needs k >= 3; with two values it has no values and
   the finding cannot be shown).

The equal-total series is its own contrast, reported beside in ``numbers`` and not counted:
its gain from the smallest to the largest n at a fixed batch ("greater", δ 0.02), and the
batch-size effect, the fixed-prompts gain over the same span minus the equal-total gain
("greater", δ 0.02).

Cost at the defaults (policy s, GRPO against the gold verifier, 2/4/8 samples and the
equal-total series, 60 steps; one torch thread, in the default study on 2 cores): about
100-105 s per seed once the SFT model exists.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from ..analysis.decision import PartSpec, decide
from ..pipeline.policy_runs import point_rows, run_point
from ..store import RunStore
from .policy_family import Scale, final_rows, fmt
from .results import Finding, axis_figure, decided_finding, save_figure
from .task_heterogeneity import NO_SPLIT as EVAL_NO_SPLIT

AXIS = "samples_per_prompt"
METRIC = "rl_heldout_sampled_acc"
RISE_DELTA = 0.02
"""H1 part 1: the smallest first-doubling gain in gold accuracy that matters (docs/findings.md)"""
SATURATION_DELTA = 0.01
"""H1 part 2: SESOI of the contrast last-doubling gain - first/3 (claim < 0)"""
EQUAL_TOTAL_DELTA = 0.02
"""SESOI of the equal-total contrasts reported beside H1 (gold accuracy)"""


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


def per_point_scale(scale: Scale) -> Scale:
    """``scale`` without its RL micro-batch: the axis sets each point's step size, so the micro-batch is applied (and
    checked against that step) per point, not against the pipeline's default step."""
    return replace(scale, rl_micro_batch=0)


def run_seed(seed: int, store: RunStore | str | Path, *, samples: list[int], prompts_per_step: int,
             equal_total: int, scale: Scale = Scale()) -> pd.DataFrame:
    """Every run of both series for one seed: tidy rows, one per tracked RL step."""
    store = store if isinstance(store, RunStore) else RunStore(store)
    config = per_point_scale(scale).pipeline(seed)
    # every point's config built (and checked: the micro-batch must divide each point's own step) before training
    points = [(series, replace(config, rl=replace(config.rl, prompts_per_step=prompts, samples_per_prompt=n,
                                                   completions_per_micro_batch=scale.rl_micro_batch)))
              for series, prompts, n in grid(samples, prompts_per_step, equal_total, config.rl.algorithm)]
    frames, seen = [], set()
    for series, point in points:
        frames.append(point_rows(run_point(store, point), seen, series=series))
    return pd.concat(frames, ignore_index=True)


def doubling_gains(final: pd.DataFrame, series: str) -> pd.DataFrame:
    """Per seed (rows) and doubling (columns 'n_lo->n_hi'): gain in final gold accuracy."""
    wide = final[final["series"] == series].pivot_table(index="seed", columns="samples_per_prompt", values=METRIC)
    ns = sorted(wide.columns)
    return pd.DataFrame({f"{a}->{b}": wide[b] - wide[a] for a, b in zip(ns, ns[1:])}, index=wide.index)


def h1_parts(final: pd.DataFrame) -> tuple[list[PartSpec], dict]:
    """H1's two counted parts (per-seed values) from the final rows, and the numbers reported beside them.

    ``final``: one row per run with ``seed``, ``series``, ``samples_per_prompt`` and
    ``rl_heldout_sampled_acc`` (e.g. :func:`rlhf_nb.axes.policy_family.final_rows`).
    """
    gains = doubling_gains(final, "fixed_prompts")
    nan = pd.Series(np.nan, index=gains.index, dtype=float)
    first = gains.iloc[:, 0] if gains.shape[1] >= 1 else nan
    last_minus = (gains.iloc[:, -1] - first / 3) if gains.shape[1] >= 2 else nan
    parts = [
        PartSpec(first.to_numpy(float), "greater", RISE_DELTA,
                 f"first doubling gain {gains.columns[0] if gains.shape[1] else ''}".strip()),
        PartSpec(last_minus.to_numpy(float), "less", SATURATION_DELTA,
                 f"last doubling gain {gains.columns[-1] if gains.shape[1] >= 2 else ''} - first/3".replace("  ", " ")),
    ]
    numbers: dict = {"seeds": [int(s) for s in gains.index],
                     "doublings": list(gains.columns),
                     "per_seed_doubling_gains": {c: [float(v) for v in gains[c]] for c in gains.columns}}
    if gains.shape[1] >= 2:
        numbers["gain_last_doubling"] = decide(gains.iloc[:, -1].to_numpy(float), "greater", RISE_DELTA).to_dict()
    eq = doubling_gains(final, "equal_total")
    if eq.shape[1]:
        span_eq = eq.sum(axis=1)  # gold(largest n) - gold(smallest n) at a fixed batch
        numbers["equal_total_gain_smallest_to_largest_n"] = {
            "values": [float(v) for v in span_eq], **decide(span_eq.to_numpy(float), "greater", EQUAL_TOTAL_DELTA).to_dict()}
        fixed_cols = [c for c in gains.columns]
        if gains.shape[1] and set(eq.columns) == set(fixed_cols):
            batch = (gains.sum(axis=1) - span_eq).dropna()
            numbers["batch_size_effect"] = {
                "values": [float(v) for v in batch],
                **decide(batch.to_numpy(float), "greater", EQUAL_TOTAL_DELTA).to_dict()}
    return parts, numbers


def analyze(table: pd.DataFrame, results_dir: str | Path) -> list[Finding]:
    """H1 from the fixed-prompts series; the equal-total series is reported beside it."""
    final = final_rows(table)
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
    rel = save_figure(fig, results_dir, AXIS, "h1_samples_per_prompt")

    parts, numbers = h1_parts(final)
    means = final[final["series"] == "fixed_prompts"].groupby("samples_per_prompt")[METRIC].mean()
    numbers["gold_by_n_fixed_prompts"] = {int(k): round(float(v), 4) for k, v in means.items()}
    numbers["sft_gold"] = round(float(final["sft_heldout_sampled_acc"].mean()), 4)
    eq = final[final["series"] == "equal_total"]
    if not eq.empty:
        numbers["gold_by_n_equal_total"] = {int(k): round(float(v), 4) for k, v in
                                            eq.groupby("samples_per_prompt")[METRIC].mean().items()}
    finding = decided_finding("H1", parts, effect_label="first doubling gain in final held-out sampled gold acc "
                              "(part 1, claim > 0)", figure=rel, axis=AXIS, numbers=numbers, no_split=EVAL_NO_SPLIT)
    notes = [(f"Part 1 (first doubling {numbers['doublings'][0] if numbers['doublings'] else 'n/a'}): "
              f"{_part_text(finding.parts[0])}."),
             f"Part 2 (last doubling - first/3, claim < 0): {_part_text(finding.parts[1])}."
             if len(numbers["doublings"]) >= 2 else
             "Part 2 has no values: fewer than three values of samples per prompt, no last doubling to compare.",
             f"SFT baseline {fmt(numbers['sft_gold'])}."]
    if "equal_total_gain_smallest_to_largest_n" in numbers:
        e = numbers["equal_total_gain_smallest_to_largest_n"]
        notes.append(f"Beside it, not counted: at equal total completions ({int(eq['completions_per_step'].iloc[0])} "
                     f"per step) gold changes by {_part_text(e)} from the smallest to the largest n"
                     + (f"; batch-size effect (fixed-prompts minus equal-total gain) {_part_text(numbers['batch_size_effect'])}"
                        if "batch_size_effect" in numbers else "") + ".")
    finding.note = " ".join(notes) + (f" {finding.note}" if finding.note else "")
    return [finding]


def _part_text(record: dict) -> str:
    """``+0.051 [+0.025, +0.078] (shown)`` from a decision record."""
    lo, hi = record.get("ci", [None, None])
    est = record.get("estimate")
    ci = f"[{lo:+.3f}, {hi:+.3f}]" if lo is not None and hi is not None else "[no interval]"
    return f"{est:+.3f} {ci} ({record['verdict']})" if est is not None else f"n/a ({record['verdict']})"
