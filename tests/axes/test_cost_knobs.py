"""Every notebook exposes the same cost knobs, they reach the stage configs, and left at 0 they change no run id."""
from __future__ import annotations

import json
from dataclasses import fields, replace

import pytest

from rlhf_nb.axes import rm_size_for_rl
from rlhf_nb.axes.policy_family import Scale as PolicyScale
from rlhf_nb.axes.rm_family import Scale as RMScale
from rlhf_nb.models import default_learning_rate
from rlhf_nb.notebooks import declared_parameters, notebook_path
from rlhf_nb.pipeline.knobs import CostKnobs
from rlhf_nb.pipeline.rm_runs import RMEvalConfig
from rlhf_nb.pipeline.runs import PipelineConfig
from rlhf_nb.study.presets import FULL_AXES

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
    for f in fields(CostKnobs):
        assert declared[f.name]["inferred_type_name"] == f.type, (axis, f.name)
        assert declared[f.name]["default"] in ("0", "0.0"), (axis, f.name)  # 0: by model kind or from the data


def test_knobs_left_at_zero_resolve_to_the_defaults_so_run_ids_do_not_change():
    base, config = PipelineConfig(), PolicyScale().pipeline(0)
    assert config.sft == replace(base.sft, seed=0) and config.reward == replace(base.reward, seed=0)
    assert config.rl == replace(base.rl, seed=0) and config.eval == base.eval
    assert (config.rl.learning_rate, config.rl.max_completion_tokens, config.eval.max_completion_tokens) == \
        (3e-5, 40, 64)  # the addition task's budgets and the presets' RL rate, as before the knobs
    rm = RMScale()
    assert rm.reward_config(0) == replace(base.reward, seed=0, eval_prompts=0)
    assert rm.eval_config(prompts=4, samples_per_prompt=2, ns=(1, 2)) == \
        RMEvalConfig(prompts=4, samples_per_prompt=2, ns=(1, 2))


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
