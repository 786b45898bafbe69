"""A fast sampler for small Llama-style causal LMs: the decoding forward written out from the model's weights.

Why: on tiny models HF ``generate`` spends most of each decode step outside the arithmetic
(logits processors, stopping criteria, cache objects that concatenate every step, mask
construction, module calls). This module does the arithmetic and little else:

- the weights are read from the model at each call (no copy survives the call, so a model that
  is being trained is always sampled as it is now); the q/k/v and gate/up projections are
  concatenated for one matrix product each;
- a preallocated key/value cache of ``prompt width + max_new_tokens`` columns per layer (zeros
  where nothing is written yet; each step reads the columns written so far, at least 16);
- prompts are left-padded into one batch; a row's positions are ``cumsum(attention_mask) - 1``
  (pads at 0), exactly as ``generate`` makes them, and each generated token takes the next
  position; padded key columns are masked out of every attention;
- the Llama forward as ``transformers/models/llama/modeling_llama.py`` (5.x) computes it:
  RMSNorm (float32 variance, ``weight * normed.to(dtype)``), rotary embeddings from the
  model's own ``inv_freq`` buffer and ``attention_scaling`` (``cat(freqs, freqs)``,
  ``q * cos + rotate_half(q) * sin``), multi-head or grouped-query attention with scaling
  ``head_dim ** -0.5`` and a float32 softmax, the SwiGLU MLP, the final norm and ``lm_head``
  (which is the embedding matrix when ``tie_word_embeddings``); biases when the config asks
  for them;
- each step samples exactly from ``softmax(logits / temperature)`` (``torch.multinomial``,
  as ``generate`` does), or takes the argmax; rows stop at any end-of-sequence id and are
  padded with ``pad_id`` after it; generation ends when every row has stopped.

Randomness comes from a ``torch.Generator`` the caller passes (:func:`rlhf_nb.scoring.sampling.sample_fast` seeds one
per chunk from ``seed``); the global random streams are never read or advanced.

It reports the log-probability of every sampled token under the distribution it was drawn
from (temperature-scaled; for greedy decoding, the model's own temperature-1 distribution),
which at temperature 1 is what teacher forcing gives
(:func:`rlhf_nb.scoring.sampling.sequence_logprobs`).

Supported: a plain ``LlamaForCausalLM`` (the class itself, not a subclass or a PEFT wrapper)
in float32, float16 or bfloat16, all on one CPU or CUDA device, SiLU MLP, any rotary type whose
frequencies do not depend on the sequence length (not ``dynamic``/``longrope``), no attention
dropout while training, not quantized, no accelerate offloading hooks, no forward hooks and no
``generate`` or ``forward`` replaced on the instance (they would be bypassed: a hook counting
forward passes would count nothing); a wrapper of Llama's own forward set on the instance
(``functools.wraps``, as TRL's fused log-prob head and accelerate's autocast are) is accepted,
and not applied. Anything else is refused by :func:`unsupported_reason`, and
:func:`rlhf_nb.scoring.sampling.sample` then uses HF ``generate``.

Where the time goes (s preset, batch 128, one CPU thread): the matrix products of the
projections and the MLP take about 1 ms per step and are the floor; attention reads the whole
key/value cache of every row each step and is bound by memory traffic. Each distinct prompt is
run through the prefill once (GRPO repeats every prompt once per sample), and finished rows
leave the batch once they are a third of it.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass

import torch
import torch.nn.functional as F

DTYPES = (torch.float32, torch.float16, torch.bfloat16)
DYNAMIC_ROPE = ("dynamic", "longrope")  # frequencies that change with the sequence length
MIN_KEYS = 16  # attention reads at least this many cache columns (see FastLlamaDecoder._step)


def unsupported_reason(model) -> str | None:
    """Why the fast sampler cannot run ``model`` exactly, or None when it can."""
    from transformers import LlamaForCausalLM
    from transformers.models.llama.modeling_llama import (
        LlamaAttention,
        LlamaDecoderLayer,
        LlamaMLP,
        LlamaRMSNorm,
        LlamaRotaryEmbedding,
    )

    if type(model) is not LlamaForCausalLM:
        return f"{type(model).__name__} is not a plain LlamaForCausalLM"
    config = model.config
    if config.hidden_act not in ("silu", "swish"):
        return f"hidden_act={config.hidden_act!r} (only silu)"
    rope_type = (getattr(config, "rope_parameters", None) or {}).get("rope_type", "default")
    if rope_type in DYNAMIC_ROPE:
        return f"rope_type={rope_type!r} changes its frequencies with the sequence length"
    if getattr(model, "hf_quantizer", None) is not None or getattr(model, "is_quantized", False):
        return "the model is quantized"
    if model.training and float(config.attention_dropout or 0.0) > 0:
        return "attention dropout is active (training mode)"
    inner = model.model
    if type(inner.rotary_emb) is not LlamaRotaryEmbedding:
        return "the rotary embedding is not LlamaRotaryEmbedding"
    layers = list(inner.layers[: config.num_hidden_layers])
    for layer in layers:
        kinds = (type(layer), type(layer.self_attn), type(layer.mlp), type(layer.input_layernorm),
                 type(layer.post_attention_layernorm))
        if kinds != (LlamaDecoderLayer, LlamaAttention, LlamaMLP, LlamaRMSNorm, LlamaRMSNorm):
            return "a decoder layer has been replaced or wrapped"
    if type(inner.norm) is not LlamaRMSNorm:
        return "the final norm is not LlamaRMSNorm"
    if "generate" in vars(model):
        return "generate is patched on the instance"
    if "forward" in vars(model):  # a wrapper of Llama's own forward (TRL's fused log-prob head, autocast) is fine
        forward = vars(model)["forward"]
        if inspect.unwrap(getattr(forward, "__func__", forward)) is not inspect.unwrap(LlamaForCausalLM.forward):
            return "forward is replaced on the instance"
    params = list(model.parameters())
    devices = {p.device for p in params}
    if len(devices) != 1:
        return f"parameters on several devices: {sorted(str(d) for d in devices)}"
    device = devices.pop()
    if device.type not in ("cpu", "cuda"):
        return f"device {device} (cpu or cuda only)"
    dtypes = {p.dtype for p in params}
    if len(dtypes) != 1 or next(iter(dtypes)) not in DTYPES:
        return f"parameter dtypes {sorted(str(d) for d in dtypes)} (one of float32, float16, bfloat16)"
    from torch.nn.modules import module as nn_module

    if nn_module._global_forward_hooks or nn_module._global_forward_pre_hooks:
        return "global forward hooks are registered"
    for name, m in model.named_modules():
        if m._forward_hooks or m._forward_pre_hooks or getattr(m, "_hf_hook", None) is not None:
            return f"module {name or type(model).__name__!r} has forward hooks"
    return None


def is_supported(model) -> bool:
    return unsupported_reason(model) is None


@dataclass
class Generation:
    """Batched output: ``tokens`` [B, N] (``pad_id`` after a row's end-of-sequence token), ``logprobs`` [B, N]
    (0 after it) and ``lengths`` [B] (tokens up to and including the end-of-sequence token)."""

    tokens: torch.Tensor
    logprobs: torch.Tensor
    lengths: torch.Tensor

    def rows(self) -> tuple[list[list[int]], list[list[float]]]:
        """Per-row token ids and log-probs, each cut after its end-of-sequence token."""
        lengths = self.lengths.tolist()
        tokens, logprobs = self.tokens.tolist(), self.logprobs.tolist()
        return ([t[:n] for t, n in zip(tokens, lengths)], [lp[:n] for lp, n in zip(logprobs, lengths)])


class _Layer:
    __slots__ = ("bd", "bgu", "bo", "bqkv", "ln1", "ln2", "wd", "wgu", "wo", "wqkv")


def _cat_bias(*linears):
    if all(l.bias is None for l in linears):
        return None
    return torch.cat([l.bias if l.bias is not None else torch.zeros(l.out_features, dtype=l.weight.dtype,
                                                                   device=l.weight.device) for l in linears])


class FastLlamaDecoder:
    """A ``LlamaForCausalLM``'s weights, arranged for batched decoding with a preallocated KV cache.

    Build one per sampling call (the fused projections are copies of the weights as they are now).
    """

    @torch.no_grad()
    def __init__(self, model):
        reason = unsupported_reason(model)
        if reason is not None:
            raise ValueError(f"the fast sampler cannot run this model: {reason}")
        config = model.config
        inner = model.model
        self.device = inner.embed_tokens.weight.device
        self.dtype = inner.embed_tokens.weight.dtype
        self.n_heads = config.num_attention_heads
        self.n_kv = config.num_key_value_heads or config.num_attention_heads
        self.group = self.n_heads // self.n_kv
        self.head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        self.scaling = self.head_dim ** -0.5
        self.embed = inner.embed_tokens.weight
        self.layers = []
        for layer in inner.layers[: config.num_hidden_layers]:
            a, m, w = layer.self_attn, layer.mlp, _Layer()
            w.ln1 = (layer.input_layernorm.weight, layer.input_layernorm.variance_epsilon)
            w.wqkv = torch.cat([a.q_proj.weight, a.k_proj.weight, a.v_proj.weight])
            w.bqkv = _cat_bias(a.q_proj, a.k_proj, a.v_proj)
            w.wo, w.bo = a.o_proj.weight, a.o_proj.bias
            w.ln2 = (layer.post_attention_layernorm.weight, layer.post_attention_layernorm.variance_epsilon)
            w.wgu = torch.cat([m.gate_proj.weight, m.up_proj.weight])
            w.bgu = _cat_bias(m.gate_proj, m.up_proj)
            w.wd, w.bd = m.down_proj.weight, m.down_proj.bias
            self.layers.append(w)
        self.intermediate = config.intermediate_size
        self.norm = (inner.norm.weight, inner.norm.variance_epsilon)
        self.lm_head, self.lm_bias = model.lm_head.weight, model.lm_head.bias
        self.inv_freq = inner.rotary_emb.inv_freq.to(device=self.device, dtype=torch.float)
        self.attention_scaling = inner.rotary_emb.attention_scaling

    # -- the pieces, as modeling_llama computes them -------------------------------------------------------------
    def _rms(self, x: torch.Tensor, norm) -> torch.Tensor:
        weight, eps = norm
        h = x.to(torch.float32)
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps)
        return weight * h.to(x.dtype)

    def _rotary_table(self, n_positions: int) -> tuple[torch.Tensor, torch.Tensor]:
        """cos and sin for positions 0..n-1, [n, head_dim], as LlamaRotaryEmbedding.forward makes them."""
        positions = torch.arange(n_positions, device=self.device)
        freqs = positions[:, None].float() * self.inv_freq
        emb = torch.cat((freqs, freqs), dim=-1)
        return (emb.cos() * self.attention_scaling).to(self.dtype), (emb.sin() * self.attention_scaling).to(self.dtype)

    @staticmethod
    def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        half = x.shape[-1] // 2
        return x * cos + torch.cat((-x[..., half:], x[..., :half]), dim=-1) * sin

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(self._rms(x, self.norm), self.lm_head, self.lm_bias)

    def _mlp(self, x: torch.Tensor, w: _Layer) -> torch.Tensor:
        gate_up = F.linear(self._rms(x, w.ln2), w.wgu, w.bgu)
        act = F.silu(gate_up[..., : self.intermediate]) * gate_up[..., self.intermediate :]
        return x + F.linear(act, w.wd, w.bd)

    # -- prefill and decode -----------------------------------------------------------------------------------------
    def _prefill(self, ids, real, cos, sin, caches) -> torch.Tensor:
        """Run the left-padded prompts [B, P]; fill columns 0..P-1 of the caches; logits at the last column."""
        b, p = ids.shape
        nh, nkv, g, d = self.n_heads, self.n_kv, self.group, self.head_dim
        positions = (real.long().cumsum(-1) - 1).masked_fill(~real, 0)
        cos_p, sin_p = cos[positions][:, :, None, :], sin[positions][:, :, None, :]  # [B, P, 1, d]
        causal = torch.ones(p, p, dtype=torch.bool, device=self.device).tril()
        # a query sees earlier real keys; a padding query sees itself only (its output is never read)
        allowed = (causal[None] & real[:, None, :]) | torch.eye(p, dtype=torch.bool, device=self.device)[None]
        bias = torch.zeros(b, p, p, dtype=torch.float32, device=self.device)
        bias.masked_fill_(~allowed, float("-inf"))
        bias = bias[:, None, None]  # [B, 1, 1, P, P]
        x = F.embedding(ids, self.embed)
        for w, (k_cache, v_cache) in zip(self.layers, caches):
            qkv = F.linear(self._rms(x, w.ln1), w.wqkv, w.bqkv)
            qk = qkv[..., : (nh + nkv) * d].view(b, p, nh + nkv, d)
            qk = self._rotate(qk, cos_p, sin_p)
            # queries of a key/value head's group as one [g * P, d] block: 4-d matmuls, no broadcasting over g
            q = qk[:, :, :nh].reshape(b, p, nkv, g, d).permute(0, 2, 3, 1, 4).reshape(b, nkv, g * p, d)
            k_cache[:, :, :p] = qk[:, :, nh:].transpose(1, 2)
            v_cache[:, :, :p] = qkv[..., (nh + nkv) * d :].view(b, p, nkv, d).transpose(1, 2)
            scores = torch.matmul(q, k_cache[:, :, :p].transpose(-1, -2)).view(b, nkv, g, p, p) * self.scaling + bias
            attn = torch.softmax(scores, dim=-1, dtype=torch.float32).to(self.dtype).view(b, nkv, g * p, p)
            out = torch.matmul(attn, v_cache[:, :, :p]).view(b, nkv, g, p, d).permute(0, 3, 1, 2, 4).reshape(b, p, nh * d)
            x = x + F.linear(out, w.wo, w.bo)
            x = self._mlp(x, w)
        return self._logits(x[:, -1])

    def _step(self, tokens, column, cos_t, sin_t, bias, caches) -> torch.Tensor:
        """Feed one token per row [B] at cache column ``column``; logits for the next token [B, V].

        Attention reads the cache up to ``column``, and at least :data:`MIN_KEYS` columns: the
        columns past ``column`` hold zeros and are masked out (``bias`` -inf), so they add exact
        zeros, and MKL's batched products over fewer than 16 keys run several times slower than over
        16. Past that, every column read costs memory traffic, which is what attention here is bound by.
        """
        b = tokens.shape[0]
        nh, nkv, g, d = self.n_heads, self.n_kv, self.group, self.head_dim
        span = min(bias.shape[-1], max(column + 1, MIN_KEYS))
        bias[..., column] = 0.0  # the new token's own column becomes visible
        bias = bias[..., :span]
        x = F.embedding(tokens, self.embed)
        for w, (k_cache, v_cache) in zip(self.layers, caches):
            qkv = F.linear(self._rms(x, w.ln1), w.wqkv, w.bqkv)
            qk = self._rotate(qkv[:, : (nh + nkv) * d].view(b, nh + nkv, d), cos_t, sin_t)
            k_cache[:, :, column] = qk[:, nh:]
            v_cache[:, :, column] = qkv[:, (nh + nkv) * d :].view(b, nkv, d)
            q = qk[:, :nh].view(b, nkv, g, d)
            scores = torch.matmul(q, k_cache[:, :, :span].transpose(-1, -2)) * self.scaling + bias
            attn = torch.softmax(scores, dim=-1, dtype=torch.float32).to(self.dtype)
            out = torch.matmul(attn, v_cache[:, :, :span]).reshape(b, nh * d)
            x = x + F.linear(out, w.wo, w.bo)
            x = self._mlp(x, w)
        return self._logits(x)

    @torch.inference_mode()
    def generate(self, prompt_ids: list[list[int]], max_new_tokens: int, eos_ids: list[int], pad_id: int,
                 greedy: bool = False, temperature: float = 1.0,
                 generator: torch.Generator | None = None) -> Generation:
        """Complete every prompt (token id rows of any lengths, none empty) with up to ``max_new_tokens`` tokens."""
        if not prompt_ids:
            raise ValueError("generate got no prompts")
        if any(len(r) == 0 for r in prompt_ids):
            raise ValueError("an empty prompt: the fast sampler needs at least one token to condition on")
        if pad_id is None:
            raise ValueError("pad_id is None: give the tokenizer a pad token")
        if not greedy and not temperature > 0:
            raise ValueError(f"temperature={temperature}: must be positive (or sample greedily)")
        if not greedy and generator is None:
            raise ValueError("sampling needs a torch.Generator of its own (the global stream is never used)")
        b, n = len(prompt_ids), int(max_new_tokens)
        p = max(len(r) for r in prompt_ids)
        dev = self.device
        tokens = torch.full((b, n), int(pad_id), dtype=torch.long, device=dev)
        logprobs = torch.zeros((b, n), dtype=torch.float32, device=dev)
        out_len = torch.zeros(b, dtype=torch.long, device=dev)
        if n <= 0:
            return Generation(tokens, logprobs, out_len)

        # Each distinct prompt is run once (GRPO repeats every prompt once per sample), then copied to its rows.
        distinct: dict[tuple[int, ...], int] = {}
        inverse = torch.tensor([distinct.setdefault(tuple(int(t) for t in r), len(distinct)) for r in prompt_ids],
                               dtype=torch.long, device=dev)
        ids = torch.full((len(distinct), p), int(pad_id), dtype=torch.long)
        real = torch.zeros((len(distinct), p), dtype=torch.bool)
        for row, i in distinct.items():
            ids[i, p - len(row):] = torch.as_tensor(row, dtype=torch.long)
            real[i, p - len(row):] = True
        ids, real = ids.to(dev), real.to(dev)
        width = max(p + n, MIN_KEYS)  # at least MIN_KEYS columns (see _step)
        cos, sin = self._rotary_table(p + n)
        prompt_caches = [(torch.empty(len(distinct), self.n_kv, p, self.head_dim, dtype=self.dtype, device=dev),
                          torch.empty(len(distinct), self.n_kv, p, self.head_dim, dtype=self.dtype, device=dev))
                         for _ in self.layers]
        logits = self._prefill(ids, real, cos, sin, prompt_caches)[inverse]
        caches = []
        for k_prompt, v_prompt in prompt_caches:
            k_cache = torch.zeros(b, self.n_kv, width, self.head_dim, dtype=self.dtype, device=dev)
            v_cache = torch.zeros_like(k_cache)
            k_cache[:, :, :p], v_cache[:, :, :p] = k_prompt[inverse], v_prompt[inverse]
            caches.append((k_cache, v_cache))
        real = real[inverse]
        lengths = real.sum(-1)
        # additive attention mask over the cache columns: a row's padding and the columns not yet generated are
        # -inf; _step opens each generated column as it is written
        bias = torch.full((b, 1, 1, width), float("-inf"), dtype=torch.float32, device=dev)
        bias[:, 0, 0, :p].masked_fill_(real, 0.0)
        eos = torch.tensor(sorted({int(e) for e in eos_ids}), dtype=torch.long, device=dev)
        pad = torch.tensor(int(pad_id), dtype=torch.long, device=dev)

        # ``rows``: the original row of each row still in the batch; finished rows are dropped from the batch
        # (caches included) once they are a third of it, so the rest decode at the cost of their own number.
        rows = torch.arange(b, device=dev)
        done = torch.zeros(b, dtype=torch.bool, device=dev)
        check_every = 1 if dev.type == "cpu" else 8  # a host sync per step is cheap on the CPU only
        for t in range(n):
            scores = logits.float()
            if not greedy and temperature != 1.0:
                scores = scores / temperature
            logp = torch.log_softmax(scores, dim=-1)
            if greedy:
                step = scores.argmax(dim=-1)
            else:
                step = torch.multinomial(logp.exp(), 1, generator=generator).squeeze(1)
            step_lp = logp.gather(1, step[:, None]).squeeze(1)
            step = torch.where(done, pad, step)
            tokens[rows, t] = step
            logprobs[rows, t] = step_lp.masked_fill(done, 0.0)
            out_len[rows] += (~done).long()
            if eos.numel():
                done = done | torch.isin(step, eos)
            if t == n - 1:
                break
            if (t + 1) % check_every == 0:
                live = int((~done).sum())
                if live == 0:
                    break
                if live <= (2 * len(rows)) // 3:
                    keep = (~done).nonzero().squeeze(1)
                    rows, step, done, lengths, bias = rows[keep], step[keep], done[keep], lengths[keep], bias[keep]
                    caches = [(k_cache[keep], v_cache[keep]) for k_cache, v_cache in caches]
            positions = lengths + t
            logits = self._step(step, p + t, cos[positions][:, None], sin[positions][:, None], bias, caches)
        return Generation(tokens, logprobs, out_len)


def generate_ids(model, prompt_ids: list[list[int]], max_new_tokens: int, eos_ids: list[int], pad_id: int,
                 greedy: bool = False, temperature: float = 1.0, generator: torch.Generator | None = None,
                 ) -> tuple[list[list[int]], list[list[float]]]:
    """Completion ids (cut after the first end-of-sequence id) and their per-token log-probs, one row per prompt."""
    return FastLlamaDecoder(model).generate(prompt_ids, max_new_tokens, eos_ids, pad_id, greedy, temperature,
                                            generator).rows()
