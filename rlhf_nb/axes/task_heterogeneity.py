"""H8, task heterogeneity: RL moves the trained skill more than skills its data does not train.

RL and reward-model data use ``terms``-term problems only; the OOD split (``ood_terms``
terms) was in the SFT data but never in RL's. Per seed, the RL gain on held-out
in-distribution problems minus the gain on OOD problems (each run's final evaluation, averaged
over the runs of the seed in the table given, e.g. the method axis's equal-samples runs of every
algorithm), decided by the pre-registered protocol of docs/findings.md: claim "greater",
δ 0.01, a t interval over seeds (:func:`rlhf_nb.axes.results.decided_finding`; no verdict
under 3 seeds).
"""
from __future__ import annotations

import pandas as pd

from ..analysis.decision import PartSpec
from .results import Finding, decided_finding

H8_DELTA = 0.01
"""SESOI of the in-distribution minus out-of-distribution RL gain (sampled gold accuracy)"""
NO_SPLIT = ("the evaluation stage records its accuracies on all evaluation prompts only (no per-half values): "
            "no measurement / training variance split")
"""why H8's part has no variance split"""


def h8_parts(table: pd.DataFrame) -> tuple[list[PartSpec], dict]:
    """H8's one counted part (per-seed gain in distribution - gain out of distribution) and the gains beside it."""
    rows = table.dropna(subset=["gain_heldout_sampled_acc", "gain_ood_sampled_acc"])
    per_seed = rows.groupby("seed")[["gain_heldout_sampled_acc", "gain_ood_sampled_acc"]].mean()
    diff = per_seed["gain_heldout_sampled_acc"] - per_seed["gain_ood_sampled_acc"]
    parts = [PartSpec(diff.to_numpy(float), "greater", H8_DELTA,
                      "RL gain in distribution - RL gain out of distribution (sampled gold acc)")]
    numbers = {"seeds": [int(s) for s in per_seed.index],
               "gain_heldout": float(per_seed["gain_heldout_sampled_acc"].mean()),
               "gain_ood": float(per_seed["gain_ood_sampled_acc"].mean())}
    return parts, numbers


def h8_finding(table: pd.DataFrame, axis: str, figure: str = "") -> Finding:
    """The H8 finding from an axis table with ``gain_heldout_sampled_acc`` and ``gain_ood_sampled_acc``."""
    needed = {"seed", "gain_heldout_sampled_acc", "gain_ood_sampled_acc"}
    missing = needed - set(table.columns)
    if missing:
        raise ValueError(f"the {axis} table lacks {sorted(missing)}: H8 needs RL gains in and out of distribution")
    parts, numbers = h8_parts(table)
    return decided_finding(
        "H8", parts, axis=axis, figure=figure, numbers=numbers,
        effect_label="RL gain in distribution minus RL gain out of distribution (sampled gold acc, claim > 0)",
        note=f"paired by seed; claim > 0 with δ {H8_DELTA}; a t interval over seeds, no verdict under 3 seeds",
        no_split=NO_SPLIT)
