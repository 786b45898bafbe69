"""The study runner on tiny stand-in notebooks: resume, failure records, the lock, the report."""
import json
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from rlhf_nb.axes.results import Finding, write_finding
from rlhf_nb.study.executions import StudyPaths, run_executions, study_lock
from rlhf_nb.study.plan import Execution, expand
from rlhf_nb.study.presets import get_preset
from rlhf_nb.study.report import build_report, scorecard


def _notebook(path: Path, body: str) -> str:
    nb = new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                                "language_info": {"name": "python"}})
    params = new_code_cell('marker: str = ""\nfail: bool = False')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, new_code_cell(body)]
    nbformat.write(nb, str(path))
    return str(path)


@pytest.fixture
def counting_notebook(tmp_path):
    body = ("from pathlib import Path\n"
            "with open(marker, 'a') as f: f.write('x')\n"
            "if fail: raise RuntimeError('planned failure')\n"
            "print('finished')")
    return _notebook(tmp_path / "count.ipynb", body)


def test_failures_are_recorded_and_the_rest_goes_on_then_resume_skips_finished(tmp_path, counting_notebook):
    paths = StudyPaths(tmp_path / "study")
    ok_marker, bad_marker = tmp_path / "ok.txt", tmp_path / "bad.txt"
    good = Execution(counting_notebook, {"marker": str(ok_marker), "fail": False})
    bad = Execution(counting_notebook, {"marker": str(bad_marker), "fail": True})
    first = run_executions([bad, good], paths, workers=2, desc="test")
    assert first.ran == [good.id] and list(first.failed) == [bad.id]
    assert "planned failure" in first.failed[bad.id]
    record = json.loads((paths.failed / f"{bad.id}.json").read_text())
    assert "planned failure" in record["error"] and Path(record["notebook"]).exists()  # partial notebook kept
    assert paths.notebook(good).exists() and not paths.notebook(bad).exists()

    again = run_executions([bad, good], paths, workers=1, desc="test")
    assert again.skipped == [good.id] and list(again.failed) == [bad.id]  # the failure is retried
    assert ok_marker.read_text() == "x"  # the finished execution did not run twice
    assert bad_marker.read_text() == "xx"


def test_an_execution_listed_twice_runs_once(tmp_path, counting_notebook):
    """Two workers writing one notebook file would race (one rename finds the file gone): one run, one record."""
    paths = StudyPaths(tmp_path / "study")
    marker = tmp_path / "m.txt"
    ex = Execution(counting_notebook, {"marker": str(marker), "fail": False})
    twin = Execution(counting_notebook, {"marker": str(marker), "fail": False})
    summary = run_executions([ex, twin], paths, workers=2, desc="test")
    assert summary.ran == [ex.id] and not summary.failed and marker.read_text() == "x"


def test_a_half_written_notebook_is_not_taken_as_done(tmp_path, counting_notebook):
    paths = StudyPaths(tmp_path / "study")
    ex = Execution(counting_notebook, {"marker": str(tmp_path / "m.txt"), "fail": False})
    paths.executions.mkdir(parents=True)
    (paths.executions / f".{ex.id}.running.ipynb").write_text("{}")  # left by a killed worker
    summary = run_executions([ex], paths, workers=1, desc="test")
    assert summary.ran == [ex.id]


def test_execution_ids_come_from_parameters():
    a = Execution("rm_data", {"seeds": "0", "x": 1})
    assert a.id == Execution("rm_data", {"x": 1, "seeds": "0"}).id
    assert a.id != Execution("rm_data", {"seeds": "1", "x": 1}).id


def test_a_second_study_on_the_same_folder_is_refused(tmp_path):
    lock = study_lock(tmp_path)
    try:
        with pytest.raises(RuntimeError, match="another study is running"):
            study_lock(tmp_path)
    finally:
        lock.release()
    study_lock(tmp_path).release()  # free again once the first one is done


def test_presets_expand_to_one_execution_per_axis_and_seed_plus_analysis(tmp_path):
    preset = get_preset("default")
    fill, analyze = expand(preset, tmp_path / "store", tmp_path / "results")
    seed_runs = [e for e in fill if e.phase == "seed"]
    assert len(seed_runs) == sum(len(preset.seeds_for(axis)) for axis in preset.axes)
    assert len(analyze) == len(preset.axes)
    assert all(e.parameters["analyze"] for e in analyze)
    assert {e.name: e.parameters["seeds"] for e in analyze if e.name != "rl_length_kl"} == {
        axis: "0,1,2" for axis in preset.axes if axis != "rl_length_kl"}
    with pytest.raises(ValueError, match="unknown study preset"):
        get_preset("huge")


@pytest.mark.parametrize("name", ["smoke", "default", "full"])
def test_every_preset_parameter_is_one_its_notebook_declares(tmp_path, name):
    from rlhf_nb.notebooks import declared_parameters, notebook_path

    fill, analyze = expand(get_preset(name), tmp_path / "store", tmp_path / "results")
    for ex in fill + analyze:
        undeclared = set(ex.parameters) - set(declared_parameters(notebook_path(ex.notebook)))
        assert not undeclared, f"{name}: {ex.label} is given {sorted(undeclared)}, which its notebook ignores"


def test_report_has_scorecard_toc_and_every_analysis_notebook(tmp_path, counting_notebook):
    paths = StudyPaths(tmp_path / "study")
    ex = Execution(counting_notebook, {"marker": str(tmp_path / "m.txt"), "fail": False}, phase="analyze")
    run_executions([ex], paths, workers=1, desc="test")
    write_finding(Finding(id="H1", claim="samples per prompt saturate", verdict="shown", effect=0.12,
                          ci=(0.05, 0.2), n_seeds=3, figure="figures/h1.png"), paths.results)
    card = scorecard(paths.results)
    assert list(card["id"][:2]) == ["H1", "H2"] and (card["source"] != "beyond the papers").sum() == 16
    assert card.set_index("id").loc["H2", "verdict"] == "not tested"
    page = build_report(paths.root).read_text()
    assert "Findings scorecard" in page and "samples per prompt saturate" in page
    assert "finished" in page  # the executed notebook's output is in the page
    assert "marker: str" not in page  # inputs hidden
    assert "figures/h1.png" in page


def test_bad_finding_verdict_is_refused():
    with pytest.raises(ValueError, match="verdict"):
        Finding(id="H1", claim="c", verdict="probably", effect=0.0, ci=(0, 0), n_seeds=1)


def test_findings_are_standard_json_with_undefined_numbers_as_null(tmp_path):
    nan = float("nan")
    import numpy as np

    path = write_finding(Finding("H1", "claim", "inconclusive", nan, (nan, 0.2), 1,
                                 numbers={"x": [1.0, nan], "a": np.array([0.5, np.inf]), "s": np.float64(2.0)}),
                         tmp_path)
    data = json.loads(path.read_text(), parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    assert data["effect"] is None and data["ci"] == [None, 0.2] and data["numbers"]["x"] == [1.0, None]
    assert data["numbers"]["a"] == [0.5, None] and data["numbers"]["s"] == 2.0
    card = scorecard(tmp_path)
    assert card.set_index("id").loc["H1", "verdict"] == "inconclusive"


_INTERRUPTIBLE_STUDY = """
import sys
from pathlib import Path
from rlhf_nb.study.plan import Execution
from rlhf_nb.study.executions import StudyPaths, run_executions

notebook, root, marker = sys.argv[1:4]
executions = [Execution(notebook, {"marker": marker, "seconds": s}) for s in (0.0, 120.0, 120.5, 121.0)]
run_executions(executions, StudyPaths(Path(root)), workers=2, desc="test")
"""


def test_ctrl_c_stops_workers_and_kernels_at_once_and_the_rerun_resumes(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    import psutil

    body = ("import time\nfrom pathlib import Path\n"
            "with open(marker, 'a') as f: f.write('x')\n"
            "time.sleep(seconds)\n")
    nb = _notebook(tmp_path / "slow.ipynb", body)
    nbformat_nb = nbformat.read(nb, as_version=4)
    nbformat_nb.cells[0].source = 'marker: str = ""\nseconds: float = 0.0'
    nbformat.write(nbformat_nb, nb)
    root, marker = tmp_path / "study", tmp_path / "marker.txt"
    # A terminal's foreground job gets Ctrl-C; a background job (e.g. this suite run with `&`)
    # inherits SIGINT ignored, so the study's process is given the terminal's default.
    proc = subprocess.Popen([sys.executable, "-c", _INTERRUPTIBLE_STUDY, nb, str(root), str(marker)],
                            start_new_session=True, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 120
        while not (marker.exists() and len(marker.read_text()) == 3 and len(list((root / "done").glob("*.json"))) == 1):
            assert time.monotonic() < deadline, "the first three executions never started"
            assert proc.poll() is None, proc.stderr.read()
            time.sleep(0.5)
        family = psutil.Process(proc.pid).children(recursive=True)
        assert any("ipykernel" in " ".join(p.cmdline()) for p in family)  # the slow notebooks' kernels run
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode != 0 and "KeyboardInterrupt" in proc.stderr.read()
    gone, alive = psutil.wait_procs(family, timeout=10)
    assert not alive, f"left running: {[p.cmdline() for p in alive]}"
    assert len(list((root / "done").glob("*.json"))) == 1  # the finished one is kept
    assert not list((root / "failed").glob("*.json"))  # an interrupted execution is not a failure
    assert not list((root / "executions").glob("[!.]*.failed.ipynb"))

    assert len(marker.read_text()) == 3  # the queued fourth never started
    fast = [Execution(nb, {"marker": str(marker), "seconds": s}) for s in (0.0, 120.0, 120.5, 121.0)]
    nbformat_nb.cells[1].source = body.replace("time.sleep(seconds)", "pass")  # the rerun is quick
    nbformat.write(nbformat_nb, nb)
    summary = run_executions(fast, StudyPaths(root), workers=2, desc="test")
    assert len(summary.skipped) == 1 and len(summary.ran) == 3 and not summary.failed


def test_a_preset_declares_per_axis_seed_budgets_and_the_plan_follows_them(tmp_path):
    from rlhf_nb.study.presets import StudyPreset

    preset = StudyPreset(name="t", seeds=(0, 1, 2), axes=("rm_data", "method"), axis_seeds={"method": (0, 1, 2, 3)})
    fill, analyze = expand(preset, tmp_path / "store", tmp_path / "results")
    by_axis = {}
    for ex in fill:
        by_axis.setdefault(ex.name, []).append(ex.parameters["seeds"])
    assert by_axis == {"rm_data": ["0", "1", "2"], "method": ["0", "1", "2", "3"]}
    assert {e.name: e.parameters["seeds"] for e in analyze} == {"rm_data": "0,1,2", "method": "0,1,2,3"}
    assert preset.design()["seeds"] == {"rm_data": [0, 1, 2], "method": [0, 1, 2, 3]}
    with pytest.raises(ValueError, match="does not run"):
        StudyPreset(name="t", seeds=(0,), axes=("rm_data",), axis_seeds={"method": (0,)})
    with pytest.raises(ValueError, match="distinct"):
        StudyPreset(name="t", seeds=(0, 0), axes=("rm_data",))


def test_the_design_is_recorded_before_running_and_a_changed_design_is_refused(tmp_path):
    from dataclasses import replace

    from rlhf_nb.study.whole_study import DESIGN_FILE, record_design

    preset = get_preset("default")
    record_design(tmp_path, preset)
    assert json.loads((tmp_path / DESIGN_FILE).read_text())["seeds"]["rl_length_kl"] == [0, 1, 2, 3, 4, 5]
    record_design(tmp_path, preset)  # resuming the same design is fine
    with pytest.raises(ValueError, match="another design"):
        record_design(tmp_path, replace(preset, axis_seeds={}))
