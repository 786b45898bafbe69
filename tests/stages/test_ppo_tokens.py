"""PPO scores the very ids it sampled, BOS included, for a tokenizer whose post-processor adds one."""
from __future__ import annotations

import copy

import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from rlhf_nb.models import PRESETS
from rlhf_nb.scoring.sampling import sample, sequence_logprobs
from rlhf_nb.stages.ppo import PPOSettings, ValueModel, collect_rollout, make_batch
from rlhf_nb.tasks.tokenizer import ALPHABET

BOS = "<bos>"
PROMPTS = ["1+2=", "12+30+4=", "5+6=", "7+8+9="] * 2


def bos_char_tokenizer() -> PreTrainedTokenizerFast:
    """The task's character tokenizer with a BOS that ``tokenizer(text)`` adds (as Llama's does)."""
    vocab = {"<pad>": 0, "<eos>": 1, "<unk>": 2, BOS: 3}
    for ch in ALPHABET:
        vocab.setdefault(ch, len(vocab))
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Split("", behavior="isolated")
    core.decoder = decoders.Fuse()
    core.post_processor = processors.TemplateProcessing(single=f"{BOS} $A", special_tokens=[(BOS, vocab[BOS])])
    return PreTrainedTokenizerFast(tokenizer_object=core, bos_token=BOS, pad_token="<pad>", eos_token="<eos>",
                                   unk_token="<unk>", padding_side="left")


@pytest.fixture(scope="module")
def bos_policy():
    tok = bos_char_tokenizer()
    p = PRESETS["xs"]
    config = LlamaConfig(vocab_size=len(tok), hidden_size=p.hidden_size, intermediate_size=p.intermediate_size,
                         num_hidden_layers=p.layers, num_attention_heads=p.heads, num_key_value_heads=p.heads,
                         max_position_embeddings=128, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
                         bos_token_id=tok.bos_token_id, tie_word_embeddings=True)
    torch.manual_seed(0)
    return LlamaForCausalLM(config), tok


def _length_score(prompts, completions, completion_ids=None):
    return [len(c) / 10.0 for c in completions]


def test_the_tokenizer_adds_a_bos(bos_policy):
    _, tok = bos_policy
    assert tok("1+2=")["input_ids"][0] == tok.bos_token_id
    assert tok("1+2=", add_special_tokens=False)["input_ids"][0] != tok.bos_token_id


def test_ppo_logprobs_and_kl_are_those_of_the_sampled_ids(bos_policy):
    policy, tok = bos_policy
    ref = copy.deepcopy(policy)
    with torch.no_grad():  # a reference that differs, so the KL is not trivially 0
        for p in ref.parameters():
            p.add_(0.05 * torch.randn_like(p))
    seed, max_new = 11, 10
    samples = sample(policy, tok, PROMPTS, max_new, seed=seed)

    rollout, completions = collect_rollout(policy, ValueModel(policy), ref, tok, PROMPTS, _length_score, kl_coef=0.1,
                                           max_new_tokens=max_new, settings=PPOSettings(), seed=seed)
    assert completions == samples.completions
    # per-sequence log-probs and KL: the sampler's teacher-forced ones (prompt tokenized as sampled, BOS first)
    lp = sequence_logprobs(policy, tok, PROMPTS, samples.completion_ids)
    lr = sequence_logprobs(ref, tok, PROMPTS, samples.completion_ids)
    torch.testing.assert_close(rollout.logprobs.sum(-1).cpu(), lp, atol=1e-5, rtol=0)
    torch.testing.assert_close(rollout.kl.cpu(), lp - lr, atol=1e-5, rtol=0)
    # the batch (which the value model reads too) is exactly the sampled prompt ids (BOS first) + completion ids,
    # left-padded
    assert [ids[0] for ids in samples.prompt_ids] == [tok.bos_token_id] * len(PROMPTS)
    width = max(len(p) + len(c) for p, c in zip(samples.prompt_ids, samples.completion_ids))
    expected = [[tok.pad_token_id] * (width - len(p) - len(c)) + p + c
                for p, c in zip(samples.prompt_ids, samples.completion_ids)]
    assert rollout.batch.input_ids.cpu().tolist() == expected


def test_make_batch_tokenizes_prompts_as_the_sampler_does(bos_policy):
    _, tok = bos_policy
    completion_ids = [[5, 1], [6], [], [7, 8, 1]]
    prompts = PROMPTS[:4]
    derived = make_batch(tok, prompts, completion_ids, torch.device("cpu"))
    first_real = derived.attention_mask.argmax(-1)  # left padding: each row's first attended position
    assert derived.input_ids[torch.arange(4), first_real].tolist() == [tok.bos_token_id] * 4
    assert derived.completion_mask.sum(-1).tolist() == [2.0, 1.0, 0.0, 3.0]
    assert derived.completion_mask[:, -1].tolist() == [1.0, 1.0, 0.0, 1.0]  # completions end at the last position
    given = make_batch(tok, prompts, completion_ids, torch.device("cpu"),
                       prompt_ids=[tok(p)["input_ids"] for p in prompts])
    assert torch.equal(given.input_ids, derived.input_ids)
    assert torch.equal(given.completion_mask, derived.completion_mask)
