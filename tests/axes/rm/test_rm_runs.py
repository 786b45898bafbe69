"""Reward models of every supervision type trained through the store at toy scale, then evaluated."""
import json
import math

import numpy as np
import pytest

from rlhf_nb.axes.rm_family import reward_config
from rlhf_nb.models import load_causal_lm, load_tokenizer
from rlhf_nb.pipeline.rm_runs import (
    eval_rows,
    load_pool,
    run_reward_eval,
    run_reward_model,
)
from rlhf_nb.scoring.best_of_n import kl_bound
from rlhf_nb.scoring.reward_models import ProcessReward, ProxyReward, load_reward
from rlhf_nb.stages.preference_data import ComparisonSpec, sample_comparisons

SPEC = dict(n_prompts=8, responses_per_prompt=4, comparisons=16)


@pytest.fixture(scope="module")
def rms(rm_store, tiny_scale, tiny_sft):
    return {sup: run_reward_model(rm_store, tiny_scale.task, reward_config(0, supervision=sup, **SPEC), tiny_sft)
            for sup in ("orm", "prm", "multitask")}


def _pairs(run):
    return [json.loads(line) for line in (run.path / "comparisons.jsonl").read_text().splitlines()]


def test_every_supervision_sees_the_same_exact_data(rms, rm_store, tiny_scale, tiny_sft):
    for run in rms.values():
        assert run.metrics["data/comparisons"] == 16 and run.metrics["data/distinct_prompts"] == 8
        assert run.metrics["rm/steps"] >= 1 and math.isfinite(run.metrics["rm/flops"])
    assert _pairs(rms["orm"]) == _pairs(rms["prm"]) == _pairs(rms["multitask"])
    # cut from store-cached chunks, the data equals sampling in one process
    model, tok = load_causal_lm(tiny_sft.path / "model"), load_tokenizer(tiny_sft.path / "model")
    direct = sample_comparisons(model, tok, tiny_scale.task, ComparisonSpec(**SPEC), seed=0).comparisons
    assert [{"prompt": c.prompt, "chosen": c.chosen, "rejected": c.rejected} for c in direct] == _pairs(rms["orm"])
    # a finished run is loaded, not retrained
    again = run_reward_model(rm_store, tiny_scale.task, reward_config(0, supervision="prm", **SPEC), tiny_sft)
    assert again.cached and again.run_id == rms["prm"].run_id


def test_every_reward_model_is_a_prompts_completions_callable(rms):
    prompts, completions = ["1+2+3+4="] * 2, ["1+2=3;3+3=6;6+4=10", "1+2=3;3+3=6;6+4=9"]
    for sup, run in rms.items():
        reward = load_reward(run.path / "model")
        assert isinstance(reward, ProcessReward if sup == "prm" else ProxyReward)
        scores = reward(prompts, completions)
        assert len(scores) == 2 and all(math.isfinite(s) for s in scores)
    prm = load_reward(rms["prm"].path / "model")
    steps = prm.step_scores(prompts, completions)
    assert [len(s) for s in steps] == [3, 3]
    assert prm(prompts, completions) == [min(s) for s in steps]  # trained with aggregate="min"
    assert load_reward(rms["prm"].path / "model", aggregate="last")(prompts, completions) == [s[-1] for s in steps]


def test_evaluation_is_unbiased_best_of_n_on_shared_pools(rms, rm_store, tiny_scale, tiny_sft, tiny_eval):
    evals = {sup: run_reward_eval(rm_store, tiny_scale.task, run, tiny_sft, tiny_eval) for sup, run in rms.items()}
    for sup, ev in evals.items():
        rows = eval_rows(ev)
        assert set(rows.split) == {"heldout", "ood"} and sorted(set(rows.n)) == list(tiny_eval.ns)
        for split, part in rows.groupby("split"):
            pool = load_pool(rm_store.load("rm_pool", ev.params["upstream"][f"pool/{split}"]))
            assert len(pool.prompts) == tiny_eval.prompts and pool.responses_per_prompt == tiny_eval.samples_per_prompt
            start = part[part.n == 1].iloc[0]
            assert start.gold == pytest.approx(pool.share_correct())  # n = 1 is the policy itself
            assert (part.oracle >= part.gold - 1e-12).all() and (np.diff(part.sort_values("n").proxy) >= -1e-9).all()
            assert np.allclose(part.kl_bound, [kl_bound(n) for n in part.n])
            assert 0.0 <= start.pairwise_acc <= 1.0 or math.isnan(start.pairwise_acc)
    full = eval_rows(evals["prm"], primary_only=False)
    assert set(full["aggregate"]) == {"min", "prod", "mean", "last"}
    assert full[full["primary"]]["aggregate"].unique().tolist() == ["min"]
    # the pools are shared: every RM was scored on the same samples
    pools = {tuple(v for k, v in sorted(e.params["upstream"].items()) if k.startswith("pool/")) for e in evals.values()}
    assert len(pools) == 1


def test_the_pipeline_reward_stage_keeps_its_older_rule_and_shares_run_ids(rm_store, tiny_scale, tiny_sft):
    from dataclasses import replace

    from rlhf_nb.pipeline.runs import PipelineConfig, run_reward

    legacy = replace(PipelineConfig().reward, n_prompts=16, comparisons_per_step=8, eval_prompts=8)
    run = run_reward(rm_store, tiny_scale.task, legacy, tiny_sft)
    acc = run.metrics["rm/heldout/pairwise_acc"]
    assert run.metrics["rm/comparisons"] > 0 and (math.isnan(acc) or 0.0 <= acc <= 1.0)  # nan: no pair at toy scale
    assert math.isfinite(ProxyReward(run.path / "model")(["1+2+3+4="], ["1+2=3;3+3=6;6+4=10"])[0])
    # the RM axes' runner and the pipeline's stage name the same run for the same inputs
    same = run_reward_model(rm_store, tiny_scale.task, legacy, tiny_sft)
    assert same.cached and same.run_id == run.run_id
