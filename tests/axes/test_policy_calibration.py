"""Calibration of the policy findings' decision rules (H1, H5, H6, H8, G2, G6, G7) on runs with a planted truth.

Synthetic axis tables, built as the axes build them (one row per tracked step of every run, or
one final row per run), go through the same functions the axes' ``analyze`` calls to reduce
them to per-seed values (``h1_parts``, ``h5_parts``, ``h6_parts``, ``g2_parts``, ``g6_parts``,
``g7_parts``, ``h8_parts``), and the verdict is the protocol's (``decide_compound``).

(a) Null claim: the planted truth sits on the boundary of the claim's null hypothesis (one
    part at its boundary, the other parts clearly true where the geometry allows, the worst
    case for a compound claim). The share of studies whose verdict is "shown", and the share
    in which the boundary part alone is shown, must stay within the nominal one-sided 2.5 %
    plus three Monte-Carlo standard errors, at 3 and at 5 seeds. Many studies are simulated at
    once: study i's seeds are the seed ids i*k .. i*k + k - 1 of one big table, and every
    per-seed value depends on its own seed's rows only.
(b) A clear planted effect: "shown", through the axis's full ``analyze``.
(c) No effect (for an equivalence claim: a clear difference), small noise: "not shown",
    through the axis's full ``analyze``.

The default suite runs each null at 400 studies; ``-m slow`` runs every null at 4000.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from rlhf_nb.analysis.decision import PartSpec, decide_compound
from rlhf_nb.axes import method, rl_length_kl, samples_per_prompt, task_heterogeneity
from rlhf_nb.axes.rl_length_kl import g2_parts, g6_parts, g7_parts, h6_parts

ALPHA = 0.025  # one-sided error of a "shown" verdict at a 95 % interval
FAST, FULL = 400, 4000
SEED_COUNTS = (3, 5)


def mc_limit(n_studies: int) -> float:
    """Nominal 2.5 % plus three Monte-Carlo standard errors at ``n_studies``."""
    return ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / n_studies)


def shown_rate(parts: list[PartSpec], n_seeds: int) -> float:
    """Share of studies (consecutive blocks of ``n_seeds`` per-seed values) whose compound verdict is shown."""
    n = len(parts[0].values)
    assert n % n_seeds == 0 and all(len(p.values) == n for p in parts)
    blocks = [np.asarray(p.values, dtype=float).reshape(-1, n_seeds) for p in parts]
    shown = 0
    for i in range(n // n_seeds):
        study = [PartSpec(b[i], p.claim, p.delta, p.name) for b, p in zip(blocks, parts)]
        shown += decide_compound(study).verdict == "shown"
    return shown / (n // n_seeds)


# ------------------------------------------------------------------------------------------
# Synthetic tables
# ------------------------------------------------------------------------------------------


def h1_table(rng, seeds: int, means=(0.0, 0.1, 0.13), noise=0.01, equal_total=None) -> pd.DataFrame:
    """Final rows of the fixed-prompts series at n = 2, 4, 8: gold = 0.6 + seed offset + means[n] + noise."""
    ns = (2, 4, 8)
    offset = rng.normal(0, 0.02, seeds)
    rows = []
    for series, m in (("fixed_prompts", means), ("equal_total", equal_total)):
        if m is None:
            continue
        gold = 0.6 + offset[:, None] + np.asarray(m)[None, :] + rng.normal(0, noise, (seeds, len(ns)))
        rows.append(pd.DataFrame({"seed": np.repeat(np.arange(seeds), len(ns)), "series": series, "final": True,
                                  "step": 60, "samples_per_prompt": np.tile(ns, seeds),
                                  "completions_per_step": 32 if series == "equal_total" else np.tile(ns, seeds) * 16,
                                  "rl_heldout_sampled_acc": gold.ravel(), "sft_heldout_sampled_acc": 0.55}))
    return pd.concat(rows, ignore_index=True)


def h8_table(rng, seeds: int, diff: float, noise=0.02) -> pd.DataFrame:
    """One final row per seed and algorithm: in-distribution gain = OOD gain + diff, each with noise."""
    rows = []
    for algorithm in ("ppo", "grpo", "rloo"):
        ood = 0.05 + rng.normal(0, noise, seeds)
        rows.append(pd.DataFrame({"seed": np.arange(seeds), "algorithm": algorithm, "final": True,
                                  "gain_ood_sampled_acc": ood,
                                  "gain_heldout_sampled_acc": ood + diff + rng.normal(0, noise, seeds)}))
    return pd.concat(rows, ignore_index=True)


def curves(rng, seeds: int, steps, kl, gain, *, noise=0.01, kl_noise=0.0, proxy=None, proxy_noise=0.01,
           **labels) -> pd.DataFrame:
    """Tracked rows of one run per seed, as ``point_rows`` writes them.

    ``kl``: KL per tracked step (array), times a per-seed factor exp(N(0, kl_noise)); ``gain(d, step)``:
    the true gold gain at sqrt(KL) d (arrays); gold on each half of the tracking prompts is
    0.5 + gain + N(0, noise * sqrt 2) (step 0 included: its measured gold is noisy too), gold the
    mean of the halves and gold_gain relative to the measured gold at step 0. ``proxy(step)``:
    the true proxy, measured with N(0, proxy_noise).
    """
    steps = np.asarray(steps)
    k = np.asarray(kl, dtype=float)[None, :] * np.exp(rng.normal(0, kl_noise, (seeds, 1)))
    d = np.sqrt(k)
    true = 0.5 + gain(d, np.broadcast_to(steps, d.shape))
    halves = true[None] + rng.normal(0, noise * math.sqrt(2), (2, *d.shape))
    gold = halves.mean(axis=0)
    out = pd.DataFrame({"seed": np.repeat(np.arange(seeds), len(steps)), "step": np.tile(steps, seeds),
                        "rl_steps": int(steps[-1]), "final": np.tile(steps == steps[-1], seeds),
                        "kl": k.ravel(), "sqrt_kl": d.ravel(), "gold": gold.ravel(),
                        "gold_gain": (gold - gold[:, :1]).ravel(),
                        "gold_even": halves[0].ravel(), "gold_odd": halves[1].ravel(), **labels})
    if proxy is not None:
        out["proxy"] = (proxy(steps)[None, :] + rng.normal(0, proxy_noise, d.shape)).ravel()
    return out


STEPS = np.arange(0, 61, 10)  # the default study: 60 steps tracked every 10


def gao(alpha=0.3, beta=0.25):
    """Gao's RL form d(α - β ln d) (0 at d = 0)."""
    def f(d, _steps=None):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(d > 0, d * (alpha - beta * np.log(np.where(d > 0, d, 1.0))), 0.0)
    return f


def free_run(rng, seeds, gain=gao(), noise=0.01, proxy=lambda s: 0.02 * s, kl_per_step=0.05, **kw):
    """The unpenalised run: KL rising linearly to 3 nats at step 60."""
    return curves(rng, seeds, STEPS, kl_per_step * STEPS, gain, noise=noise, proxy=proxy, series="rl", kl_coef=0.0,
                  **kw)


def penalised_run(rng, seeds, gain, noise=0.01, kl_coef=0.2, **kw):
    """A penalised run: KL saturating at 0.8 nats."""
    return curves(rng, seeds, STEPS, 0.8 * (1 - np.exp(-STEPS / 15)), gain, noise=noise,
                  proxy=lambda s: 0.01 * s, series="rl", kl_coef=kl_coef, **kw)


def by_third(first, middle, last):
    """A gold gain that is ``first`` / ``middle`` / ``last`` on the first / middle / last third of 60 steps."""
    def f(d, steps):
        return np.select([steps == 0, steps <= 20, steps <= 40], [0.0, first, middle], last)
    return f


def bon_table(rng, seeds: int, gain, noise=0.01) -> pd.DataFrame:
    """Best-of-n rows, n = 1..64, at an exact KL 0.8 x the bound, gold gain gain(d_exact) + noise."""
    ns = 2 ** np.arange(7)
    bound = np.log(ns) - (ns - 1) / ns
    exact = 0.8 * bound
    g = gain(np.sqrt(exact))[None, :] + rng.normal(0, noise, (seeds, len(ns))) * (ns > 1)
    return pd.DataFrame({"series": "bon", "seed": np.repeat(np.arange(seeds), len(ns)), "n": np.tile(ns, seeds),
                         "kl_bound": np.tile(bound, seeds), "d": np.tile(np.sqrt(bound), seeds),
                         "kl_exact": np.tile(exact, seeds), "d_exact": np.tile(np.sqrt(exact), seeds),
                         "gold_wr_gain": g.ravel(), "gold_gain": g.ravel(), "final": False})


def method_table(rng, seeds: int, delta: float, noise=0.01, full=True) -> pd.DataFrame:
    """PPO, GRPO and RLOO at both budgets (``full``; else PPO and GRPO at equal samples, all H5 reads);
    PPO's gold = GRPO's + delta at every sqrt(KL) > 0; KL per run varies by a factor exp(N(0, 0.1))."""
    frames = []
    algorithms = (("ppo", delta), ("grpo", 0.0), ("rloo", -0.05))[:3 if full else 2]
    for algorithm, shift in algorithms:
        for budget in ("equal_samples", "equal_compute")[:2 if full else 1]:
            def gain(d, steps, shift=shift):
                return 0.3 * d + np.where(steps > 0, shift, 0.0)
            c = curves(rng, seeds, np.arange(0, 11), 0.05 * np.arange(0, 11), gain, noise=noise, kl_noise=0.1,
                       algorithm=algorithm, budget=budget)
            last = c["final"]
            c.loc[last, "rl_heldout_sampled_acc"] = c.loc[last, "gold"]
            c.loc[last, "sft_heldout_sampled_acc"] = 0.5
            c.loc[last, "gain_heldout_sampled_acc"] = c.loc[last, "gold"] - 0.5
            c.loc[last, "gain_ood_sampled_acc"] = 0.05 + rng.normal(0, noise, seeds)
            c.loc[last, "rl_step_seconds"] = 0.1
            c["rl_compute_to_step"] = 1e9 * c["step"]
            frames.append(c)
    return pd.concat(frames, ignore_index=True)


# ------------------------------------------------------------------------------------------
# (a) Null claims: one builder per null, returning the counted parts over all seeds
# ------------------------------------------------------------------------------------------


def null_h1_first(rng, n):  # part 1 at its boundary (no first-doubling gain); part 2 clearly true
    return samples_per_prompt.h1_parts(h1_table(rng, n, means=(0.0, 0.0, -0.08)))[0]


def null_h1_last(rng, n):  # part 2 at its boundary: last gain = first / 3
    return samples_per_prompt.h1_parts(h1_table(rng, n, means=(0.0, 0.15, 0.2)))[0]


def null_h5_upper(rng, n):  # PPO - GRPO exactly at +δ
    return method.h5_parts(method_table(rng, n, method.H5_DELTA, full=False))[0]


def null_h5_lower(rng, n):
    return method.h5_parts(method_table(rng, n, -method.H5_DELTA, full=False))[0]


def null_h8(rng, n):
    return task_heterogeneity.h8_parts(h8_table(rng, n, 0.0))[0]


def _h6(rng, n, pen, free_gain, proxy):
    rl = pd.concat([penalised_run(rng, n, pen, noise=0.005), free_run(rng, n, gain=free_gain, proxy=proxy,
                                                                       noise=0.005)])
    return h6_parts(rl)[0]


FREE_FALLING = by_third(0.1, 0.1, 0.05)  # gold over the last third 0.05 below the middle third
PROXY_RISING = lambda s: 0.004 * s  # noqa: E731  0.08 between the middle and last thirds


def null_h6_early(rng, n):  # (1) at its boundary: no early gain; the late gain clearly negative
    return _h6(rng, n, by_third(0.0, -0.05, -0.1), FREE_FALLING, PROXY_RISING)


def null_h6_late(rng, n):  # (2) at its boundary: late gain = early / 3
    return _h6(rng, n, by_third(0.15, 0.15, 0.2), FREE_FALLING, PROXY_RISING)


def null_h6_proxy(rng, n):  # (3a) at its boundary: the proxy flat over the last two thirds
    return _h6(rng, n, by_third(0.15, 0.15, 0.15), FREE_FALLING, lambda s: 0.004 * np.minimum(s, 20))


def null_h6_gold(rng, n):  # (3b) at its boundary: gold rises by exactly 0.02 over the last third
    return _h6(rng, n, by_third(0.15, 0.15, 0.15), by_third(0.1, 0.1, 0.12), PROXY_RISING)


def null_g2_beta(rng, n):  # (1) at its boundary: β = 0, gold rising linearly in d
    return g2_parts(free_run(rng, n, gain=gao(0.2, 0.0)))[0]


def null_g2_fall(rng, n):  # (2) at its boundary: gold rises, then stays on a plateau to the end (β clearly > 0)
    return g2_parts(free_run(rng, n, gain=lambda d, s: np.minimum(0.3 * d, 0.2)))[0]


def null_g6(rng, n):  # best-of-n on the RL frontier
    return g6_parts(free_run(rng, n), bon_table(rng, n, gao()))[0]


def _g7(rng, n, share):
    rl = pd.concat([free_run(rng, n), penalised_run(rng, n, lambda d, s: (1 + share) * gao()(d))])
    return g7_parts(rl)[0]


def null_g7_above(rng, n):  # the penalised run 25 % above the unpenalised frontier
    return _g7(rng, n, 0.25)


def null_g7_below(rng, n):
    return _g7(rng, n, -0.25)


# name -> (builder, index of the part at its boundary)
NULLS = {
    "h1_first": (null_h1_first, 0), "h1_last": (null_h1_last, 1),
    "h5_upper": (null_h5_upper, 0), "h5_lower": (null_h5_lower, 0),
    "h8": (null_h8, 0),
    "h6_early": (null_h6_early, 0), "h6_late": (null_h6_late, 1), "h6_proxy": (null_h6_proxy, 2),
    "h6_gold": (null_h6_gold, 3),
    "g2_beta": (null_g2_beta, 0), "g2_fall": (null_g2_fall, 1),
    "g6": (null_g6, 0),
    "g7_above": (null_g7_above, 0), "g7_below": (null_g7_below, 0),
}
FAST_NULLS = ("h1_last", "h5_upper", "h8", "h6_late", "h6_gold", "g2_beta", "g2_fall", "g6", "g7_below")
# Nulls whose boundary part has Gaussian per-seed values (a linear function of Gaussian gold, KL fixed): its t test
# is exact, so the part's rate must also not fall below 2.5 % by more than Monte-Carlo error.
EXACT = ("h1_first", "h1_last", "h8", "h6_early", "h6_late", "h6_proxy", "h6_gold", "g2_beta")


def _check_null(name: str, n_seeds: int, n_studies: int) -> None:
    build, boundary = NULLS[name]
    rng = np.random.default_rng([n_seeds, sorted(NULLS).index(name), n_studies])
    parts = build(rng, n_studies * n_seeds)
    limit = mc_limit(n_studies)
    rate = shown_rate(parts, n_seeds)
    assert rate <= limit, f"{name} at {n_seeds} seeds: shown in {rate:.3%} of {n_studies} studies (limit {limit:.3%})"
    part_rate = shown_rate([parts[boundary]], n_seeds)  # the boundary part alone, at the single-look level
    assert part_rate <= limit, (f"{name} at {n_seeds} seeds: part {boundary + 1} alone shown in {part_rate:.3%} of "
                                f"{n_studies} studies (limit {limit:.3%})")
    if name in EXACT:
        floor = 2 * ALPHA - limit
        assert part_rate >= floor, (f"{name} at {n_seeds} seeds: part {boundary + 1} shown in only {part_rate:.3%} "
                                    f"of {n_studies} studies, below the nominal 2.5 % by more than chance")


@pytest.mark.parametrize("n_seeds", SEED_COUNTS)
@pytest.mark.parametrize("name", FAST_NULLS)
def test_null_claim_is_shown_at_most_at_the_nominal_rate(name, n_seeds):
    _check_null(name, n_seeds, FAST)


@pytest.mark.slow
@pytest.mark.parametrize("n_seeds", SEED_COUNTS)
@pytest.mark.parametrize("name", list(NULLS))
def test_null_claim_is_shown_at_most_at_the_nominal_rate_full(name, n_seeds):
    _check_null(name, n_seeds, FULL)


def test_the_harness_has_power_where_the_null_is_not_at_its_boundary():
    """The same machinery shows a true effect most of the time (so a low rate above is not a dead test)."""
    rng = np.random.default_rng(1)
    parts = samples_per_prompt.h1_parts(h1_table(rng, 200 * 3, means=(0.0, 0.15, 0.16), noise=0.005))[0]
    assert shown_rate(parts, 3) > 0.8
    parts = g2_parts(free_run(rng, 200 * 3, kl_per_step=0.1))[0]  # to KL 6: a fall of 0.12 from the peak
    assert shown_rate(parts, 3) > 0.8
    parts = method.h5_parts(method_table(rng, 200 * 3, 0.0, noise=0.004, full=False))[0]
    assert shown_rate(parts, 3) > 0.8


# ------------------------------------------------------------------------------------------
# (b) clear effects are shown, (c) absent effects are not, through each axis's analyze
# ------------------------------------------------------------------------------------------


def test_h1_clear_and_absent(tmp_path):
    rng = np.random.default_rng(11)
    (shown,) = samples_per_prompt.analyze(h1_table(rng, 3, means=(0.0, 0.1, 0.11), noise=0.003,
                                                   equal_total=(0.0, 0.0, 0.0)), tmp_path)
    assert shown.verdict == "shown", shown.note
    (absent,) = samples_per_prompt.analyze(h1_table(rng, 3, means=(0.0, 0.0, 0.0), noise=0.002), tmp_path)
    assert absent.verdict == "not shown", absent.note


def test_h5_h8_clear_and_absent(tmp_path):
    rng = np.random.default_rng(12)
    h8, h5, _ = method.analyze(method_table(rng, 3, 0.0, noise=0.003), tmp_path)
    assert h5.verdict == "shown", h5.note
    assert h8.verdict == "shown"  # in distribution the runs gain about 0.2, out of it 0.05
    h8, h5, _ = method.analyze(method_table(rng, 3, 0.1, noise=0.003), tmp_path)
    assert h5.verdict == "not shown", h5.note
    table = h8_table(rng, 3, 0.1, noise=0.003)
    assert task_heterogeneity.h8_finding(table, "method").verdict == "shown"
    assert task_heterogeneity.h8_finding(h8_table(rng, 3, 0.0, noise=0.001), "method").verdict == "not shown"


def _rl_length_kl(tmp_path, rl, bon):
    return {f.id: f for f in rl_length_kl.analyze(pd.concat([rl, bon], ignore_index=True), tmp_path)}


def test_rl_length_kl_clear_effects(tmp_path):
    rng = np.random.default_rng(13)
    rl = pd.concat([free_run(rng, 3, noise=0.003), penalised_run(rng, 3, gao(), noise=0.003)])
    found = _rl_length_kl(tmp_path, rl, bon_table(rng, 3, lambda d: gao()(d) + 0.1, noise=0.003))
    # H6: the penalised run (on the frontier, KL saturating) flattens; the free run's gold falls while proxy rises
    assert found["H6"].verdict == "shown", found["H6"].note
    assert found["G2"].verdict == "shown", found["G2"].note
    assert found["G6"].verdict == "shown", found["G6"].note
    assert found["G7"].verdict == "shown", found["G7"].note


def test_rl_length_kl_absent_effects(tmp_path):
    rng = np.random.default_rng(14)
    flat = lambda d, s: np.zeros_like(d)  # noqa: E731  no gold gain at all
    rl = pd.concat([free_run(rng, 3, gain=flat, noise=0.002, proxy=lambda s: 0.0 * s),
                    penalised_run(rng, 3, flat, noise=0.002)])
    found = _rl_length_kl(tmp_path, rl, bon_table(rng, 3, lambda d: np.zeros_like(d), noise=0.002))
    assert found["H6"].verdict == "not shown", found["H6"].note  # no early gain, and the proxy does not rise
    assert found["G2"].verdict == "not shown", found["G2"].note  # β = 0 and no fall
    assert found["G6"].verdict == "not shown", found["G6"].note  # best-of-n gains nothing over RL
    # G7 needs a gain on the unpenalised curve to set its margin: the penalised run 100 % above it
    rl = pd.concat([free_run(rng, 3, noise=0.002), penalised_run(rng, 3, lambda d, s: 2.0 * gao()(d), noise=0.002)])
    found = _rl_length_kl(tmp_path, rl, bon_table(rng, 3, gao(), noise=0.002))
    assert found["G7"].verdict == "not shown", found["G7"].note
