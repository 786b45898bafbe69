"""RM supervision axis: outcome vs process (vs multi-task) RM, crossed with data volume, in and out of distribution.

Finding tested: H7 (PRM >= ORM in distribution; the advantage shrinks out of distribution; the
PRM gains more from extra RM data). Every supervision type sees the same responses for a
given volume: the ORM and the multi-task RM as (right, wrong) pairs, the PRM as the same
responses with one label per step. The metric is best-of-n selection accuracy (gold accuracy
of the response the RM picks among n samples) at ``headline_n``; pairwise accuracy is reported
next to it. OOD prompts have one more step than any training prompt.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from ..analysis import combine, paired_seed_effect
from ..pipeline.rm_runs import RMEvalConfig, reward_model_result
from ..scoring.reward_models import STEP_AGGREGATES
from ..stages.preference_data import ComparisonSpec
from ..stages.reward import SUPERVISIONS, check_supervision_fits_task
from ..store import RunStore
from ..tasks.protocol import Task
from .findings import claim as registered_claim
from .results import Finding, axis_figure, save_figure
from .rm_family import Scale, count_once, reward_config

AXIS = "orm_vs_prm"


@dataclass(frozen=True)
class SupervisionGrid:
    """Supervision types x volumes; specs checked at construction."""

    supervisions: tuple[str, ...] = ("orm", "prm", "multitask")
    """reward-model supervision types (orm and prm are needed for H7)"""
    volumes: tuple[int, ...] = (64, 256, 1024)
    """total comparisons (the PRM trains on the same 2 x comparisons responses); RMs here saturate near 1000"""
    responses_per_prompt: int = 4
    """policy samples per prompt"""
    pairs_per_prompt: int = 2
    """comparisons per prompt (prompts = comparisons / this)"""
    aggregate: str = "min"
    """how the PRM makes a response score from its step scores"""

    def __post_init__(self):
        unknown = set(self.supervisions) - set(SUPERVISIONS)
        if unknown:
            raise ValueError(f"supervisions={self.supervisions}: unknown {sorted(unknown)}; use {SUPERVISIONS}")
        if self.aggregate not in STEP_AGGREGATES:
            raise ValueError(f"aggregate={self.aggregate!r}: use one of {STEP_AGGREGATES}")
        self.specs()

    def specs(self) -> list[ComparisonSpec]:
        return [ComparisonSpec(max(1, c // self.pairs_per_prompt), self.responses_per_prompt, c)
                for c in sorted(set(self.volumes))]


def check_task(task: Task, grid: dict) -> None:
    """Study pre-flight: refuse process supervision on a task without step labels, before anything trains."""
    for sup in str(grid.get("supervisions", "")).split(","):
        try:
            check_supervision_fits_task(sup.strip(), task)
        except ValueError as err:
            raise ValueError(f"{err} (for this study: -p orm_vs_prm.supervisions orm,multitask)") from None


def run_seed(seed: int, store: RunStore | str | Path, grid: SupervisionGrid = SupervisionGrid(),
             eval_config: RMEvalConfig = RMEvalConfig(), scale: Scale = Scale()) -> pd.DataFrame:
    """Every (supervision, volume) reward model for one seed, evaluated; one row per (point, split, n)."""
    task = scale.task
    for sup in grid.supervisions:  # before any training
        check_supervision_fits_task(sup, task)
    configs = [(sup, spec, reward_config(seed, n_prompts=spec.n_prompts, responses_per_prompt=spec.responses_per_prompt,
                                         comparisons=spec.comparisons, supervision=sup, aggregate=grid.aggregate))
               for spec in grid.specs() for sup in grid.supervisions]
    sft = scale.sft(store, seed)
    frames = []
    for sup, spec, cfg in configs:
        rows = reward_model_result(store, task, cfg, sft, eval_config).rows.copy()
        rows.insert(0, "seed", seed)
        rows.insert(1, "supervision", sup)
        rows.insert(2, "comparisons", spec.comparisons)
        rows.insert(3, "n_prompts", spec.n_prompts)
        rows.insert(4, "responses_per_prompt", spec.responses_per_prompt)
        frames.append(rows)
    return count_once(pd.concat(frames, ignore_index=True))


def _figure(table: pd.DataFrame, n: int) -> Figure:
    fig, axes = axis_figure(2, sharey=True)
    for ax, split in zip(axes, ("heldout", "ood")):
        sel = table[(table.split == split) & (table.n == n)]
        for sup, part in sel.groupby("supervision"):
            m = part.groupby("comparisons")["gold"].agg(["mean", "std"]).fillna(0.0)
            ax.errorbar(m.index, m["mean"], yerr=m["std"], fmt="-o", capsize=3, label=f"{sup}: best-of-{n}")
        base = sel.groupby("comparisons")["oracle"].mean()
        ax.plot(base.index, base.values, ":", color="0.5", label=f"oracle best-of-{n}")
        ax.plot(base.index, [sel.gold.iloc[0] - sel.gold_gain.iloc[0]] * len(base), ":", color="0.8",
                label="policy (n = 1)")
        ax.set(xscale="log", xlabel="comparisons (PRM: the same responses)", title=split)
        ax.legend(fontsize=7)
    axes[0].set_ylabel("gold accuracy of the pick")
    return fig


def analyze(table: pd.DataFrame, results_dir: str | Path, headline_n: int = 16) -> list[Finding]:
    """H7 from the table alone: three paired effects over seeds, each with a t interval."""
    n = headline_n if headline_n in set(table.n) else int(table.n.max())
    fig_rel = save_figure(_figure(table, n), results_dir, AXIS, AXIS)
    at_n = table[table.n == n]

    def per_seed(sup: str, split: str, column: str = "gold", comparisons: int | None = None) -> pd.Series:
        sel = at_n[(at_n.supervision == sup) & (at_n.split == split)]
        if comparisons is not None:
            sel = sel[sel.comparisons == comparisons]
        return sel.groupby("seed")[column].mean()  # mean over volumes when none is named

    adv_id = paired_seed_effect(per_seed("prm", "heldout"), per_seed("orm", "heldout"))
    adv_ood = paired_seed_effect(per_seed("prm", "ood"), per_seed("orm", "ood"))
    shrink = paired_seed_effect(per_seed("prm", "heldout") - per_seed("orm", "heldout"),
                         per_seed("prm", "ood") - per_seed("orm", "ood"))
    big, small = at_n.comparisons.max(), at_n.comparisons.min()
    prm_gain = per_seed("prm", "heldout", comparisons=big) - per_seed("prm", "heldout", comparisons=small)
    orm_gain = per_seed("orm", "heldout", comparisons=big) - per_seed("orm", "heldout", comparisons=small)
    more_data = paired_seed_effect(prm_gain, orm_gain)
    pair_id = paired_seed_effect(per_seed("prm", "heldout", "pairwise_acc"), per_seed("orm", "heldout", "pairwise_acc"))
    # "PRM >= ORM" is a non-inferiority claim: shown when the interval sits above -0.01 (one accuracy point).
    parts = [adv_id.verdict(margin=-0.01), shrink.verdict(), more_data.verdict()]
    table_means = at_n.groupby(["split", "supervision", "comparisons"])["gold"].mean()
    return [Finding(
        id="H7", axis=AXIS, claim=registered_claim("H7"),
        verdict=combine(*parts), effect=adv_id.estimate, ci=adv_id.ci, n_seeds=adv_id.n,
        effect_label=f"held-out best-of-{n} gold accuracy, PRM minus ORM (mean over volumes)",
        figure=fig_rel,
        numbers={"advantage_ood": [adv_ood.estimate, *adv_ood.ci], "advantage_shrink_id_minus_ood": [shrink.estimate, *shrink.ci],
                 "prm_minus_orm_gain_from_data": [more_data.estimate, *more_data.ci], "volume_range": [int(small), int(big)],
                 "pairwise_acc_prm_minus_orm_heldout": [pair_id.estimate, *pair_id.ci],
                 f"best_of_{n}_gold": {f"{s}/{sup}/{c}": round(float(v), 4) for (s, sup, c), v in table_means.items()}},
        note=(f"in distribution PRM - ORM = {adv_id.signed()} (>= -0.01: {parts[0]}); OOD {adv_ood.signed()}; "
              f"shrink (ID - OOD advantage) {shrink.signed()} ({parts[1]}); PRM gain - ORM gain from "
              f"{small}->{big} comparisons {more_data.signed()} ({parts[2]})"),
    )]
