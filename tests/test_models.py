import pytest
import torch
from transformers import LlamaForCausalLM

from rlhf_nb.compute import forward_flops, train_flops
from rlhf_nb.device import use_bf16
from rlhf_nb.models import (
    PRESETS,
    build_policy,
    check_model_spec,
    count_parameters,
    is_preset_model,
    preset_parameter_counts,
)


def test_presets_span_at_least_30x_and_grow_monotonically():
    counts = preset_parameter_counts()
    assert len(counts) >= 5
    sizes = [counts[name] for name in PRESETS]
    assert sizes == sorted(sizes)
    assert sizes[-1] / sizes[0] >= 30
    assert 50_000 < sizes[0] < 200_000 and 3_000_000 < sizes[-1] < 8_000_000


def test_parameter_count_is_exact_and_counts_tied_weights_once():
    model, _ = build_policy("xs", seed=0)
    by_hand = sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
    assert count_parameters(model) == by_hand
    assert count_parameters(model, non_embedding=True) == by_hand - model.model.embed_tokens.weight.numel()


def test_same_seed_same_init_and_rotary_positions():
    a, _ = build_policy("xs", seed=3)
    b, _ = build_policy("xs", seed=3)
    c, _ = build_policy("xs", seed=4)
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters()))
    assert not all(torch.equal(x, y) for x, y in zip(a.parameters(), c.parameters()))
    assert a.config.model_type == "llama"  # rotary positions survive GRPO's left padding


def test_checkpoint_path_is_accepted_wherever_a_preset_is(tmp_path):
    model, tok = build_policy("xs", seed=0)
    model.save_pretrained(tmp_path / "ckpt")
    tok.save_pretrained(tmp_path / "ckpt")
    loaded, loaded_tok = build_policy(str(tmp_path / "ckpt"), seed=0)
    assert count_parameters(loaded) == count_parameters(model)
    assert loaded_tok("1+2=")["input_ids"] == tok("1+2=")["input_ids"]


@pytest.mark.parametrize("spec, error, fragment", [
    ("huge", ValueError, "unknown model preset"),
    ("/nonexistent/ckpt", FileNotFoundError, "does not exist"),
])
def test_bad_model_specs_are_refused_with_the_fix(spec, error, fragment):
    with pytest.raises(error, match=fragment):
        check_model_spec(spec)


def test_folder_without_config_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json"):
        check_model_spec(str(tmp_path))


def test_flops_estimates_follow_the_6n_and_2n_rules():
    assert train_flops(1000, 10) == 60_000
    assert forward_flops(1000, 10) == 20_000


def test_a_preset_shaped_checkpoint_keeps_fp32_in_every_stage_like_the_preset(tmp_path, monkeypatch):
    model, tokenizer = build_policy("xs", seed=0)
    model.save_pretrained(tmp_path / "xs-copy")
    tokenizer.save_pretrained(tmp_path / "xs-copy")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # a bf16-capable GPU
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert is_preset_model("xs") and is_preset_model(tmp_path / "xs-copy") and is_preset_model(str(tmp_path / "xs-copy"))
    assert not use_bf16("auto", is_preset_model(tmp_path / "xs-copy"))  # SFT, RM and RL decide alike
    other = build_policy("xs", seed=0)[0].config
    other.hidden_size, other.intermediate_size = 48, 96  # no preset has this shape
    LlamaForCausalLM(other).save_pretrained(tmp_path / "other")
    tokenizer.save_pretrained(tmp_path / "other")
    assert not is_preset_model(tmp_path / "other") and use_bf16("auto", is_preset_model(tmp_path / "other"))
