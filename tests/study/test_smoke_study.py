"""The smoke preset end to end, as the README's main job runs it, then resumed."""
import pandas as pd

from rlhf_nb.study.whole_study import run_study


def test_smoke_study_builds_a_report_and_a_rerun_recomputes_nothing(tmp_path):
    report, summary = run_study("smoke", tmp_path)
    assert not summary.failed, summary.failed
    assert report.exists() and "Findings scorecard" in report.read_text()
    card = pd.read_csv(report.parent / "scorecard.csv")
    assert list(card["id"][:16]) == [f"H{i}" for i in range(1, 9)] + [f"G{i}" for i in range(1, 9)]
    assert (card["verdict"] != "not tested").sum() >= 14  # every axis wrote its findings

    again_report, again = run_study("smoke", tmp_path)
    assert again.ran == [] and len(again.skipped) == len(summary.ran)
    assert again_report == report
