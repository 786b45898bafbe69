"""The smoke study, run once per test session and shared by the tests that read its outputs."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def smoke_study(tmp_path_factory):
    """(report path, run summary, output folder) of ``run_study("smoke", ...)`` in a fresh folder."""
    from rlhf_nb.study.whole_study import run_study

    folder = tmp_path_factory.mktemp("smoke")
    report, summary = run_study("smoke", folder)
    return report, summary, folder
