"""Axis: reward-model size, seen through the policy trained against it (H3, Hou et al. 2024; G4, Gao et al. 2022).

One policy (the SFT model of ``policy``) is trained by RL against reward models of several
sizes. A reward model of preset P is initialised from the SFT model of preset P and trained
on that model's samples (the pipeline's reward stage), so a bigger RM is also a stronger
judge of the task. Beside each RL result: the same RM's best-of-n gain on the policy's SFT
samples (n = ``bon_n``, unbiased estimator from one pool per prompt), on the evaluation
prompts.

Two RL runs per reward model: with the largest of ``kl_coefs`` (RL as practised) for H3,
with the smallest (0 by default, as in Gao et al.'s fits, so the curves turn over) for G4.

- H3: the larger RM's best-of-n gain exceeds the RL gain (KL-penalised run) of the policy
  trained against it, and that policy is no worse than the one trained against the smallest
  RM (RL gain difference above -0.02 gold accuracy).
- G4: on the unconstrained runs, Gao's RL form, gold gain = d (alpha - beta_k ln d) with d = sqrt(KL), fitted to the
  tracked curves: one alpha shared by every RM size fits about as well as one alpha each
  (AICc of the shared fit at most 2 above the separate fits), and beta_k falls with RM size
  (per seed, the slope of beta_k on log10 RM parameters, with a t interval over seeds). Each
  curve is fitted up to where gold first falls back to the SFT level: accuracy floors at 0,
  the law does not.

Caveat: the reward model of preset P learns from the samples of the SFT model of preset P,
not from the policy's, so reward models of different sizes also saw different data.

Cost at the defaults (RMs on xs, s, m; the pipeline's policy s, GRPO 16 x 8, 60 steps, KL
coefficients 0 and 0.2; one torch thread, in the default study on 2 cores): 145-155 s per seed,
its six RL runs (two shared with the policy-size axis), their evaluations and three best-of-16
pools, once the xs, s and m SFT models exist (the reward-model size axis trains them).
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from ..analysis import INCONCLUSIVE, NOT_SHOWN, SHOWN, combine, seed_effect
from ..models import check_model_spec
from ..pipeline.policy_runs import bon_rows, point_rows, run_point
from ..store import RunStore
from .findings import claim as registered_claim
from .policy_family import Scale, final_rows, fmt, until_back_to_baseline
from .results import Finding, axis_figure, save_figure

AXIS = "rm_size_for_rl"
GAIN = "gain_heldout_sampled_acc"
NO_WORSE_MARGIN = 0.02  # "no worse": the larger RM's policy may trail by at most 2 points of gold accuracy
AICC_TOLERANCE = 2.0  # a shared alpha "fits" if its AICc is at most 2 above one alpha per RM size
AICC_REJECT = 10.0  # and clearly does not if more than 10 above


def run_seed(seed: int, store: RunStore | str | Path, *, rm_policies: list[str], bon_n: int = 16,
             kl_coefs: list[float] = (0.0, 0.2), scale: Scale = Scale()) -> pd.DataFrame:
    """RL of one policy against each reward model at each KL coefficient, and each RM's best-of-n, for one seed."""
    store = store if isinstance(store, RunStore) else RunStore(store)
    for spec in rm_policies:
        check_model_spec(spec)
    if bon_n < 1 or bon_n & (bon_n - 1):
        raise ValueError(f"bon_n={bon_n}: use a power of two (best-of-n is reported at n = 1, 2, 4, ..., bon_n)")
    if not kl_coefs or min(kl_coefs) < 0:
        raise ValueError(f"kl_coefs={list(kl_coefs)}: give one or more KL coefficients >= 0")
    config = scale.pipeline(seed)
    problems = config.task.problems("heldout", config.eval.eval_prompts, config.eval.seed)
    frames, seen = [], set()
    for rm_policy in rm_policies:
        for kl in sorted(set(kl_coefs)):
            runs = run_point(store, replace(config, rl=replace(config.rl, kl_coef=float(kl))), rm_policy=rm_policy)
            frames.append(point_rows(runs, seen, series="rl"))
        bon = bon_rows(store, config, runs.sft, runs.reward, problems, bon_n, config.eval.max_completion_tokens,
                       sample_seed=config.eval.seed + seed, series="bon", seed=seed, policy=config.sft.policy,
                       rm_policy=rm_policy, rm_params=runs.reward.metrics.get("rm/params"))
        frames.append(bon)
    return pd.concat(frames, ignore_index=True)


# ------------------------------------------------------------------------------------------
# Gao's RL form with one alpha per RM size or one shared: linear least squares in (alpha, beta)
# ------------------------------------------------------------------------------------------


def _xlogx(d: np.ndarray) -> np.ndarray:
    return np.where(d > 0, d * np.log(np.where(d > 0, d, 1.0)), 0.0)


def _aicc(sse: float, n: int, p: int) -> float:
    if n - p - 1 <= 0 or sse <= 0:
        return float("nan")
    return n * np.log(sse / n) + 2 * p + 2 * p * (p + 1) / (n - p - 1)


def gao_rl_fits(curves: pd.DataFrame, sizes: list[str]) -> dict:
    """Fit gold_gain = alpha d - beta d ln d per RM size (separate) and with one alpha (shared).

    ``curves``: RL rows with ``rm_policy``, ``sqrt_kl`` and ``gold_gain``. Returns alphas and
    betas of both fits and their AICc.
    """
    d, y = curves["sqrt_kl"].to_numpy(float), curves["gold_gain"].to_numpy(float)
    k = curves["rm_policy"].map({s: i for i, s in enumerate(sizes)}).to_numpy()
    sep_alpha, sep_beta, sse_sep = {}, {}, 0.0
    for i, s in enumerate(sizes):
        m = k == i
        X = np.column_stack([d[m], -_xlogx(d[m])])
        coef, *_ = np.linalg.lstsq(X, y[m], rcond=None)
        sep_alpha[s], sep_beta[s] = float(coef[0]), float(coef[1])
        sse_sep += float(((X @ coef - y[m]) ** 2).sum())
    X = np.column_stack([d] + [np.where(k == i, -_xlogx(d), 0.0) for i in range(len(sizes))])
    coef, *_ = np.linalg.lstsq(X, y, rcond=None)
    sse_shared = float(((X @ coef - y) ** 2).sum())
    n = len(y)
    return {"separate_alpha": sep_alpha, "separate_beta": sep_beta,
            "shared_alpha": float(coef[0]), "shared_beta": {s: float(c) for s, c in zip(sizes, coef[1:])},
            "aicc_separate": _aicc(sse_sep, n, 2 * len(sizes)), "aicc_shared": _aicc(sse_shared, n, 1 + len(sizes))}


def analyze(table: pd.DataFrame, results_dir: str | Path) -> list[Finding]:
    rl_all, bon = table[table["series"] == "rl"], table[table["series"] == "bon"]
    kls = sorted(rl_all["kl_coef"].unique())
    rl = rl_all[rl_all["kl_coef"] == kls[0]]  # unconstrained curves, for G4
    final = final_rows(rl_all[rl_all["kl_coef"] == kls[-1]])  # penalised results, for H3
    seeds = sorted(final["seed"].unique())
    sizes = list(final.groupby("rm_policy")["rm_params"].first().sort_values().index)
    params = final.groupby("rm_policy")["rm_params"].first()
    bon_n = int(bon["n"].max())
    bon_top = bon[bon["n"] == bon_n].set_index(["seed", "rm_policy"])["gold_gain"]
    rl_gain = final.set_index(["seed", "rm_policy"])[GAIN]

    fig, axes = axis_figure(3)
    x = params.loc[sizes].to_numpy(float)
    for series, label in ((rl_gain, f"RL gain (final, kl_coef={kls[-1]:g})"), (bon_top, f"best-of-{bon_n} gain")):
        g = series.groupby("rm_policy")
        axes[0].errorbar(x, g.mean().loc[sizes], g.std().reindex(sizes).fillna(0), marker="o", capsize=3,
                         label=label)
    axes[0].set(xscale="log", xlabel="reward-model parameters", ylabel="gold accuracy gain over SFT",
                title="H3: best-of-n vs RL gain by RM size")
    axes[0].legend()
    for s in sizes:
        part = rl[rl["rm_policy"] == s].groupby("step")[["sqrt_kl", "gold_gain"]].mean()
        axes[1].plot(part["sqrt_kl"], part["gold_gain"], marker=".", label=s)
        b = bon[bon["rm_policy"] == s].groupby("n")[["d", "gold_gain"]].mean()
        axes[2].plot(b["d"], b["gold_gain"], marker="o", label=s)
    axes[1].set(xlabel="sqrt(KL to SFT)", ylabel="gold gain (tracked)",
                title=f"G4: RL gold gain vs sqrt(KL) (kl_coef={kls[0]:g})")
    axes[1].legend(title="RM")
    axes[2].set(xlabel="sqrt(KL bound)", ylabel="gold gain", title="best-of-n gold gain vs sqrt(KL bound)")
    axes[2].legend(title="RM")
    fig.tight_layout()
    rel = save_figure(fig, results_dir, AXIS, "h3_g4_rm_size_for_rl")

    nan2 = (float("nan"), float("nan"))
    if len(sizes) < 2:
        return [Finding(i, registered_claim(i), INCONCLUSIVE, float("nan"), nan2, len(seeds), "", rel, AXIS,
                        note="only one reward-model size: nothing to compare")
                for i in ("H3", "G4")]
    small, large = sizes[0], sizes[-1]
    bon_minus_rl = seed_effect(bon_top.xs(large, level="rm_policy") - rl_gain.xs(large, level="rm_policy"))
    no_worse = seed_effect(rl_gain.xs(large, level="rm_policy") - rl_gain.xs(small, level="rm_policy"))
    h3 = Finding(
        id="H3", claim=registered_claim("H3"),
        verdict=combine(bon_minus_rl.verdict(+1), no_worse.verdict(+1, margin=-NO_WORSE_MARGIN)),
        effect=bon_minus_rl.estimate, ci=bon_minus_rl.ci, n_seeds=len(seeds),
        effect_label=f"best-of-{bon_n} gain - RL gain (kl_coef={kls[-1]:g}) with the largest RM (gold acc, claim > 0)",
        figure=rel,
        axis=AXIS,
        numbers={"rl_gain": {s: round(float(rl_gain.xs(s, level="rm_policy").mean()), 4) for s in sizes},
                 f"bon{bon_n}_gain": {s: round(float(bon_top.xs(s, level="rm_policy").mean()), 4) for s in sizes},
                 "rm_heldout_pairwise_acc": {s: round(float(v), 4) for s, v in
                                             final.groupby("rm_policy")["rm_heldout_pairwise_acc"].mean().items()},
                 "rl_gain_largest_minus_smallest_rm": [no_worse.estimate, *no_worse.ci]},
        note=(f"RL gain with the {large} RM minus with the {small} RM: {no_worse.text()} (no worse: above "
              f"-{NO_WORSE_MARGIN})."),
    )

    law = pd.concat([until_back_to_baseline(c) for _, c in rl.groupby(["seed", "rm_policy"])])
    fits = gao_rl_fits(law, sizes)
    d_aicc = fits["aicc_shared"] - fits["aicc_separate"]
    alpha_part = (SHOWN if d_aicc <= AICC_TOLERANCE else NOT_SHOWN if d_aicc > AICC_REJECT else INCONCLUSIVE) \
        if np.isfinite(d_aicc) else INCONCLUSIVE
    slopes = {}
    for seed, part in law.groupby("seed"):
        f = gao_rl_fits(part, sizes)
        betas = np.array([f["shared_beta"][s] for s in sizes])
        slopes[seed] = float(np.polyfit(np.log10(params.loc[sizes].to_numpy(float)), betas, 1)[0])
    beta_slope = seed_effect(pd.Series(slopes))
    g4 = Finding(
        id="G4", claim=registered_claim("G4"),
        verdict=combine(alpha_part, beta_slope.verdict(direction=-1)),
        effect=beta_slope.estimate, ci=beta_slope.ci, n_seeds=len(seeds),
        effect_label="slope of beta_RL (shared-alpha fit) per decade of RM parameters (claim < 0)", figure=rel,
        axis=AXIS,
        numbers={"shared_alpha": round(fits["shared_alpha"], 4),
                 "shared_beta": {s: round(v, 4) for s, v in fits["shared_beta"].items()},
                 "separate_alpha": {s: round(v, 4) for s, v in fits["separate_alpha"].items()},
                 "separate_beta": {s: round(v, 4) for s, v in fits["separate_beta"].items()},
                 "aicc_shared_minus_separate": round(float(d_aicc), 3) if np.isfinite(d_aicc) else None},
        note=(f"AICc of one shared alpha minus one alpha per RM: {fmt(d_aicc)} (shared fits if <= "
              f"{AICC_TOLERANCE:g}); separate alphas "
              + ", ".join(f"{s} {fits['separate_alpha'][s]:.3g}" for s in sizes) + "."),
    )
    return [h3, g4]
