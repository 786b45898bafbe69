"""RM data axis: prompt diversity against responses per prompt at equal comparisons, volume, and epochs.

Findings tested: H2 (at equal comparisons more distinct prompts beat more responses each; RM
accuracy grows with volume) and G5 (tiny data gives near-chance RMs; k epochs over D is about
1 epoch over D and worse than 1 epoch over kD).

Three arms, each a list of :class:`~rlhf_nb.stages.preference_data.ComparisonSpec`, all outcome RMs
initialised from the seed's SFT policy and trained on that policy's samples:

- diversity: ``P x R`` points at ``equal_comparisons`` comparisons (defaults keep P x R
  fixed too, so every point also samples the same number of responses);
- volume: ``volumes`` comparisons at ``volume_responses`` responses and
  ``volume_pairs_per_prompt`` comparisons per prompt;
- epochs: D = ``epochs_base`` comparisons seen ``epochs_k`` times, against 1 epoch over D and
  1 epoch over kD (same steps as k epochs over D).

A spec shared by two arms is trained once and its rows appear in both (with the defaults, 64
prompts x 4 responses at 128 comparisons is a volume point and the epochs arm's '1 epoch over D',
and 512 comparisons is both a volume point and '1 epoch over 4D').
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from ..analysis import analyse_runs, combine, paired_seed_effect
from ..pipeline.rm_runs import RMEvalConfig, reward_model_result
from ..stages.preference_data import ComparisonSpec
from ..store import RunStore
from .findings import claim as registered_claim
from .results import Finding, axis_figure, save_figure
from .rm_family import Scale, count_once, reward_config

AXIS = "rm_data"


def parse_grid(text: str) -> tuple[tuple[int, int], ...]:
    """``"1024x2,256x8"`` -> ``((1024, 2), (256, 8))`` (prompts x responses per prompt)."""
    points = []
    for item in str(text).split(","):
        item = item.strip().lower()
        if not item:
            continue
        try:
            p, r = item.split("x")
            points.append((int(p), int(r)))
        except ValueError:
            raise ValueError(f"diversity grid item {item!r}: write PROMPTSxRESPONSES, e.g. '512x4'") from None
    if not points:
        raise ValueError(f"diversity grid {text!r}: give at least one PROMPTSxRESPONSES point")
    return tuple(points)


@dataclass(frozen=True)
class RMDataGrid:
    """The three arms of the RM-data axis; every spec is checked at construction, before anything trains."""

    diversity: tuple[tuple[int, int], ...] = ((256, 2), (128, 4), (64, 8), (32, 16))
    """(prompts, responses per prompt) points, all at equal_comparisons"""
    equal_comparisons: int = 256
    """total comparisons of every diversity point (below where RMs saturate on this task)"""
    volumes: tuple[int, ...] = (32, 128, 512, 2048)
    """total comparisons of the volume arm"""
    volume_responses: int = 4
    """responses per prompt in the volume and epochs arms"""
    volume_pairs_per_prompt: int = 2
    """comparisons per prompt in the volume and epochs arms (prompts = comparisons / this)"""
    epochs_base: int = 128
    """D, the comparisons of the epochs arm"""
    epochs_k: int = 4
    """k: k epochs over D against 1 epoch over kD"""

    def __post_init__(self):
        if self.epochs_k < 2:
            raise ValueError(f"epochs_k={self.epochs_k}: the epochs arm compares k >= 2 epochs with one")
        if len(self.volumes) < 2:
            raise ValueError(f"volumes={self.volumes}: the volume arm needs at least two volumes")
        self.points()  # every spec validates itself: impossible combinations are refused here

    def _volume_spec(self, comparisons: int, epochs: int = 1) -> ComparisonSpec:
        prompts = max(1, comparisons // self.volume_pairs_per_prompt)
        return ComparisonSpec(prompts, self.volume_responses, comparisons, epochs)

    def points(self) -> list[tuple[str, str, ComparisonSpec]]:
        """(arm, label within the arm, spec) for every point."""
        out = [("diversity", f"{p}x{r}", ComparisonSpec(p, r, self.equal_comparisons)) for p, r in self.diversity]
        out += [("volume", str(c), self._volume_spec(c)) for c in sorted(set(self.volumes))]
        d, k = self.epochs_base, self.epochs_k
        out += [("epochs", f"{k} epochs over D", self._volume_spec(d, k)),
                ("epochs", "1 epoch over D", self._volume_spec(d)),
                ("epochs", f"1 epoch over {k}D", self._volume_spec(k * d))]
        return out


def run_seed(seed: int, store: RunStore | str | Path, grid: RMDataGrid = RMDataGrid(),
             eval_config: RMEvalConfig = RMEvalConfig(), scale: Scale = Scale()) -> pd.DataFrame:
    """Train (or load) and evaluate every reward model of the grid for one seed; one row per (arm point, split, n)."""
    task = scale.task
    points = grid.points()
    configs = {spec: reward_config(seed, n_prompts=spec.n_prompts, responses_per_prompt=spec.responses_per_prompt,
                                   comparisons=spec.comparisons, epochs=spec.epochs)
               for _, _, spec in points}  # all configs built (and checked) before anything trains
    sft = scale.sft(store, seed)
    results = {spec: reward_model_result(store, task, cfg, sft, eval_config) for spec, cfg in configs.items()}
    frames = []
    for arm, label, spec in points:
        rows = results[spec].rows.copy()
        rows.insert(0, "seed", seed)
        rows.insert(1, "arm", arm)
        rows.insert(2, "point", label)
        rows.insert(3, "n_prompts", spec.n_prompts)
        rows.insert(4, "responses_per_prompt", spec.responses_per_prompt)
        rows.insert(5, "comparisons", spec.comparisons)
        rows.insert(6, "epochs", spec.epochs)
        rows.insert(7, "trained_comparisons", spec.trained_comparisons)
        frames.append(rows)
    return count_once(pd.concat(frames, ignore_index=True))


# --- analysis ----------------------------------------------------------------------------------

def _by_seed(table: pd.DataFrame, column: str, **where) -> pd.Series:
    sel = table
    for k, v in where.items():
        sel = sel[sel[k] == v]
    return sel.groupby("seed")[column].mean()


def _arm_means(table: pd.DataFrame, arm: str, split: str, n: int, key: str) -> pd.DataFrame:
    sel = table[(table.arm == arm) & (table.split == split) & (table.n == n)]
    return sel.groupby(key)[["pairwise_acc", "gold"]].agg(["mean", "std"])


def _figure(table: pd.DataFrame, headline_n: int) -> Figure:
    fig, axes = axis_figure(3)
    for split, style in (("heldout", "-o"), ("ood", "--s")):
        for ax, arm, key in ((axes[0], "diversity", "n_prompts"), (axes[1], "volume", "comparisons")):
            sel = table[(table.arm == arm) & (table.split == split) & (table.n == headline_n)]
            for column, label in (("pairwise_acc", "pairwise acc"), ("gold", f"best-of-{headline_n} gold")):
                m = sel.groupby(key)[column].agg(["mean", "std"]).fillna(0.0)
                ax.errorbar(m.index, m["mean"], yerr=m["std"], fmt=style, capsize=3, label=f"{label} ({split})")
            ax.set_xscale("log")
        sel = table[(table.arm == "epochs") & (table.split == split) & (table.n == headline_n)]
        m = sel.groupby("point", sort=False)["pairwise_acc"].agg(["mean", "std"]).fillna(0.0)
        axes[2].errorbar(range(len(m)), m["mean"], yerr=m["std"], fmt=style, capsize=3, label=f"pairwise acc ({split})")
        axes[2].set_xticks(range(len(m)), m.index, rotation=10)
    axes[0].set(title="equal comparisons: diversity vs depth", xlabel="distinct prompts (fewer responses each)",
                ylabel="accuracy")
    axes[1].set(title="volume", xlabel="comparisons")
    axes[2].set(title="epochs")
    for ax in axes:
        ax.axhline(0.5, color="0.7", lw=0.8, ls=":")
        ax.legend(fontsize=7)
    return fig


def analyze(table: pd.DataFrame, results_dir: str | Path, headline_n: int = 16, chance_margin: float = 0.05,
            epochs_margin: float = 0.02) -> list[Finding]:
    """H2 and G5 from the table alone: paired effects over seeds (t intervals) and verdicts.

    ``chance_margin``: an RM within 0.5 +- this pairwise accuracy counts as near chance;
    ``epochs_margin``: k epochs over D counts as equal to 1 epoch over D within this accuracy.
    """
    n = headline_n if headline_n in set(table.n) else int(table.n.max())
    seeds = int(table.seed.nunique())
    fig_rel = save_figure(_figure(table, n), results_dir, AXIS, AXIS)
    held = table[(table.split == "heldout") & (table.n == n)]

    # H2, part 1: at equal comparisons, the most-prompts point against the fewest-prompts point.
    div = held[held.arm == "diversity"]
    most, fewest = div.n_prompts.max(), div.n_prompts.min()
    d_acc = paired_seed_effect(_by_seed(div, "pairwise_acc", n_prompts=most),
                               _by_seed(div, "pairwise_acc", n_prompts=fewest))
    d_bon = paired_seed_effect(_by_seed(div, "gold", n_prompts=most), _by_seed(div, "gold", n_prompts=fewest))
    # H2, part 2: accuracy grows with volume (largest against smallest volume), and the fitted law.
    vol = held[held.arm == "volume"]
    big, small = vol.comparisons.max(), vol.comparisons.min()
    v_acc = paired_seed_effect(_by_seed(vol, "pairwise_acc", comparisons=big),
                               _by_seed(vol, "pairwise_acc", comparisons=small))
    volume_text = "too few points for a fitted law (need 3 or more volumes and 6 or more runs)"
    if vol.comparisons.nunique() >= 3 and len(vol) >= 6:
        try:
            fit = analyse_runs(vol.rename(columns={"comparisons": "x", "pairwise_acc": "metric"}),
                               forms="log_linear,saturating_power", n_boot=200 if seeds >= 3 else 0,
                               title="RM pairwise accuracy vs comparisons")
            save_figure(fit.figure, results_dir, AXIS, "volume_fit")
            volume_text = fit.finding
        except ValueError as err:
            volume_text = f"volume fit not possible: {err}"
    h2_parts = [d_acc.verdict(), v_acc.verdict()]
    means = div.groupby("n_prompts")["pairwise_acc"].mean().sort_index(ascending=False)
    h2 = Finding(
        id="H2", axis=AXIS, claim=registered_claim("H2"),
        verdict=combine(*h2_parts), effect=d_acc.estimate, ci=d_acc.ci, n_seeds=d_acc.n,
        effect_label=f"held-out pairwise accuracy, {most} prompts minus {fewest} prompts at equal comparisons",
        figure=fig_rel,
        numbers={"diversity_pairwise_acc_by_prompts": {int(k): round(float(v), 4) for k, v in means.items()},
                 f"diversity_best_of_{n}_gold_effect": [d_bon.estimate, *d_bon.ci],
                 "volume_effect_pairwise_acc": [v_acc.estimate, *v_acc.ci], "volume_range": [int(small), int(big)],
                 "volume_fit": volume_text},
        note=(f"diversity effect {d_acc.signed()} ({h2_parts[0]}); best-of-{n} gold effect {d_bon.signed()}; "
              f"volume {small}->{big} comparisons: {v_acc.signed()} ({h2_parts[1]})"),
    )

    # G5: the smallest volume near chance; k epochs over D ~ 1 epoch over D; 1 epoch over kD better.
    tiny = _by_seed(vol, "pairwise_acc", comparisons=small)
    tiny_gain = _by_seed(vol, "gold_gain", comparisons=small)
    chance = paired_seed_effect(tiny, pd.Series(0.5, index=tiny.index))
    ep = held[held.arm == "epochs"]
    labels = list(dict.fromkeys(ep.point))  # k epochs over D, 1 epoch over D, 1 epoch over kD
    k_over_d, one_over_d, one_over_kd = (_by_seed(ep, "pairwise_acc", point=lab) for lab in labels)
    same = paired_seed_effect(k_over_d, one_over_d)
    better = paired_seed_effect(one_over_kd, k_over_d)
    g5_parts = [chance.equivalence(chance_margin), same.equivalence(epochs_margin), better.verdict()]
    g5 = Finding(
        id="G5", axis=AXIS, claim=registered_claim("G5"),
        verdict=combine(*g5_parts), effect=better.estimate, ci=better.ci, n_seeds=better.n,
        effect_label=f"held-out pairwise accuracy, {labels[2]} minus {labels[0]}",
        figure=fig_rel,
        numbers={"smallest_volume": int(small),
                 "smallest_volume_pairwise_acc_minus_half": [chance.estimate, *chance.ci],
                 f"smallest_volume_best_of_{n}_gold_gain": float(tiny_gain.mean()) if len(tiny_gain) else float("nan"),
                 "k_epochs_minus_1_epoch_over_D": [same.estimate, *same.ci],
                 "pairwise_acc": {lab: float(s.mean()) for lab, s in zip(labels, (k_over_d, one_over_d, one_over_kd))}},
        note=(f"{small} comparisons: accuracy - 0.5 = {chance.signed()} (near chance within {chance_margin}: "
              f"{g5_parts[0]}); {labels[0]} - {labels[1]} = {same.signed()} (equal within {epochs_margin}: "
              f"{g5_parts[1]}); {labels[2]} - {labels[0]} = {better.signed()} ({g5_parts[2]})"),
    )
    return [h2, g5]
