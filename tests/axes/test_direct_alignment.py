"""D1, D2 (direct alignment) and S1 (compute curves) decided from synthetic tables whose truth is known."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rlhf_nb.analysis.forms import SCALERL_FORM
from rlhf_nb.axes import compute_curves, direct_alignment
from rlhf_nb.axes.findings import BEYOND, BEYOND_SCORED, FINDINGS, SCORED

SEEDS = (0, 1, 2)
STEPS = np.arange(0, 101, 10)


def _curve(seed, steps, d_end, alpha, beta, noise, rng, start=0.4):
    d = d_end * steps / steps.max()
    gain = alpha * d - beta * np.where(d > 0, d * np.log(np.maximum(d, 1e-12)), 0.0)
    even = start + gain + rng.normal(0, noise, len(d))
    odd = start + gain + rng.normal(0, noise, len(d))
    even[0] = odd[0] = start
    return d, even, odd


def dpo_table(alpha=0.35, beta_gao=0.25, rl_offset=0.0, noise=0.004, seed=0):
    rng = np.random.default_rng(seed)
    frames = []
    for s in SEEDS:
        for b, d_end in ((0.03, 4.0), (0.1, 3.0), (0.3, 1.5)):
            d, even, odd = _curve(s, STEPS, d_end, alpha, beta_gao, noise, rng)
            gold = (even + odd) / 2
            f = pd.DataFrame({"series": "dpo", "seed": s, "beta": b, "step": STEPS, "sqrt_kl": d, "kl": d**2,
                              "gold": gold, "gold_gain": gold - gold[0], "gold_even": even, "gold_odd": odd,
                              "implicit_margin": np.linspace(0, 2, len(d)), "comparisons": 150,
                              "final": STEPS == STEPS.max()})
            f["dpo_heldout_sampled_acc"] = np.where(f["final"], gold[-1], np.nan)
            frames.append(f)
        d, even, odd = _curve(s, STEPS[:7], 2.0, alpha, beta_gao, noise, rng)
        gold = (even + odd) / 2 + rl_offset * (STEPS[:7] > 0)
        f = pd.DataFrame({"series": "rl", "seed": s, "algorithm": "grpo", "kl_coef": 0.2, "step": STEPS[:7],
                          "sqrt_kl": d, "kl": d**2, "gold": gold, "gold_gain": gold - gold[0],
                          "final": STEPS[:7] == 60})
        f["rl_heldout_sampled_acc"] = np.where(f["final"], gold[-1], np.nan)
        f["sft_heldout_sampled_acc"] = np.where(f["final"], 0.4, np.nan)
        frames.append(f)
    return pd.concat(frames, ignore_index=True)


def test_the_findings_beyond_the_papers_are_registered_but_never_among_the_sixteen():
    assert BEYOND_SCORED == ("D1", "D2", "S1")
    assert all(FINDINGS[f].source == BEYOND and f not in SCORED for f in BEYOND_SCORED)
    assert len(SCORED) == 16


def test_a_rise_then_fall_along_dpo_and_equal_curves_give_d1_and_d2(tmp_path):
    d1, d2 = direct_alignment.analyze(dpo_table(), tmp_path)
    assert d1.id == "D1" and d1.verdict == "shown", d1.note
    assert d1.parts[0]["estimate"] == pytest.approx(0.25, abs=0.02)  # the Gao β put in
    assert d2.verdict == "shown", d2.note  # RL and DPO on one curve: equivalent within 0.03
    assert d2.numbers["beta"] == 0.1 and set(d2.numbers["by_beta"]) == {"beta=0.03", "beta=0.1", "beta=0.3"}
    assert (tmp_path / d1.figure).exists()


def test_rl_well_above_dpo_is_not_equivalent(tmp_path):
    _, d2 = direct_alignment.analyze(dpo_table(rl_offset=0.1), tmp_path)
    assert d2.verdict == "not shown" and d2.parts[0]["estimate"] == pytest.approx(0.1, abs=0.01)


def test_a_curve_that_only_rises_does_not_show_d1(tmp_path):
    d1, _ = direct_alignment.analyze(dpo_table(alpha=0.1, beta_gao=-0.05), tmp_path)
    assert d1.verdict == "not shown"


def test_median_beta_is_fixed_by_the_grid():
    assert direct_alignment.median_beta([0.3, 0.03, 0.1]) == 0.1
    assert direct_alignment.median_beta([0.1, 0.5, 0.3, 0.03]) == 0.1
    with pytest.raises(ValueError):
        direct_alignment.median_beta([])


def test_a_bad_beta_grid_is_refused_before_training(tmp_path):
    with pytest.raises(ValueError, match="betas"):
        direct_alignment.run_seed(0, tmp_path, betas=[0.1, 0.0])


# --- S1 ---------------------------------------------------------------------------------

FLOPS = {"ppo": 4e13, "grpo": 2e13, "rloo": 2.5e13}


def method_table(bs=None, asymptotes=None, noise=0.002):
    bs = bs or {"ppo": 3.0, "grpo": 1.5, "rloo": 1.0}
    asymptotes = asymptotes or {"ppo": 0.85, "grpo": 0.85, "rloo": 0.85}
    rng = np.random.default_rng(1)
    steps = np.arange(0, 151, 10)
    frames = []
    for s in SEEDS:
        for a in ("ppo", "grpo", "rloo"):
            c = FLOPS[a] * steps / steps.max()
            params = {"R0": 0.4, "A": asymptotes[a], "C_mid": 0.15 * FLOPS[a], "B": bs[a]}
            gold = SCALERL_FORM.predict(params, c) + rng.normal(0, noise, len(c)) * (steps > 0)
            frames.append(pd.DataFrame({"budget": "equal_samples", "algorithm": a, "seed": s, "step": steps,
                                        "rl_compute_to_step": c, "gold": gold}))
    return pd.concat(frames, ignore_index=True)


def test_s1_one_asymptote_different_efficiencies_is_shown(tmp_path):
    s1 = compute_curves.s1_finding(method_table(), tmp_path)
    assert s1.verdict == "shown", s1.note
    names = [p["name"] for p in s1.parts]
    assert names[0].startswith("A_PPO - A_GRPO") and names[2].startswith("ln B_PPO - ln B_GRPO")
    assert s1.parts[2]["estimate"] == pytest.approx(np.log(2.0), abs=0.15)
    assert s1.parts[3]["estimate"] == pytest.approx(-np.log(1.0 / 1.5), abs=0.15)  # read on the side of the estimate
    assert "(reference - other)" in names[3]
    assert s1.numbers["grpo"]["forecast"]["mean_abs_error"] < 0.03
    assert (tmp_path / s1.figure).exists()


def test_s1_with_equal_efficiencies_is_not_shown(tmp_path):
    s1 = compute_curves.s1_finding(method_table(bs={"ppo": 1.5, "grpo": 1.5, "rloo": 1.5}), tmp_path)
    assert s1.verdict == "not shown"
    assert s1.parts[2]["verdict"] == "not shown" and s1.parts[0]["verdict"] == "shown"


def test_s1_with_different_asymptotes_is_not_shown(tmp_path):
    s1 = compute_curves.s1_finding(method_table(asymptotes={"ppo": 0.7, "grpo": 0.85, "rloo": 0.85}), tmp_path)
    assert s1.verdict == "not shown" and s1.parts[0]["verdict"] == "not shown"


def test_two_sided_part_is_the_two_sided_t_test():
    from rlhf_nb.analysis.decision import decide

    for values in ([-0.5, -0.6, -0.55], [0.5, 0.6, 0.55], [-0.05, 0.04, 0.01], [-0.4, 0.5, 0.1]):
        part = compute_curves.two_sided_part(values, 0.25, "x")
        d = decide(part.values, part.claim, part.delta)
        raw = decide(values, "equivalent", 0.25)
        lo, hi = decide(values, "greater", 0.0).ci
        assert (d.verdict == "shown") == (lo > 0 or hi < 0)
        assert (d.verdict == "not shown") == (raw.verdict == "shown")


def test_a_run_with_too_few_points_gives_no_value_and_says_why():
    table = method_table()
    table = table[table["step"] <= 30]  # 3 tracked points after step 0: too few for A, C_mid and B
    fits = compute_curves.run_fits(table)
    assert fits["A"].isna().all() and fits["reason"].str.contains("too few").all()


def test_docstring_examples():
    import doctest

    result = doctest.testmod(direct_alignment, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0
