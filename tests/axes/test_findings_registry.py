"""One registry of findings: ids, claims and deciding axes, read by the report and the study's pre-flight."""
from __future__ import annotations

import importlib
from dataclasses import replace
from pathlib import Path

import pytest

from rlhf_nb.axes.findings import FINDINGS, SCORED, claim, decided_by
from rlhf_nb.study.presets import get_preset
from rlhf_nb.study.whole_study import check_study_task

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def test_the_scorecard_counts_the_sixteen_findings_of_the_two_papers():
    assert SCORED == tuple(f"H{i}" for i in range(1, 9)) + tuple(f"G{i}" for i in range(1, 9))
    assert "H3-bon" in FINDINGS and "H3-bon" not in SCORED


@pytest.mark.parametrize("finding_id", list(FINDINGS))
def test_every_finding_names_an_axis_with_a_notebook_and_a_module(finding_id):
    axis = FINDINGS[finding_id].axis
    assert (NOTEBOOKS / f"{axis}.ipynb").exists()
    assert hasattr(importlib.import_module(f"rlhf_nb.axes.{axis}"), "analyze")
    assert finding_id in decided_by(axis)


def test_an_unknown_finding_is_refused_by_name():
    with pytest.raises(KeyError, match="unknown finding 'H9'"):
        claim("H9")


def test_the_pre_flight_names_the_findings_a_preset_leaves_untested():
    smoke = get_preset("smoke")
    assert check_study_task(smoke) == tuple(f for f in SCORED if FINDINGS[f].axis not in smoke.axes)
    only_rm_data = replace(smoke, axes=("rm_data",), grids={"rm_data": smoke.grids.get("rm_data", {})})
    untested = check_study_task(only_rm_data)
    assert "H2" not in untested and "G5" not in untested
    assert set(untested) == set(SCORED) - {"H2", "G5"}
