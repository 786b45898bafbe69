"""The report opens with every finding's effect, shows every part, and says what chance alone would give."""
from __future__ import annotations

import pandas as pd

from rlhf_nb.analysis import PartSpec
from rlhf_nb.axes.results import decided_finding, write_finding
from rlhf_nb.study.executions import StudyPaths
from rlhf_nb.study.report import build_report
from rlhf_nb.study.scorecard import multiplicity, parts_table, redecide, scorecard


def _study(tmp_path):
    paths = StudyPaths(tmp_path / "study")
    results = paths.results
    write_finding(decided_finding("H1", [PartSpec([0.10, 0.12, 0.09, 0.11], "greater", 0.02, name="first doubling"),
                                         PartSpec([-0.04, -0.05, -0.03, -0.06], "less", 0.01, name="last - first/3")]),
                  results)
    write_finding(decided_finding("H5", [PartSpec([0.01, -0.01, 0.02], "equivalent", 0.03, name="PPO - GRPO")]),
                  results)
    write_finding(decided_finding("H8", [PartSpec([0.3, -0.2, 0.1], "greater", 0.01, name="in - out")]), results)
    return paths


def test_the_scorecard_shows_every_part_and_what_undecided_findings_need(tmp_path):
    paths = _study(tmp_path)
    card = scorecard(paths.results).set_index("id")
    assert card.loc["H1", "verdict"] == "shown" and card.loc["H1", "parts"] == 2
    assert card.loc["H8", "verdict"] == "inconclusive" and card.loc["H8", "seeds_needed"] > 3
    assert card.loc["G3", "verdict"] == "not tested"
    parts = parts_table(paths.results)
    assert list(parts[parts.id == "H1"].name) == ["first doubling", "last - first/3"]
    assert (parts.delta > 0).all()


def test_verdicts_are_re_decided_from_the_recorded_values_and_multiplicity_is_stated(tmp_path):
    paths = _study(tmp_path)
    from rlhf_nb.study.scorecard import load_findings

    for fid, record in load_findings(paths.results).items():
        assert redecide(record).verdict == record["verdict"], fid
    m = multiplicity(paths.results)
    assert m["tested"] == 3 and m["decided"] == 1  # H1; H5 and H8 are undecided at these spreads
    assert abs(m["expected_false_verdicts"] - 3 * 0.025) < 1e-12 and m["decided_holm"] <= m["decided"]


def test_the_report_opens_with_the_effects_figure_then_the_scorecard(tmp_path):
    paths = _study(tmp_path)
    page = build_report(paths.root).read_text(encoding="utf-8")
    assert (paths.report / "effects.png").exists()
    assert page.index('src="effects.png"') < page.index('id="scorecard"') < page.index("Holm")
    assert "first doubling" in page and "last - first/3" in page and "seeds at the observed spread" in page
    assert len(pd.read_csv(paths.report / "parts.csv")) == 4
