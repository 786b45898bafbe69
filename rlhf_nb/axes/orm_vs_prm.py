"""RM supervision axis: outcome vs process (vs multi-task) RM, crossed with data volume, in and out of distribution.

Finding tested: H7 (docs/findings.md). Every supervision type sees the same responses for a
given volume: the ORM and the multi-task RM as (right, wrong) pairs, the PRM as the same
responses with one label per step. The metric is best-of-n selection accuracy (gold accuracy
of the response the RM picks among n samples, unbiased estimator) at ``headline_n``; pairwise
accuracy is reported next to it. OOD prompts have one more step than any training prompt.

Parts, each one number per seed (a seed's volumes are replicates of its contrast and are
averaged within the seed first where a part does not name a volume):

1. PRM - ORM held-out best-of-n gold, mean over volumes, non-inferior at δ 0.02;
2. only when part 1 is shown: the PRM advantage in distribution minus out of distribution,
   "> 0", δ 0.02; otherwise it is reported in ``numbers`` and not tested (not in the compound);
3. PRM gain - ORM gain in held-out best-of-n gold between the smallest and the largest volume,
   "> 0", δ 0.02.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..analysis.decision import GREATER, NONINFERIOR, SHOWN, PartSpec, decide
from ..pipeline.rm_runs import RMEvalConfig, reward_model_result
from ..scoring.reward_models import STEP_AGGREGATES
from ..stages.preference_data import ComparisonSpec
from ..stages.reward import SUPERVISIONS, check_supervision_fits_task
from ..store import RunStore
from ..tasks.protocol import Task
from .halves import HALVES, bon_half, halves_of
from .results import Finding, axis_figure, decided_finding, part_notes, save_figure
from .rm_family import Scale, count_once

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
    configs = [(sup, spec, scale.reward_config(seed, n_prompts=spec.n_prompts,
                                               responses_per_prompt=spec.responses_per_prompt,
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


NONINFERIOR_MARGIN = 0.02
"""H7 (1): PRM - ORM in-distribution best-of-n gold non-inferior at this margin"""
DELTA = 0.02
"""SESOI of H7 (2) and (3), gold accuracy"""


def h7_parts(gold: pd.DataFrame) -> tuple[PartSpec, PartSpec, PartSpec]:
    """H7's three parts from per-seed best-of-n gold at the headline n.

    ``gold``: one row per (seed, supervision, comparisons, split) with a ``gold`` column (held-out
    split "heldout", out of distribution "ood"). Returns (part 1, part 2, part 3); which are
    counted is :func:`h7_counted`'s rule.
    """
    cells: dict[tuple, list[float]] = {}  # (seed, supervision, split, comparisons) -> values
    for key in zip(gold.seed, gold.supervision, gold.split, gold.comparisons, gold.gold):
        cells.setdefault(key[:4], []).append(float(key[4]))
    cell = {k: float(np.mean(v)) for k, v in cells.items()}
    seeds = sorted({k[0] for k in cell})
    vols = sorted({k[3] for k in cell})

    def per_seed(fn) -> pd.Series:
        return pd.Series({seed: fn(seed) for seed in seeds}, dtype=float)

    def over_volumes(seed, sup: str, split: str) -> float:
        vals = [cell[(seed, sup, split, v)] for v in vols if (seed, sup, split, v) in cell]
        return float(np.mean(vals)) if vals else float("nan")

    def gain(seed, sup: str) -> float:  # held-out gold, largest volume minus smallest
        if len(vols) < 2:
            return float("nan")
        return cell.get((seed, sup, "heldout", vols[-1]), np.nan) - cell.get((seed, sup, "heldout", vols[0]), np.nan)

    adv_id = per_seed(lambda seed: over_volumes(seed, "prm", "heldout") - over_volumes(seed, "orm", "heldout"))
    adv_ood = per_seed(lambda seed: over_volumes(seed, "prm", "ood") - over_volumes(seed, "orm", "ood"))
    more_data = per_seed(lambda seed: gain(seed, "prm") - gain(seed, "orm"))
    return (PartSpec(adv_id.dropna().to_numpy(), NONINFERIOR, NONINFERIOR_MARGIN,
                     name="PRM - ORM held-out best-of-n gold (mean over volumes)"),
            PartSpec((adv_id - adv_ood).dropna().to_numpy(), GREATER, DELTA,
                     name="PRM advantage in distribution - out of distribution"),
            PartSpec(more_data.dropna().to_numpy(), GREATER, DELTA,
                     name="PRM gain - ORM gain from the smallest to the largest volume (held-out)"))


def h7_counted(parts: tuple[PartSpec, PartSpec, PartSpec], level: float = 0.95) -> tuple[list[PartSpec], bool]:
    """The parts the compound counts: part 2 only when part 1 is shown (findings.md); and whether part 2 is in."""
    first = decide(parts[0].values, parts[0].claim, parts[0].delta, level)
    if first.verdict == SHOWN:
        return [parts[0], parts[1], parts[2]], True
    return [parts[0], parts[2]], False


def analyze(table: pd.DataFrame, results_dir: str | Path, headline_n: int = 16) -> list[Finding]:
    """H7 from the table alone, by the pre-registered protocol (docs/findings.md): see the module docstring."""
    n = headline_n if headline_n in set(table.n) else int(table.n.max())
    fig_rel = save_figure(_figure(table, n), results_dir, AXIS, AXIS)
    at_n = table[table.n == n]
    gold = at_n.groupby(["seed", "supervision", "comparisons", "split"])[["gold", "pairwise_acc"]].mean().reset_index()
    parts = h7_parts(gold)
    counted, with_second = h7_counted(parts)
    first = decide(parts[0].values, parts[0].claim, parts[0].delta).verdict
    second = decide(parts[1].values, parts[1].claim, parts[1].delta)
    pair = h7_parts(gold.drop(columns="gold").rename(columns={"pairwise_acc": "gold"}))[0]
    pair_d = decide(pair.values, pair.claim, pair.delta)
    table_means = gold.groupby(["split", "supervision", "comparisons"])["gold"].mean()
    vols = sorted(gold.comparisons.unique())
    # the variance split (reported, not evidence): the counted parts on each half of the evaluation prompts
    def counted_on(view: pd.DataFrame) -> list[PartSpec]:
        g = view[view.n == n].groupby(["seed", "supervision", "comparisons", "split"])[["gold"]].mean().reset_index()
        half = h7_parts(g)
        return [half[0], half[1], half[2]] if with_second else [half[0], half[2]]
    halves, no_split = halves_of(counted_on, {h: bon_half(table, h) for h in HALVES}, len(counted))
    finding = decided_finding(
        "H7", counted, axis=AXIS, figure=fig_rel, halves=halves, no_split=no_split,
        effect_label=f"held-out best-of-{n} gold accuracy, PRM minus ORM (mean over volumes)",
        numbers={"part_2_counted": with_second,
                 "advantage_id_minus_ood" + ("" if with_second else f" (reported, not tested: part 1 is {first})"):
                     second.to_dict() | {"values": [float(v) for v in parts[1].values]},
                 "volume_range": [int(vols[0]), int(vols[-1])] if vols else [],
                 "pairwise_acc_prm_minus_orm_heldout (reported)": pair_d.to_dict(),
                 f"best_of_{n}_gold": {f"{s}/{sup}/{c}": round(float(v), 4) for (s, sup, c), v in table_means.items()}})
    notes = [part_notes(finding)]
    if not with_second:
        notes.append(f"not tested (part 1 is {first}, not shown): {parts[1].name} {second.estimate:+.3f}")
    finding.note = "; ".join(notes)
    return [finding]
