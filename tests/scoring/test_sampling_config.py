"""Only the study's settings shape a sample: nothing from the checkpoint's generation_config leaks in."""
from __future__ import annotations

import copy

import pytest

from rlhf_nb.models import build_policy
from rlhf_nb.scoring.sampling import sample

PROMPTS = ["1+2=", "12+30+4=", "5+6=", "7+8+9="] * 4


@pytest.fixture(scope="module")
def models():
    plain, tok = build_policy("xs", seed=0)
    shipped = copy.deepcopy(plain)
    g = shipped.generation_config
    # what real checkpoints ship: penalties, n-gram blocking, truncation, their own temperature, extra EOS ids
    g.repetition_penalty = 1.5
    g.no_repeat_ngram_size = 2
    g.top_k = 3
    g.top_p = 0.5
    g.min_p = 0.3
    g.temperature = 0.7
    g.do_sample = True
    g.suppress_tokens = [tok.convert_tokens_to_ids("5")]
    g.eos_token_id = [tok.eos_token_id, tok.convert_tokens_to_ids("=")]
    g.max_new_tokens = 3
    return plain, shipped, tok


@pytest.mark.parametrize("greedy", [False, True])
def test_same_seed_same_samples_whatever_the_checkpoint_ships(models, greedy):
    plain, shipped, tok = models
    a = sample(plain, tok, PROMPTS, 12, greedy=greedy, seed=3)
    b = sample(shipped, tok, PROMPTS, 12, greedy=greedy, seed=3)
    assert a.completion_ids == b.completion_ids
    assert a.completions == b.completions
    assert shipped.generation_config.repetition_penalty == 1.5  # the model's own config is back after the call
    assert max(len(c) for c in b.completion_ids) > 3  # the checkpoint's max_new_tokens did not apply either


def test_the_config_is_plain_sampling_until_the_tokenizers_eos():
    from rlhf_nb.scoring.sampling import eos_token_ids, generation_config

    _, tok = build_policy("xs", seed=0)
    config = generation_config(tok, 9)
    assert config.do_sample and config.temperature == 1.0 and config.top_k == 0 and config.top_p == 1.0
    assert config.repetition_penalty == 1.0 and config.no_repeat_ngram_size == 0 and config.num_beams == 1
    assert config.max_new_tokens == 9 and config.pad_token_id == tok.pad_token_id
    assert config.eos_token_id == tok.eos_token_id == eos_token_ids(tok)[0]
    assert not generation_config(tok, 9, greedy=True).do_sample
