"""Parameters are typed by the field they are for, never guessed from how the text looks."""
from __future__ import annotations

from dataclasses import asdict

import pytest

from rlhf_nb.axes.policy_family import Scale
from rlhf_nb.notebooks import notebook_path, parse_parameter_overrides
from rlhf_nb.stages.rl import RLStageConfig
from rlhf_nb.store import make_run_id
from rlhf_nb.tasks.local_data import MathDataTask
from rlhf_nb.tasks.registry import task_kwargs_from_text, typed_kwargs
from rlhf_nb.typed_values import convert, parse_bool, split_items


@pytest.mark.parametrize("text, value", [("true", True), ("TRUE", True), ("1", True), ("yes", True), ("On", True),
                                         ("false", False), ("False", False), ("0", False), ("NO", False),
                                         ("off", False), (" true ", True), ("'false'", False)])
def test_booleans_read_every_usual_spelling(text, value):
    assert parse_bool(text) is value


@pytest.mark.parametrize("text", ["ture", "2", "", "none", "y e s", "-1"])
def test_anything_else_is_not_a_boolean(text):
    with pytest.raises(ValueError, match="is not a boolean"):
        parse_bool(text, "analyze")


@pytest.mark.parametrize("text, kind, value", [("5", str, "5"), (" x ", str, " x "), ("0", float, 0.0), ("3.0", int, 3), ("1e-3", float, 0.001),
                                               ('"a, b"', str, "a, b"), ("07", int, 7), (5, str, "5"), (2, float, 2.0)])
def test_values_take_the_declared_type(text, kind, value):
    out = convert(text, kind, "x")
    assert out == value and type(out) is kind


@pytest.mark.parametrize("text, kind", [("3.5", int), ("abc", float), ("1,000", int), (True, int), ("nan", int)])
def test_a_value_that_does_not_convert_is_refused_by_name(text, kind):
    with pytest.raises(ValueError, match="steps="):
        convert(text, kind, "steps")


def test_command_line_parameters_follow_the_notebook_declaration():
    path = notebook_path("method")
    typed = parse_parameter_overrides([["analyze", "OFF"], ["kl_coef", "0"], ["task", "5"], ["rl_steps", "60"]], path)
    assert typed == {"analyze": False, "kl_coef": 0.0, "task": "5", "rl_steps": 60}
    assert type(typed["kl_coef"]) is float and type(typed["task"]) is str
    with pytest.raises(ValueError, match="analyze='ture' is not a boolean"):
        parse_parameter_overrides([["analyze", "ture"]], path)


def test_task_options_are_typed_by_the_task_field_and_may_quote_commas():
    raw = task_kwargs_from_text('skip_unparseable=False, ood_value=5, heldout_fraction=0.25, '
                                'prompt_format="Q: {question}, then A:"')
    typed = typed_kwargs(MathDataTask, raw)
    assert typed["skip_unparseable"] is False and typed["ood_value"] == "5" and typed["heldout_fraction"] == 0.25
    assert typed["prompt_format"] == "Q: {question}, then A:"
    with pytest.raises(ValueError, match="skip_unparseable='maybe' is not a boolean"):
        typed_kwargs(MathDataTask, {"skip_unparseable": "maybe"})
    with pytest.raises(ValueError, match="does not have"):
        typed_kwargs(MathDataTask, {"heldout_fractoin": "0.2"})
    assert split_items("a=1, b='x, y',, c=2") == ["a=1", "b='x, y'", "c=2"]


def test_one_configuration_has_one_run_id_whichever_route_typed_it():
    def rl_id(config: RLStageConfig) -> str:
        return make_run_id("rl", asdict(config))

    papermill_route = Scale.from_params({"kl_coef": 0, "rl_steps": 60}).pipeline(0).rl  # papermill injects ints
    cli = parse_parameter_overrides([["kl_coef", "0"], ["rl_steps", "60"]], notebook_path("method"))
    cli_route = Scale.from_params(cli).pipeline(0).rl
    assert rl_id(papermill_route) == rl_id(cli_route)
    assert rl_id(RLStageConfig(kl_coef=0)) == rl_id(RLStageConfig(kl_coef=0.0))
    assert rl_id(RLStageConfig(rl_steps=60.0)) == rl_id(RLStageConfig(rl_steps=60))
    with pytest.raises(ValueError, match="rl_steps"):
        RLStageConfig(rl_steps=60.5)
