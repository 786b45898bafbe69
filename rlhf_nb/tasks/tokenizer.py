"""A character tokenizer for the embedded task, built locally as a PreTrainedTokenizerFast.

One token per character of the task's alphabet plus pad/eos/unk. No BOS and no
post-processor: GRPO tokenizes prompts with ``add_special_tokens=False`` and SFT with
``True``, and the two must produce the same ids. A ``Fuse`` decoder keeps decode from
putting spaces between characters; ``padding_side`` goes to the constructor because an
attribute set afterwards is lost on save and reload.
"""
from __future__ import annotations

from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

ALPHABET = "0123456789+=;"
PAD, EOS, UNK = "<pad>", "<eos>", "<unk>"


def build_char_tokenizer(alphabet: str = ALPHABET) -> PreTrainedTokenizerFast:
    """The task tokenizer; ids 0..2 are pad, eos, unk, then one id per character."""
    vocab = {PAD: 0, EOS: 1, UNK: 2}
    for ch in alphabet:
        vocab.setdefault(ch, len(vocab))
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    core.pre_tokenizer = pre_tokenizers.Split("", behavior="isolated")
    core.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token=PAD, eos_token=EOS, unk_token=UNK, padding_side="left"
    )
