"""RM size axis: reward models of several sizes on the same data, each initialised from an SFT policy of its own size.

Feeds H3 (its best-of-n half, the reported finding ``H3-bon``: one part, per seed the largest
RM's held-out best-of-n gold gain minus the smallest RM's at ``headline_n``, "> 0", δ 0.02,
decided by :func:`rlhf_nb.axes.results.decided_finding`; the RL half is the RL axes') and G3
(read along n by :mod:`rlhf_nb.axes.best_of_n`, which uses these same runs). The data is
fixed: comparisons sampled from the seed's default SFT policy (the policy best-of-n then
optimises), as in Gao et al., where one policy's samples train proxy RMs of every size. Each
RM of preset ``p`` starts from the pipeline's default SFT run with ``policy=p``, so the SFT
models are shared with the policy-size axes.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from ..analysis.decision import GREATER, PartSpec, decide
from ..models import check_model_spec
from ..pipeline.rm_runs import RMEvalConfig, reward_model_result
from ..stages.preference_data import ComparisonSpec
from ..store import RunStore
from .halves import HALVES, bon_half, halves_of
from .results import Finding, axis_figure, decided_finding, part_notes, save_figure
from .rm_family import Scale, count_once

AXIS = "rm_size"


@dataclass(frozen=True)
class RMSizeGrid:
    """RM sizes at fixed data."""

    sizes: tuple[str, ...] = ("xs", "s", "m")
    """RM presets (or checkpoint folders), each initialised from an SFT policy of that preset"""
    n_prompts: int = 128
    """distinct prompts of the fixed data"""
    responses_per_prompt: int = 4
    """policy samples per prompt"""
    comparisons: int = 256
    """comparisons of the fixed data (below where RMs saturate on this task, so size can matter)"""
    init_sft_steps: int = 0
    """SFT steps of the SFT models the RMs start from; 0: the scale's (then shared with the policy-size axis)"""

    def __post_init__(self):
        if len(self.sizes) < 2:
            raise ValueError(f"sizes={self.sizes}: a size axis needs at least two sizes")
        for size in self.sizes:
            check_model_spec(size)
        self.spec()

    def spec(self) -> ComparisonSpec:
        return ComparisonSpec(self.n_prompts, self.responses_per_prompt, self.comparisons)


def run_seed(seed: int, store: RunStore | str | Path, grid: RMSizeGrid = RMSizeGrid(),
             eval_config: RMEvalConfig = RMEvalConfig(), scale: Scale = Scale()) -> pd.DataFrame:
    """Every RM size for one seed on the same comparisons, evaluated; one row per (size, split, n)."""
    task = scale.task
    spec = grid.spec()
    cfg = scale.reward_config(seed, n_prompts=spec.n_prompts, responses_per_prompt=spec.responses_per_prompt,
                              comparisons=spec.comparisons)
    data_sft = scale.sft(store, seed)
    frames = []
    for order, size in enumerate(grid.sizes):
        init_sft = scale.sft(store, seed, policy=size, steps=grid.init_sft_steps)
        rows = reward_model_result(store, task, cfg, data_sft, eval_config, init_sft=init_sft).rows.copy()
        rows.insert(0, "seed", seed)
        rows.insert(1, "rm_size", size)
        rows.insert(2, "size_order", order)
        rows["init_sft_run"] = init_sft.run_id
        rows["init_sft_flops"] = init_sft.metrics["sft/flops"]  # count_once counts the data policy's SFT once
        frames.append(rows)
    return count_once(pd.concat(frames, ignore_index=True))


def size_order(table: pd.DataFrame) -> list[str]:
    """RM sizes from smallest to largest parameter count."""
    return list(table.groupby("rm_size")["rm_params"].first().sort_values().index)


def _figure(table: pd.DataFrame, n: int) -> Figure:
    fig, axes = axis_figure(2)
    for split, style in (("heldout", "-o"), ("ood", "--s")):
        sel = table[(table.split == split) & (table.n == n)]
        for ax, column, label in ((axes[0], "pairwise_acc", "pairwise accuracy"),
                                  (axes[1], "gold_gain", f"best-of-{n} gold gain over n = 1")):
            m = sel.groupby("rm_params")[column].agg(["mean", "std"]).fillna(0.0)
            ax.errorbar(m.index, m["mean"], yerr=m["std"], fmt=style, capsize=3, label=split)
            ax.set(xscale="log", xlabel="RM parameters", ylabel=label)
    for ax in axes:
        ax.legend(fontsize=8)
    axes[0].axhline(0.5, color="0.7", lw=0.8, ls=":")
    axes[1].axhline(0.0, color="0.7", lw=0.8, ls=":")
    return fig


DELTA = 0.02
"""SESOI of H3-bon: best-of-n gold gain, larger minus smaller RM"""


def h3_bon_part(held: pd.DataFrame, small: str, large: str, column: str = "gold_gain") -> PartSpec:
    """Per seed, ``column`` of RM ``large`` minus RM ``small`` (rows of one split and n; seeds missing either drop)."""
    by = held.groupby(["seed", "rm_size"])[column].mean().unstack("rm_size")
    diff = (by[large] - by[small]).dropna() if {small, large} <= set(by.columns) else pd.Series(dtype=float)
    return PartSpec(diff.to_numpy(dtype=float), GREATER, DELTA,
                    name=f"{column}: RM {large} - RM {small}")


def analyze(table: pd.DataFrame, results_dir: str | Path, headline_n: int = 16) -> list[Finding]:
    """The best-of-n half of H3, by the pre-registered protocol: the largest RM's best-of-n gain minus the smallest's."""
    n = headline_n if headline_n in set(table.n) else int(table.n.max())
    fig_rel = save_figure(_figure(table, n), results_dir, AXIS, AXIS)
    order = size_order(table)
    small, large = order[0], order[-1]
    held = table[(table.split == "heldout") & (table.n == n)]
    ood = table[(table.split == "ood") & (table.n == n)]
    gain = h3_bon_part(held, small, large)
    acc = h3_bon_part(held, small, large, "pairwise_acc")
    gain_ood = h3_bon_part(ood, small, large)
    by_size = held.groupby("rm_size")[["rm_params", "pairwise_acc", "gold_gain"]].mean().loc[order]
    reported = {name: decide(p.values, p.claim, p.delta).to_dict() | {"values": [float(v) for v in p.values]}
                for name, p in (("pairwise_acc_large_minus_small (reported)", acc),
                                ("ood_gain_large_minus_small (reported)", gain_ood))}
    # the variance split (reported, not evidence): the same part on each half of the evaluation prompts
    views = {h: bon_half(table, h) for h in HALVES}
    halves, no_split = halves_of(
        lambda v: [h3_bon_part(v[(v.split == "heldout") & (v.n == n)], small, large)], views, 1)
    finding = decided_finding(
        "H3-bon", [replace(gain, name=f"held-out best-of-{n} gold gain over n = 1, RM {large} - RM {small}")],
        axis=AXIS, figure=fig_rel, halves=halves, no_split=no_split,
        effect_label=f"held-out best-of-{n} gold gain over n = 1, RM {large} minus RM {small}",
        numbers={"by_size": {s: {k: float(x) for k, x in r.items()} for s, r in by_size.iterrows()}, **reported})
    acc_d = decide(acc.values, acc.claim, acc.delta)
    finding.note = f"{part_notes(finding)}; pairwise accuracy {large} - {small} {acc_d.estimate:+.3f} (reported)"
    return [finding]
