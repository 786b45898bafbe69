"""Helpers for the real-scale tests: a tiny checkpoint saved to disk with a chat template, and tiny real-format data.

The checkpoint is an ``xs``-shaped Llama built from a config, with a character tokenizer over
printable ASCII (so English questions tokenize) and a chat template; it goes through every
stage by path, as a downloaded checkpoint would. The data mixes GSM8K-style, MATH-style and
plain records whose answers are 2, 3 or 4, so that a policy after a few SFT steps is right
sometimes and wrong sometimes (a reward model needs both).
"""
from __future__ import annotations

import json
import string
from pathlib import Path

CHAT_TEMPLATE = ("{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
                 "{% if add_generation_prompt %}<|assistant|>{% endif %}")
NAMES = ["Ann", "Bo", "Cy", "Di", "Ed", "Fay", "Gus", "Hal", "Ida", "Jo", "Kim", "Lu"]


def build_tiny_checkpoint(path: Path, chat_template: str | None = CHAT_TEMPLATE) -> Path:
    """Save an xs-shaped Llama and a printable-ASCII character tokenizer (with ``chat_template``) to ``path``."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from rlhf_nb.models import PRESETS
    from rlhf_nb.tasks.tokenizer import build_char_tokenizer

    tokenizer = build_char_tokenizer(string.ascii_letters + string.digits + string.punctuation + " \n")
    if chat_template:
        tokenizer.chat_template = chat_template
    p = PRESETS["xs"]
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=p.hidden_size, intermediate_size=p.intermediate_size,
                         num_hidden_layers=p.layers, num_attention_heads=p.heads, num_key_value_heads=p.heads,
                         max_position_embeddings=256, pad_token_id=tokenizer.pad_token_id,
                         eos_token_id=tokenizer.eos_token_id, bos_token_id=None, tie_word_embeddings=True)
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.save_pretrained(path)  # safetensors
    tokenizer.save_pretrained(path)
    return path


def real_format_records(low: int, high: int) -> list[dict]:
    """Records of three shapes: 'Ann has a, gets b' with a, b in low..high (one shape per name, in turn)."""
    rows = []
    for i, name in enumerate(NAMES):
        for a in range(low, high + 1):
            for b in range(low, high + 1):
                q = f"{name} has {a} and gets {b}. How many?"
                if i % 3 == 0:
                    rows.append({"question": q, "answer": f"{a}+{b}=<<{a}+{b}={a + b}>>{a + b}\n#### {a + b}"})
                elif i % 3 == 1:
                    rows.append({"problem": q, "solution": f"{a}+{b}=\\boxed{{{a + b}}}", "level": "Level 1"})
                else:
                    rows.append({"prompt": q, "answer": str(a + b), "solution": f"{a}+{b}={a + b}\n#### {a + b}"})
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path
