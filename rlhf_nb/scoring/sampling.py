"""Sampling completions from a policy and scoring their log-probabilities.

Used wherever the project draws from a policy outside a TRL trainer: reward-model data,
evaluation, best-of-n pools, KL estimates, PPO rollouts. Prompts are tokenized as TRL 1.16's
SFT, GRPO and RLOO trainers tokenize a text prompt (``tokenizer(text)``, special tokens
included: a BOS for tokenizers that add one, nothing for the character tokenizer), so a
checkpoint sees the same prompt ids in training and in evaluation; :class:`Samples` keeps
those ids, so whoever scores a sample scores exactly what was sampled. Completions are decoded
without special tokens, exactly as TRL's GRPO hands them to reward functions. Sampling runs
where the model is (see :func:`rlhf_nb.models.load_causal_lm` for placement on the GPU).

Two promises every helper here keeps:

- the caller's random state is never touched: a sample draws from a random stream of its
  own, seeded from ``seed`` (:func:`seeded_rng`), so tracking a training run (which samples)
  cannot change the run's own draws;
- only the settings chosen here shape a sample (:func:`generation_config`): nothing a
  checkpoint ships in its ``generation_config`` (repetition penalty, n-gram blocking, top-k,
  extra end-of-sequence ids, ...) leaks in.

Two samplers keep them, and :func:`sample` picks one per model (:func:`sampler_name`): the fast
sampler (:mod:`rlhf_nb.scoring.fast_sampler`: the Llama decoding forward written out, seeded
with a ``torch.Generator`` of its own) for a plain ``LlamaForCausalLM`` it supports, else HF
``generate`` (:func:`sample_hf`). Both sample exactly from the model's distribution at the
given temperature, but they draw different random numbers: the same seed gives different
(equally distributed) samples on the two paths, so whoever records a run's parameters records
:func:`sampler_name` too. :func:`use_sampler` forces one for a block of code.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

import torch
from transformers import GenerationConfig, PreTrainedModel, PreTrainedTokenizerBase

from .fast_sampler import FastLlamaDecoder, unsupported_reason


def prompt_token_ids(tokenizer: PreTrainedTokenizerBase, prompts: list[str]) -> list[list[int]]:
    """Prompt ids exactly as TRL's trainers make them from text prompts (with the tokenizer's special tokens)."""
    return tokenizer(list(prompts))["input_ids"]


def pad_ids(rows: Sequence[Sequence[int]], pad_id: int, side: str = "right") -> tuple[torch.Tensor, torch.Tensor]:
    """Token id rows of unequal lengths as one batch: ``(input_ids, attention_mask)``.

    Both are long tensors of shape [B, T], T the longest row's length; the mask is 1 on a row's
    own tokens and 0 on padding (filled with ``pad_id``). ``side="left"`` puts every row's last
    token at position T - 1 (generation and rollouts read there); ``side="right"`` keeps
    position 0 aligned (scalar heads read each row's last real token). An empty row is all
    padding. Raises ValueError for an empty batch, a missing ``pad_id`` or another ``side``.
    """
    if side not in ("left", "right"):
        raise ValueError(f"side={side!r}: use 'left' or 'right'")
    if len(rows) == 0:
        raise ValueError("pad_ids got an empty batch: there is nothing to pad")
    if pad_id is None:
        raise ValueError("pad_id is None: give the tokenizer a pad token (rlhf_nb.models.load_tokenizer does)")
    width = max(len(r) for r in rows)
    input_ids = torch.full((len(rows), width), int(pad_id), dtype=torch.long)
    attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        if len(row) == 0:
            continue
        span = slice(width - len(row), width) if side == "left" else slice(0, len(row))
        input_ids[i, span] = torch.as_tensor(list(row), dtype=torch.long)
        attention_mask[i, span] = 1
    return input_ids, attention_mask


def eos_token_ids(tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """Every end-of-sequence id the tokenizer declares (none: an empty list), in order, without repeats."""
    eos = tokenizer.eos_token_id
    ids = eos if isinstance(eos, (list, tuple)) else [eos]
    return list(dict.fromkeys(int(i) for i in ids if i is not None))


def generation_config(tokenizer: PreTrainedTokenizerBase, max_new_tokens: int, greedy: bool = False,
                      temperature: float = 1.0) -> GenerationConfig:
    """The only settings a sample is drawn with: plain sampling at ``temperature`` (or greedy), nothing else.

    No top-k (0) and no top-p (1.0) truncation, no repetition penalty or n-gram blocking, one
    sequence per prompt; generation stops at any end-of-sequence id of the tokenizer
    (:func:`eos_token_ids`) or after ``max_new_tokens`` tokens, and pads finished rows with
    the tokenizer's pad id. :func:`sample` lends this config to the model as its own for the
    call, so whatever the checkpoint's ``generation_config`` holds is never consulted.
    """
    eos = eos_token_ids(tokenizer)
    return GenerationConfig(
        do_sample=not greedy,
        temperature=None if greedy else temperature,
        top_k=None if greedy else 0,
        top_p=None if greedy else 1.0,
        num_beams=1,
        num_return_sequences=1,
        repetition_penalty=1.0,
        no_repeat_ngram_size=0,
        max_new_tokens=max_new_tokens,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=eos if len(eos) > 1 else (eos[0] if eos else None),
        bos_token_id=tokenizer.bos_token_id,
    )


@contextmanager
def _only_generation_config(model: PreTrainedModel, config: GenerationConfig) -> Iterator[None]:
    """``model.generation_config`` is ``config`` inside the block, and the model's own again after it.

    Passing ``generation_config=`` to ``generate`` is not enough in transformers 5: every field
    left unset (None) there is filled from ``model.generation_config`` (min_p, suppress_tokens,
    a custom cache, ...). With the model's own config swapped out, only transformers' global
    defaults remain to fill them, and for every field :func:`generation_config` leaves unset
    those are inactive (the one active default, top-k 50, is set to 0 there when sampling).
    """
    own = model.generation_config
    model.generation_config = config
    try:
        yield
    finally:
        model.generation_config = own


@contextmanager
def seeded_rng(seed: int, device: torch.device | str = "cpu") -> Iterator[None]:
    """Inside the block torch's random streams for ``device`` (and the CPU's) start from ``seed``; after it
    they are exactly what they were before, as if the block had not run.

    Used by :func:`sample_hf` (the fast sampler takes a ``torch.Generator`` of its own). Why a
    fork of the global streams there rather than a generator: ``generate`` in transformers 5
    takes no generator and draws its samples from the global stream of the model's device.
    Forking is exact (``generate`` runs unchanged, every one of its code paths included, and
    draws exactly the numbers a call after ``torch.manual_seed(seed)`` would draw, so a seeded
    HF sample is the same with or without the fork). Only the CPU stream and the stream of ``device`` are forked and seeded; other GPUs
    of the process are not touched.
    """
    device = torch.device(device)
    if device.type == "cpu":
        with torch.random.fork_rng(devices=[]):
            torch.random.default_generator.manual_seed(seed)
            yield
        return
    module = torch.get_device_module(device.type)
    index = device.index if device.index is not None else module.current_device()
    with torch.random.fork_rng(devices=[index], device_type=device.type):
        torch.random.default_generator.manual_seed(seed)
        with module.device(index):
            module.manual_seed(seed)  # the current device's stream only (manual_seed_all would touch the others)
        yield


@dataclass
class Samples:
    """Completions for a list of prompts: texts, and the exact token ids they were sampled from and as.

    ``completion_ids`` are the sampled tokens up to and including the first end-of-sequence
    token when one was emitted (else all ``max_new_tokens`` of them); ``prompt_ids`` are the
    prompt ids the model was conditioned on (without padding). Scoring ``prompt_ids[i] +
    completion_ids[i]`` scores exactly what was sampled. ``logprobs[i][j]`` is the log-probability
    (nats) of ``completion_ids[i][j]`` under the distribution it was drawn from: the model's at
    ``temperature`` (for greedy decoding, at temperature 1); at temperature 1 their sum is what
    :func:`sequence_logprobs` gives, up to float rounding.
    """

    prompts: list[str]
    completions: list[str]
    completion_ids: list[list[int]]
    prompt_ids: list[list[int]] = field(default_factory=list)
    logprobs: list[list[float]] = field(default_factory=list)


def _cut_at_eos(row: list[int], eos: list[int]) -> list[int]:
    """A generated row up to its first end-of-sequence token (included); padding only ever follows one."""
    ends = [i for i, t in enumerate(row) if t in eos]
    return row[: ends[0] + 1] if ends else row


SAMPLERS = ("auto", "hf", "fast")
_FORCED: ContextVar[str] = ContextVar("rlhf_nb_sampler", default="auto")


@contextmanager
def use_sampler(name: str) -> Iterator[None]:
    """Inside the block :func:`sample` uses ``name``: "hf" (HF ``generate``), "fast" (refuses an unsupported
    model) or "auto" (fast when the model supports it, the default outside any block). Nests; per thread/task."""
    if name not in SAMPLERS:
        raise ValueError(f"sampler={name!r}: use one of {SAMPLERS}")
    token = _FORCED.set(name)
    try:
        yield
    finally:
        _FORCED.reset(token)


def sampler_name(model: PreTrainedModel, sampler: str | None = None) -> str:
    """The sampler :func:`sample` uses for ``model``: "fast" or "hf".

    ``sampler`` (default: the one :func:`use_sampler` set, else "auto") is "auto" (fast when
    :func:`rlhf_nb.scoring.fast_sampler.unsupported_reason` finds nothing against it), "hf", or
    "fast" (raises ValueError, with the reason, for a model the fast sampler cannot run exactly).
    """

    sampler = sampler or _FORCED.get()
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler={sampler!r}: use one of {SAMPLERS}")
    if sampler == "hf":
        return "hf"
    reason = unsupported_reason(model)
    if reason is None:
        return "fast"
    if sampler == "fast":
        raise ValueError(f"sampler='fast' cannot run this model: {reason}; use 'auto' or 'hf'")
    return "hf"


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
    """One completion per prompt (repeat a prompt to draw several), seeded for reproducibility.

    The same arguments give the same samples, whatever the caller's random state, and the
    caller's random state is left as it was. Chunk k of ``batch_size`` prompts draws from a
    stream seeded by the k-th number of a ``torch.Generator`` seeded with ``seed``. The model
    samples with :func:`generation_config`'s settings only. The sampler is
    :func:`sampler_name`'s choice: :func:`sample_fast` or
    :func:`sample_hf`.
    """
    model.eval()  # both paths sample the model in eval mode (no dropout) and leave it there
    if sampler_name(model) == "fast":
        return sample_fast(model, tokenizer, prompts, max_new_tokens, greedy, temperature, seed, batch_size)
    return sample_hf(model, tokenizer, prompts, max_new_tokens, greedy, temperature, seed, batch_size)


@torch.no_grad()
def sample_hf(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: list[str],
    max_new_tokens: int,
    greedy: bool = False,
    temperature: float = 1.0,
    seed: int = 0,
    batch_size: int = 256,
) -> Samples:
    """:func:`sample` through HF ``generate``, inside a forked, seeded copy of the global streams (:func:`seeded_rng`)."""
    model.eval()
    device = next(model.parameters()).device
    chunk_seeds = torch.Generator(device="cpu").manual_seed(seed)
    config = generation_config(tokenizer, max_new_tokens, greedy, temperature)
    config.output_logits, config.return_dict_in_generate = True, True  # the log-probs of what was sampled
    eos = eos_token_ids(tokenizer)
    texts, ids_out, prompt_ids, logps_out = [], [], [], []
    for start in range(0, len(prompts), batch_size):
        chunk_ids = prompt_token_ids(tokenizer, prompts[start : start + batch_size])
        input_ids, attention_mask = pad_ids(chunk_ids, tokenizer.pad_token_id, side="left")
        chunk_seed = int(torch.randint(0, 2**31 - 1, (1,), generator=chunk_seeds))
        with seeded_rng(chunk_seed, device), _only_generation_config(model, config):
            out = model.generate(input_ids=input_ids.to(device), attention_mask=attention_mask.to(device),
                                 generation_config=config)
        generated = out.sequences[:, input_ids.shape[1] :]
        if generated.shape[1]:
            # the raw logits of each step, scaled as the sampler scaled them (greedy: temperature 1)
            logits = torch.stack(out.logits, dim=1).float()
            if not greedy and temperature != 1.0:
                logits = logits / temperature
            step_logps = torch.log_softmax(logits, dim=-1).gather(-1, generated[..., None]).squeeze(-1).tolist()
        else:
            step_logps = [[] for _ in chunk_ids]
        for ids, row, lps in zip(chunk_ids, generated.tolist(), step_logps):
            row = _cut_at_eos(row, eos)
            prompt_ids.append(list(ids))
            ids_out.append(row)
            logps_out.append(lps[: len(row)])
            texts.append(tokenizer.decode(row, skip_special_tokens=True))
    return Samples(list(prompts), texts, ids_out, prompt_ids, logps_out)


@torch.no_grad()
def sequence_logprobs(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: list[str],
    completion_ids: list[list[int]],
    batch_size: int = 256,
    prompt_ids: list[list[int]] | None = None,
) -> torch.Tensor:
    """Sum of log p(completion token | prefix) per sequence, at temperature 1, in nats: shape [len(prompts)].

    The prefix is ``prompt_ids`` when given (pass :attr:`Samples.prompt_ids` to score exactly
    what was sampled), else the prompts tokenized as :func:`sample` tokenizes them.
    """
    model.eval()
    device = next(model.parameters()).device
    totals = []
    for start in range(0, len(prompts), batch_size):
        p_ids = (prompt_ids[start : start + batch_size] if prompt_ids is not None
                 else prompt_token_ids(tokenizer, prompts[start : start + batch_size]))
        c_ids = completion_ids[start : start + batch_size]
        # Left-padded so that rotary positions line up with generation (which also left-pads).
        input_ids, attn = pad_ids([list(p) + list(c) for p, c in zip(p_ids, c_ids)], tokenizer.pad_token_id,
                                  side="left")
        width = input_ids.shape[1]
        lengths = torch.tensor([len(c) for c in c_ids])
        comp_mask = torch.arange(width)[None, :] >= width - lengths[:, None]  # each row's last len(c) positions
        input_ids, attn, comp_mask = input_ids.to(device), attn.to(device), comp_mask.to(device)
        logits = model(input_ids=input_ids, attention_mask=attn).logits[:, :-1].float()
        logp = torch.log_softmax(logits, dim=-1).gather(-1, input_ids[:, 1:, None]).squeeze(-1)
        totals.append((logp * comp_mask[:, 1:]).sum(-1).cpu())
    return torch.cat(totals) if totals else torch.zeros(0)


@torch.no_grad()
def sample_fast(model, tokenizer, prompts: list[str], max_new_tokens: int, greedy: bool = False,
                temperature: float = 1.0, seed: int = 0, batch_size: int = 256):
    """:func:`sample` through the fast decoder (:class:`rlhf_nb.scoring.fast_sampler.FastLlamaDecoder`): the same arguments, the same :class:`Samples`.

    Prompts are tokenized as ``sample`` tokenizes them; chunk k of ``batch_size`` prompts draws
    from a ``torch.Generator`` (on the model's device) seeded by the k-th number of a
    ``torch.Generator`` seeded with ``seed``, as ``sample`` seeds its chunks. The model's mode is
    left as it was (the forward here has no dropout to switch off).
    """
    decoder = FastLlamaDecoder(model)
    chunk_seeds = torch.Generator(device="cpu").manual_seed(seed)
    eos = eos_token_ids(tokenizer)
    texts, ids_out, logps_out, prompt_ids = [], [], [], []
    for start in range(0, len(prompts), batch_size):
        chunk_ids = [list(r) for r in prompt_token_ids(tokenizer, prompts[start : start + batch_size])]
        chunk_seed = int(torch.randint(0, 2**31 - 1, (1,), generator=chunk_seeds))
        generator = None if greedy else torch.Generator(device=decoder.device).manual_seed(chunk_seed)
        rows, logps = decoder.generate(chunk_ids, max_new_tokens, eos, tokenizer.pad_token_id, greedy, temperature,
                                       generator).rows()
        prompt_ids.extend(chunk_ids)
        ids_out.extend(rows)
        logps_out.extend(logps)
        texts.extend(tokenizer.batch_decode(rows, skip_special_tokens=True))
    return Samples(list(prompts), texts, ids_out, prompt_ids, logps_out)
