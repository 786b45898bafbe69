"""Axis: reward-model size, seen through the policy trained against it (H3, Hou et al. 2024; G4, Gao et al. 2022).

One policy (the SFT model of ``policy``) is trained by RL against reward models of several
sizes, all trained on the SAME comparisons: the reward-model size axis's runs
(:mod:`rlhf_nb.axes.rm_size`), shared through the store. The comparisons are sampled from the
policy's own SFT model (``rm_prompts`` x ``rm_responses_per_prompt``, ``rm_comparisons`` in all,
the rm_size notebook's parameters and defaults); the RM of preset P starts from the SFT model of
preset P (``rm_sft_steps`` SFT steps, 0: the scale's). With equal knobs the two notebooks name
the same SFT, chunk and reward runs, so whichever runs first trains them. Beside each RL result:
the same RM's best-of-n gain on the policy's SFT samples (n = ``bon_n``, unbiased estimator
from one pool per prompt) on the evaluation prompts of the RL evaluation, sampled once per
seed, so the arms of a seed share the SFT model, the prompts and the samples.

Two RL runs per reward model: with the largest of ``kl_coefs`` (RL as practised) for H3, with
the smallest (0 by default, as in Gao et al.'s fits, so the curves turn over) for G4.

Decisions (docs/findings.md, pre-registered; :func:`rlhf_nb.axes.results.decided_finding`):

- **H3** "a larger RM gives a modest policy gain", smallest vs largest RM, per seed:
  (1) (BoN_large - BoN_small) - (RL_large - RL_small) "greater", δ 0.02, with BoN the held-out
  best-of-``bon_n`` gold gain over n = 1 and RL the final held-out sampled gold gain over SFT of
  the KL-penalised run; (2) RL_large - RL_small "noninferior", δ 0.02.
- **G4** "one α_RL for all RM sizes, β_RL falls with RM size": each unconstrained run is fitted
  SEPARATELY with Gao's RL form, gold gain = d (α - β ln d), d = sqrt(KL), by linear least
  squares (:data:`rlhf_nb.analysis.forms.GAO_RL_FORM`), on its tracked curve up to where gold
  first falls back to the SFT level (accuracy floors at 0, the law does not). Then per seed:
  (1) (α(largest) - α(smallest)) / ᾱ_seed "equivalent", δ 0.20; (2) the least-squares slope of β
  on log10(RM parameters), divided by β̄_seed, "less", δ 0.10 per decade. ᾱ_seed and β̄_seed are
  the means of the seed's own fitted α and β over its RM sizes: the "mean α" and "mean β" the
  claims state their margins in, measured in the same replicate as the difference, so that each
  per-seed value is a difference in units of its own scale and the t interval over seeds carries
  the scale's seed-to-seed spread too. (One mean over the whole table, dividing every seed
  alike, was the other reading; it makes the margin a random quantity the interval ignores, and
  the calibration tests, ``tests/axes/test_size_calibration.py``, found it anti-conservative:
  "shown" in 3-16 % of studies at the equivalence boundary instead of 2.5 %, growing with the
  seed-to-seed spread of α.) A seed whose mean α (β) is not positive has no scale for the
  margin: its value is NaN (dropped, counted in the part's note). No model-selection statistic
  (AICc, R²) enters.

Cost at the defaults (RMs on xs, s, m; the pipeline's policy s, GRPO 16 x 8, 60 steps, KL
coefficients 0 and 0.2; one torch thread): six RL runs with their evaluations, one best-of-16
pool of the policy's SFT samples and its scoring by each RM, once the xs, s and m SFT models and
the three reward models exist (the reward-model size axis trains them; on their own they cost
the xs, s, m SFT runs, one sampled chunk stream and a few seconds of training per RM). The
previous design measured 145-155 s per seed for the RL part; its RL runs are now never shared
with the other RL axes, whose reward model is the pipeline's (trained on other comparisons).
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ..analysis import PartSpec
from ..analysis.forms import GAO_RL_FORM
from ..analysis.per_seed import linear_form_fit, row_slopes
from ..models import check_model_spec
from ..pipeline.policy_runs import PointRuns, bon_rows, point_rows
from ..pipeline.rm_runs import run_reward_model
from ..pipeline.runs import run_eval, run_rl, run_sft
from ..stages.preference_data import ComparisonSpec
from ..store import RunStore, as_store
from .policy_family import Scale, final_rows, fmt, until_back_to_baseline
from .halves import HALVES, halves_of, rl_half
from .results import Finding, axis_figure, decided_finding, save_figure
from .rm_family import Scale as RMScale
from .rm_size import RMSizeGrid

AXIS = "rm_size_for_rl"
GAIN = "gain_heldout_sampled_acc"
H3_DELTA = 0.02
"""SESOI of both H3 parts, in gold accuracy (docs/findings.md)"""
G4_ALPHA_SHARE = 0.20
"""G4 (1): margin of α(largest) - α(smallest), as a share of the mean fitted α"""
G4_BETA_SHARE = 0.10
"""G4 (2): SESOI of the slope of β per decade of RM parameters, as a share of the mean fitted β"""
H3_NO_SPLIT = ("the RL gains are the evaluation stage's, recorded on all evaluation prompts only (no per-half "
               "values): no measurement / training variance split")
"""why H3's parts have no variance split (part 1 also holds the best-of-n gains, which have halves)"""
MIN_FIT_POINTS = 3
"""tracked points with d > 0 a run needs for its two-parameter Gao fit"""
_RM_DATA = RMSizeGrid()  # the reward-model size axis's fixed data: its defaults are this notebook's


def rm_scale(scale: Scale) -> RMScale:
    """The reward-model axes' scale with this notebook's shared knobs: the same SFT runs as rm_size's."""
    return RMScale(policy=scale.policy, sft_steps=scale.sft_steps, sft_problems=scale.sft_problems,
                   task_digits=scale.task_digits, task_spec=scale.task_spec, task_options=scale.task_options,
                   **scale.cost_knobs())


def run_seed(seed: int, store: RunStore | str | Path, *, rm_policies: list[str], bon_n: int = 16,
             kl_coefs: Sequence[float] = (0.0, 0.2), scale: Scale = Scale(),
             rm_prompts: int = _RM_DATA.n_prompts, rm_responses_per_prompt: int = _RM_DATA.responses_per_prompt,
             rm_comparisons: int = _RM_DATA.comparisons, rm_sft_steps: int = _RM_DATA.init_sft_steps) -> pd.DataFrame:
    """RL of one policy against each reward model (same comparisons, sizes apart) at each KL coefficient, and each
    reward model's best-of-n, for one seed. One row per tracked RL step (``series`` "rl") and per n ("bon")."""
    store = as_store(store)
    for spec in rm_policies:
        check_model_spec(spec)
    if bon_n < 1 or bon_n & (bon_n - 1):
        raise ValueError(f"bon_n={bon_n}: use a power of two (best-of-n is reported at n = 1, 2, 4, ..., bon_n)")
    if not kl_coefs or min(kl_coefs) < 0:
        raise ValueError(f"kl_coefs={list(kl_coefs)}: give one or more KL coefficients >= 0")
    data = ComparisonSpec(rm_prompts, rm_responses_per_prompt, rm_comparisons)  # refuses impossible data first
    config = scale.pipeline(seed)
    task = config.task
    sft = run_sft(store, task, config.sft)
    scale_rm = rm_scale(scale)
    if scale_rm.sft(store, seed).run_id != sft.run_id:  # the RMs' data policy must be the RL policy
        raise RuntimeError("the reward-model axes' SFT run differs from the pipeline's: their configs drifted apart")
    rm_cfg = scale_rm.reward_config(seed, n_prompts=data.n_prompts, responses_per_prompt=data.responses_per_prompt,
                                    comparisons=data.comparisons)
    problems = task.problems("heldout", config.eval.eval_prompts, config.eval.seed)
    frames, seen = [], set()
    for rm_policy in rm_policies:
        init_sft = scale_rm.sft(store, seed, policy=rm_policy, steps=rm_sft_steps)
        reward = run_reward_model(store, task, rm_cfg, sft, init_sft=init_sft)
        sft_eval = run_eval(store, task, config.eval, sft, sft, reward)
        for kl in sorted({float(k) for k in kl_coefs}):
            rl_cfg = replace(config.rl, kl_coef=kl)
            rl = run_rl(store, task, rl_cfg, sft, reward)
            rl_eval = run_eval(store, task, config.eval, rl, sft, reward)
            runs = PointRuns(replace(config, reward=rm_cfg, rl=rl_cfg), sft, init_sft, reward, rl, sft_eval, rl_eval)
            frames.append(point_rows(runs, seen, series="rl", rm_data=data.label))
        frames.append(bon_rows(store, config, sft, reward, problems, bon_n, config.eval.max_completion_tokens,
                               sample_seed=config.eval.seed + seed, series="bon", seed=seed, policy=config.sft.policy,
                               rm_policy=rm_policy, rm_params=reward.metrics.get("rm/params"), rm_data=data.label))
    return pd.concat(frames, ignore_index=True)


# ------------------------------------------------------------------------------------------
# Pure pieces of the analysis: per-run fits, per-seed values, the parts of each claim
# ------------------------------------------------------------------------------------------


def gao_rl_fit(d: np.ndarray, gain: np.ndarray) -> tuple[float, float]:
    """(α, β) of gain = d (α - β ln d) by linear least squares; NaN when fewer than 3 distinct d > 0."""
    params = linear_form_fit(GAO_RL_FORM, d, gain, min_distinct=MIN_FIT_POINTS)
    return params["alpha"], params["beta"]


def run_fits(curves: pd.DataFrame, arm: str, params: str) -> pd.DataFrame:
    """One Gao RL fit per run: rows (seed, ``arm``, ``params``, alpha, beta, d_max, points).

    ``curves``: tracked rows of one KL coefficient with ``seed``, ``arm``, ``params``, ``step``,
    ``sqrt_kl`` and ``gold_gain``. Each run is fitted up to where its gold first falls back to
    the SFT level (:func:`rlhf_nb.axes.policy_family.until_back_to_baseline`); ``d_max`` is the
    largest sqrt(KL) fitted.
    """
    rows = []
    for (seed, label), run in curves.groupby(["seed", arm], sort=True):
        part = until_back_to_baseline(run)
        alpha, beta = gao_rl_fit(part["sqrt_kl"], part["gold_gain"])
        rows.append({"seed": seed, arm: label, params: float(run[params].iloc[0]), "alpha": alpha, "beta": beta,
                     "d_max": float(part["sqrt_kl"].max()), "points": len(part)})
    return pd.DataFrame(rows, columns=["seed", arm, params, "alpha", "beta", "d_max", "points"])


def by_size(frame: pd.DataFrame, arm: str, params: str, value: str) -> tuple[pd.DataFrame, np.ndarray]:
    """``value`` as a seeds x arms table (mean of the finite values per cell, NaN for none), arms ordered by
    ``params`` (each arm's first value), and log10 of their parameters. Plain numpy: the calibration tests call
    it many thousand times."""
    arm_codes, arm_labels = pd.factorize(frame[arm], sort=False)
    seed_codes, seed_labels = pd.factorize(frame["seed"], sort=True)
    _, first = np.unique(arm_codes, return_index=True)
    size = frame[params].to_numpy(dtype=float)[first]
    y = frame[value].to_numpy(dtype=float)
    ok = np.isfinite(y)
    sums = np.zeros((len(seed_labels), len(arm_labels)))
    counts = np.zeros_like(sums)
    np.add.at(sums, (seed_codes[ok], arm_codes[ok]), y[ok])
    np.add.at(counts, (seed_codes[ok], arm_codes[ok]), 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        wide = np.where(counts > 0, sums / np.where(counts > 0, counts, 1.0), np.nan)
    order = np.argsort(size, kind="stable")
    return (pd.DataFrame(wide[:, order], index=pd.Index(seed_labels, name="seed"), columns=list(arm_labels[order])),
            np.log10(size[order]))


def ends(wide: pd.DataFrame) -> pd.Series:
    """Per seed: the largest arm's value minus the smallest's (columns ordered by size); NaN with one arm."""
    if wide.shape[1] < 2:
        return pd.Series(np.nan, index=wide.index, dtype=float)
    return (wide.iloc[:, -1] - wide.iloc[:, 0]).astype(float)


def h3_parts(arms: pd.DataFrame) -> list[PartSpec]:
    """H3's two parts from one row per (seed, rm_policy): ``rm_params``, ``bon_gain``, ``rl_gain``."""
    bon, _ = by_size(arms, "rm_policy", "rm_params", "bon_gain")
    rl, _ = by_size(arms, "rm_policy", "rm_params", "rl_gain")
    rl_diff = ends(rl)
    return [PartSpec((ends(bon) - rl_diff).to_numpy(), "greater", H3_DELTA,
                     name="(BoN_large - BoN_small) - (RL_large - RL_small)"),
            PartSpec(rl_diff.to_numpy(), "noninferior", H3_DELTA, name="RL_large - RL_small")]


def g4_scales(fits: pd.DataFrame) -> tuple[float, float]:
    """(mean α, mean β) over every run of ``fits``: reported beside G4, never a margin (see :func:`g4_parts`)."""
    alpha, beta = fits["alpha"].to_numpy(float), fits["beta"].to_numpy(float)
    return tuple(float(np.mean(v[np.isfinite(v)])) if np.isfinite(v).any() else float("nan") for v in (alpha, beta))


def _positive(scale: pd.Series) -> pd.Series:
    return scale.where(scale > 0)


def g4_parts(fits: pd.DataFrame) -> list[PartSpec]:
    """G4's two parts from one fit per (seed, rm_policy): ``rm_params``, ``alpha``, ``beta``.

    Per seed: (α_largest - α_smallest) / (the seed's mean α), and the slope of β per decade of RM
    parameters / (the seed's mean β); NaN for a seed whose mean is not positive.
    """
    alpha, _ = by_size(fits, "rm_policy", "rm_params", "alpha")
    beta, x = by_size(fits, "rm_policy", "rm_params", "beta")
    a = ends(alpha) / _positive(alpha.mean(axis=1))
    b = row_slopes(beta, x) / _positive(beta.mean(axis=1))
    return [PartSpec(a.to_numpy(), "equivalent", G4_ALPHA_SHARE,
                     name="(alpha_largest - alpha_smallest) / the seed's mean alpha"),
            PartSpec(b.to_numpy(), "less", G4_BETA_SHARE,
                     name="slope of beta_RL per decade of RM parameters / the seed's mean beta")]


def h3_arms(table: pd.DataFrame) -> tuple[pd.DataFrame, float, int]:
    """Per (seed, rm_policy): rm_params, bon_gain (at the largest n), rl_gain (final, most penalised run).

    Returns the arms, the KL coefficient of the RL gain and the best-of-n budget.
    """
    rl_all, bon = table[table["series"] == "rl"], table[table["series"] == "bon"]
    kl = float(rl_all["kl_coef"].max())
    final = final_rows(rl_all[rl_all["kl_coef"] == kl])
    n = int(bon["n"].max())
    rl = final.groupby(["seed", "rm_policy"]).agg(rm_params=("rm_params", "first"), rl_gain=(GAIN, "mean"))
    top = bon[bon["n"] == n].groupby(["seed", "rm_policy"])["gold_gain"].mean().rename("bon_gain")
    arms = rl.join(top, how="outer").reset_index()
    arms["rm_params"] = arms.groupby("rm_policy")["rm_params"].transform("first")
    return arms, kl, n


# ------------------------------------------------------------------------------------------
# The analysis
# ------------------------------------------------------------------------------------------


def _figure(table: pd.DataFrame, arms: pd.DataFrame, fits: pd.DataFrame, kl_free: float, kl_pen: float, n: int):
    rl_all, bon = table[table["series"] == "rl"], table[table["series"] == "bon"]
    free = rl_all[rl_all["kl_coef"] == kl_free]
    sizes = list(arms.groupby("rm_policy")["rm_params"].first().sort_values().index)
    params = arms.groupby("rm_policy")["rm_params"].first().loc[sizes].to_numpy(float)
    fig, axes = axis_figure(4)
    for column, label in (("rl_gain", f"RL gain (final, kl_coef={kl_pen:g})"), ("bon_gain", f"best-of-{n} gain")):
        g = arms.groupby("rm_policy")[column]
        axes[0].errorbar(params, g.mean().loc[sizes], g.std().reindex(sizes).fillna(0), marker="o", capsize=3,
                         label=label)
    axes[0].set(xscale="log", xlabel="reward-model parameters", ylabel="gold accuracy gain over SFT",
                title="H3: best-of-n vs RL gain by RM size")
    axes[0].legend(fontsize=8)
    for s in sizes:
        part = free[free["rm_policy"] == s].groupby("step")[["sqrt_kl", "gold_gain"]].mean()
        axes[1].plot(part["sqrt_kl"], part["gold_gain"], marker=".", label=s)
        b = bon[bon["rm_policy"] == s].groupby("n")[["d", "gold_gain"]].mean()
        axes[2].plot(b["d"], b["gold_gain"], marker="o", label=s)
    axes[1].set(xlabel="sqrt(KL to SFT)", ylabel="gold gain (tracked)",
                title=f"G4: RL gold gain vs sqrt(KL) (kl_coef={kl_free:g})")
    axes[1].legend(title="RM", fontsize=8)
    axes[2].set(xlabel="sqrt(KL bound)", ylabel="gold gain", title="best-of-n gold gain vs sqrt(KL bound)")
    axes[2].legend(title="RM", fontsize=8)
    for column, marker in (("alpha", "o"), ("beta", "s")):
        g = fits.groupby("rm_policy")[column]
        axes[3].errorbar(params, g.mean().reindex(sizes), g.std().reindex(sizes).fillna(0), marker=marker,
                         capsize=3, label=column)
    axes[3].set(xscale="log", xlabel="reward-model parameters", ylabel="fitted parameter (per run, mean over seeds)",
                title="G4: Gao RL fits, one per run")
    axes[3].legend(fontsize=8)
    return fig


def _means(frame: pd.DataFrame, arm: str, column: str, order: list[str]) -> dict[str, float]:
    m = frame.groupby(arm)[column].mean()
    return {s: round(float(m.get(s, np.nan)), 4) for s in order}


def _listing(values: dict[str, float]) -> str:
    return ", ".join(f"{s} {fmt(v)}" for s, v in values.items())


def analyze(table: pd.DataFrame, results_dir: str | Path) -> list[Finding]:
    """H3 from the penalised runs' final gains and the best-of-n gains; G4 from per-run fits of the unconstrained runs."""
    arms, kl_pen, n = h3_arms(table)
    rl_all = table[table["series"] == "rl"]
    kl_free = float(rl_all["kl_coef"].min())
    fits = run_fits(rl_all[rl_all["kl_coef"] == kl_free], "rm_policy", "rm_params")
    sizes = list(arms.groupby("rm_policy")["rm_params"].first().sort_values().index)
    rel = save_figure(_figure(table, arms, fits, kl_free, kl_pen, n), results_dir, AXIS, "h3_g4_rm_size_for_rl")
    small, large = (sizes[0], sizes[-1]) if sizes else ("", "")
    one_size = "only one reward-model size: nothing to compare" if len(sizes) < 2 else ""
    rm_data = str(table["rm_data"].dropna().iloc[0]) if "rm_data" in table and table["rm_data"].notna().any() else ""

    rl_gain, bon_gain = _means(arms, "rm_policy", "rl_gain", sizes), _means(arms, "rm_policy", "bon_gain", sizes)
    h3 = decided_finding(
        "H3", h3_parts(arms), axis=AXIS, figure=rel, no_split=H3_NO_SPLIT,
        effect_label=(f"(best-of-{n} gain - RL gain, kl_coef={kl_pen:g}) of the {large} RM minus that of the {small} "
                      "RM (gold accuracy, claim > 0)"),
        numbers={"rl_gain": rl_gain, f"bon{n}_gain": bon_gain,
                 "rm_params": {s: int(v) for s, v in arms.groupby("rm_policy")["rm_params"].first().loc[sizes].items()},
                 "smallest_rm": small, "largest_rm": large, "kl_coef": kl_pen, "bon_n": n, "rm_data": rm_data},
        note=one_size or (f"RMs {small} -> {large} trained on the same comparisons ({rm_data}); RL gain "
                          f"{_listing(rl_gain)}; best-of-{n} gain {_listing(bon_gain)}."))

    mean_alpha, mean_beta = g4_scales(fits)
    per_seed = {name: by_size(fits, "rm_policy", "rm_params", name)[0].mean(axis=1) for name in ("alpha", "beta")}
    scale_notes = [f"{int((~(m > 0)).sum())} seed(s) with mean {name} <= 0 (or no fit): no scale for the margin, "
                   "dropped from that part" for name, m in per_seed.items() if (~(m > 0)).any()]
    alphas, betas = _means(fits, "rm_policy", "alpha", sizes), _means(fits, "rm_policy", "beta", sizes)
    g4_p = g4_parts(fits)
    # the variance split (reported, not evidence): the same per-run fits on each half of the tracking prompts
    free = rl_all[rl_all["kl_coef"] == kl_free]
    g4_halves, g4_no_split = halves_of(lambda v: g4_parts(run_fits(v, "rm_policy", "rm_params")),
                                       {h: rl_half(free, h) for h in HALVES}, len(g4_p))
    g4 = decided_finding(
        "G4", g4_p, axis=AXIS, figure=rel, halves=g4_halves, no_split=g4_no_split,
        effect_label=(f"(α_RL of the {large} RM - α_RL of the {small} RM) / the seed's mean α, separate Gao RL fits "
                      f"(kl_coef={kl_free:g}; claim |.| < {G4_ALPHA_SHARE:g})"),
        numbers={"alpha": alphas, "beta": betas, "mean_alpha": mean_alpha, "mean_beta": mean_beta,
                 "mean_alpha_per_seed": [float(v) for v in per_seed["alpha"]],
                 "mean_beta_per_seed": [float(v) for v in per_seed["beta"]], "kl_coef": kl_free,
                 "fits": fits.to_dict(orient="records")},
        note=one_size or "; ".join([(f"per-run Gao RL fits on the unconstrained runs: α {_listing(alphas)}, β "
                                     f"{_listing(betas)}; per-seed values relative to the seed's own mean α and mean "
                                     f"β (over all runs: {fmt(mean_alpha)}, {fmt(mean_beta)})"), *scale_notes]))
    return [h3, g4]
