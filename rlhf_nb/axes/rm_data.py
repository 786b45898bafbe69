"""RM data axis: prompt diversity against responses per prompt at equal comparisons, volume, and epochs.

Findings tested (docs/findings.md; every part decided over per-seed values by
:func:`rlhf_nb.axes.results.decided_finding`):

- H2 (1) diversity: per seed, the least-squares slope of held-out pairwise accuracy on
  log2(distinct prompts) over every diversity point, times the log2 span (the fitted difference
  between the ends), "> 0", δ 0.02; (2) volume: the same over the volume points (log2
  comparisons), "> 0", δ 0.02.
- G5 (1) at the smallest volume whose reward models took at least :data:`MIN_STEPS` optimizer
  steps, pairwise accuracy - 0.5 equivalent within 0.05; (2) k epochs over D - 1 epoch over D
  equivalent within 0.02; (3) 1 epoch over kD - k epochs over D "> 0", δ 0.02.

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
and 512 comparisons is both a volume point and '1 epoch over 4D'). The smallest default volume,
128 comparisons, is 4 optimizer steps at the reward stage's 32 comparisons per step: a smaller
one would be near chance because it barely trained, which is not what G5 asks.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..analysis.decision import EQUIVALENT, GREATER, PartSpec, decide
from ..analysis.per_seed import row_slopes
from ..pipeline.rm_runs import RMEvalConfig, reward_model_result
from ..stages.preference_data import ComparisonSpec
from ..store import RunStore
from .halves import HALVES, bon_half, halves_of
from .results import Finding, axis_figure, decided_finding, part_notes, save_figure
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
    volumes: tuple[int, ...] = (128, 512, 2048)
    """total comparisons of the volume arm (the smallest takes 4 optimizer steps at 32 comparisons a step)"""
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
    configs = {spec: scale.reward_config(seed, n_prompts=spec.n_prompts,
                                         responses_per_prompt=spec.responses_per_prompt,
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

MIN_STEPS = 4
"""G5 (1) reads the smallest volume whose reward models took at least this many optimizer steps"""
H2_DELTA = 0.02
"""SESOI of both H2 parts: pairwise accuracy, fitted difference between the ends"""
CHANCE_MARGIN = 0.05
"""G5 (1): pairwise accuracy - 0.5 equivalent within this"""
EPOCHS_MARGIN = 0.02
"""G5 (2): k epochs over D - 1 epoch over D equivalent within this"""
EPOCHS_DELTA = 0.02
"""G5 (3): SESOI of 1 epoch over kD - k epochs over D"""


def points_table(table: pd.DataFrame, split: str = "heldout") -> pd.DataFrame:
    """One row per (seed, arm, point) of ``split``: its pairwise accuracy (the same at every n) and its data.

    Columns: seed, arm, point, pairwise_acc, and those of n_prompts, comparisons, epochs,
    trained_comparisons, rm_steps the table has. ``rm_steps`` (the reward model's optimizer
    steps) is filled from the reward stage's default comparisons per step when the table
    predates it.
    """
    sel = table[table.split == split]
    info = [c for c in ("n_prompts", "comparisons", "epochs", "trained_comparisons", "rm_steps") if c in sel]
    agg = {"pairwise_acc": ("pairwise_acc", "mean"), **{c: (c, "first") for c in info}}
    out = sel.groupby(["seed", "arm", "point"], sort=False).agg(**agg).reset_index()
    if "rm_steps" not in out or out["rm_steps"].isna().any():
        per_step = reward_config(0).comparisons_per_step
        epochs = out.get("epochs", 1)
        guess = epochs * np.ceil(out["comparisons"] / per_step)
        out["rm_steps"] = out["rm_steps"].fillna(guess) if "rm_steps" in out else guess
    return out


def span_slopes(wide: pd.DataFrame) -> pd.Series:
    """Per seed (row): least-squares slope of the values on log2(column), times the log2 span of the columns.

    ``wide``: index seed, one column per grid point (its x, > 0), values the per-seed metric.
    Each row uses its finite points; fewer than two distinct x give NaN. The result is the
    fitted difference between the two ends, in the metric's units.
    """
    x = np.log2(np.asarray(wide.columns, dtype=float))
    spans = pd.Series([np.ptp(x[np.isfinite(row)]) if np.isfinite(row).any() else np.nan
                       for row in wide.to_numpy(dtype=float)], index=wide.index)
    return row_slopes(wide, x) * spans


def h2_parts(diversity: pd.DataFrame, volume: pd.DataFrame) -> list[PartSpec]:
    """H2's two parts from per-seed wide tables (index seed; columns distinct prompts, resp. comparisons)."""
    return [PartSpec(span_slopes(diversity).to_numpy(), GREATER, H2_DELTA,
                     name="diversity: slope of pairwise accuracy on log2(distinct prompts) x log2 span"),
            PartSpec(span_slopes(volume).to_numpy(), GREATER, H2_DELTA,
                     name="volume: slope of pairwise accuracy on log2(comparisons) x log2 span")]


def _wide(points: pd.DataFrame, arm: str, x: str, column: str = "pairwise_acc") -> pd.DataFrame:
    sel = points[points.arm == arm]
    if sel.empty:
        return pd.DataFrame(index=sorted(points.seed.unique()))
    return sel.pivot_table(index="seed", columns=x, values=column, aggfunc="mean").sort_index(axis=1)


def smallest_trained_volume(points: pd.DataFrame, min_steps: int = MIN_STEPS) -> int | None:
    """The smallest volume-arm comparisons whose reward models took >= ``min_steps`` optimizer steps on every seed."""
    vol = points[points.arm == "volume"]
    steps = vol.groupby("comparisons")["rm_steps"].min()
    ok = steps[steps >= min_steps]
    return int(ok.index.min()) if len(ok) else None


def epoch_points(points: pd.DataFrame) -> dict[str, pd.Series] | None:
    """Per-seed pairwise accuracy of the epochs arm: 'k over D', '1 over D', '1 over kD' (None without the arm).

    Identified by their data, not their labels: k epochs over D is the point with the most
    epochs; 1 epoch over D has its comparisons at one epoch; 1 epoch over kD the most
    comparisons at one epoch.
    """
    ep = points[points.arm == "epochs"]
    if ep.empty or ep.epochs.max() < 2:
        return None
    k_rows = ep[ep.epochs == ep.epochs.max()]
    base = int(k_rows.comparisons.iloc[0])
    one = ep[ep.epochs == 1]
    pick = {"k over D": k_rows, "1 over D": one[one.comparisons == base],
            "1 over kD": one[one.comparisons == one.comparisons.max()] if len(one) else one}
    return {key: rows.groupby("seed")["pairwise_acc"].mean() for key, rows in pick.items()}


def g5_parts(tiny: pd.Series, epochs: dict[str, pd.Series] | None) -> list[PartSpec]:
    """G5's three parts from per-seed pairwise accuracies.

    ``tiny``: per seed, the accuracy at the smallest volume with a few optimizer steps (empty:
    no such volume, the part has no values); ``epochs``: :func:`epoch_points`.
    """
    nan = pd.Series(dtype=float)
    ep = epochs or {"k over D": nan, "1 over D": nan, "1 over kD": nan}
    same = (ep["k over D"] - ep["1 over D"]).dropna()
    better = (ep["1 over kD"] - ep["k over D"]).dropna()
    return [PartSpec((tiny - 0.5).to_numpy(dtype=float), EQUIVALENT, CHANCE_MARGIN,
                     name="smallest trained volume: pairwise accuracy - 0.5"),
            PartSpec(same.to_numpy(dtype=float), EQUIVALENT, EPOCHS_MARGIN,
                     name="k epochs over D - 1 epoch over D (pairwise accuracy)"),
            PartSpec(better.to_numpy(dtype=float), GREATER, EPOCHS_DELTA,
                     name="1 epoch over kD - k epochs over D (pairwise accuracy)")]


def _figure(table: pd.DataFrame, headline_n: int) -> Figure:
    fig, axes = axis_figure(3)
    for split, style in (("heldout", "-o"), ("ood", "--s")):
        for ax, arm, key in ((axes[0], "diversity", "n_prompts"), (axes[1], "volume", "comparisons")):
            sel = table[(table.arm == arm) & (table.split == split) & (table.n == headline_n)]
            for column, label in (("pairwise_acc", "pairwise acc"), ("gold", f"best-of-{headline_n} gold")):
                m = sel.groupby(key)[column].agg(["mean", "std"]).fillna(0.0)
                ax.errorbar(m.index, m["mean"], yerr=m["std"], fmt=style, capsize=3, label=f"{label} ({split})")
            ax.set_xscale("log", base=2)
        sel = table[(table.arm == "epochs") & (table.split == split) & (table.n == headline_n)]
        m = sel.groupby("point", sort=False)["pairwise_acc"].agg(["mean", "std"]).fillna(0.0)
        axes[2].errorbar(range(len(m)), m["mean"], yerr=m["std"], fmt=style, capsize=3, label=f"pairwise acc ({split})")
        axes[2].set_xticks(range(len(m)), m.index, rotation=10)
    axes[0].set(title="equal comparisons: diversity vs depth", xlabel="distinct prompts (fewer responses each)",
                ylabel="accuracy (mean ± sd over seeds)")
    axes[1].set(title="volume", xlabel="comparisons")
    axes[2].set(title="epochs")
    for ax in axes:
        ax.axhline(0.5, color="0.7", lw=0.8, ls=":")
        ax.legend(fontsize=7)
    return fig


def analyze(table: pd.DataFrame, results_dir: str | Path, headline_n: int = 16,
            min_steps: int = MIN_STEPS) -> list[Finding]:
    """H2 and G5 from the table alone, by the pre-registered protocol (docs/findings.md).

    Every part reduces each seed to one number (a slope over grid points times its span, or a
    paired difference of held-out pairwise accuracy) and is decided by a t interval over seeds;
    the finding by :func:`rlhf_nb.axes.results.decided_finding`. ``headline_n`` is only the
    best-of-n budget of the reported gold numbers and the figure. ``min_steps``: G5 (1) reads
    the smallest volume whose reward models took at least this many optimizer steps.
    """
    n = headline_n if headline_n in set(table.n) else int(table.n.max())
    fig_rel = save_figure(_figure(table, n), results_dir, AXIS, AXIS)
    points = points_table(table)

    # H2
    div, vol = _wide(points, "diversity", "n_prompts"), _wide(points, "volume", "comparisons")
    held_n = table[(table.split == "heldout") & (table.n == n)]
    held_points = held_n.groupby(["seed", "arm", "point"], sort=False).agg(
        gold=("gold", "mean"), n_prompts=("n_prompts", "first"), comparisons=("comparisons", "first")).reset_index()
    div_gold = span_slopes(_wide(held_points, "diversity", "n_prompts", "gold"))
    # the variance split (reported, not evidence): the same parts on each half of the evaluation prompts
    no_acc = ("the table has no per-half pairwise accuracy (pairwise_acc_even / pairwise_acc_odd: evaluations made "
              "before those columns)" if not all(f"pairwise_acc_{h}" in table for h in HALVES) else "")
    halves_points = {h: (points_table(v) if (v := bon_half(table, h)) is not None and not no_acc else None)
                     for h in HALVES}
    h2_halves, h2_no_split = halves_of(
        lambda p: h2_parts(_wide(p, "diversity", "n_prompts"), _wide(p, "volume", "comparisons")),
        halves_points, 2, missing=no_acc or "the table has no per-half values")
    h2 = decided_finding(
        "H2", h2_parts(div, vol), axis=AXIS, figure=fig_rel, halves=h2_halves, no_split=h2_no_split,
        effect_label="held-out pairwise accuracy: fitted difference between the fewest and the most distinct prompts "
                     "at equal comparisons (slope on log2 prompts x log2 span)",
        numbers={"diversity_pairwise_acc_by_prompts": {int(k): round(float(v), 4) for k, v in div.mean().items()},
                 "volume_pairwise_acc_by_comparisons": {int(k): round(float(v), 4) for k, v in vol.mean().items()},
                 "diversity_points": [int(c) for c in div.columns], "volume_points": [int(c) for c in vol.columns],
                 f"diversity_best_of_{n}_gold_slope_x_span (reported, not a part)":
                     decide(div_gold.to_numpy(), GREATER, H2_DELTA).to_dict() | {"values": div_gold.tolist()}})
    h2.note = part_notes(h2)

    # G5
    small = smallest_trained_volume(points, min_steps)
    vol_rows = points[points.arm == "volume"]
    tiny = (vol_rows[vol_rows.comparisons == small].groupby("seed")["pairwise_acc"].mean() if small is not None
            else pd.Series(dtype=float))
    epochs = epoch_points(points)

    def g5_on(p: pd.DataFrame) -> list[PartSpec]:  # G5's parts on a half view, at the full table's smallest volume
        v = p[p.arm == "volume"]
        t = v[v.comparisons == small].groupby("seed")["pairwise_acc"].mean() if small is not None else \
            pd.Series(dtype=float)
        return g5_parts(t.reindex(tiny.index), epoch_points(p))
    g5_halves, g5_no_split = halves_of(g5_on, halves_points, 3, missing=no_acc or "the table has no per-half values")
    g5 = decided_finding(
        "G5", g5_parts(tiny, epochs), axis=AXIS, figure=fig_rel, halves=g5_halves, no_split=g5_no_split,
        effect_label=(f"held-out pairwise accuracy - 0.5 at {small} comparisons (the smallest volume with at least "
                      f"{min_steps} optimizer steps)" if small is not None else
                      f"held-out pairwise accuracy - 0.5: no volume with at least {min_steps} optimizer steps"),
        numbers={"smallest_trained_volume": small, "min_steps": min_steps,
                 "steps_by_volume": {int(c): float(v) for c, v in vol_rows.groupby("comparisons")["rm_steps"].min().items()},
                 "epochs_pairwise_acc": ({k: float(v.mean()) for k, v in epochs.items()} if epochs else None),
                 "epochs_points": list(dict.fromkeys(points[points.arm == "epochs"].point))})
    g5.note = (part_notes(g5) if small is not None else
               f"no volume reached {min_steps} optimizer steps: part 1 has no values; " + part_notes(g5))
    return [h2, g5]
