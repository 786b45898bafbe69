"""Each axis's analysis on synthetic tables whose answer is known: the verdicts and effects must come out right."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from rlhf_nb.analysis.seeds import seed_effect
from rlhf_nb.axes import (
    method,
    policy_size,
    rl_length_kl,
    rm_size_for_rl,
    samples_per_prompt,
)
from rlhf_nb.axes.policy_family import interp_at
from rlhf_nb.axes.results import save_results

SEEDS = (0, 1, 2)
RNG = np.random.default_rng(0)


def curve_rows(seed, steps, kl_of_step, gain_of_kl, *, sft=0.5, proxy_of_step=None, noise=0.003, ood_gain=0.0,
               **labels):
    """Tracked rows of one run: gold = sft + gain(kl(step)) + noise; the last row carries evaluation results."""
    steps = np.asarray(steps)
    kl = np.array([kl_of_step(s) for s in steps], dtype=float)
    gold = sft + np.array([gain_of_kl(k) for k in kl]) + RNG.normal(0, noise, len(steps))
    gold[0] = sft
    rows = pd.DataFrame({"seed": seed, "step": steps, "final": steps == steps[-1], "gold": gold, "kl": kl,
                         "sqrt_kl": np.sqrt(kl), "rl_steps": int(steps[-1]), **labels})
    rows["gold_gain"] = rows["gold"] - sft
    rows["proxy"] = [proxy_of_step(s) if proxy_of_step else 0.0 for s in steps]
    rows["rl_compute_to_step"] = 1e9 * steps
    rows.loc[rows.index[-1], ["sft_heldout_sampled_acc", "rl_heldout_sampled_acc", "gain_heldout_sampled_acc"]] = \
        [sft, gold[-1], gold[-1] - sft]
    rows.loc[rows.index[-1], "rl_step_seconds"] = 0.1
    rows.loc[rows.index[-1], "gain_ood_sampled_acc"] = ood_gain + RNG.normal(0, noise)
    return rows


def final_only(seed, **values):
    return pd.DataFrame([{"seed": seed, "final": True, "step": 10, **values}])


@pytest.mark.parametrize("saturating, expected", [(True, "shown"), (False, "not shown")])
def test_h1_saturation(tmp_path, saturating, expected):
    rows = []
    for seed in SEEDS:
        offset = RNG.normal(0, 0.01)
        for k, n in enumerate([1, 2, 4, 8]):
            acc = 0.6 + (0.2 * (1 - 0.5**k) if saturating else 0.05 * k) + offset + RNG.normal(0, 0.001)
            rows.append(final_only(seed, series="fixed_prompts", samples_per_prompt=n, completions_per_step=16 * n,
                                   rl_heldout_sampled_acc=acc, sft_heldout_sampled_acc=0.55 + offset))
            rows.append(final_only(seed, series="equal_total", samples_per_prompt=n, completions_per_step=32,
                                   rl_heldout_sampled_acc=0.65 + offset, sft_heldout_sampled_acc=0.55 + offset))
    (h1,) = samples_per_prompt.analyze(pd.concat(rows), tmp_path)
    assert h1.verdict == expected
    gains = np.array(h1.numbers["gain_first_doubling"][0]), np.array(h1.numbers["gain_last_doubling"][0])
    assert gains[0] == pytest.approx(0.1 if saturating else 0.05, abs=0.01)
    assert gains[1] == pytest.approx(0.025 if saturating else 0.05, abs=0.01)
    assert (tmp_path / h1.figure).exists()


def test_h4_g8_policy_size(tmp_path):
    frames = []
    for seed in SEEDS:
        for policy, params, sft, gain in (("xs", 1e5, 0.50, 0.30), ("s", 3e5, 0.55, 0.20), ("m", 1e6, 0.60, 0.10)):
            labels = dict(policy=policy, policy_params=params, rm_policy="m")
            # Unconstrained: gold gain peaks at KL = 1 for every size (Gao: the same KL), height falling with size.
            frames.append(curve_rows(seed, range(0, 21), lambda s: 0.1 * s, lambda k, g=gain: g * k * np.exp(1 - k),
                                     sft=sft, noise=0.0005, kl_coef=0.0, **labels))
            # Penalised: gold saturates at 0.63 x gain by KL 1.
            frames.append(curve_rows(seed, range(0, 21), lambda s: 0.05 * s, lambda k, g=gain: g * (1 - np.exp(-k)),
                                     sft=sft, noise=0.0005, kl_coef=0.2, **labels))
    table = pd.concat(frames, ignore_index=True)
    h4, g8 = policy_size.analyze(table, tmp_path)
    assert h4.verdict == "shown" and h4.effect < 0
    # slope of 0.63 x (0.30, 0.20, 0.10) on log10 params (5, 5.48, 6): the penalised runs, not the others
    assert h4.effect == pytest.approx(np.polyfit(np.log10([1e5, 3e5, 1e6]), 0.632 * np.array([0.3, 0.2, 0.1]), 1)[0],
                                      abs=0.01)
    assert h4.numbers["sft_baseline"] == {"xs": 0.5, "s": 0.55, "m": 0.6}
    assert g8.verdict == "shown"
    assert all(v == pytest.approx(1.0, abs=0.15) for v in g8.numbers["peak_kl"].values())


def test_h3_g4_rm_size_for_rl(tmp_path):
    frames, alpha = [], 0.5
    for seed in SEEDS:
        for rm, params, beta, rl_gain, bon_gain in (("xs", 1e5, 0.5, 0.10, 0.15), ("s", 3e5, 0.35, 0.12, 0.25),
                                                    ("m", 1e6, 0.2, 0.13, 0.30)):
            gain = (lambda k, b=beta: np.sqrt(k) * (alpha - b * np.log(np.sqrt(k))) if k > 0 else 0.0)
            labels = dict(series="rl", policy="m", rm_policy=rm, rm_params=params, rm_heldout_pairwise_acc=0.8)
            c = curve_rows(seed, range(0, 21), lambda s: 0.3 * s, gain, kl_coef=0.0, **labels)
            c.loc[c.index[-1], "gain_heldout_sampled_acc"] = -0.3  # unconstrained: collapsed by the end
            frames.append(c)
            c = curve_rows(seed, range(0, 21), lambda s: 0.05 * s, lambda k: 0.0, kl_coef=0.2, **labels)
            c.loc[c.index[-1], "gain_heldout_sampled_acc"] = rl_gain + RNG.normal(0, 0.003)
            ns = np.array([1, 2, 4, 8, 16])
            kl = np.log(ns) - (ns - 1) / ns
            bon = pd.DataFrame({"series": "bon", "seed": seed, "rm_policy": rm, "rm_params": params, "n": ns,
                                "kl_bound": kl, "d": np.sqrt(kl), "gold_gain": bon_gain * np.sqrt(kl / kl[-1]),
                                "final": False})
            frames += [c, bon]
    h3, g4 = rm_size_for_rl.analyze(pd.concat(frames, ignore_index=True), tmp_path)
    assert h3.verdict == "shown"
    assert h3.effect == pytest.approx(0.30 - 0.13, abs=0.01)
    assert g4.verdict == "shown", g4.note
    assert g4.numbers["shared_alpha"] == pytest.approx(alpha, abs=0.02)
    assert g4.numbers["shared_beta"]["xs"] > g4.numbers["shared_beta"]["m"]


def test_rm_size_fits_recover_parameters():
    d = np.linspace(0, 3, 30)
    rows = []
    for rm, beta in (("a", 0.4), ("b", 0.1)):
        y = 0.3 * d - beta * np.where(d > 0, d * np.log(np.where(d > 0, d, 1)), 0)
        rows.append(pd.DataFrame({"rm_policy": rm, "sqrt_kl": d, "gold_gain": y}))
    fits = rm_size_for_rl.gao_rl_fits(pd.concat(rows), ["a", "b"])
    assert fits["shared_alpha"] == pytest.approx(0.3)
    assert fits["shared_beta"] == {"a": pytest.approx(0.4), "b": pytest.approx(0.1)}


def test_h6_g2_g6_g7_rl_length_kl(tmp_path):
    alpha, beta = 0.3, 0.25
    frontier = lambda k: np.sqrt(k) * (alpha - beta * np.log(np.sqrt(k))) if k > 0 else 0.0  # noqa: E731
    frames = []
    for seed in SEEDS:
        frames.append(curve_rows(seed, range(0, 301, 10), lambda s: 0.02 * s, frontier, sft=0.6,
                                 proxy_of_step=lambda s: 0.1 * np.log1p(s), series="rl", kl_coef=0.0))
        # the penalised run walks the same frontier but stops at KL 1
        frames.append(curve_rows(seed, range(0, 301, 10), lambda s: 1 - np.exp(-s / 50), frontier, sft=0.6,
                                 proxy_of_step=lambda s: 0.05 * np.log1p(s), series="rl", kl_coef=0.1))
        ns = 2 ** np.arange(7)
        kl = np.log(ns) - (ns - 1) / ns
        frames.append(pd.DataFrame({"series": "bon", "seed": seed, "n": ns, "kl_bound": kl, "d": np.sqrt(kl),
                                    "gold_gain": np.sqrt(kl) * (0.6 - 0.2 * np.sqrt(kl)), "final": False}))
    findings = {f.id: f for f in rl_length_kl.analyze(pd.concat(frames, ignore_index=True),
                                                      tmp_path)}
    assert findings["H6"].verdict == "shown"
    assert findings["G2"].verdict == "shown", findings["G2"].note
    assert findings["G2"].numbers["gao_rl"]["alpha"] == pytest.approx(alpha, abs=0.02)
    assert findings["G6"].verdict == "shown" and findings["G6"].effect > 0
    assert findings["G7"].verdict == "shown" and abs(findings["G7"].effect) < 0.01


@pytest.mark.parametrize("ppo_offset, ood_gain, expected_h5, expected_h8",
                         [(0.0, 0.05, "shown", "shown"), (0.15, 0.5, "not shown", "not shown")])
def test_h5_h8_method(tmp_path, ppo_offset, ood_gain, expected_h5, expected_h8):
    frames = []
    for seed in SEEDS:
        for algorithm, level in (("ppo", 0.8 + ppo_offset), ("grpo", 0.8), ("rloo", 0.7)):
            for budget in ("equal_samples", "equal_compute"):
                frames.append(curve_rows(seed, range(0, 11), lambda s: 0.05 * s, lambda k, v=level: (v - 0.5) * k / 0.5,
                                         sft=0.5, noise=0.002, ood_gain=ood_gain, algorithm=algorithm, budget=budget))
    h8, h5 = method.analyze(pd.concat(frames, ignore_index=True), tmp_path, margin=0.03)
    assert h5.verdict == expected_h5
    assert h5.effect == pytest.approx(ppo_offset, abs=0.01)
    # in-distribution gains are 0.3 (ppo 0.3 + offset, rloo 0.2) averaged over algorithms
    assert h8.id == "H8" and h8.verdict == expected_h8
    assert h8.effect == pytest.approx((0.3 + ppo_offset + 0.3 + 0.2) / 3 - ood_gain, abs=0.01)
    paths = save_results("method", pd.concat(frames), [h8, h5], tmp_path)
    assert [json.loads(p.read_text())["id"] for p in paths if p.suffix == ".json"][-2:] == ["H8", "H5"]


def test_helpers():
    e = seed_effect(pd.Series([0.1, 0.12, 0.11], index=[0, 1, 2]))
    assert e.estimate == pytest.approx(0.11) and e.ci[0] < 0.11 < e.ci[1] and e.verdict(+1) == "shown"
    one = seed_effect(pd.Series([0.1], index=[0]))
    assert one.n == 1 and np.isnan(one.ci[0]) and one.verdict(+1) == "inconclusive"
    two = seed_effect(pd.Series([0.1, 0.1001], index=[0, 1]))
    assert two.ci[0] > 0 and two.verdict(+1) == "inconclusive"  # an interval, but no verdict under 3 seeds
    assert interp_at(np.array([0.0, 2.0]), np.array([0.0, 1.0]), 1.0) == pytest.approx(0.5)
    assert np.isnan(interp_at(np.array([0.0, 2.0]), np.array([0.0, 1.0]), 3.0))
