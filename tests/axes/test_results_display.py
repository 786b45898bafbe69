"""The display helpers the notebooks use: numbers a reader scans, never a raw dict."""
from __future__ import annotations

import pandas as pd

from rlhf_nb.analysis import PartSpec
from rlhf_nb.axes.results import (
    decided_finding,
    findings_markdown,
    format_value,
    metrics_table,
    seed_summary,
)


def test_values_are_formatted_for_reading():
    assert format_value(361632) == "361,632" and format_value(2611546546752.0) == "2.61e12"
    assert format_value(0.7537942664418212) == "0.754" and format_value(float("nan")) == "n/a"
    assert format_value(30.0) == "30" and format_value(0.00012) == "1.20e-04"
    assert format_value(list(range(10))) == "0, 1, 2, 3, 4, 5, 6, 7, ... (10 in all)"


def test_metrics_become_a_narrow_table_by_stage():
    table = metrics_table({"sft/flops": 2.6e12, "rm/heldout/pairwise_acc": 0.75379, "rl/sampler": "fast"})
    assert list(table.columns) == ["value"] and table.loc[("rm", "heldout/pairwise_acc"), "value"] == "0.754"
    assert "{" not in table.to_string()


def test_seed_summary_is_mean_and_sd_over_seeds_for_each_arm():
    t = pd.DataFrame({"seed": [0, 1, 0, 1], "arm": ["a", "a", "b", "b"], "const": [1, 1, 1, 1],
                      "gold": [0.4, 0.6, 0.1, 0.1]})
    out = seed_summary(t, ["arm", "const"], ["gold", "missing"])
    assert list(out.index) == ["a", "b"]  # a constant column is not a grouping worth a column
    assert out.loc["a", "gold"] == "0.500 ± 0.141" and out.loc["b", "gold"] == "0.100 ± 0.000"
    assert out.loc["a", "seeds"] == 2


def test_findings_read_verdict_first_with_every_part_and_no_raw_dict():
    f = decided_finding("H1", [PartSpec([0.10, 0.12, 0.09, 0.11], "greater", 0.02, name="first doubling"),
                               PartSpec([0.3, -0.2, 0.1], "less", 0.01, name="last - first/3")],
                        numbers={"sft_baseline": 0.41666, "per_seed": [{"seed": 0, "gain": 0.1}], "sizes": [2, 4, 8]})
    text = findings_markdown([f])
    assert text.startswith("### H1 · INCONCLUSIVE: samples per prompt saturate")
    assert "1. first doubling (greater, δ 0.02): 0.105 [" in text and "**shown**" in text and "**inconclusive**" in text
    assert "sft baseline 0.417" in text and "sizes 2, 4, 8" in text
    assert "{" not in text and "per seed" not in text  # lists of records stay in the finding's file
