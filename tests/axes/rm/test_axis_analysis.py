"""Each RM axis's analysis on synthetic tables with planted effects: every finding decided by the protocol of
docs/findings.md (per-seed values, t intervals, decided_finding), every part recorded."""
import json
import math
import zlib

import numpy as np
import pandas as pd
import pytest

from rlhf_nb.axes import best_of_n, orm_vs_prm, rm_data, rm_size
from rlhf_nb.scoring.best_of_n import kl_bound

SEEDS = (0, 1, 2)
NS = (1, 2, 4, 8, 16, 32, 64)


def _rows(seed, n_values=NS, **fields):
    return [{"seed": seed, "n": n, "kl_bound": kl_bound(n), "d": math.sqrt(kl_bound(n)), **fields} for n in n_values]


def _noise(key, scale=0.003):
    """A fixed normal draw per key (any hashable of ints and strings)."""
    return np.random.default_rng(zlib.crc32(repr(key).encode())).normal(0, scale)


def _parts(finding):
    return {p["name"]: p for p in finding.parts}


def _rm_data_table(seeds=SEEDS, div_slope=0.04, vol_slope=0.06, tiny_acc=0.52, k_epochs=0.70, one_epoch=0.70,
                   one_epoch_kd=0.85, noise=0.003):
    rows = []
    for s in seeds:
        for split, drop in (("heldout", 0.0), ("ood", 0.05)):
            for p, r in ((64, 2), (32, 4), (16, 8)):
                a = 0.75 - drop + div_slope * math.log2(p / 16) + _noise((s, p, 1), noise)
                rows += [dict(r_, arm="diversity", point=f"{p}x{r}", n_prompts=p, responses_per_prompt=r,
                              comparisons=128, epochs=1, rm_steps=4, split=split, pairwise_acc=a, gold=a - 0.1,
                              gold_gain=a - 0.5) for r_ in _rows(s)]
            for c in (128, 512, 2048):
                a = tiny_acc - drop + vol_slope * math.log2(c / 128) + _noise((s, c, 2), noise)
                rows += [dict(r_, arm="volume", point=str(c), n_prompts=c // 2, responses_per_prompt=4,
                              comparisons=c, epochs=1, rm_steps=math.ceil(c / 32), split=split, pairwise_acc=a,
                              gold=a - 0.1, gold_gain=a - 0.5) for r_ in _rows(s)]
            for label, a, c, e in (("4 epochs over D", k_epochs, 128, 4), ("1 epoch over D", one_epoch, 128, 1),
                                   ("1 epoch over 4D", one_epoch_kd, 512, 1)):
                a = a - drop + _noise((s, c, e, 3), noise)
                rows += [dict(r_, arm="epochs", point=label, n_prompts=c // 2, responses_per_prompt=4, comparisons=c,
                              epochs=e, rm_steps=e * c // 32, split=split, pairwise_acc=a, gold=a, gold_gain=0.0)
                         for r_ in _rows(s)]
    return pd.DataFrame(rows)


def test_rm_data_verdicts_and_parts(tmp_path):
    h2, g5 = rm_data.analyze(_rm_data_table(), tmp_path, headline_n=16)
    assert (h2.id, h2.verdict, g5.id, g5.verdict) == ("H2", "shown", "G5", "shown")
    # H2 (1): slope on log2 prompts x log2 span = the planted difference between the ends
    assert h2.effect == pytest.approx(0.08, abs=0.01) and h2.n_seeds == 3 and h2.ci[0] < h2.effect < h2.ci[1]
    assert [p["claim"] for p in h2.parts] == ["greater", "greater"] and all(p["delta"] == 0.02 for p in h2.parts)
    assert h2.parts[1]["estimate"] == pytest.approx(0.06 * 4, abs=0.01) and len(h2.parts[1]["values"]) == 3
    # G5: part 1 reads the smallest volume with 4 optimizer steps (128 comparisons here)
    assert g5.numbers["smallest_trained_volume"] == 128
    assert [(p["claim"], p["delta"]) for p in g5.parts] == [("equivalent", 0.05), ("equivalent", 0.02),
                                                            ("greater", 0.02)]
    assert g5.parts[0]["estimate"] == pytest.approx(0.02, abs=0.01)
    assert g5.parts[2]["estimate"] == pytest.approx(0.15, abs=0.01)
    assert (tmp_path / "figures" / "rm_data" / "rm_data.png").exists() and h2.figure == "figures/rm_data/rm_data.png"
    json.dumps(h2.numbers), json.dumps(g5.numbers), json.dumps(h2.parts)  # findings must be writable as JSON


def test_rm_data_smallest_volume_needs_a_few_optimizer_steps(tmp_path):
    table = _rm_data_table()
    table.loc[table.arm == "volume", "rm_steps"] = 1  # no volume trained for 4 steps
    _, g5 = rm_data.analyze(table, tmp_path)
    assert g5.numbers["smallest_trained_volume"] is None and g5.parts[0]["n"] == 0
    assert g5.verdict == "inconclusive" and "no volume reached 4" in g5.note
    # a table without rm_steps: the steps follow from the reward stage's 32 comparisons per step
    _, g5 = rm_data.analyze(_rm_data_table().drop(columns="rm_steps"), tmp_path)
    assert g5.numbers["smallest_trained_volume"] == 128


def test_rm_data_zero_effects_are_not_shown(tmp_path):
    h2, g5 = rm_data.analyze(_rm_data_table(div_slope=0.0, vol_slope=0.0, one_epoch_kd=0.70, noise=0.002), tmp_path)
    assert h2.verdict == "not shown" and g5.verdict == "not shown"
    assert g5.parts[2]["verdict"] == "not shown" and g5.parts[1]["verdict"] == "shown"  # k epochs ≈ 1 epoch


def _orm_table(seeds=SEEDS, prm_id=0.76, prm_ood=0.52, prm_slope=0.05, noise=0.003):
    rows = []
    for s in seeds:
        for c in (64, 256, 1024):
            for sup, id_, ood, slope in (("orm", 0.70, 0.50, 0.02), ("prm", prm_id, prm_ood, prm_slope),
                                         ("multitask", 0.7, 0.5, 0.02)):
                for split, base in (("heldout", id_), ("ood", ood)):
                    g = base + slope * math.log2(c / 64) + _noise((s, c, sup, split), noise)
                    rows += [dict(r_, supervision=sup, comparisons=c, split=split, gold=g, gold_gain=g - 0.3,
                                  oracle=0.99, pairwise_acc=g + 0.1) for r_ in _rows(s)]
    return pd.DataFrame(rows)


def test_orm_vs_prm_verdicts(tmp_path):
    (h7,) = orm_vs_prm.analyze(_orm_table(), tmp_path, headline_n=16)
    assert (h7.id, h7.verdict) == ("H7", "shown") and h7.effect > 0 and h7.numbers["part_2_counted"]
    assert [(p["claim"], p["delta"]) for p in h7.parts] == [("noninferior", 0.02), ("greater", 0.02),
                                                            ("greater", 0.02)]
    assert h7.parts[2]["estimate"] == pytest.approx(0.03 * 4, abs=0.01)  # gain difference over 4 doublings
    json.dumps(h7.numbers)


def test_orm_vs_prm_part_two_only_counts_when_part_one_is_shown(tmp_path):
    # PRM clearly worse in distribution: part 1 not shown, part 2 reported only, the finding not shown
    (h7,) = orm_vs_prm.analyze(_orm_table(prm_id=0.60), tmp_path)
    assert not h7.numbers["part_2_counted"] and len(h7.parts) == 2 and h7.verdict == "not shown"
    assert any("not tested" in k for k in h7.numbers) and "not tested" in h7.note


def _bon_table(alpha, beta, seeds=SEEDS, proxy_slope=1.0, noise=0.002, kl_share=0.8):
    rows = []
    for s in seeds:
        for size, params in (("xs", 1e5), ("s", 3e5), ("m", 9e5)):
            if size not in alpha:
                continue
            for split in ("heldout", "ood"):
                for r_ in _rows(s):
                    kl = kl_share * r_["kl_bound"]
                    d = math.sqrt(kl)

                    g_wr, g_even, g_odd = (alpha[size] * d - beta[size] * d**2
                                           + _noise((s, size, split, r_["n"], key), noise) for key in range(3))
                    rows.append(dict(r_, rm_size=size, rm_params=params, split=split, kl_exact=kl, d_exact=d,
                                     gold=0.3 + (g_even + g_odd) / 2, gold_gain=(g_even + g_odd) / 2,
                                     gold_wr=0.3 + g_wr, gold_wr_gain=g_wr, gold_even=0.3 + g_even,
                                     gold_odd=0.3 + g_odd, proxy=proxy_slope * d, proxy_gain=proxy_slope * d,
                                     oracle=0.99, pairwise_acc=0.8 + 0.05 * math.log10(params / 1e5)))
    return pd.DataFrame(rows)


def test_best_of_n_verdicts(tmp_path):
    # alpha rises and beta falls with size; the smallest RM peaks at d = 0.5 and falls after it
    table = _bon_table(alpha={"xs": 0.4, "s": 0.5, "m": 0.6}, beta={"xs": 0.4, "s": 0.2, "m": 0.1})
    g1, g3 = best_of_n.analyze(table, tmp_path)
    assert (g1.id, g1.verdict, g3.id, g3.verdict) == ("G1", "shown", "G3", "shown")
    beta, drop, proxy = g1.parts
    assert beta["estimate"] == pytest.approx(0.4, abs=0.01) and (beta["claim"], beta["delta"]) == ("greater", 0.0)
    assert drop["estimate"] > 0.3 and drop["delta"] == 0.02
    assert proxy["exact_by_construction"] and proxy["verdict"] == "inconclusive"  # reported, never evidence
    assert "exact by construction" in proxy["note"]
    assert g1.effect == pytest.approx(0.4, abs=0.01)  # the headline is the first counted part, β
    # G3: slope per decade of log10 params; δ is 10 % of the mean fitted value
    decade = np.log10([1e5, 3e5, 9e5])
    want_alpha = np.polyfit(decade, [0.4, 0.5, 0.6], 1)[0]
    assert g3.effect == pytest.approx(want_alpha, abs=0.01)
    assert g3.numbers["delta_alpha_per_decade"] == pytest.approx(0.05, abs=0.002)
    assert g3.numbers["delta_beta_per_decade"] == pytest.approx(0.1 * 0.7 / 3, abs=0.002)
    assert [p["claim"] for p in g3.parts] == ["greater", "less"]
    assert set(g3.numbers["pairwise_acc_by_size"]) == {"xs", "s", "m"}
    json.dumps(g1.numbers), json.dumps(g3.numbers)


def test_best_of_n_a_flat_weak_rm_does_not_show_g1(tmp_path):
    flat = _bon_table(alpha={"xs": 0.0, "s": 0.5, "m": 0.6}, beta={"xs": 0.0, "s": 0.0, "m": 0.0})
    g1, g3 = best_of_n.analyze(flat, tmp_path)
    assert g1.verdict == "not shown" and g1.parts[1]["verdict"] == "not shown"  # no fall from a peak
    # beta is about 0 at every size, so its δ (10 % of the mean beta) is about 0 too: no verdict either way
    assert g3.numbers["delta_beta_per_decade"] < 1e-3 and g3.parts[1]["verdict"] == "inconclusive"


def test_best_of_n_a_rising_weak_rm_gives_identical_drops_and_no_verdict(tmp_path):
    # gold peaks at the largest n on both halves of every seed: the drop is exactly 0 on every seed, and identical
    # per-seed values give no interval (findings.md); the finding is not shown only if another part says so
    rising = _bon_table(alpha={"xs": 0.4, "s": 0.5, "m": 0.6}, beta={"xs": 0.0, "s": 0.0, "m": 0.0})
    g1, _ = best_of_n.analyze(rising, tmp_path)
    assert g1.parts[1]["values"] == [0.0, 0.0, 0.0] and "identical values" in g1.parts[1]["note"]
    assert g1.verdict == "inconclusive"


def test_best_of_n_fits_the_exact_kl_not_the_bound(tmp_path):
    # gold planted against the exact KL (half the bound): the per-seed fit recovers beta only on that x
    table = _bon_table(alpha={"xs": 0.4, "s": 0.5, "m": 0.6}, beta={"xs": 0.4, "s": 0.2, "m": 0.1}, kl_share=0.5)
    g1, _ = best_of_n.analyze(table, tmp_path)
    assert g1.parts[0]["estimate"] == pytest.approx(0.4, abs=0.01)
    assert g1.numbers["kl_exact_and_bound_by_n"]["xs"][16]["kl_exact"] == pytest.approx(0.5 * kl_bound(16))


def test_g3_needs_three_sizes(tmp_path):
    two = _bon_table(alpha={"xs": 0.4, "m": 0.6}, beta={"xs": 0.4, "m": 0.1})
    _, g3 = best_of_n.analyze(two, tmp_path)
    assert g3.verdict == "inconclusive" and all(p["verdict"] == "inconclusive" for p in g3.parts)
    assert "needs at least 3" in g3.note and all(p["n"] == 0 for p in g3.parts)  # no seed has a slope


def test_best_of_n_without_exact_kl_columns_is_inconclusive_not_an_error(tmp_path):
    table = _bon_table(alpha={"xs": 0.4, "s": 0.5, "m": 0.6}, beta={"xs": 0.4, "s": 0.2, "m": 0.1})
    old = table.drop(columns=["kl_exact", "d_exact", "gold_wr", "gold_wr_gain", "gold_even", "gold_odd"])
    g1, g3 = best_of_n.analyze(old, tmp_path)
    assert g1.verdict == g3.verdict == "inconclusive" and g1.parts[0]["n"] == 0


def test_rm_size_verdict(tmp_path):
    table = _bon_table(alpha={"xs": 0.2, "s": 0.4, "m": 0.6}, beta={"xs": 0.05, "s": 0.05, "m": 0.05})
    (h3,) = rm_size.analyze(table, tmp_path, headline_n=16)
    assert (h3.id, h3.verdict) == ("H3-bon", "shown") and h3.effect > 0
    assert len(h3.parts) == 1 and (h3.parts[0]["claim"], h3.parts[0]["delta"]) == ("greater", 0.02)
    flat = _bon_table(alpha={"xs": 0.4, "s": 0.4, "m": 0.4}, beta={"xs": 0.05, "s": 0.05, "m": 0.05})
    assert rm_size.analyze(flat, tmp_path, headline_n=16)[0].verdict == "not shown"


def test_one_seed_gives_inconclusive_not_an_error(tmp_path):
    table = _bon_table(alpha={"xs": 0.2, "s": 0.4, "m": 0.6}, beta={"xs": 0.05, "s": 0.05, "m": 0.05})
    one = table[table.seed == 0]
    (h3,) = rm_size.analyze(one, tmp_path)
    assert h3.verdict == "inconclusive" and h3.n_seeds == 1 and all(math.isnan(x) for x in h3.ci)
    assert all(f.verdict == "inconclusive" and f.n_seeds == 1 for f in best_of_n.analyze(one, tmp_path))
    assert all(f.verdict == "inconclusive" for f in rm_data.analyze(_rm_data_table(seeds=(0,)), tmp_path))
    assert orm_vs_prm.analyze(_orm_table(seeds=(0,)), tmp_path)[0].verdict == "inconclusive"


def test_two_seeds_give_numbers_but_no_verdict(tmp_path):
    """The study's rule holds on the RM axes too: a planted effect over 2 seeds has an estimate, not a verdict."""
    table = _bon_table(alpha={"xs": 0.4, "s": 0.5, "m": 0.6}, beta={"xs": 0.4, "s": 0.2, "m": 0.1})
    two = table[table.seed < 2]
    (h3,) = rm_size.analyze(two, tmp_path, headline_n=16)
    assert h3.n_seeds == 2 and h3.effect > 0 and h3.verdict == "inconclusive"
    g1, g3 = best_of_n.analyze(two, tmp_path)
    assert g3.n_seeds == 2 and g3.verdict == "inconclusive" and g1.verdict == "inconclusive"


def test_count_once_counts_each_run_and_each_sample_stream_once():
    from rlhf_nb.axes.rm_family import count_once

    rows = []
    for rm, init, sampling in (("rm-a", "sft-s", 10.0), ("rm-b", "sft-m", 30.0), ("rm-c", "sft-s", 20.0)):
        for n in (1, 4):  # an RM's numbers repeat on every n
            rows.append({"reward_run": rm, "rm_flops": 1.0, "sft_run": "sft-s", "sft_flops": 100.0,
                         "init_sft_run": init, "init_sft_flops": {"sft-s": 100.0, "sft-m": 300.0}[init],
                         "sampling_stream": "sft-s/4/0", "sampling_flops": sampling, "n": n})
    table = count_once(pd.DataFrame(rows))
    assert table["rm_flops"].sum() == 3.0  # three RMs
    assert table["sft_flops"].sum() + table["init_sft_flops"].sum() == 400.0  # sft-s once, though in two columns
    assert table["sampling_flops"].sum() == 30.0  # one stream: the cost of its longest prefix
