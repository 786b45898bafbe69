"""One dialect for the axes: a Scale from notebook parameters in one call, one figure layout, decided findings."""
from __future__ import annotations

import json

import pytest

from rlhf_nb.analysis import PartSpec
from rlhf_nb.axes.policy_family import Scale as PolicyScale
from rlhf_nb.axes.results import (
    FIGURE_WIDTH_IN,
    axis_figure,
    decided_finding,
    save_figure,
    write_finding,
)
from rlhf_nb.axes.rm_family import Scale as RMScale


def test_a_scale_takes_its_fields_from_notebook_parameters_by_declared_type():
    params = {"task": "addition", "rl_steps": 60, "kl_coef": 0, "samples_per_prompt": "2,4,8", "prompts_per_step": 16,
              "seeds": "0,1,2", "unrelated": 3}
    scale = PolicyScale.from_params(params, exclude=("samples_per_prompt", "prompts_per_step"), rl_reward="proxy")
    assert scale.rl_steps == 60 and scale.kl_coef == 0.0 and isinstance(scale.kl_coef, float)
    assert scale.prompts_per_step == 0 and scale.samples_per_prompt == 0  # the axis's own knobs stay out
    assert scale.rl_reward == "proxy" and scale.task_spec == "addition"
    assert RMScale.from_params({"policy": "xs", "sft_steps": 5}).sft_steps == 5


@pytest.mark.parametrize("params, name", [({"rl_steps": "60"}, "rl_steps"), ({"kl_coef": True}, "kl_coef"),
                                          ({"task": 3}, "task")])
def test_a_parameter_of_the_wrong_type_is_refused_by_name(params, name):
    with pytest.raises(ValueError, match=f"parameter {name}="):
        PolicyScale.from_params(params)


def test_the_setup_text_states_the_values_in_force():
    text = PolicyScale.from_params({"rl_algorithm": "ppo", "rl_reward": "gold", "rl_steps": 7}).describe(
        "samples_per_prompt", {"samples_per_prompt": "2,4"}, [0, 1])
    assert "PPO against the gold verifier, 7 steps" in text and "samples_per_prompt**: 2,4" in text
    assert "GRPO" not in text


@pytest.mark.parametrize("panels, rows", [(1, 1), (2, 1), (3, 2), (4, 2)])
def test_one_figure_layout_fits_the_page(tmp_path, panels, rows):
    fig, axes = axis_figure(panels)
    assert len(axes) == panels and fig.get_size_inches()[0] == FIGURE_WIDTH_IN
    assert len({round(a.get_position().y0, 3) for a in axes}) == rows
    assert save_figure(fig, tmp_path, "an_axis", "curve") == "figures/an_axis/curve.png"
    assert (tmp_path / "figures" / "an_axis" / "curve.png").exists()


def test_a_decided_finding_records_every_part_with_its_seed_values(tmp_path):
    finding = decided_finding("H1", [PartSpec([0.10, 0.12, 0.09], "greater", 0.02, name="first doubling"),
                                     PartSpec([0.01, -0.02, 0.03], "less", 0.01, name="last - first/3")])
    assert finding.verdict == "inconclusive"  # part 1 shown, part 2 undecided
    assert [p["verdict"] for p in finding.parts] == ["shown", "inconclusive"]
    assert finding.parts[1]["values"] == [0.01, -0.02, 0.03] and finding.parts[1]["seeds_needed"] >= 3
    assert finding.claim == "samples per prompt saturate" and finding.axis == "samples_per_prompt"
    record = json.loads(write_finding(finding, tmp_path).read_text())
    assert record["parts"][0]["delta"] == 0.02 and record["parts"][0]["name"] == "first doubling"
