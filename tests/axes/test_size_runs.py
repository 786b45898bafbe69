"""The size axes' runs: H3's reward models are the rm_size axis's (one store entry for both), and the pooled RM of
H4/G8 trains on every policy's comparisons, independent of the order the policies are listed in."""
from __future__ import annotations

import json
import os
from dataclasses import replace
from types import SimpleNamespace

import pandas as pd
import pytest
import torch

from rlhf_nb.axes import policy_size, rm_family, rm_size, rm_size_for_rl
from rlhf_nb.axes.policy_family import Scale
from rlhf_nb.pipeline import pooled_rm
from rlhf_nb.pipeline.runs import reward_params
from rlhf_nb.stages.preference_data import ResponsePool
from rlhf_nb.stages.reward import RewardStageConfig
from rlhf_nb.store import Run, RunStore, make_run_id

os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch.set_num_threads(1)


def _fake_run(stage: str, params: dict, **metrics) -> Run:
    run_id = make_run_id(stage, params)
    return Run(stage, run_id, None, {"stage": stage, "run_id": run_id, **params}, metrics)


def _fake_sft(store, task, config):
    from dataclasses import asdict

    return _fake_run("sft", {"task": asdict(task), "config": asdict(config), "upstream": {}, "seed": config.seed},
                     **{"sft/flops": 0.0})


class _Stop(Exception):
    pass


@pytest.mark.parametrize("knobs", [{}, dict(policy="xs", sft_steps=200, rm_prompts=32, rm_comparisons=64)])
def test_h3_reward_models_are_the_rm_size_axis_runs(monkeypatch, tmp_path, knobs):
    """With the same notebook knobs, rm_size_for_rl asks the store for exactly the reward runs rm_size trains."""
    sizes = ["xs", "s", "m"]
    shared = {k: v for k, v in knobs.items() if k in ("policy", "sft_steps")}
    data = {k: v for k, v in knobs.items() if k.startswith("rm_")}
    monkeypatch.setattr(rm_family, "run_sft", _fake_sft)
    monkeypatch.setattr(rm_size_for_rl, "run_sft", _fake_sft)

    asked_by_rm_size = []

    def rm_size_result(store, task, cfg, data_sft, eval_config, init_sft=None):
        asked_by_rm_size.append(make_run_id("reward", reward_params(task, cfg, data_sft, init_sft)))
        return SimpleNamespace(rows=pd.DataFrame({"n": [1]}))

    monkeypatch.setattr(rm_size, "reward_model_result", rm_size_result)
    grid = rm_size.RMSizeGrid(sizes=tuple(sizes), n_prompts=data.get("rm_prompts", 128),
                              comparisons=data.get("rm_comparisons", 256))
    rm_size.run_seed(0, tmp_path, grid, scale=rm_family.Scale(**shared))

    asked_by_rl = []

    def rl_reward(store, task, cfg, data_sft, init_sft=None):
        asked_by_rl.append(make_run_id("reward", reward_params(task, cfg, data_sft, init_sft)))
        if len(asked_by_rl) == len(sizes):
            raise _Stop
        return _fake_run("reward", {"id": asked_by_rl[-1]})

    monkeypatch.setattr(rm_size_for_rl, "run_reward_model", rl_reward)
    monkeypatch.setattr(rm_size_for_rl, "run_eval", lambda *a, **k: _fake_run("eval", {"a": repr(a)}))
    monkeypatch.setattr(rm_size_for_rl, "run_rl", lambda *a, **k: _fake_run("rl", {"a": repr(a)}))
    monkeypatch.setattr(rm_size_for_rl, "point_rows", lambda *a, **k: pd.DataFrame({"x": [0]}))
    monkeypatch.setattr(rm_size_for_rl, "bon_rows", lambda *a, **k: pd.DataFrame({"x": [0]}))
    with pytest.raises(_Stop):
        rm_size_for_rl.run_seed(0, tmp_path, rm_policies=sizes, scale=Scale(**shared), **data)
    assert asked_by_rl == asked_by_rm_size and len(set(asked_by_rl)) == 3


def test_pooled_specs_split_the_totals_evenly():
    config = RewardStageConfig(n_prompts=100, comparisons=200)
    specs = pooled_rm.pooled_specs(config, 3)
    assert [s.n_prompts for s in specs] == [34, 33, 33] and [s.comparisons for s in specs] == [67, 67, 66]
    assert pooled_rm.pooled_config(RewardStageConfig(n_prompts=100)).comparisons == 200  # 2 per prompt
    with pytest.raises(ValueError, match="exact totals"):
        pooled_rm.pooled_specs(RewardStageConfig(n_prompts=100), 2)
    with pytest.raises(ValueError, match="one policy's share"):
        # 16 comparisons over 4 prompts is 4 each (what 4 responses give at most), but 3 policies' shares are
        # 2, 1, 1 prompts with 6, 5, 5 comparisons
        pooled_rm.pooled_specs(RewardStageConfig(n_prompts=4, responses_per_prompt=4, comparisons=16), 3)
    with pytest.raises(ValueError, match="comparisons"):
        policy_size.run_seed(0, "unused", policies=["xs"], rm_comparisons=-1)


def test_pooled_reward_model_trains_on_every_policy(monkeypatch, tmp_path):
    """Two tiny SFT runs, each with its own (fake) samples: one RM sees both parts; listing order does not matter."""
    from rlhf_nb.pipeline.runs import run_sft

    store = RunStore(tmp_path / "store")
    config = Scale(policy="xs", sft_steps=2, sft_problems=200).pipeline(0)
    task = config.task
    sfts = [run_sft(store, task, replace(config.sft, sft_steps=steps)) for steps in (1, 2)]
    problems = task.problems("train", 16, 7)

    def chunks(store_, task_, sft, responses, seed, max_new_tokens=48):
        tag = "A" if sft.run_id == sfts[0].run_id else "B"
        while True:  # prompt k: two right and two wrong responses, marked with the policy
            yield ResponsePool([p.prompt for p in problems],
                               [[f"{p.answer};{tag}", f"{p.answer};{tag}{tag}", f"0;{tag}", f"1;{tag}"] for p in problems],
                               [[True, True, False, False] for _ in problems], list(problems))

    monkeypatch.setattr(pooled_rm, "cached_chunks", chunks)
    reward = replace(config.reward, n_prompts=8, comparisons=16, comparisons_per_step=8, eval_prompts=4)
    run = pooled_rm.run_pooled_reward(store, task, reward, sfts, sfts[1])
    lines = [json.loads(x) for x in (run.path / "comparisons.jsonl").read_text().splitlines()]
    assert len(lines) == 16
    parts = {tag: {x["prompt"] for x in lines if x["chosen"].split(";")[1][0] == tag} for tag in "AB"}
    assert parts["A"] and parts["B"] and not parts["A"] & parts["B"]  # both policies' samples, on disjoint prompts
    composition = json.loads((run.path / "composition.json").read_text())
    assert [p["comparisons"] for p in composition["parts"]] == [8, 8] and composition["init_sft"] == sfts[1].run_id
    m = run.metrics
    # both SFT runs are preset xs: labelled by run id, each with its own sampling FLOPs and held-out check
    assert all(f"pooled/{s.run_id}/comparisons" in m and f"rm/heldout/pairwise_acc/{s.run_id}" in m for s in sfts)
    assert m["rm/sampling_flops"] == pytest.approx(sum(m[f"pooled/{s.run_id}/sampling_flops"] for s in sfts))
    assert m["rm/flops"] == pytest.approx(m["rm/train_flops"] + m["rm/sampling_flops"])
    again = pooled_rm.run_pooled_reward(store, task, reward, sfts[::-1], sfts[1])
    assert again.cached and again.run_id == run.run_id
