"""Sampling completions from a policy and scoring their log-probabilities.

Used wherever the project draws from a policy outside a TRL trainer: reward-model data,
evaluation, best-of-n pools, KL estimates. Prompts are tokenized as TRL 1.16's SFT, GRPO and
RLOO trainers tokenize a text prompt (``tokenizer(text)``, special tokens included: a BOS for
tokenizers that add one, nothing for the character tokenizer), so a checkpoint sees the same
prompt ids in training and in evaluation. Completions are decoded without special tokens,
exactly as TRL's GRPO hands them to reward functions. Sampling runs where the model is (see
:func:`rlhf_nb.models.load_causal_lm` for placement on the GPU).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase


def prompt_token_ids(tokenizer: PreTrainedTokenizerBase, prompts: list[str]) -> list[list[int]]:
    """Prompt ids exactly as TRL's trainers make them from text prompts (with the tokenizer's special tokens)."""
    return tokenizer(list(prompts))["input_ids"]


@dataclass
class Samples:
    """Completions for a list of prompts: texts, token ids (EOS included when emitted) and lengths."""

    prompts: list[str]
    completions: list[str]
    completion_ids: list[list[int]]


@torch.no_grad()
def sample(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: list[str],
    max_new_tokens: int,
    greedy: bool = False,
    temperature: float = 1.0,
    seed: int = 0,
    batch_size: int = 256,
) -> Samples:
    """One completion per prompt (repeat a prompt to draw several), seeded for reproducibility."""
    model.eval()
    device = next(model.parameters()).device
    gen = torch.Generator(device="cpu").manual_seed(seed)
    texts, ids_out = [], []
    for start in range(0, len(prompts), batch_size):
        chunk = prompts[start : start + batch_size]
        # the ids of prompt_token_ids(), left-padded
        enc = tokenizer(chunk, return_tensors="pt", padding=True, padding_side="left").to(device)
        # generate() draws from torch's global RNG: seed it per chunk from our own generator.
        torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=gen)))
        out = model.generate(
            **enc,
            max_new_tokens=max_new_tokens,
            do_sample=not greedy,
            temperature=temperature if not greedy else None,
            top_k=None if greedy else 0,
            top_p=None if greedy else 1.0,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
        new = out[:, enc["input_ids"].shape[1] :].tolist()
        for row in new:
            if tokenizer.eos_token_id in row:
                row = row[: row.index(tokenizer.eos_token_id) + 1]
            else:
                row = [t for t in row if t != tokenizer.pad_token_id]
            ids_out.append(row)
            texts.append(tokenizer.decode(row, skip_special_tokens=True))
    return Samples(list(prompts), texts, ids_out)


@torch.no_grad()
def sequence_logprobs(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: list[str],
    completion_ids: list[list[int]],
    batch_size: int = 256,
) -> torch.Tensor:
    """Sum of log p(completion token | prefix) per sequence, at temperature 1."""
    model.eval()
    device = next(model.parameters()).device
    totals = []
    for start in range(0, len(prompts), batch_size):
        p_ids = prompt_token_ids(tokenizer, prompts[start : start + batch_size])
        c_ids = completion_ids[start : start + batch_size]
        seqs = [p + c for p, c in zip(p_ids, c_ids)]
        width = max(len(s) for s in seqs)
        # Left-pad so that rotary positions line up with generation (which also left-pads).
        input_ids = torch.full((len(seqs), width), tokenizer.pad_token_id, dtype=torch.long)
        attn = torch.zeros((len(seqs), width), dtype=torch.long)
        comp_mask = torch.zeros((len(seqs), width), dtype=torch.bool)
        for i, (p, c) in enumerate(zip(p_ids, c_ids)):
            s = p + c
            input_ids[i, width - len(s) :] = torch.tensor(s)
            attn[i, width - len(s) :] = 1
            comp_mask[i, width - len(c) :] = True
        input_ids, attn, comp_mask = input_ids.to(device), attn.to(device), comp_mask.to(device)
        logits = model(input_ids=input_ids, attention_mask=attn).logits[:, :-1].float()
        logp = torch.log_softmax(logits, dim=-1).gather(-1, input_ids[:, 1:, None]).squeeze(-1)
        totals.append((logp * comp_mask[:, 1:]).sum(-1).cpu())
    return torch.cat(totals) if totals else torch.zeros(0)
