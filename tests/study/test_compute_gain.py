"""Gold gain per FLOP on each lever, from axis tables shaped as the axes write them (FLOPs on one row per run)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from rlhf_nb.study.compute_gain import (
    compute_gain_figure,
    gain_table,
    lever_points,
    per_seed_gains,
    sft_stage,
    t_interval,
)

SLOPES = {0: 0.04, 1: 0.05, 2: 0.075}  # gold per decade of FLOPs, per seed
VOLUME_FLOPS = {128: 1e10, 512: 1e11, 2048: 1e12}


def _rm_data() -> pd.DataFrame:
    rows = []
    for seed, slope in SLOPES.items():
        for comparisons, flops in VOLUME_FLOPS.items():
            run = f"reward-{seed}-{comparisons}"
            for split in ("heldout", "ood"):
                for n in (1, 16):
                    gold = 0.4 + seed * 0.01 + slope * math.log10(flops / 1e10) + (0.3 if split == "ood" else 0)
                    rows.append({"seed": seed, "arm": "volume", "point": str(comparisons), "comparisons": comparisons,
                                 "split": split, "n": n, "gold": gold if n == 16 else 0.1, "reward_run": run,
                                 "rm_flops": flops})
        rows.append({"seed": seed, "arm": "diversity", "point": "64x8", "comparisons": 512, "split": "heldout", "n": 16,
                     "gold": 0.99, "reward_run": f"reward-{seed}-div", "rm_flops": 5e10})
    table = pd.DataFrame(rows)
    table.loc[table.duplicated("reward_run"), "rm_flops"] = np.nan  # the axes keep a run's FLOPs on one row
    return table


def _policy_tables() -> dict[str, pd.DataFrame]:
    spp, policy, length = [], [], []
    for seed in SLOPES:
        for k, s in enumerate((2, 4, 8)):
            for series in ("fixed_prompts", "equal_total"):
                spp.append({"seed": seed, "series": series, "samples_per_prompt": s, "final": True, "kl_coef": 0.0,
                            "policy": "s", "rl_compute_to_step": 1e11 * s if series == "fixed_prompts" else 2e11,
                            "rl_heldout_sampled_acc": 0.5 + 0.1 * k if series == "fixed_prompts" else 0.9,
                            "sft_heldout_sampled_acc": 0.42, "sft_flops": 2e12 if (k, series) == (0, "fixed_prompts")
                            else np.nan})
        for p, sft, gold, sft_gold in (("xs", 1e12, 0.3, 0.3), ("s", np.nan, 0.5, 0.42), ("m", 1e13, 0.6, 0.5)):
            for kl in (0.0, 0.2):
                policy.append({"seed": seed, "policy": p, "kl_coef": kl, "final": True, "rl_compute_to_step": 1e11,
                               "rl_heldout_sampled_acc": gold + (0.1 if kl == 0.2 else -0.2), "sft_flops": sft,
                               "sft_heldout_sampled_acc": sft_gold})
        for kl in (0.0, 0.2):
            for step in (0, 10, 100):
                length.append({"seed": seed, "series": "rl", "kl_coef": kl, "step": step, "final": step == 100,
                               "rl_compute_to_step": 1e9 * step, "gold": 0.4 + (0.02 * math.log10(step) if step else 0)
                               + (0.1 if kl == 0.0 and step else 0), "policy": "s", "sft_heldout_sampled_acc": 0.42})
    return {"samples_per_prompt": pd.DataFrame(spp), "policy_size": pd.DataFrame(policy),
            "rl_length_kl": pd.DataFrame(length)}


@pytest.fixture()
def results(tmp_path):
    (tmp_path / "tables").mkdir()
    _rm_data().to_csv(tmp_path / "tables" / "rm_data.csv", index=False)
    for name, table in _policy_tables().items():
        table.to_csv(tmp_path / "tables" / f"{name}.csv", index=False)
    return tmp_path


def test_points_read_each_lever_where_its_axis_measures_it(results):
    points = lever_points(results)
    data = points[points.lever == "more RM data"]
    assert len(data) == 9 and set(data.flops) == set(VOLUME_FLOPS.values())  # volume arm only, held-out, n = 16
    assert data.gold.max() < 0.6  # not the ood split (0.3 higher) nor the diversity arm (0.99)
    spp = points[points.lever == "more samples per prompt"]
    assert len(spp) == 9 and spp.gold.max() < 0.9  # the fixed-prompts series only
    pol = points[points.lever == "a bigger policy"].set_index(["seed", "point"])
    # SFT of that policy + its RL; the s policy's SFT is recorded by another axis's table
    assert pol.loc[(0, "policy s"), "flops"] == pytest.approx(2e12 + 1e11)
    assert pol.loc[(0, "policy m"), "gold"] == pytest.approx(0.7)  # the KL-penalised run (largest kl_coef)
    rl = points[points.lever == "longer RL"]
    assert len(rl) == 6 and (rl.flops > 0).all()  # step 0 spent nothing: left out


def test_gold_per_10x_compute_is_each_seeds_slope_with_a_t_interval_over_seeds(results):
    seeds = per_seed_gains(lever_points(results))
    data = seeds[seeds.lever == "more RM data"].set_index("seed")
    for seed, slope in SLOPES.items():
        assert data.loc[seed, "per_decade"] == pytest.approx(slope)
        assert data.loc[seed, "per_flop"] == pytest.approx(2 * slope / (1e12 - 1e10))
    table = gain_table(lever_points(results))
    row = table[table.lever == "more RM data"].iloc[0]
    values = np.array(list(SLOPES.values()))
    half = stats.t.ppf(0.975, 2) * values.std(ddof=1) / math.sqrt(3)
    assert row.per_decade == pytest.approx(values.mean())
    assert (row.per_decade_lo, row.per_decade_hi) == pytest.approx((values.mean() - half, values.mean() + half))
    assert row.seeds == 3 and row.flops_lo == pytest.approx(1e10) and row.flops_hi == pytest.approx(1e12)


def test_levers_keep_their_order_and_one_seed_gives_no_interval(results):
    table = gain_table(lever_points(results))
    assert list(table.lever) == ["more RM data", "more samples per prompt", "a bigger policy", "longer RL"]
    one = gain_table(lever_points(results).query("seed == 0"))
    assert one.seeds.eq(1).all() and one.per_decade_lo.isna().all()
    mean, lo, hi = t_interval([0.1, float("nan")])
    assert mean == pytest.approx(0.1) and math.isnan(lo) and math.isnan(hi)
    for short in ([0.1, 0.2], [0.1, 0.1, 0.1]):  # as the decision protocol: 3 seeds, not all identical
        assert all(math.isnan(x) for x in t_interval(short)[1:])
    assert all(math.isfinite(x) for x in t_interval([0.1, 0.2, 0.4]))


def test_the_sft_stage_is_the_default_policys_cost_beside_the_levers(results):
    sft = sft_stage(results)
    assert sft["policy"] == "s" and sft["flops"] == pytest.approx(2e12) and sft["gold"] == pytest.approx(0.42)


def test_the_figure_fits_the_page_and_an_empty_study_draws_a_note(results, tmp_path):
    points = lever_points(results)
    fig = compute_gain_figure(points, gain_table(points), sft_stage(results))
    assert fig.get_size_inches()[0] * 100 <= 1200  # saved at 100 dpi in a 1200 px column
    empty = tmp_path / "empty"
    assert lever_points(empty).empty and gain_table(lever_points(empty)).empty and sft_stage(empty) == {}
    compute_gain_figure(lever_points(empty), gain_table(lever_points(empty)), {}).savefig(tmp_path / "e.png")
