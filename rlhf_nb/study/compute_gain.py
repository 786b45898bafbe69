"""Gold gain per FLOP on each lever of the study: what the next 10x of compute buys where.

Hou et al. (2024) conclude that RLHF "scales less efficiently than pretraining" without putting a
number on it; a reviewer's objection was that the claim is never made formal. This module makes
it a measurement from the per-seed tables the axes already write (``<results>/tables/<axis>.csv``):
for each lever, every seed's points (FLOPs the lever spent, gold accuracy it reached), and two
numbers per seed, each summarised over seeds with a two-sided 95 % t interval (df = seeds - 1):

- **gold per 10x compute**: the least-squares slope of gold accuracy on log10(FLOPs) over the
  lever's points, i.e. what one more decade of compute bought on the measured range;
- **gold per FLOP**: (gold at the largest point - gold at the smallest) / (their FLOPs difference).

The levers and what each counts (FLOPs from :mod:`rlhf_nb.compute`'s estimates, recorded per run):

==================  ===============  ==========================================  =====================================
lever               table            FLOPs of a point                            gold of a point
==================  ===============  ==========================================  =====================================
more RM data        rm_data          training of the RM at that volume           best-of-n gold, held-out, n = 16
a bigger RM         rm_size          RM training + SFT of the model it starts    best-of-n gold, held-out, n = 16
more samples/prompt samples_per_...  the RL run (fixed prompts per step)         final held-out sampled gold accuracy
a bigger policy     policy_size      SFT of that policy + its RL run             final held-out sampled gold accuracy
longer RL           rl_length_kl     RL compute up to the tracked step (KL-      tracked gold accuracy at that step
                                     penalised run)
==================  ===============  ==========================================  =====================================

Gold accuracy is a share of held-out prompts answered right (0-1). The SFT stage's own cost (the
default policy's SFT FLOPs) and the gold it reaches are reported beside the levers: it is the
yardstick a lever's FLOPs are spent on top of. Slopes describe the measured range only; what a
decade past the largest point buys is an extrapolation the data cannot check.

What it does not do: decide findings (no claim here is pre-registered) or write HTML.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import stats

from ..analysis.decision import MIN_DECISION_SEEDS
from ..analysis.per_seed import slope

BON_N = 16
"""best-of-n budget the reward-model levers are read at (the axes' ``headline_n`` default); the largest n when absent"""
POLICY_TABLES = ("samples_per_prompt", "rl_length_kl", "method", "policy_size", "rm_size_for_rl")
"""axis tables that record a policy preset's SFT FLOPs per seed (in ``sft_flops``, on one row per SFT run)"""


@dataclass(frozen=True)
class Lever:
    name: str
    """the lever in words, as the report shows it"""
    axis: str
    """the axis table it is read from"""
    point: str
    """what grows along the lever"""
    points: Callable[[pd.DataFrame, dict], pd.DataFrame]
    """(axis table, SFT FLOPs by (policy, seed)) -> rows of seed, point, flops, gold"""


def _run_flops(table: pd.DataFrame, flops: str, run: str) -> pd.Series:
    """FLOPs of each run id: an axis table keeps a run's FLOPs on one of its rows only (``count_once``)."""
    if flops not in table or run not in table:
        return pd.Series(dtype=float)
    return table.groupby(run)[flops].max()


def _bon_rows(table: pd.DataFrame) -> pd.DataFrame:
    held = table[table["split"] == "heldout"]
    n = BON_N if (held["n"] == BON_N).any() else held["n"].max()
    return held[held["n"] == n]


def _rm_data_points(table: pd.DataFrame, sft: dict) -> pd.DataFrame:
    rows = _bon_rows(table[table["arm"] == "volume"])
    flops = rows["reward_run"].map(_run_flops(table, "rm_flops", "reward_run"))
    return pd.DataFrame({"seed": rows["seed"], "point": rows["comparisons"].astype(int).astype(str) + " comparisons",
                         "flops": flops, "gold": rows["gold"]})


def _rm_size_points(table: pd.DataFrame, sft: dict) -> pd.DataFrame:
    rows = _bon_rows(table)
    by_run = pd.concat([_run_flops(table, "init_sft_flops", "init_sft_run"), _run_flops(table, "sft_flops", "sft_run")])
    by_run = by_run.groupby(level=0).max()
    init = rows["init_sft_run"].map(by_run) if "init_sft_run" in rows else 0.0
    flops = rows["reward_run"].map(_run_flops(table, "rm_flops", "reward_run")) + init
    return pd.DataFrame({"seed": rows["seed"], "point": "RM " + rows["rm_size"].astype(str), "flops": flops,
                         "gold": rows["gold"]})


def _final(table: pd.DataFrame) -> pd.DataFrame:
    final = table[table["final"].astype(str).str.lower() == "true"]
    return final[final["kl_coef"] == final["kl_coef"].max()] if "kl_coef" in final else final


def _samples_points(table: pd.DataFrame, sft: dict) -> pd.DataFrame:
    rows = _final(table[table["series"] == "fixed_prompts"] if "series" in table else table)
    return pd.DataFrame({"seed": rows["seed"], "point": rows["samples_per_prompt"].astype(int).astype(str) + " per prompt",
                         "flops": rows["rl_compute_to_step"], "gold": rows["rl_heldout_sampled_acc"]})


def _policy_points(table: pd.DataFrame, sft: dict) -> pd.DataFrame:
    rows = _final(table)
    sft_flops = [sft.get((str(p), int(s)), float("nan")) for p, s in zip(rows["policy"], rows["seed"])]
    return pd.DataFrame({"seed": rows["seed"], "point": "policy " + rows["policy"].astype(str),
                         "flops": rows["rl_compute_to_step"].to_numpy() + np.asarray(sft_flops),
                         "gold": rows["rl_heldout_sampled_acc"]})


def _rl_length_points(table: pd.DataFrame, sft: dict) -> pd.DataFrame:
    rl = table[(table["series"] == "rl")] if "series" in table else table
    rl = rl[rl["kl_coef"] == rl["kl_coef"].max()]
    rl = rl[rl["rl_compute_to_step"] > 0]  # step 0 has spent nothing: no point on a log axis
    return pd.DataFrame({"seed": rl["seed"], "point": "step " + rl["step"].astype(int).astype(str),
                         "flops": rl["rl_compute_to_step"], "gold": rl["gold"]})


LEVERS = (
    Lever("more RM data", "rm_data", "comparisons", _rm_data_points),
    Lever("a bigger RM", "rm_size", "RM preset", _rm_size_points),
    Lever("more samples per prompt", "samples_per_prompt", "samples per prompt", _samples_points),
    Lever("a bigger policy", "policy_size", "policy preset", _policy_points),
    Lever("longer RL", "rl_length_kl", "RL steps", _rl_length_points),
)


def _tables(results_dir: Path) -> dict[str, pd.DataFrame]:
    folder = Path(results_dir) / "tables"
    return {p.stem: pd.read_csv(p) for p in sorted(folder.glob("*.csv"))} if folder.exists() else {}


def sft_flops_by_policy(tables: dict[str, pd.DataFrame]) -> dict[tuple[str, int], float]:
    """(policy preset, seed) -> the SFT stage's FLOPs, from every policy-family table that records it."""
    out: dict[tuple[str, int], float] = {}
    for name in POLICY_TABLES:
        t = tables.get(name)
        if t is None or not {"policy", "seed", "sft_flops"} <= set(t.columns):
            continue
        for (policy, seed), v in t.groupby(["policy", "seed"])["sft_flops"].max().items():
            if np.isfinite(v):
                out[(str(policy), int(seed))] = float(v)
    return out


def lever_points(results_dir: Path) -> pd.DataFrame:
    """Every lever's per-seed points: lever, axis, seed, point, flops (FLOPs), gold (accuracy, 0-1).

    A lever whose table is absent, or a point without a FLOPs record, is left out.
    """
    tables = _tables(results_dir)
    sft = sft_flops_by_policy(tables)
    frames = []
    for lever in LEVERS:
        if lever.axis not in tables:
            continue
        try:
            pts = lever.points(tables[lever.axis], sft)
        except KeyError:  # a table written by another version of the axis: no such lever here
            continue
        pts = pts[np.isfinite(pts["flops"].astype(float)) & (pts["flops"] > 0) & np.isfinite(pts["gold"].astype(float))]
        frames.append(pts.assign(lever=lever.name, axis=lever.axis))
    cols = ["lever", "axis", "seed", "point", "flops", "gold"]
    return pd.concat(frames, ignore_index=True)[cols] if frames else pd.DataFrame(columns=cols)


def per_seed_gains(points: pd.DataFrame) -> pd.DataFrame:
    """One row per (lever, seed): per_decade (gold per 10x FLOPs, least-squares slope on log10 FLOPs), per_flop
    (gold per FLOP between the smallest and the largest point), flops_lo/flops_hi, gold_lo/gold_hi at those points.
    A seed with fewer than two distinct FLOPs values on a lever has no row."""
    rows = []
    for (lever, seed), g in points.groupby(["lever", "seed"], sort=False):
        g = g.groupby("flops", as_index=False)["gold"].mean().sort_values("flops")
        if len(g) < 2:
            continue
        per_decade = slope(np.log10(g["flops"].to_numpy(float)), g["gold"].to_numpy(float))
        lo, hi = g.iloc[0], g.iloc[-1]
        rows.append({"lever": lever, "seed": seed, "per_decade": per_decade,
                     "per_flop": float((hi["gold"] - lo["gold"]) / (hi["flops"] - lo["flops"])),
                     "flops_lo": float(lo["flops"]), "flops_hi": float(hi["flops"]),
                     "gold_lo": float(lo["gold"]), "gold_hi": float(hi["gold"])})
    return pd.DataFrame(rows, columns=["lever", "seed", "per_decade", "per_flop", "flops_lo", "flops_hi", "gold_lo",
                                       "gold_hi"])


def t_interval(values, level: float = 0.95) -> tuple[float, float, float]:
    """(mean, lo, hi): a two-sided t interval over per-seed values (df = n - 1), a description, never a verdict;
    as the decision protocol, no interval under :data:`rlhf_nb.analysis.decision.MIN_DECISION_SEEDS` values or
    over identical ones."""
    v = np.asarray([x for x in values if math.isfinite(x)], dtype=float)
    if not len(v):
        return float("nan"), float("nan"), float("nan")
    mean = float(v.mean())
    if len(v) < MIN_DECISION_SEEDS or np.ptp(v) == 0:
        return mean, float("nan"), float("nan")
    half = float(stats.t.ppf(0.5 + level / 2, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v)))
    return mean, mean - half, mean + half


def gain_table(points: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """One row per lever, in :data:`LEVERS` order: seeds, FLOPs range (mean over seeds), gold per 10x compute and
    gold per FLOP, each with its interval over seeds."""
    seeds = per_seed_gains(points)
    rows = []
    for lever in LEVERS:
        g = seeds[seeds["lever"] == lever.name]
        if not len(g):
            continue
        d, f = t_interval(g["per_decade"], level), t_interval(g["per_flop"], level)
        rows.append({"lever": lever.name, "axis": lever.axis, "seeds": len(g), "flops_lo": g["flops_lo"].mean(),
                     "flops_hi": g["flops_hi"].mean(), "gold_lo": g["gold_lo"].mean(), "gold_hi": g["gold_hi"].mean(),
                     "per_decade": d[0], "per_decade_lo": d[1], "per_decade_hi": d[2],
                     "per_flop": f[0], "per_flop_lo": f[1], "per_flop_hi": f[2]})
    return pd.DataFrame(rows)


def sft_stage(results_dir: Path) -> dict[str, float | str]:
    """The SFT stage beside the levers: the default policy (the preset most rows of the policy tables use), its SFT
    FLOPs (mean over seeds), the held-out sampled gold accuracy it reaches, and the seeds; {} when unrecorded."""
    tables = _tables(results_dir)
    sft = sft_flops_by_policy(tables)
    used = pd.concat([t[["policy", "seed", "sft_heldout_sampled_acc"]] for name, t in tables.items()
                      if name in POLICY_TABLES and {"policy", "seed", "sft_heldout_sampled_acc"} <= set(t.columns)])\
        if any(name in tables for name in POLICY_TABLES) else pd.DataFrame()
    if not len(used) or not sft:
        return {}
    policy = str(used["policy"].mode().iloc[0])
    costs = [v for (p, _), v in sft.items() if p == policy]
    if not costs:
        return {}
    gold = used[used["policy"].astype(str) == policy].groupby("seed")["sft_heldout_sampled_acc"].mean()
    return {"policy": policy, "flops": float(np.mean(costs)), "gold": float(gold.mean()), "seeds": len(costs)}


def compute_gain_figure(points: pd.DataFrame, gains: pd.DataFrame, sft: dict, width_in: float = 11.0) -> Figure:
    """Left: each lever's gold accuracy over its smallest point against the FLOPs it spent (log scale; mean over
    seeds, bars the spread of seeds), the SFT stage's cost as a dotted line. Right: gold per 10x compute per lever,
    with its 95% interval over seeds. ``width_in`` at 100 dpi fits a 1200 px page."""
    fig = Figure(figsize=(width_in, 3.8), layout="constrained")
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    if not len(points):
        for ax in (left, right):
            ax.text(0.5, 0.5, "no lever measured", ha="center", va="center")
            ax.set_axis_off()
        return fig
    colours = dict(zip([lv.name for lv in LEVERS], ["#1b6ca8", "#7b3fa0", "#2e7d32", "#c62828", "#b08900"]))
    for lever, g in points.groupby("lever", sort=False):
        base = g.loc[g.groupby("seed")["flops"].idxmin(), ["seed", "gold"]].set_index("seed")["gold"]
        g = g.assign(gain=g["gold"] - g["seed"].map(base))
        by = g.groupby("point", sort=False).agg(flops=("flops", "mean"), gain=("gain", "mean"), lo=("gain", "min"),
                                                 hi=("gain", "max")).sort_values("flops")
        left.errorbar(by["flops"], by["gain"], yerr=[by["gain"] - by["lo"], by["hi"] - by["gain"]], marker="o",
                      ms=4, capsize=2, color=colours.get(lever), label=lever)
    if sft:
        left.axvline(sft["flops"], color="#555555", ls=":", lw=1)
        left.text(sft["flops"], left.get_ylim()[1], f" SFT ({sft['policy']})", fontsize=8, va="top", color="#555555")
    left.axhline(0, color="#999999", lw=0.6)
    left.set_xscale("log")
    left.set_xlabel("FLOPs spent on the lever")
    left.set_ylabel("gold accuracy - at the lever's smallest point")
    left.legend(fontsize=8, loc="best")
    left.set_title("gold against compute, per lever (bars: range over seeds)", fontsize=9)
    if len(gains):
        y = np.arange(len(gains))
        for i, r in enumerate(gains.itertuples()):
            c = colours.get(r.lever, "#555555")
            if math.isfinite(r.per_decade_lo) and math.isfinite(r.per_decade_hi):
                right.plot([r.per_decade_lo, r.per_decade_hi], [i, i], color=c, lw=2)
            right.plot([r.per_decade], [i], "o", color=c)
        right.set_yticks(y, list(gains["lever"]), fontsize=8)
        right.set_ylim(len(gains) - 0.5, -0.5)
    right.axvline(0, color="#555555", lw=0.8)
    right.set_xlabel("gold accuracy per 10x compute, 95% CI over seeds", fontsize=9)
    right.set_title("what the next 10x of compute bought", fontsize=9)
    return fig
