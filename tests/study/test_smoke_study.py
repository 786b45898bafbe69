"""The smoke preset end to end, as the README's main job runs it, then resumed; its report read as a reader would."""
import pandas as pd
import pytest
from report_reader import VIEWPORT, browser, layout_in_browser, reader_problems

from rlhf_nb.study.whole_study import run_study


def test_smoke_study_builds_a_report_and_a_rerun_recomputes_nothing(smoke_study):
    report, summary, folder = smoke_study
    assert not summary.failed, summary.failed
    assert report.exists() and "Findings scorecard" in report.read_text()
    card = pd.read_csv(report.parent / "scorecard.csv")
    assert list(card["id"][:16]) == [f"H{i}" for i in range(1, 9)] + [f"G{i}" for i in range(1, 9)]
    assert (card["verdict"] != "not tested").sum() >= 14  # every axis wrote its findings

    again_report, again = run_study("smoke", folder)
    assert again.ran == [] and len(again.skipped) == len(summary.ran)
    assert again_report == report


def test_the_smoke_reports_notebook_sections_read_clean(smoke_study):
    report, _, _ = smoke_study
    assert reader_problems(report) == []
    page = report.read_text(encoding="utf-8")
    assert page.index('src="effects.png"') < page.index('id="scorecard"') < page.index('id="compute"')
    assert page.count('href="#figure-') >= 9  # each axis's findings link to the figure in its section


@pytest.mark.skipif(browser() is None, reason="no headless browser (Debian: apt-get install chromium)")
def test_the_smoke_report_at_1300_px_has_nothing_wider_than_the_page(smoke_study, tmp_path):
    report, _, _ = smoke_study
    layout, _ = layout_in_browser(report, tmp_path, browser())
    assert layout["scroll_width"] <= layout["viewport"] and layout["wide"] == [], layout
    assert 0 <= layout["effects_top"] < VIEWPORT[1], layout
