"""Study executions as Ray tasks on a local Ray instance: the same records, resume and report as local processes."""
import json
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

ray = pytest.importorskip("ray", reason="Ray is not installed: `pip install -e .[ray]` to test the Ray executor")

from rlhf_nb.study.executions import StudyPaths, run_executions  # noqa: E402
from rlhf_nb.study.plan import Execution  # noqa: E402
from rlhf_nb.study.presets import PRESETS, StudyPreset  # noqa: E402
from rlhf_nb.study.ray_executor import RayExecutor, ray_executor_factory  # noqa: E402
from rlhf_nb.study.whole_study import run_study  # noqa: E402


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _notebook(path: Path, params: str, body: str) -> str:
    nb = new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                                "language_info": {"name": "python"}})
    cell = new_code_cell(params)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell, new_code_cell(body)]
    nbformat.write(nb, str(path))
    return str(path)


def test_ray_tasks_record_failures_and_resume_like_local_workers(tmp_path, local_ray):
    nb = _notebook(tmp_path / "count.ipynb", 'marker: str = ""\nfail: bool = False',
                   "import os\nwith open(marker, 'a') as f: f.write(str(os.getpid()) + '\\n')\n"
                   "if fail: raise RuntimeError('planned failure')")
    paths = StudyPaths(tmp_path / "study")
    good = Execution(nb, {"marker": str(tmp_path / "ok.txt"), "fail": False})
    bad = Execution(nb, {"marker": str(tmp_path / "bad.txt"), "fail": True})
    first = run_executions([bad, good], paths, workers=2, desc="ray", executor=ray_executor_factory())
    assert first.ran == [good.id] and "planned failure" in first.failed[bad.id]
    assert json.loads((paths.failed / f"{bad.id}.json").read_text())["error"].endswith("planned failure")
    again = run_executions([bad, good], paths, workers=2, desc="ray", executor=ray_executor_factory())
    assert again.skipped == [good.id] and list(again.failed) == [bad.id]
    assert len((tmp_path / "ok.txt").read_text().splitlines()) == 1  # not rerun


def test_a_smoke_study_trains_into_the_store_through_ray(tmp_path, local_ray, monkeypatch):
    """run_study(executor='ray'): a stand-in axis notebook trains a tiny SFT stage into the store, then resumes."""
    axis = _notebook(
        tmp_path / "tiny_axis.ipynb",
        'store_dir: str = ""\nresults_dir: str = ""\nseeds: str = "0"\nanalyze: bool = False',
        "from rlhf_nb.pipeline.runs import run_sft\nfrom rlhf_nb.stages.sft import SFTStageConfig\n"
        "from rlhf_nb.store import RunStore\nfrom rlhf_nb.tasks.registry import make_task\n"
        "if not analyze:\n"
        "    cfg = SFTStageConfig(policy='xs', sft_steps=2, examples_per_step=4, train_problems=16, seed=int(seeds))\n"
        "    print(run_sft(RunStore(store_dir), make_task('addition'), cfg).run_id)\n")
    monkeypatch.setitem(PRESETS, "ray-smoke", StudyPreset(name="ray-smoke", seeds=(0,), axes=(axis,)))
    monkeypatch.chdir(tmp_path)  # relative output dir: tasks run from the driver's working directory
    report, summary = run_study("ray-smoke", Path("outputs"), workers=2, executor="ray")
    assert not summary.failed and len(summary.ran) == 2  # the seed's execution, then the analysis
    assert len([p for p in (tmp_path / "outputs/store/sft").iterdir() if p.is_dir()]) == 1  # written by the Ray task
    assert report.exists()
    _, again = run_study("ray-smoke", Path("outputs"), workers=2, executor="ray")
    assert len(again.skipped) == 2 and not again.ran


def test_executor_choices_are_checked():
    from rlhf_nb.study.whole_study import executor_factory

    with pytest.raises(ValueError, match="executor"):
        executor_factory("slurm")
    with pytest.raises(ValueError, match="executor='ray' only"):
        executor_factory("local", ray_address="auto")
    with pytest.raises(ValueError, match="CPUs"):
        RayExecutor(cpus_per_task=0)


def test_the_cli_passes_the_executor_through(monkeypatch):
    from rlhf_nb import cli

    seen = {}

    def fake_run_study(preset, output_dir, name, workers, **kwargs):
        seen.update(kwargs)
        from rlhf_nb.study.executions import RunSummary
        return Path("report.html"), RunSummary()

    monkeypatch.setattr("rlhf_nb.study.whole_study.run_study", fake_run_study)
    assert cli.main(["study", "--preset", "smoke", "--executor", "ray", "--ray-address", "auto",
                     "--ray-gpus-per-task", "1", "-p", "task", "data.jsonl"]) == 0
    assert seen == {"executor": "ray", "ray_address": "auto", "ray_gpus_per_task": 1.0,
                    "parameters": [["task", "data.jsonl"]]}
