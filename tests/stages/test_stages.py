"""Each stage at toy scale: it trains, changes parameters, writes its artifacts, reports finite metrics."""
import math
from dataclasses import replace
from types import SimpleNamespace

import pandas as pd
import pytest
import torch

from rlhf_nb.models import build_policy, load_causal_lm, load_tokenizer
from rlhf_nb.pipeline.policy_runs import bon_rows
from rlhf_nb.pipeline.runs import run_pipeline, run_reward
from rlhf_nb.scoring.reward_models import ProxyReward
from rlhf_nb.scoring.rewards import GoldReward, reward_input_ids
from rlhf_nb.stages.evaluation import EvalStageConfig
from rlhf_nb.stages.reward import RewardStageConfig
from rlhf_nb.stages.rl import RLStageConfig
from rlhf_nb.stages.sft import SFTStageConfig
from rlhf_nb.stages.tracking import PolicyTracker
from rlhf_nb.store import RunStore
from rlhf_nb.tasks.addition import AdditionTask


def _finite(metrics):
    return all(math.isfinite(v) for v in metrics.values() if isinstance(v, (int, float)))


def test_sft_changes_the_policy_and_logs_falling_loss(toy_config, toy_pipeline):
    sft = toy_pipeline.sft
    fresh, _ = build_policy(toy_config.sft.policy, seed=toy_config.sft.seed)
    trained = load_causal_lm(sft.path / "model").cpu()  # load_causal_lm puts it on the GPU where there is one
    assert not all(torch.equal(a, b) for a, b in zip(fresh.parameters(), trained.parameters()))
    log = pd.read_csv(sft.path / "train_log.csv")
    assert log["loss"].iloc[-1] < log["loss"].iloc[0]
    assert _finite(sft.metrics) and sft.metrics["sft/flops"] > 0


def test_reward_model_is_initialised_from_sft_and_scores_like_rl(toy_pipeline):
    rm = toy_pipeline.reward
    assert rm.metrics["rm/comparisons"] > 0
    accuracies = {k: v for k, v in rm.metrics.items() if k.endswith("pairwise_acc")}
    # at toy scale a split may offer no (right, wrong) pair to compare: NaN, never a made-up number
    assert all(math.isnan(v) or 0.0 <= v <= 1.0 for v in accuracies.values())
    assert not all(math.isnan(v) for v in accuracies.values())
    assert _finite({k: rm.metrics[k] for k in ("rm/flops", "rm/seconds", "rm/comparisons", "rm/params")})
    proxy = ProxyReward(rm.path / "model")
    # one scoring path: the ids the trainer saw are the ids the scorer reads (no EOS appended)
    ids = reward_input_ids(proxy.tokenizer, "1+2=", "1+2=3")
    assert proxy.tokenizer.eos_token_id not in ids
    scores = proxy(["12+30+4="] * 2, ["12+30=42;42+4=46", "12+30=42;42+4=47"])
    assert len(scores) == 2 and all(math.isfinite(s) for s in scores)


def test_rl_changes_the_policy_and_tracks_gold_proxy_and_kl(toy_pipeline):
    rl = toy_pipeline.rl
    sft_model = load_causal_lm(toy_pipeline.sft.path / "model")
    rl_model = load_causal_lm(rl.path / "model")
    assert not all(torch.equal(a, b) for a, b in zip(sft_model.parameters(), rl_model.parameters()))
    curve = pd.read_csv(rl.path / "curve.csv")
    assert list(curve["step"]) == sorted(curve["step"]) and curve["step"].iloc[0] == 0
    assert curve["kl"].iloc[0] == pytest.approx(0.0, abs=1e-6)  # the policy is the reference at step 0
    assert {"gold_acc", "proxy_mean", "kl", "sqrt_kl"} <= set(curve.columns)
    log = pd.read_csv(rl.path / "train_log.csv")
    assert "rewards/gold/mean" in log and "rewards/proxy/mean" in log  # gold logged at weight 0
    assert _finite(rl.metrics)


def test_evaluation_reports_both_splits_and_modes(toy_pipeline):
    m = toy_pipeline.rl_eval.metrics
    for split in ("heldout", "ood"):
        for key in ("greedy_acc", "sampled_acc", "proxy_mean", "kl"):
            assert f"eval/{split}/{key}" in m
    assert abs(toy_pipeline.sft_eval.metrics["eval/heldout/kl"]) < 1e-5  # SFT vs itself


def test_rerun_loads_every_stage_from_the_store(toy_config, toy_store, toy_pipeline):
    again = run_pipeline(toy_config, toy_store)
    assert set(again.cached_stages) == {"sft", "reward", "rl", "eval"}
    assert again.rl.metrics == toy_pipeline.rl.metrics


def test_gold_reward_reads_the_answer_column():
    gold = GoldReward(AdditionTask())
    assert gold(["1+2="] * 2, ["1+2=3", "1+2=4"], answer=["3", "3"]) == [1.0, 0.0]
    with pytest.raises(ValueError, match="answer"):
        gold(["1+2="], ["1+2=3"])


@pytest.mark.parametrize("make, fragment", [
    (lambda: SFTStageConfig(sft_steps=0), "sft_steps"),
    (lambda: SFTStageConfig(policy="giant"), "unknown model preset"),
    (lambda: SFTStageConfig(policy="/no/such/checkpoint"), "does not exist"),
    (lambda: RLStageConfig(rl_steps=-1), "rl_steps"),
    (lambda: RLStageConfig(samples_per_prompt=1), "at least 2"),
    (lambda: RLStageConfig(prompts_per_step=6, samples_per_prompt=4, completions_per_micro_batch=16),
     "does not divide"),
    (lambda: RLStageConfig(algorithm="dpo"), "algorithm"),
    (lambda: RewardStageConfig(responses_per_prompt=1), "two responses"),
    (lambda: RewardStageConfig(responses_per_prompt=2, comparisons_per_prompt=3), "comparisons_per_prompt"),
    (lambda: EvalStageConfig(eval_prompts=0), "positive"),
])
def test_bad_stage_knobs_are_refused_before_training(make, fragment):
    with pytest.raises((ValueError, FileNotFoundError), match=fragment):
        make()


def test_tracker_scores_the_reference_at_the_policys_bf16_precision(toy_config, toy_pipeline):
    """Under bf16 training accelerate autocasts the policy's forward; KL to an identical reference must stay 0."""
    task = toy_config.task
    policy = load_causal_lm(toy_pipeline.sft.path / "model").cpu()
    ref = load_causal_lm(toy_pipeline.sft.path / "model").cpu()
    policy.forward = torch.autocast("cpu", dtype=torch.bfloat16)(policy.forward)  # what accelerate does to the policy
    def tracker():
        return PolicyTracker(task, load_tokenizer(toy_pipeline.sft.path / "model"), ref,
                             task.problems("heldout", 8, 0), every_steps=1, max_new_tokens=32, seed=0)

    unmatched = tracker().measure(policy, 0)["kl"]
    matched = tracker()
    matched.on_train_begin(SimpleNamespace(bf16=True), None, None, model=policy)
    assert abs(unmatched) > 1e-4  # the mismatch this guards against is visible on a CPU too
    assert matched.rows[0]["kl"] == pytest.approx(0.0, abs=1e-6)


def test_best_of_n_samples_once_per_sft_policy_and_scores_with_each_reward_model(toy_config, toy_pipeline, tmp_path):
    store = RunStore(tmp_path / "store")
    sft = toy_pipeline.sft
    other_rm = run_reward(store, toy_config.task, replace(toy_config.reward, seed=1), sft)
    problems = toy_config.task.problems("heldout", 4, 0)
    a = bon_rows(store, toy_config, sft, toy_pipeline.reward, problems, 4, 32, sample_seed=0, rm="first")
    b = bon_rows(store, toy_config, sft, other_rm, problems, 4, 32, sample_seed=0, rm="second")
    def runs(stage):
        return [p for p in (tmp_path / "store" / stage).iterdir() if p.is_dir()]
    assert len(runs("bon_pool")) == 1  # one pool for both reward models
    assert len(runs("bon_curve")) == 2
    assert a.loc[a.n == 1, "gold"].item() == b.loc[b.n == 1, "gold"].item()  # the same samples
    assert not a["proxy"].equals(b["proxy"])  # each reward model scored them
    assert list(a["rm"].unique()) == ["first"]
