import pandas as pd
import pytest

from rlhf_nb.axes.task_heterogeneity import h8_finding


def _table(gain_in, gain_ood):
    return pd.DataFrame({"seed": range(len(gain_in)), "gain_heldout_sampled_acc": gain_in,
                         "gain_ood_sampled_acc": gain_ood})


def test_h8_shown_when_in_distribution_gains_clearly_exceed_ood():
    f = h8_finding(_table([0.40, 0.42, 0.45], [0.10, 0.12, 0.11]), axis="method")
    assert f.verdict == "shown" and f.effect == pytest.approx(0.3133, abs=1e-3)
    assert f.ci[0] > 0 and f.n_seeds == 3


def test_h8_not_shown_when_ood_gains_more_and_inconclusive_when_noisy():
    assert h8_finding(_table([0.10, 0.11, 0.12], [0.40, 0.41, 0.43]), "method").verdict == "not shown"
    assert h8_finding(_table([0.30, 0.05, 0.20], [0.10, 0.25, 0.15]), "method").verdict == "inconclusive"


def test_h8_gives_no_verdict_under_three_seeds_like_the_other_policy_findings():
    import math

    f = h8_finding(_table([0.40, 0.42], [0.10, 0.12]), axis="method")
    assert f.verdict == "inconclusive" and f.n_seeds == 2 and math.isnan(f.ci[0])  # no interval under 3 seeds


def test_h8_needs_both_gains():
    with pytest.raises(ValueError, match="gain_ood_sampled_acc"):
        h8_finding(pd.DataFrame({"seed": [0], "gain_heldout_sampled_acc": [0.1]}), "method")
