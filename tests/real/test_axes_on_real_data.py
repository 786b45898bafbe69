"""Axis notebooks and the study take a real-format data file and a checkpoint by path, like the pipeline notebook."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from rlhf_nb.axes import orm_vs_prm
from rlhf_nb.axes.rm_family import Scale
from rlhf_nb.notebooks import execute_notebook
from rlhf_nb.study.presets import get_preset
from rlhf_nb.study.whole_study import check_study_task, with_shared_parameters

# Stage sizes small enough for the tiny checkpoint and the 48-record file (as in conftest's pipeline).
TOY = dict(sft_steps=40, sft_problems=200, rm_prompts=48, rm_comparisons_per_step=2, rm_eval_prompts=8,
           train_prompts=32, track_prompts=4, eval_prompts=8, eval_samples=2)


def _task_options(real_data, tiny_checkpoint) -> str:
    return f"ood_path={real_data[1]}, chat_template_from={tiny_checkpoint}, heldout_fraction=0.25"


def test_a_policy_axis_notebook_runs_on_real_data_with_a_checkpoint(real_data, tiny_checkpoint, tmp_path):
    results = tmp_path / "results"
    params = {"seeds": "0", "analyze": True, "store_dir": str(tmp_path / "store"), "results_dir": str(results),
              "task": str(real_data[0]), "task_options": _task_options(real_data, tiny_checkpoint),
              "policy": str(tiny_checkpoint), "algorithms": "grpo,rloo", "rl_steps": 2, "prompts_per_step": 2,
              "samples_per_prompt": 2, "track_every_steps": 1, **TOY}
    execute_notebook("method", tmp_path / "method.ipynb", params, cwd=tmp_path, progress=False)
    table = pd.read_csv(results / "tables" / "method.csv")
    final = table[table["final"] == True]  # noqa: E712 (booleans read back from CSV)
    assert set(final["algorithm"]) == {"grpo", "rloo"}
    assert final["rl_heldout_sampled_acc"].between(0, 1).all() and final["rl_ood_sampled_acc"].between(0, 1).all()
    h8 = json.loads((results / "findings" / "H8.json").read_text())
    assert h8["axis"] == "method" and h8["n_seeds"] == 1
    sft_params = json.loads(next((tmp_path / "store" / "sft").glob("sft-*/params.json")).read_text())
    assert sft_params["task"]["name"] == "math_data" and sft_params["config"]["policy"] == str(tiny_checkpoint)


def test_an_rm_axis_notebook_runs_on_real_data_with_a_checkpoint(real_data, tiny_checkpoint, tmp_path):
    results = tmp_path / "results"
    params = {"seeds": "0", "analyze": True, "store_dir": str(tmp_path / "store"), "results_dir": str(results),
              "task": str(real_data[0]), "task_options": _task_options(real_data, tiny_checkpoint),
              "policy": str(tiny_checkpoint), "sft_steps": 40, "sft_problems": 200, "diversity_grid": "8x2,4x4",
              "equal_comparisons": 8, "volumes": "8,16", "epochs_base": 8, "epochs_k": 2, "eval_prompts": 4,
              "bon_pool_size": 4, "ns": "1,2,4", "headline_n": 4}
    execute_notebook("rm_data", tmp_path / "rm_data.ipynb", params, cwd=tmp_path, progress=False)
    for finding_id in ("H2", "G5"):
        finding = json.loads((results / "findings" / f"{finding_id}.json").read_text())
        assert finding["axis"] == "rm_data" and finding["n_seeds"] == 1
    reward_params = [json.loads(p.read_text()) for p in (tmp_path / "store" / "reward").glob("*/params.json")]
    assert reward_params and all(p["task"]["name"] == "math_data" for p in reward_params)


def test_process_supervision_on_real_data_is_refused_before_training(real_data, tiny_checkpoint, tmp_path):
    scale = Scale(policy=str(tiny_checkpoint), sft_steps=40, sft_problems=200, task_spec=str(real_data[0]),
                  task_options=_task_options(real_data, tiny_checkpoint))
    assert scale.task.name == "math_data"
    with pytest.raises(ValueError, match="supervision='prm' needs one correct/incorrect label per step"):
        orm_vs_prm.run_seed(0, tmp_path / "store", orm_vs_prm.SupervisionGrid(supervisions=("orm", "prm")),
                            scale=scale)
    assert not (tmp_path / "store" / "sft").exists()  # refused before any training


def test_study_parameters_reach_every_axis_and_are_checked_up_front(real_data, tiny_checkpoint):
    options = _task_options(real_data, tiny_checkpoint)
    preset = with_shared_parameters(get_preset("smoke"), [["task", str(real_data[0])], ["task_options", options],
                                                          ["orm_vs_prm.supervisions", "orm,multitask"]])
    assert all(preset.grids[axis]["task"] == str(real_data[0]) for axis in preset.axes)
    assert preset.grids["method"]["rl_steps"] == get_preset("smoke").grids["method"]["rl_steps"]  # the rest kept
    assert preset.grids["orm_vs_prm"]["supervisions"] == "orm,multitask"
    assert preset.pipeline["task"] == str(real_data[0])  # the showcase run gets it too
    check_study_task(preset)

    with_prm = with_shared_parameters(get_preset("smoke"), [["task", str(real_data[0])], ["task_options", options]])
    with pytest.raises(ValueError, match="-p orm_vs_prm.supervisions orm,multitask"):
        check_study_task(with_prm)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        check_study_task(with_shared_parameters(get_preset("smoke"), [["task", "missing.jsonl"]]))
    # a name goes to the axes that take it: policy_size has `policies`, the others `policy`
    sized = with_shared_parameters(get_preset("smoke"), [["policy", str(tiny_checkpoint)]])
    assert "policy" not in sized.grids["policy_size"]
    assert sized.grids["method"]["policy"] == str(tiny_checkpoint) == sized.pipeline["policy"]
    with pytest.raises(ValueError, match="no axis notebook of the smoke preset has a parameter 'polcy'"):
        with_shared_parameters(get_preset("smoke"), [["polcy", "xs"]])
    with pytest.raises(ValueError, match="no axis 'nope'"):
        with_shared_parameters(get_preset("smoke"), [["nope.policy", "xs"]])
    with pytest.raises(ValueError, match="is not an integer"):
        with_shared_parameters(get_preset("smoke"), [["method.rl_steps", "many"]])
