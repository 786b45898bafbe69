"""RM size axis: reward models of several sizes on the same data, each initialised from an SFT policy of its own size.

Feeds H3 (its best-of-n half: a larger RM's best-of-n gain; the RL half is the RL axes') and
G3 (read along n by :mod:`rlhf_nb.axes.best_of_n`, which uses these same runs). The data is
fixed: comparisons sampled from the seed's default SFT policy (the policy best-of-n then
optimises), as in Gao et al., where one policy's samples train proxy RMs of every size. Each
RM of preset ``p`` starts from the pipeline's default SFT run with ``policy=p``, so the SFT
models are shared with the policy-size axes.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..analysis import paired_seed_effect
from ..models import check_model_spec
from ..pipeline.rm_runs import RMEvalConfig, reward_model_result
from ..stages.preference_data import ComparisonSpec
from ..store import RunStore
from .findings import claim as registered_claim
from .results import Finding, axis_figure, save_figure
from .rm_family import Scale, count_once, reward_config

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
    cfg = reward_config(seed, n_prompts=spec.n_prompts, responses_per_prompt=spec.responses_per_prompt,
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


def analyze(table: pd.DataFrame, results_dir: str | Path, headline_n: int = 16) -> list[Finding]:
    """The best-of-n half of H3: the largest RM's best-of-n gain against the smallest's, paired by seed."""
    n = headline_n if headline_n in set(table.n) else int(table.n.max())
    fig_rel = save_figure(_figure(table, n), results_dir, AXIS, AXIS)
    order = size_order(table)
    small, large = order[0], order[-1]
    held = table[(table.split == "heldout") & (table.n == n)]

    def per_seed(size: str, column: str, frame: pd.DataFrame = held) -> pd.Series:
        return frame[frame.rm_size == size].groupby("seed")[column].mean()

    gain = paired_seed_effect(per_seed(large, "gold_gain"), per_seed(small, "gold_gain"))
    acc = paired_seed_effect(per_seed(large, "pairwise_acc"), per_seed(small, "pairwise_acc"))
    ood = table[(table.split == "ood") & (table.n == n)]
    gain_ood = paired_seed_effect(per_seed(large, "gold_gain", ood), per_seed(small, "gold_gain", ood))
    by_size = held.groupby("rm_size")[["rm_params", "pairwise_acc", "gold_gain"]].mean().loc[order]
    corr = float(np.corrcoef(np.log(by_size.rm_params), by_size.gold_gain)[0, 1]) if len(order) > 2 else float("nan")
    v = gain.verdict()
    return [Finding(
        id="H3-bon", axis=AXIS, claim=registered_claim("H3-bon"),
        verdict=v, effect=gain.estimate, ci=gain.ci, n_seeds=gain.n,
        effect_label=f"held-out best-of-{n} gold gain over n = 1, RM {large} minus RM {small}",
        figure=fig_rel,
        numbers={"by_size": {s: {k: float(x) for k, x in r.items()} for s, r in by_size.iterrows()},
                 "pairwise_acc_large_minus_small": [acc.estimate, *acc.ci],
                 "ood_gain_large_minus_small": [gain_ood.estimate, *gain_ood.ci],
                 "corr_log_params_vs_gain": corr},
        note=(f"best-of-{n} gain {large} - {small} = {gain.signed()} ({v}); pairwise accuracy "
              f"{acc.signed()}; OOD gain difference {gain_ood.signed()}"),
    )]
