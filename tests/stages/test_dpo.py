"""The DPO stage: its config, its data (the reward model's own comparisons), its tracking (RL's), its store entry."""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from rlhf_nb.stages.dpo import DPOStageConfig, implicit_reward_columns, read_comparisons


@pytest.mark.parametrize("kwargs, message", [
    ({"loss_type": "kto"}, "loss_type"),
    ({"beta": 0.0}, "beta=0.0"),
    ({"epochs": 0}, "epochs=0"),
    ({"track_every_steps": 0}, "track_every_steps"),
    ({"learning_rate": 2.0}, "learning_rate"),
])
def test_config_refuses_bad_values_with_the_reason(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DPOStageConfig(**kwargs)


def test_steps_are_whole_epochs():
    assert DPOStageConfig(epochs=3, comparisons_per_step=32).steps(100) == 3 * 4
    with pytest.raises(ValueError, match="no comparisons"):
        DPOStageConfig().steps(0)


def test_read_comparisons_names_what_is_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="run the reward stage"):
        read_comparisons(tmp_path / "comparisons.jsonl")
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps({"prompt": "1+2=", "chosen": "3"}) + "\n")
    with pytest.raises(ValueError, match="line 1: missing \\['rejected'\\]"):
        read_comparisons(path)


def test_implicit_rewards_are_averaged_over_the_steps_since_the_last_tracked_one():
    curve = pd.DataFrame({"step": [0, 2, 4, 5]})
    log = pd.DataFrame({"step": [1, 2, 3, 4, 5], "rewards/margins": [1.0, 3.0, 5.0, 7.0, 9.0],
                        "rewards/accuracies": [0.0, 1.0, 1.0, 1.0, 0.5]})
    out = implicit_reward_columns(curve, log)
    assert np.isnan(out["implicit_margin"].iloc[0])
    assert out["implicit_margin"].tolist()[1:] == [2.0, 6.0, 9.0]
    assert out["implicit_accuracy"].tolist()[1:] == [0.5, 1.0, 0.5]
    assert out["implicit_chosen"].isna().all()  # not logged: NaN, not an error


@pytest.fixture(scope="module")
def dpo_runs(toy_config, toy_store, toy_pipeline):
    from rlhf_nb.pipeline.dpo_runs import run_dpo

    rl = toy_config.rl
    config = DPOStageConfig(beta=0.1, epochs=1, comparisons_per_step=8, learning_rate=1e-3,
                            track_every_steps=rl.track_every_steps, track_prompts=rl.track_prompts,
                            max_completion_tokens=rl.max_completion_tokens, seed=rl.seed)
    run = run_dpo(toy_store, toy_config.task, config, toy_pipeline.sft, toy_pipeline.reward)
    return config, run


def test_dpo_trains_on_exactly_the_reward_models_comparisons(dpo_runs, toy_pipeline):
    config, run = dpo_runs
    lines = (toy_pipeline.reward.path / "comparisons.jsonl").read_text().splitlines()
    assert run.metrics["dpo/comparisons"] == len(lines) == toy_pipeline.reward.metrics["rm/comparisons"]
    assert run.metrics["dpo/steps"] == config.steps(len(lines))
    assert run.params["upstream"] == {"sft": toy_pipeline.sft.run_id, "reward": toy_pipeline.reward.run_id}
    assert run.metrics["dpo/flops"] > 0 and (run.path / "model" / "config.json").exists()


def test_dpo_is_tracked_like_rl_on_the_same_prompts_and_draws(dpo_runs, toy_pipeline):
    config, run = dpo_runs
    curve = pd.read_csv(run.path / "curve.csv")
    rl_curve = pd.read_csv(toy_pipeline.rl.path / "curve.csv")
    steps = curve["step"].tolist()
    assert steps[0] == 0 and steps[-1] == run.metrics["dpo/steps"]
    assert all(s % config.track_every_steps == 0 for s in steps[1:-1])
    # Same SFT policy, tracker prompts, sampling seed and budget: step 0 is the same measurement as RL's.
    for column in ("gold_acc", "gold_acc_even", "gold_acc_odd", "proxy_mean"):
        assert curve[column].iloc[0] == pytest.approx(rl_curve[column].iloc[0])
    assert abs(curve["kl"].iloc[0]) < 1e-4 and curve["kl"].iloc[-1] > 0.01  # it moved away from the reference
    assert curve["implicit_margin"].iloc[1:].notna().all() and np.isnan(curve["implicit_margin"].iloc[0])


def test_a_finished_dpo_run_is_loaded_and_ipo_is_another_run(dpo_runs, toy_config, toy_store, toy_pipeline):
    from rlhf_nb.pipeline.dpo_runs import run_dpo

    config, run = dpo_runs
    again = run_dpo(toy_store, toy_config.task, config, toy_pipeline.sft, toy_pipeline.reward)
    assert again.cached and again.run_id == run.run_id
    ipo = run_dpo(toy_store, toy_config.task, replace(config, loss_type="ipo"), toy_pipeline.sft, toy_pipeline.reward)
    assert ipo.run_id != run.run_id and not ipo.cached
    assert ipo.metrics["dpo/final/kl"] != pytest.approx(run.metrics["dpo/final/kl"])
