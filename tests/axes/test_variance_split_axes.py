"""Each finding's parts carry the measurement / training variance split, computed on half views of the axis table;
verdicts are the same with and without it."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from rlhf_nb.analysis.decision import PartSpec
from rlhf_nb.axes import best_of_n, rl_length_kl, rm_data
from rlhf_nb.axes.halves import bon_half, crossfit_fall, halves_of, rl_half
from rlhf_nb.axes.results import NO_HALVES, decided_finding

SEEDS = (0, 1, 2, 3)


# --- decided_finding ---------------------------------------------------------------------------------------------


def test_halves_add_a_split_and_leave_the_verdict_alone():
    parts = [PartSpec([0.05, 0.06, 0.08, 0.07], "greater", 0.02, "a"),
             PartSpec([0.01, -0.01, 0.02, 0.0], "equivalent", 0.05, "b"),
             PartSpec([1.0, 1.0, 1.0, 1.0], "greater", 0.0, "c", exact_by_construction=True)]
    even = [PartSpec([0.06, 0.05, 0.09, 0.07], "greater", 0.02), None, parts[2]]
    odd = [PartSpec([0.04, 0.07, 0.07, 0.07], "greater", 0.02), None, parts[2]]
    plain = decided_finding("H6", parts)
    split = decided_finding("H6", parts, halves=(even, odd), no_split=["", "no halves for b", ""])
    assert (plain.verdict, plain.effect, plain.ci) == (split.verdict, split.effect, split.ci)
    for p, q in zip(plain.parts, split.parts):
        assert {k: v for k, v in p.items() if not k.startswith("variance_split")} == \
            {k: v for k, v in q.items() if not k.startswith("variance_split")}
    vs = split.parts[0]["variance_split"]
    assert vs["n_seeds"] == 4
    assert vs["measurement_var"] == pytest.approx((0.02**2 + 0.02**2 + 0.02**2 + 0.0) / 4 / 4)
    assert vs["total_var"] == pytest.approx(float(np.var([0.05, 0.06, 0.08, 0.07], ddof=1)))
    assert "jackknife" in vs["method"]
    assert split.parts[1]["variance_split"] is None and split.parts[1]["variance_split_reason"] == "no halves for b"
    assert "exact by construction" in split.parts[2]["variance_split_reason"]
    assert plain.parts[0]["variance_split"] is None and plain.parts[0]["variance_split_reason"] == NO_HALVES


def test_misaligned_or_missing_halves():
    parts = [PartSpec([0.05, 0.06, 0.08], "greater", 0.02)]
    short = decided_finding("H6", parts, halves=([PartSpec([0.05, 0.06], "greater", 0.02)],
                                                 [PartSpec([0.05, 0.06], "greater", 0.02)]))
    assert short.parts[0]["variance_split"] is None and "do not align" in short.parts[0]["variance_split_reason"]
    nan = decided_finding("H6", parts, halves=([PartSpec([np.nan] * 3, "greater", 0.02)],
                                               [PartSpec([np.nan] * 3, "greater", 0.02)]))
    assert nan.parts[0]["variance_split"] is None and "finite" in nan.parts[0]["variance_split_reason"]
    with pytest.raises(ValueError, match="halves hold"):
        decided_finding("H6", parts, halves=([], []))


def test_halves_of_marks_unsplit_parts_and_missing_views():
    views = {"even": 1, "odd": 2}
    halves, reasons = halves_of(lambda v: [PartSpec([v], "greater", 0), PartSpec([v], "greater", 0)], views, 2,
                                {1: "uses both halves"})
    assert halves[0][0].values == [1] and halves[1][0].values == [2] and halves[0][1] is None
    assert reasons == ["", "uses both halves"]
    none, why = halves_of(lambda v: [], {"even": None, "odd": 2}, 2, {0: "own reason"}, missing="no columns")
    assert none is None and why == ["own reason", "no columns"]


# --- half views --------------------------------------------------------------------------------------------------


def test_rl_half_measures_gain_from_each_runs_first_step_on_that_half():
    rl = pd.DataFrame({"rl_run": ["a"] * 3 + ["b"] * 3, "seed": 0, "step": [0, 10, 20] * 2,
                       "gold": [0.5, 0.6, 0.7, 0.4, 0.5, 0.6], "gold_even": [0.52, 0.64, 0.7, 0.38, 0.5, 0.66],
                       "gold_odd": [0.48, 0.56, 0.7, 0.42, 0.5, 0.54], "gold_gain": 0.0, "proxy": 1.0,
                       "rl_heldout_sampled_acc": 0.9, "sqrt_kl": [0, 1, 2] * 2})
    even = rl_half(rl.iloc[::-1], "even").sort_index()  # row order does not matter
    assert even["gold"].tolist() == rl["gold_even"].tolist()
    assert even["gold_gain"].to_numpy() == pytest.approx([0, 0.12, 0.18, 0, 0.12, 0.28])
    assert even["proxy"].isna().all() and even["rl_heldout_sampled_acc"].isna().all()
    assert even["gold_even"].isna().all() and (even["sqrt_kl"] == rl["sqrt_kl"]).all()
    gap = rl.assign(gold_even=[np.nan, 0.64, 0.7, 0.38, 0.5, 0.66])  # run a has no half at its first step
    assert rl_half(gap, "even")["gold_gain"].iloc[:3].isna().all()  # no later step stands in for its baseline
    assert rl_half(rl.drop(columns=["gold_even", "gold_odd"]), "odd") is None
    with pytest.raises(ValueError, match="half"):
        rl_half(rl, "left")


def test_bon_half_gains_over_each_curves_n_one_on_that_half():
    bon = pd.DataFrame({"seed": 0, "split": "heldout", "rm_size": ["xs"] * 3 + ["m"] * 3, "n": [1, 4, 16] * 2,
                        "gold": 0.5, "gold_even": [0.4, 0.5, 0.45, 0.4, 0.6, 0.7],
                        "gold_odd": [0.6, 0.7, 0.6, 0.6, 0.7, 0.8], "gold_gain": 0.0,
                        "gold_wr": 0.5, "gold_wr_gain": 0.0, "pairwise_acc": 0.7, "proxy": 1.0, "kl_exact": 0.3})
    odd = bon_half(bon, "odd")
    assert odd["gold_gain"].to_numpy() == pytest.approx([0, 0.1, 0.0, 0, 0.1, 0.2])
    assert odd["gold_wr"].isna().all() and odd["gold_wr_gain"].isna().all()  # no gold_wr halves in this table
    assert odd["pairwise_acc"].isna().all() and odd["proxy"].isna().all() and (odd["kl_exact"] == 0.3).all()
    with_wr = bon.assign(gold_wr_even=[0.4, 0.55, 0.5, 0.4, 0.6, 0.75], gold_wr_odd=0.6,
                         pairwise_acc_even=0.65, pairwise_acc_odd=0.75)
    even = bon_half(with_wr, "even")
    assert even["gold_wr_gain"].to_numpy() == pytest.approx([0, 0.15, 0.1, 0, 0.2, 0.35])
    assert (even["pairwise_acc"] == 0.65).all()


# --- axes end to end ---------------------------------------------------------------------------------------------


def _rl_table(measurement_sd: float, training_sd: float, seed: int = 0) -> pd.DataFrame:
    """Two tracked runs per seed (kl_coef 0 and 0.1), gold = the mean of its two halves; each half carries
    independent prompt noise of sd ``measurement_sd`` at every step after 0, each seed a training offset."""
    rng = np.random.default_rng(seed)
    frames = []
    steps = np.arange(0, 61, 10)
    for s in SEEDS:
        offset = rng.normal(0, training_sd)
        for kl_coef, scale in ((0.0, 1.0), (0.1, 0.8)):
            kl = 0.05 * steps * scale
            true = 0.5 + np.sqrt(kl) * (0.3 - 0.25 * np.log(np.maximum(np.sqrt(kl), 1e-9))) + offset * (steps > 0)
            e = rng.normal(0, measurement_sd, size=(2, len(steps))) * (steps > 0)
            even, odd = true + e[0], true + e[1]
            gold = (even + odd) / 2
            frames.append(pd.DataFrame({
                "series": "rl", "seed": s, "kl_coef": kl_coef, "rl_run": f"{s}-{kl_coef}", "step": steps,
                "rl_steps": 60, "final": steps == 60, "gold": gold, "gold_even": even, "gold_odd": odd,
                "gold_gain": gold - gold[0], "proxy": np.log1p(steps), "kl": kl, "sqrt_kl": np.sqrt(kl)}))
    return pd.concat(frames, ignore_index=True)


def test_rl_length_kl_split_tracks_where_the_noise_is(tmp_path):
    quiet = {f.id: f for f in rl_length_kl.analyze(_rl_table(0.0, 0.03), tmp_path)}
    early = quiet["H6"].parts[0]["variance_split"]
    assert early["measurement_var"] == pytest.approx(0.0, abs=1e-15) and early["measurement_share"] == 0.0
    noisy = {f.id: f for f in rl_length_kl.analyze(_rl_table(0.05, 0.0), tmp_path)}
    h6 = noisy["H6"].parts
    # early gain = mean of the first third (steps 10, 20) - step 0: per seed its halves differ by the mean of two
    # differences of independent noises, variance 2 sd² / 2; a quarter of that is the measurement variance
    assert h6[0]["variance_split"]["measurement_var"] == pytest.approx(0.05**2 / 4, rel=0.9)
    assert h6[0]["variance_split"]["measurement_share"] > 0.3
    assert h6[2]["variance_split"] is None and "proxy" in h6[2]["variance_split_reason"]
    g2 = noisy["G2"].parts
    assert g2[0]["variance_split"] is not None
    assert g2[1]["variance_split"] is None and "quarters" in g2[1]["variance_split_reason"]
    assert noisy["G7"].parts[0]["variance_split"] is not None
    assert noisy["G6"].parts[0]["variance_split"] is None  # no best-of-n rows in this table


def _bon_table(with_halves: bool) -> pd.DataFrame:
    rows = []
    rng = np.random.default_rng(3)
    for s in SEEDS:
        for size, params, alpha in (("xs", 1e5, 0.5), ("s", 3e5, 0.6), ("m", 9e5, 0.7)):
            for split in ("heldout", "ood"):
                for n in (1, 2, 4, 8, 16, 32, 64):
                    bound = math.log(n) - (n - 1) / n
                    kl = 0.8 * bound
                    d = math.sqrt(kl)
                    g_even, g_odd = (alpha * d - 0.3 * d**2 + (rng.normal(0, 0.01) if n > 1 else 0.0)
                                     for _ in range(2))
                    row = dict(seed=s, n=n, rm_size=size, rm_params=params, split=split, kl_bound=bound,
                               d=math.sqrt(bound), kl_exact=kl, d_exact=d, gold=0.3 + (g_even + g_odd) / 2,
                               gold_gain=(g_even + g_odd) / 2, gold_wr=0.3 + (g_even + g_odd) / 2,
                               gold_wr_gain=(g_even + g_odd) / 2, gold_even=0.3 + g_even, gold_odd=0.3 + g_odd,
                               proxy=d, proxy_gain=d, oracle=0.99, pairwise_acc=0.8)
                    if with_halves:
                        row.update(gold_wr_even=0.3 + g_even, gold_wr_odd=0.3 + g_odd)
                    rows.append(row)
    return pd.DataFrame(rows)


def test_best_of_n_split_needs_gold_wr_halves(tmp_path):
    old = {f.id: f for f in best_of_n.analyze(_bon_table(False), tmp_path)}
    new = {f.id: f for f in best_of_n.analyze(_bon_table(True), tmp_path)}
    assert old["G1"].verdict == new["G1"].verdict and old["G3"].verdict == new["G3"].verdict
    assert "gold_wr" in old["G1"].parts[0]["variance_split_reason"]
    assert new["G1"].parts[0]["variance_split"]["measurement_var"] > 0
    assert new["G1"].parts[1]["variance_split"] is None  # chooses on one half, measures on the other
    assert "exact by construction" in new["G1"].parts[2]["variance_split_reason"]
    assert all(p["variance_split"] is not None for p in new["G3"].parts)


def _rm_data_table(with_halves: bool) -> pd.DataFrame:
    rng = np.random.default_rng(4)
    rows = []
    points = ([("diversity", f"{p}x{r}", p, 128, 1) for p, r in ((64, 2), (32, 4), (16, 8))]
              + [("volume", str(c), c // 2, c, 1) for c in (128, 512, 2048)]
              + [("epochs", "4 epochs over D", 64, 128, 4), ("epochs", "1 epoch over D", 64, 128, 1),
                 ("epochs", "1 epoch over 4D", 256, 512, 1)])
    for s in SEEDS:
        for arm, label, prompts, comparisons, epochs in points:
            for split in ("heldout", "ood"):
                a_even, a_odd = (0.55 + 0.03 * math.log2(comparisons / 128) + 0.01 * math.log2(prompts / 16)
                                 + rng.normal(0, 0.02) for _ in range(2))
                for n in (1, 16):
                    row = dict(seed=s, arm=arm, point=label, n_prompts=prompts, comparisons=comparisons,
                               epochs=epochs, rm_steps=epochs * comparisons // 32, split=split, n=n,
                               pairwise_acc=(a_even + a_odd) / 2, gold=0.5, gold_even=0.5, gold_odd=0.5,
                               gold_gain=0.0)
                    if with_halves:
                        row.update(pairwise_acc_even=a_even, pairwise_acc_odd=a_odd)
                    rows.append(row)
    return pd.DataFrame(rows)


def test_rm_data_split_needs_pairwise_halves(tmp_path):
    old = rm_data.analyze(_rm_data_table(False), tmp_path)
    new = rm_data.analyze(_rm_data_table(True), tmp_path)
    assert [f.verdict for f in old] == [f.verdict for f in new]
    assert all(p["variance_split"] is None and "pairwise_acc_even" in p["variance_split_reason"]
               for f in old for p in f.parts)
    assert all(p["variance_split"] is not None and p["variance_split"]["measurement_var"] > 0
               for f in new for p in f.parts)


def test_reward_model_evaluation_records_pairwise_accuracy_on_each_half():
    from rlhf_nb.pipeline.rm_runs import evaluate_on_pool, pool_pairwise_accuracy
    from rlhf_nb.stages.preference_data import ResponsePool

    rng = np.random.default_rng(5)
    prompts = [f"p{i}" for i in range(7)]
    responses = [[f"{p}-r{j}" for j in range(6)] for p in prompts]
    correct = [list(rng.random(6) < 0.5) for _ in prompts]
    table = {r: float(rng.normal()) for rs in responses for r in rs}

    class Reward:
        def score(self, prompts, completions):
            return [table[c] for c in completions]

    pool = ResponsePool(prompts, responses, correct)
    _, curve = evaluate_on_pool(Reward(), pool, [1, 2, 4])
    scores = [np.array([table[r] for r in rs]) for rs in responses]
    assert (curve.pairwise_acc_even == pool_pairwise_accuracy(scores[0::2], correct[0::2])).all()
    assert (curve.pairwise_acc_odd == pool_pairwise_accuracy(scores[1::2], correct[1::2])).all()
    assert (curve.pairwise_acc == pool_pairwise_accuracy(scores, correct)).all()
    assert {"gold_wr_even", "gold_wr_odd", "gold_even", "gold_odd"} <= set(curve.columns)


def test_a_part_function_failing_on_a_half_records_why():
    def fails(view):
        raise ValueError("no fit")
    halves, reasons = halves_of(fails, {"even": 1, "odd": 2}, 2, {1: "own"})
    assert halves is None and "no fit" in reasons[0] and reasons[1] == "own"


def test_crossfit_fall_picks_the_peak_on_one_half_and_measures_it_on_the_other():
    a, b = [0.2, 0.9, 0.5, 0.4], [0.3, 0.5, 0.8, 0.2]  # A peaks at index 1, B at index 2
    assert crossfit_fall(a, b) == pytest.approx(0.5 * ((0.5 - 0.2) + (0.5 - 0.4)))
    assert np.isnan(crossfit_fall([0.1, np.nan], [0.2, 0.3])) and np.isnan(crossfit_fall([], []))
    from rlhf_nb.axes.best_of_n import crossfit_drop
    from rlhf_nb.axes.rl_length_kl import split_half_fall

    assert crossfit_drop(np.array([8, 1, 2, 4]), [0.4, 0.2, 0.9, 0.5], [0.2, 0.3, 0.5, 0.8]) == \
        pytest.approx(crossfit_fall(a, b))  # points given out of order are ordered by n
    curve = pd.DataFrame({"step": [30, 0, 10, 20], "gold_even": [0.4, 0.2, 0.9, 0.5], "gold_odd": [0.2, 0.3, 0.5, 0.8]})
    assert split_half_fall(curve) == pytest.approx(crossfit_fall(a, b))
