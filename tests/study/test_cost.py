"""The cost split reads the store's timings: RL runs split into their timed parts and a remainder."""
from __future__ import annotations

import json
import math

import pytest

from rlhf_nb.store import TIMING_FILE, RunStore
from rlhf_nb.study.cost import cost_table, stage_costs


def _fake_store(tmp_path):
    store = RunStore(tmp_path / "store")
    for seed in (0, 1):
        store.execute("sft", {"seed": seed}, lambda out: {"sft/seconds": 1.0})
        store.execute("rl", {"seed": seed, "k": 1}, lambda out: {
            "rl/seconds": 9.0, "rl/seconds_rollouts": 2.0, "rl/seconds_reward": 1.0, "rl/seconds_tracking": 3.0})
        store.execute("rl", {"seed": seed, "k": 2}, lambda out: {  # PPO: parts not timed apart
            "rl/seconds": 5.0, "rl/seconds_rollouts": math.nan, "rl/seconds_reward": math.nan,
            "rl/seconds_tracking": 1.0})
    # pin every run's wall time so the sums are known
    for timing in (tmp_path / "store").glob(f"*/*/{TIMING_FILE}"):
        stage = timing.parent.parent.name
        wall = 10.0 if stage == "rl" and json.loads((timing.parent / "params.json").read_text())["k"] == 1 else 4.0
        timing.write_text(json.dumps({"wall_seconds": wall, "cpu_seconds": wall}))
    return store


def test_rl_time_splits_into_its_parts_and_the_training_remainder(tmp_path):
    _fake_store(tmp_path)
    costs = stage_costs(tmp_path / "store").set_index(["seed", "stage", "part"])["seconds"]
    assert costs[(0, "rl", "rollouts")] == 2.0 and costs[(0, "rl", "reward")] == 1.0
    assert costs[(0, "rl", "tracking")] == 3.0 + 1.0  # both runs timed their tracking
    assert costs[(0, "rl", "training")] == (10.0 - 6.0) + (4.0 - 1.0)  # the untimed PPO parts count as training
    assert costs[(1, "sft", "all")] == 4.0


def test_cost_table_is_per_seed_with_the_executions_overhead(tmp_path):
    _fake_store(tmp_path)
    done = tmp_path / "study" / "done"
    done.mkdir(parents=True)
    (done / "a.json").write_text(json.dumps({"notebook": "a", "phase": "seed", "seconds": 40.0}))
    table = cost_table(tmp_path / "study", tmp_path / "store").set_index(["stage", "part"])
    stage_total = 2 * (4.0 + 10.0 + 4.0)
    assert table.loc[("sft", "all"), "seed 0"] == 4.0 and table.loc[("sft", "all"), "total"] == 8.0
    assert table.loc[("executions", "overhead"), "total"] == pytest.approx(40.0 - stage_total)
    assert math.isnan(table.loc[("executions", "overhead"), "seed 0"])
    assert table["share"].sum() == pytest.approx(1.0)


def test_a_missing_store_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="no run store"):
        stage_costs(tmp_path / "nowhere")


def test_an_evaluation_counts_to_the_seed_of_the_model_it_evaluates(tmp_path):
    from rlhf_nb.study.cost import training_seed

    store = RunStore(tmp_path / "store")
    sft = store.execute("sft", {"seed": 4, "upstream": {}}, lambda out: {})
    rl = store.execute("rl", {"seed": 4, "upstream": {"sft": sft.run_id}}, lambda out: {"rl/seconds": 1.0})
    ev = store.execute("eval", {"seed": 1234, "upstream": {"policy": rl.run_id, "sft": sft.run_id}}, lambda out: {})
    costs = stage_costs(tmp_path / "store")
    assert set(costs["seed"]) == {4}  # the evaluation's own seed 1234 is not a study seed
    runs = {r.run_id: (r.stage, r.path, r.params) for r in (sft, rl, ev)}
    assert training_seed(ev.run_id, runs) == 4


def test_a_run_without_a_seed_keeps_its_time_in_the_table(tmp_path):
    store = _fake_store(tmp_path)
    orphan = store.execute("rm_chunk", {"index": 0}, lambda out: {})  # no seed anywhere up its chain
    (orphan.path / TIMING_FILE).write_text(json.dumps({"wall_seconds": 7.0, "cpu_seconds": 7.0}))
    table = cost_table(tmp_path / "study", tmp_path / "store").set_index(["stage", "part"])
    assert table.loc[("rm_chunk", "all"), "seed unknown"] == 7.0 and table.loc[("rm_chunk", "all"), "total"] == 7.0
