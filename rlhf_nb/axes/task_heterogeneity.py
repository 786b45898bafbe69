"""H8, task heterogeneity: RL moves the trained skill more than skills its data does not train.

RL and reward-model data use ``terms``-term problems only; the OOD split (``ood_terms``
terms) was in the SFT data but never in RL's. The effect is the RL gain on held-out
in-distribution problems minus the gain on OOD problems, paired by seed, from any axis
table that carries both gains for finished runs (the method axis does). The verdict follows
the policy axes' rule (:func:`rlhf_nb.analysis.seed_effect`: a t interval over seeds,
no verdict under 3 seeds).
"""
from __future__ import annotations

import pandas as pd

from ..analysis import seed_effect
from .findings import claim as registered_claim
from .results import Finding


def h8_finding(table: pd.DataFrame, axis: str, figure: str = "") -> Finding:
    """The H8 finding from an axis table with ``gain_heldout_sampled_acc`` and ``gain_ood_sampled_acc``."""
    needed = {"seed", "gain_heldout_sampled_acc", "gain_ood_sampled_acc"}
    missing = needed - set(table.columns)
    if missing:
        raise ValueError(f"the {axis} table lacks {sorted(missing)}: H8 needs RL gains in and out of distribution")
    rows = table.dropna(subset=["gain_heldout_sampled_acc", "gain_ood_sampled_acc"])
    per_seed = rows.groupby("seed")[["gain_heldout_sampled_acc", "gain_ood_sampled_acc"]].mean()
    effect = seed_effect(per_seed["gain_heldout_sampled_acc"] - per_seed["gain_ood_sampled_acc"])
    return Finding(
        id="H8", claim=registered_claim("H8"), verdict=effect.verdict(+1), effect=effect.estimate, ci=effect.ci, n_seeds=effect.n,
        axis=axis, figure=figure,
        effect_label="RL gain in distribution minus RL gain out of distribution (sampled gold acc, claim > 0)",
        numbers={"gain_heldout": float(per_seed["gain_heldout_sampled_acc"].mean()),
                 "gain_ood": float(per_seed["gain_ood_sampled_acc"].mean())},
        note="paired t interval over seeds; no verdict under 3 seeds",
    )
