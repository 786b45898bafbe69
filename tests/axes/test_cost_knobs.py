"""Every notebook exposes the same cost knobs, they reach the stage configs, and left at 0 they change no run id."""
from __future__ import annotations

import json
from dataclasses import fields, replace
from pathlib import Path

import pytest

from rlhf_nb.axes import rm_size_for_rl, samples_per_prompt
from rlhf_nb.axes.policy_family import Scale as PolicyScale
from rlhf_nb.axes.rm_family import Scale as RMScale
from rlhf_nb.models import default_learning_rate
from rlhf_nb.notebooks import declared_parameters, notebook_path
from rlhf_nb.pipeline.knobs import CostKnobs
from rlhf_nb.pipeline.dpo_runs import run_dpo
from rlhf_nb.pipeline.pooled_rm import pooled_params
from rlhf_nb.pipeline.rm_runs import RMEvalConfig, rm_sample_tokens, run_eval_pool
from rlhf_nb.pipeline.runs import PipelineConfig, run_rl
from rlhf_nb.stages.dpo import DPOStageConfig
from rlhf_nb.stages.reward import RewardStageConfig
from rlhf_nb.stages.rl import RLStageConfig
from rlhf_nb.store import RunStore
from rlhf_nb.study.presets import FULL_AXES
from rlhf_nb.tasks.addition import AdditionTask

POLICY_AXES = ("samples_per_prompt", "policy_size", "rm_size_for_rl", "rl_length_kl", "method", "direct_alignment")
RL_KNOBS = ("rl_micro_batch", "rl_max_tokens", "rl_learning_rate")
GIVEN = CostKnobs(sft_examples_per_step=8, sft_micro_batch=2, sft_learning_rate=1e-5, sft_max_tokens=96,
                  rm_micro_batch=1, rm_learning_rate=2e-5, rm_max_tokens=112, rm_sample_tokens=40, eval_max_tokens=72)


@pytest.mark.parametrize("axis", FULL_AXES)
def test_every_axis_notebook_declares_every_cost_knob_with_its_type(axis):
    declared = declared_parameters(notebook_path(axis))
    knobs = [f.name for f in fields(CostKnobs)] + (list(RL_KNOBS) if axis in POLICY_AXES else [])
    missing = [k for k in knobs if k not in declared]
    assert not missing, f"{axis}.ipynb lacks {missing}"
    types = {f.name: f.type for f in fields(CostKnobs)} | {"rl_micro_batch": "int", "rl_max_tokens": "int",
                                                          "rl_learning_rate": "float"}
    for name in knobs:
        assert declared[name]["inferred_type_name"] == types[name], (axis, name)
        assert declared[name]["default"] in ("0", "0.0"), (axis, name)  # 0: by model kind or from the data


def test_knobs_left_at_zero_resolve_to_the_defaults_so_run_ids_do_not_change():
    base, config = PipelineConfig(), PolicyScale().pipeline(0)
    assert config.sft == replace(base.sft, seed=0) and config.reward == replace(base.reward, seed=0)
    assert config.rl == replace(base.rl, seed=0) and config.eval == base.eval
    assert (config.rl.learning_rate, config.rl.max_completion_tokens, config.eval.max_completion_tokens) == \
        (3e-5, 40, 64)  # the addition task's budgets and the presets' RL rate, as before the knobs
    assert RMScale().reward_config(0) == replace(base.reward, seed=0, eval_prompts=0)


class _Run:
    def __init__(self, run_id: str, path: str = "/nonexistent"):
        self.run_id, self.path, self.params = run_id, Path(path), {"config": {"policy": "s"}}
        self.metrics = {}


class _Store(RunStore):
    """Records what a stage would be stored under instead of running it."""

    def __init__(self, root):
        super().__init__(root)
        self.params = []

    def execute(self, stage, params, compute):
        self.params.append((stage, params))
        return _Run(f"{stage}-{len(self.params)}")


def test_reward_model_sampling_of_the_addition_task_keeps_its_48_token_budget(tmp_path):
    """rm_chunk, rm_pool and pooled reward runs name 48 tokens, as they did when it was a constant."""
    task, sft = AdditionTask(), _Run("sft")
    assert rm_sample_tokens(task, RewardStageConfig(), sft) == 48
    assert rm_sample_tokens(task, RewardStageConfig(max_new_tokens=40), sft) == 40
    store = _Store(tmp_path)
    run_eval_pool(store, task, sft, "heldout", RMEvalConfig(prompts=4, samples_per_prompt=2, ns=(1, 2)))
    run_eval_pool(store, task, sft, "heldout", RMScale(eval_max_tokens=72).eval_config(prompts=4, samples_per_prompt=2,
                                                                                         ns=(1, 2)))
    assert [p["max_new_tokens"] for _, p in store.params] == [48, 72]
    config = replace(RewardStageConfig(comparisons=8, n_prompts=4), eval_prompts=0)
    assert pooled_params(task, config, [_Run("a"), _Run("b")], _Run("a"))["max_new_tokens"] == 48


def test_micro_batches_and_automatic_budgets_stay_out_of_rl_and_dpo_run_ids(tmp_path):
    task, sft, reward = AdditionTask(), _Run("sft"), _Run("rm")
    store = _Store(tmp_path)
    base = RLStageConfig(prompts_per_step=4, samples_per_prompt=2)
    run_rl(store, task, base, sft, reward)
    run_rl(store, task, replace(base, completions_per_micro_batch=4), sft, reward)
    run_rl(store, task, replace(base, max_completion_tokens=24), sft, reward)
    assert store.params[0] == store.params[1] and store.params[0] != store.params[2]
    run_dpo(store, task, DPOStageConfig(), sft, reward)
    run_dpo(store, task, DPOStageConfig(max_sequence_tokens=200), sft, reward)
    auto, given = store.params[-2][1]["config"], store.params[-1][1]["config"]
    assert "max_sequence_tokens" not in auto and given["max_sequence_tokens"] == 200


def test_given_knobs_reach_every_stage_of_a_policy_axis():
    config = PolicyScale(**GIVEN.cost_knobs(), rl_micro_batch=32, rl_max_tokens=56, rl_learning_rate=2e-6).pipeline(1)
    sft, reward, rl, ev = config.sft, config.reward, config.rl, config.eval
    assert (sft.examples_per_step, sft.examples_per_micro_batch, sft.learning_rate, sft.max_sequence_tokens) == \
        (8, 2, 1e-5, 96)
    assert (reward.comparisons_per_micro_batch, reward.learning_rate, reward.max_sequence_tokens,
            reward.max_new_tokens) == (1, 2e-5, 112, 40)
    assert (rl.completions_per_micro_batch, rl.max_completion_tokens, rl.learning_rate) == (32, 56, 2e-6)
    assert ev.max_completion_tokens == 72
    text = PolicyScale(**GIVEN.cost_knobs()).describe("method", {}, [0])
    assert "sft_micro_batch 2" in text and "up to 96 tokens" in text and "up to 72 tokens" in text


def test_given_knobs_reach_the_reward_model_axes_and_rm_size_for_rl_shares_them():
    rm = RMScale(**GIVEN.cost_knobs())
    cfg = rm.reward_config(2, n_prompts=16)
    assert (cfg.n_prompts, cfg.comparisons_per_micro_batch, cfg.learning_rate, cfg.max_sequence_tokens,
            cfg.max_new_tokens, cfg.eval_prompts) == (16, 1, 2e-5, 112, 40, 0)
    assert rm.eval_config(prompts=4, samples_per_prompt=2, ns=(1, 2)).max_new_tokens == 72
    policy_scale = PolicyScale(**GIVEN.cost_knobs())
    shared = rm_size_for_rl.rm_scale(policy_scale)  # the RMs' SFT run must be the RL policy's: same SFT knobs
    from rlhf_nb.axes.rm_family import sft_config
    assert sft_config(0, shared.policy, shared.sft_steps, shared.sft_problems, shared) == policy_scale.pipeline(0).sft


def test_the_rl_learning_rate_goes_by_model_kind(tmp_path):
    pretrained = tmp_path / "pretrained"  # SmolLM2-135M's shape: not a preset's
    pretrained.mkdir()
    (pretrained / "config.json").write_text(json.dumps({"hidden_size": 576, "num_hidden_layers": 30,
                                                         "intermediate_size": 1536, "vocab_size": 49152}))
    assert default_learning_rate("rl", "s") == 3e-5 and default_learning_rate("rl", str(pretrained)) == 1e-6
    from rlhf_nb.stages.ppo import PPOSettings, settings_for

    assert settings_for("s") == PPOSettings()  # a preset's PPO runs keep their ids
    assert settings_for(str(pretrained)) == PPOSettings(value_learning_rate=1e-5)  # the critic of a 135M checkpoint


def test_the_axis_command_refuses_a_knob_that_does_not_fit_in_one_line(tmp_path, capsys):
    """A cost knob given on the command line reaches the axis notebook's stage configs and is checked there."""
    from rlhf_nb.cli import main

    code = main(["axis", "samples_per_prompt", "--output-dir", str(tmp_path), "-p", "seeds", "0",
                 "-p", "sft_examples_per_step", "8", "-p", "sft_micro_batch", "3"])
    err = capsys.readouterr().err
    assert code == 2
    lines = [line for line in err.replace("\r", "\n").splitlines() if line.strip() and not line.startswith("Executing")]
    assert len(lines) == 1 and "examples_per_micro_batch=3 does not divide examples_per_step=8" in lines[0], err
    assert (tmp_path / "axes" / "samples_per_prompt.ipynb").exists()
    assert main(["axis", "pipeline", "--output-dir", str(tmp_path)]) == 2
    assert "no axis notebook 'pipeline'" in capsys.readouterr().err


def test_the_rl_micro_batch_of_samples_per_prompt_is_checked_against_each_points_own_step(tmp_path):
    scale = PolicyScale(rl_micro_batch=6)
    with pytest.raises(ValueError, match="does not divide"):
        scale.pipeline(0)  # the pipeline's default step (16 x 8) is not this axis's
    config = samples_per_prompt.per_point_scale(scale).pipeline(0)  # the axis's base: no micro-batch yet
    assert config.rl.completions_per_micro_batch == 0
    with pytest.raises(ValueError, match=r"completions_per_micro_batch=6.*2 x 4 = 8"):  # refused before any training
        samples_per_prompt.run_seed(0, tmp_path, samples=[3, 4], prompts_per_step=2, equal_total=0, scale=scale)
    assert not (tmp_path / "sft").exists()


def test_pooled_reward_data_samples_each_policy_at_its_own_budget(monkeypatch):
    import rlhf_nb.pipeline.pooled_rm as pooled_rm

    budgets = {"a": 48, "b": 96}
    monkeypatch.setattr(pooled_rm, "rm_sample_tokens", lambda task, config, sft: budgets[sft.run_id])
    config = RewardStageConfig(comparisons=8, n_prompts=4)
    assert pooled_rm._sample_tokens(AdditionTask(), config, [_Run("a"), _Run("b")], _Run("a")) == [48, 96, 48]
    budgets["b"] = 48
    assert pooled_rm._sample_tokens(AdditionTask(), config, [_Run("a"), _Run("b")], _Run("a")) == 48


def test_dpo_reads_the_reward_models_sequence_budget_when_its_own_is_automatic(tmp_path, monkeypatch):
    import rlhf_nb.pipeline.dpo_runs as dpo_runs

    seen = []
    monkeypatch.setattr(dpo_runs, "train_dpo", lambda config, *args, **kwargs: seen.append(config) or {})

    class _Computing(_Store):
        def execute(self, stage, params, compute):
            super().execute(stage, params, compute)
            compute(tmp_path)
            return _Run(stage)

    reward = _Run("rm", str(tmp_path))
    reward.metrics = {"rm/max_sequence_tokens": 160}
    (tmp_path / "comparisons.jsonl").write_text('{"prompt": "p", "chosen": "a", "rejected": "b"}\n')
    store = _Computing(tmp_path / "store")
    run_dpo(store, AdditionTask(), DPOStageConfig(), _Run("sft"), reward)
    run_dpo(store, AdditionTask(), DPOStageConfig(max_sequence_tokens=200), _Run("sft"), reward)
    assert [c.max_sequence_tokens for c in seen] == [160, 200]
    assert "max_sequence_tokens" not in store.params[0][1]["config"]  # automatic: the reward run's id pins it


def test_the_axis_command_puts_notebook_store_and_results_under_its_output_dir(tmp_path, monkeypatch):
    import rlhf_nb.cli as cli

    seen = {}

    def fake_execute(name, output, params):
        seen.update(params, name=name, output=output)
        return output

    monkeypatch.setattr(cli, "execute_notebook", fake_execute)
    assert cli.main(["axis", "rm_size", "--output-dir", str(tmp_path), "-p", "rm_sample_tokens", "96"]) == 0
    assert seen["name"] == "rm_size" and seen["output"] == tmp_path / "axes" / "rm_size.ipynb"
    assert (seen["store_dir"], seen["results_dir"]) == (str(tmp_path / "store"), str(tmp_path / "results"))
    assert seen["rm_sample_tokens"] == 96  # typed by the notebook's declaration, not left as text
    assert cli.main(["axis", "rm_size", "-p", "store_dir", "/elsewhere", "--output-dir", str(tmp_path)]) == 0
    assert seen["store_dir"] == "/elsewhere"
