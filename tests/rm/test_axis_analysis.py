"""Each RM axis's analysis on synthetic three-seed tables with planted effects: the verdicts come out right."""
import json
import math

import numpy as np
import pandas as pd
import pytest

from rlhf_nb.axes import best_of_n, orm_vs_prm, rm_data, rm_size
from rlhf_nb.scoring.best_of_n import kl_bound

SEEDS = (0, 1, 2)
NS = (1, 2, 4, 8, 16, 32, 64)


def _rows(seed, n_values=NS, **fields):
    return [{"seed": seed, "n": n, "kl_bound": kl_bound(n), "d": math.sqrt(kl_bound(n)), **fields} for n in n_values]


def _noise(seed, scale=0.003):
    return np.random.default_rng(seed).normal(0, scale)


def test_rm_data_verdicts(tmp_path):
    rows = []
    for s in SEEDS:
        def acc(x, base, slope):
            return base + slope * math.log2(x) + _noise(hash((s, x, base)) % 1000)
        for split, drop in (("heldout", 0.0), ("ood", 0.05)):
            for p, r in ((64, 2), (32, 4), (16, 8)):
                a = acc(p / 16, 0.75 - drop, 0.04)
                rows += [dict(r_, arm="diversity", point=f"{p}x{r}", n_prompts=p, responses_per_prompt=r,
                              comparisons=64, epochs=1, split=split, pairwise_acc=a, gold=a - 0.1, gold_gain=a - 0.5)
                         for r_ in _rows(s)]
            for c in (16, 64, 256):
                a = 0.5 + 0.06 * math.log2(c / 16) + _noise(s + c)
                rows += [dict(r_, arm="volume", point=str(c), n_prompts=c // 2, responses_per_prompt=4,
                              comparisons=c, epochs=1, split=split, pairwise_acc=a, gold=a - 0.1, gold_gain=a - 0.5)
                         for r_ in _rows(s)]
            for label, a in (("4 epochs over D", 0.70 + _noise(s + 7)), ("1 epoch over D", 0.70 + _noise(s + 8)),
                             ("1 epoch over 4D", 0.85 + _noise(s + 9))):
                rows += [dict(r_, arm="epochs", point=label, n_prompts=8, responses_per_prompt=4, comparisons=16,
                              epochs=1, split=split, pairwise_acc=a, gold=a, gold_gain=0.0) for r_ in _rows(s)]
    h2, g5 = rm_data.analyze(pd.DataFrame(rows), tmp_path, headline_n=16)
    assert (h2.id, h2.verdict, g5.id, g5.verdict) == ("H2", "shown", "G5", "shown")
    assert h2.effect == pytest.approx(0.08, abs=0.02) and h2.n_seeds == 3 and h2.ci[0] < h2.effect < h2.ci[1]
    assert (tmp_path / "figures" / "rm_data" / "rm_data.png").exists() and h2.figure == "figures/rm_data/rm_data.png"
    json.dumps(h2.numbers), json.dumps(g5.numbers)  # findings must be writable as JSON


def test_orm_vs_prm_verdicts(tmp_path):
    rows = []
    for s in SEEDS:
        for c in (64, 256, 1024):
            # PRM: better in distribution, less so out of it, and rising faster with data
            for sup, id_, ood, slope in (("orm", 0.70, 0.50, 0.02), ("prm", 0.76, 0.52, 0.05),
                                         ("multitask", 0.7, 0.5, 0.02)):
                for split, base in (("heldout", id_), ("ood", ood)):
                    g = base + slope * math.log2(c / 64) + _noise(s * 100 + c)
                    rows += [dict(r_, supervision=sup, comparisons=c, split=split, gold=g, gold_gain=g - 0.3,
                                  oracle=0.99, pairwise_acc=g + 0.1) for r_ in _rows(s)]
    (h7,) = orm_vs_prm.analyze(pd.DataFrame(rows), tmp_path, headline_n=16)
    assert (h7.id, h7.verdict) == ("H7", "shown") and h7.effect > 0


def _bon_table(alpha, beta, proxy_slope=1.0):
    rows = []
    for s in SEEDS:
        for size, params in (("xs", 1e5), ("s", 3e5), ("m", 9e5)):
            for split in ("heldout", "ood"):
                for r_ in _rows(s):
                    d = r_["d"]
                    gain = alpha[size] * d - beta[size] * d**2 + _noise(s * 10 + r_["n"], 0.002)
                    rows.append(dict(r_, rm_size=size, rm_params=params, split=split, gold=0.3 + gain, gold_gain=gain,
                                     proxy=proxy_slope * d, proxy_gain=proxy_slope * d, oracle=0.99, pairwise_acc=0.9))
    return pd.DataFrame(rows)


def test_best_of_n_verdicts(tmp_path):
    # alpha rises and beta falls with size; the smallest RM peaks at d = 0.5 (n about 4) and falls after
    table = _bon_table(alpha={"xs": 0.4, "s": 0.5, "m": 0.6}, beta={"xs": 0.4, "s": 0.2, "m": 0.1})
    g1, g3 = best_of_n.analyze(table, tmp_path, n_boot=100)
    assert (g1.id, g1.verdict, g3.id, g3.verdict) == ("G1", "shown", "G3", "shown")
    assert g3.effect == pytest.approx(0.2, abs=0.02)
    assert g1.numbers["weak_peak_n"] < 64 and g1.numbers["proxy_monotone"]
    # a weak RM whose gold only rises does not show the peak-and-fall part of G1
    rising = _bon_table(alpha={"xs": 0.4, "s": 0.5, "m": 0.6}, beta={"xs": 0.0, "s": 0.0, "m": 0.0})
    assert best_of_n.analyze(rising, tmp_path, n_boot=100)[0].verdict == "not shown"


def test_rm_size_verdict(tmp_path):
    table = _bon_table(alpha={"xs": 0.2, "s": 0.4, "m": 0.6}, beta={"xs": 0.05, "s": 0.05, "m": 0.05})
    (h3,) = rm_size.analyze(table, tmp_path, headline_n=16)
    assert (h3.id, h3.verdict) == ("H3-bon", "shown") and h3.effect > 0


def test_one_seed_gives_inconclusive_not_an_error(tmp_path):
    table = _bon_table(alpha={"xs": 0.2, "s": 0.4, "m": 0.6}, beta={"xs": 0.05, "s": 0.05, "m": 0.05})
    one = table[table.seed == 0]
    (h3,) = rm_size.analyze(one, tmp_path)
    assert h3.verdict == "inconclusive" and h3.n_seeds == 1 and all(math.isnan(x) for x in h3.ci)
    assert all(f.verdict in ("shown", "not shown", "inconclusive") for f in best_of_n.analyze(one, tmp_path, n_boot=0))


def test_two_seeds_give_numbers_but_no_verdict(tmp_path):
    """The study's rule holds on the RM axes too: a planted effect over 2 seeds has an interval, not a verdict."""
    table = _bon_table(alpha={"xs": 0.4, "s": 0.5, "m": 0.6}, beta={"xs": 0.4, "s": 0.2, "m": 0.1})
    two = table[table.seed < 2]
    (h3,) = rm_size.analyze(two, tmp_path, headline_n=16)
    assert h3.n_seeds == 2 and all(math.isfinite(x) for x in h3.ci) and h3.effect > 0
    assert h3.verdict == "inconclusive"
    g1, g3 = best_of_n.analyze(two, tmp_path, n_boot=50)
    assert g3.n_seeds == 2 and g3.verdict == "inconclusive"


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
