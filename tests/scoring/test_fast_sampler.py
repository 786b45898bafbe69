"""The fast sampler is the model: HF generate's greedy tokens, teacher-forced log-probs, the same distribution.

Models are built from configs (nothing downloaded): the ``xs`` and ``s`` presets, and Llama
configs with grouped-query attention, untied embeddings, biases and rotary variants. A
random-init model's next-token distribution is nearly uniform; the distribution tests scale
its embeddings to make it peaked (the model is still a plain Llama), so that a wrong
position, mask or cache would show.
"""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from scipy.stats import chi2_contingency, chisquare
from transformers import LlamaConfig, LlamaForCausalLM

from rlhf_nb.models import build_policy
from rlhf_nb.scoring.fast_sampler import (
    FastLlamaDecoder,
    unsupported_reason,
)
from rlhf_nb.scoring.sampling import (
    pad_ids,
    sample,
    sample_fast,
    sample_hf,
    sampler_name,
    sequence_logprobs,
    use_sampler,
)
from rlhf_nb.tasks.tokenizer import build_char_tokenizer

# prompts of different lengths (1 to 12 tokens): left padding and rotary positions must be right for each
PROMPTS = ["1+2=", "12+30+4=", "5", "7+8+9=", "3+9+4+7+1+2=", "66="]


def _llama(seed: int, **overrides) -> LlamaForCausalLM:
    tok = build_char_tokenizer()
    config = dict(vocab_size=len(tok), hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=128,
                  pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, bos_token_id=None)
    config.update(overrides)
    torch.manual_seed(seed)
    return LlamaForCausalLM(LlamaConfig(**config)).eval()


GQA = dict(num_attention_heads=4, num_key_value_heads=2, head_dim=16, tie_word_embeddings=False,
           attention_bias=True, rms_norm_eps=1e-5, rope_parameters={"rope_type": "default", "rope_theta": 500.0})
MODELS = {
    "xs": lambda: build_policy("xs", seed=0)[0],
    "s": lambda: build_policy("s", seed=1)[0],
    "gqa": lambda: _llama(2, **GQA),
    "mqa_linear_rope": lambda: _llama(3, num_attention_heads=4, num_key_value_heads=1, mlp_bias=True,
                                      rope_parameters={"rope_type": "linear", "rope_theta": 10000.0, "factor": 2.0}),
}


@pytest.fixture(scope="module")
def tok():
    return build_char_tokenizer()


@pytest.fixture(scope="module", params=sorted(MODELS))
def model(request):
    return MODELS[request.param]().eval()


def _peaked(model: LlamaForCausalLM, scale: float) -> LlamaForCausalLM:
    with torch.no_grad():
        model.model.embed_tokens.weight.mul_(scale)
    return model


def test_the_presets_and_llama_variants_are_supported(model):
    assert unsupported_reason(model) is None
    assert sampler_name(model) == "fast"


def test_greedy_equals_hf_generate_token_for_token(model, tok):
    prompts = PROMPTS * 3
    hf = sample_hf(model, tok, prompts, 24, greedy=True, batch_size=7)  # chunks mix prompt lengths differently
    fast = sample_fast(model, tok, prompts, 24, greedy=True, batch_size=5)
    assert fast.prompt_ids == hf.prompt_ids
    assert fast.completion_ids == hf.completion_ids
    assert fast.completions == hf.completions


@pytest.mark.parametrize("name", ["xs", "gqa"])
def test_greedy_stops_at_any_eos_id_and_pads_after_it(name, tok):
    """Several end-of-sequence ids at once, straight through generate(): stopped rows are padded exactly as HF pads."""
    model = MODELS[name]()
    rows = [tok(p)["input_ids"] for p in PROMPTS]
    plain = FastLlamaDecoder(model).generate(rows, 16, [], tok.pad_token_id, greedy=True)
    # end-of-sequence ids that the greedy completions do emit, at different steps
    eos = sorted({int(plain.tokens[i, 3 + i]) for i in range(len(rows))})[:2]
    ours = FastLlamaDecoder(model).generate(rows, 16, eos, tok.pad_token_id, greedy=True)
    input_ids, mask = pad_ids(rows, tok.pad_token_id, side="left")
    with torch.no_grad():
        out = model.generate(input_ids=input_ids, attention_mask=mask, do_sample=False, max_new_tokens=16,
                             eos_token_id=eos, pad_token_id=tok.pad_token_id, top_k=None, top_p=None,
                             temperature=None)
    theirs = out[:, input_ids.shape[1]:]
    width = theirs.shape[1]
    assert torch.equal(ours.tokens[:, :width], theirs)
    assert (ours.tokens[:, width:] == tok.pad_token_id).all()
    ids, logps = ours.rows()
    assert any(len(r) < 16 for r in ids)
    for r, lp in zip(ids, logps):
        assert len(r) == len(lp)
        assert all(t not in eos for t in r[:-1])  # cut right after the first end-of-sequence id
    stopped = ours.tokens != tok.pad_token_id
    assert (ours.logprobs[~stopped] == 0).all()


@pytest.mark.parametrize("greedy", [False, True])
def test_reported_logprobs_are_the_teacher_forced_ones(model, tok, greedy):
    prompts = PROMPTS * 4
    s = sample_fast(model, tok, prompts, 20, greedy=greedy, seed=11, batch_size=9)
    assert [len(lp) for lp in s.logprobs] == [len(c) for c in s.completion_ids]
    reported = torch.tensor([sum(lp) for lp in s.logprobs], dtype=torch.float64)
    forced = sequence_logprobs(model, tok, prompts, s.completion_ids, prompt_ids=s.prompt_ids).double()
    torch.testing.assert_close(reported, forced, rtol=0, atol=1e-5)


def test_hf_path_reports_the_same_logprobs(tok):
    model = MODELS["gqa"]()
    s = sample_hf(model, tok, PROMPTS * 2, 12, seed=4)
    reported = torch.tensor([sum(lp) for lp in s.logprobs], dtype=torch.float64)
    forced = sequence_logprobs(model, tok, s.prompts, s.completion_ids, prompt_ids=s.prompt_ids).double()
    torch.testing.assert_close(reported, forced, rtol=0, atol=1e-5)


def test_logprobs_at_a_temperature_are_of_the_tempered_distribution(tok):
    model = MODELS["s"]()
    prompts, t = PROMPTS, 0.7
    s = sample_fast(model, tok, prompts, 8, temperature=t, seed=2)
    full = [list(p) + list(c) for p, c in zip(s.prompt_ids, s.completion_ids)]
    input_ids, mask = pad_ids(full, tok.pad_token_id, side="left")
    with torch.no_grad():
        logits = model(input_ids=input_ids, attention_mask=mask).logits[:, :-1].float() / t
    logp = torch.log_softmax(logits, -1).gather(-1, input_ids[:, 1:, None]).squeeze(-1)
    for i, c in enumerate(s.completion_ids):
        torch.testing.assert_close(torch.tensor(s.logprobs[i]), logp[i, logp.shape[1] - len(c):], rtol=0, atol=1e-5)


def _first_two(samples) -> list[tuple[int, ...]]:
    return [tuple(c[:2]) for c in samples.completion_ids]


def _exact_first_two(model, tok, prompt: str) -> dict[tuple[int, ...], float]:
    """P(first two completion tokens) by teacher forcing; a completion that starts with EOS stops there."""
    ids = tok(prompt)["input_ids"]
    vocab = model.config.vocab_size
    with torch.no_grad():
        p1 = torch.softmax(model(input_ids=torch.tensor([ids])).logits[0, -1].double(), -1)
        seconds = torch.tensor([ids + [t] for t in range(vocab)])
        p2 = torch.softmax(model(input_ids=seconds).logits[:, -1].double(), -1)
    probs = {}
    for t1 in range(vocab):
        if t1 == tok.eos_token_id:
            probs[(t1,)] = float(p1[t1])
            continue
        for t2 in range(vocab):
            probs[(t1, t2)] = float(p1[t1] * p2[t1, t2])
    return probs


def _counts(draws, common, pooled: bool) -> list[int]:
    """How often each common outcome was drawn, then (``pooled``) all other outcomes together."""
    seen = dict.fromkeys(common, 0)
    other = 0
    for d in draws:
        if d in seen:
            seen[d] += 1
        else:
            other += 1
    return [seen[k] for k in common] + ([other] if pooled else [])


@pytest.mark.parametrize("name, scale", [("xs", 3.0), ("gqa", 4.0)])
def test_completions_are_distributed_as_hf_generates_them(name, scale, tok):
    """Chi-square over the first two tokens of 3000 draws per prompt and sampler: fast vs HF, and fast vs exact."""
    model = _peaked(MODELS[name](), scale)
    n = 3000
    for prompt in ("1+2=", "3+9+4+7="):
        fast = _first_two(sample_fast(model, tok, [prompt] * n, 2, seed=5, batch_size=1000))
        hf = _first_two(sample_hf(model, tok, [prompt] * n, 2, seed=6, batch_size=1000))
        exact = _exact_first_two(model, tok, prompt)
        # categories expected at least 5 times; the rest pooled into one
        common = sorted(k for k, p in exact.items() if p * n >= 5)
        assert len(common) >= 8, "the test distribution is too peaked to test anything"
        rare = sum(p for k, p in exact.items() if k not in set(common))
        pooled = rare * n >= 5
        table = np.array([_counts(fast, common, pooled), _counts(hf, common, pooled)])
        table = table[:, table.sum(0) > 0]
        p_two_sample = chi2_contingency(table)[1]
        expected = np.array([exact[k] for k in common] + ([rare] if pooled else []))
        expected = expected / expected.sum() * n
        observed = np.array(_counts(fast, common, pooled))
        if not pooled:  # rare outcomes drawn anyway go to the last category
            observed[-1] += n - observed.sum()
        p_exact = chisquare(observed, expected)[1]
        assert p_two_sample > 1e-3, (prompt, p_two_sample)
        assert p_exact > 1e-3, (prompt, p_exact)


def test_same_seed_same_samples_and_the_callers_random_state_is_untouched(tok, rng_states):
    model = MODELS["xs"]()
    torch.manual_seed(123), random.seed(123), np.random.seed(123)
    before = rng_states.now()
    a = sample(model, tok, PROMPTS * 3, 12, seed=7, batch_size=5)
    rng_states.assert_unchanged(before)
    torch.rand(100), random.random(), np.random.rand()  # the caller's streams move on
    b = sample(model, tok, PROMPTS * 3, 12, seed=7, batch_size=5)
    c = sample(model, tok, PROMPTS * 3, 12, seed=8, batch_size=5)
    assert a == b
    assert c.completion_ids != a.completion_ids
    torch.manual_seed(5)
    expected = torch.rand(4)
    torch.manual_seed(5)
    sample(model, tok, PROMPTS, 12, seed=7)
    torch.testing.assert_close(torch.rand(4), expected, rtol=0, atol=0)


def test_sampling_leaves_the_weights_alone(tok):
    model = MODELS["gqa"]()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    sample(model, tok, PROMPTS, 10, seed=1)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_sample_dispatch_and_its_fallbacks(tok):
    model = MODELS["xs"]()
    assert sampler_name(model) == "fast"
    with use_sampler("hf"):
        assert sampler_name(model) == "hf"
        forced = sample(model, tok, PROMPTS, 8, seed=3)
    assert forced == sample_hf(model, tok, PROMPTS, 8, seed=3)
    assert sample(model, tok, PROMPTS, 8, seed=3) == sample_fast(model, tok, PROMPTS, 8, seed=3)

    # a forward hook would be bypassed: HF generate runs instead (and the hook sees every forward)
    calls = []
    handle = model.register_forward_pre_hook(lambda m, a: calls.append(1))
    assert "forward hooks" in unsupported_reason(model) and sampler_name(model) == "hf"
    sample(model, tok, PROMPTS, 4, seed=3)
    assert calls
    with use_sampler("fast"), pytest.raises(ValueError, match="forward hooks"):
        sample(model, tok, PROMPTS, 4)
    handle.remove()

    # TRL's trainers wrap the instance's forward with a fused log-prob head (functools.wraps of Llama's own):
    # accepted, since generation goes through the unchanged forward; a forward of another kind is refused
    from trl.trainer.utils import add_fused_lm_head

    wrapped = MODELS["xs"]()
    add_fused_lm_head(wrapped)
    assert "forward" in vars(wrapped) and unsupported_reason(wrapped) is None
    wrapped.forward = lambda *a, **k: None
    assert "forward is replaced" in unsupported_reason(wrapped)
    patched = MODELS["xs"]()
    patched.generate = lambda *a, **k: None
    assert "generate is patched" in unsupported_reason(patched)

    class Custom(LlamaForCausalLM):
        pass

    custom = Custom(model.config).eval()
    assert "not a plain LlamaForCausalLM" in unsupported_reason(custom) and sampler_name(custom) == "hf"
    dynamic = _llama(0, rope_parameters={"rope_type": "dynamic", "rope_theta": 10000.0, "factor": 2.0})
    assert "rope_type" in unsupported_reason(dynamic)
    dropout = _llama(0, attention_dropout=0.1).train()
    assert "dropout" in unsupported_reason(dropout)
    assert unsupported_reason(dropout.eval()) is None
    with pytest.raises(ValueError, match="sampler="):
        sampler_name(model, "vllm")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_on_cuda_greedy_equals_hf_and_logprobs_are_teacher_forced(tok):
    model = MODELS["gqa"]().cuda()
    assert sampler_name(model) == "fast"
    hf = sample_hf(model, tok, PROMPTS * 2, 16, greedy=True)
    fast = sample_fast(model, tok, PROMPTS * 2, 16, greedy=True)
    assert fast.completion_ids == hf.completion_ids
    s = sample_fast(model, tok, PROMPTS * 4, 16, seed=3)
    assert s == sample_fast(model, tok, PROMPTS * 4, 16, seed=3)
    reported = torch.tensor([sum(lp) for lp in s.logprobs], dtype=torch.float64)
    forced = sequence_logprobs(model, tok, s.prompts, s.completion_ids, prompt_ids=s.prompt_ids).double()
    torch.testing.assert_close(reported, forced, rtol=0, atol=1e-5)
