"""Token counts for FLOPs come from the tokenizer, not from one token per character."""
from __future__ import annotations

from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from rlhf_nb.scoring.rewards import reward_input_ids, scored_tokens
from rlhf_nb.tasks.tokenizer import build_char_tokenizer


def word_tokenizer() -> PreTrainedTokenizerFast:
    vocab = {"[UNK]": 0, "[PAD]": 1, "twelve": 2, "plus": 3, "three": 4, "is": 5, "fifteen": 6}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]")


def test_a_word_tokenizer_counts_words_not_characters():
    pairs = [("twelve plus three is ", "fifteen"), ("three plus three is ", "six")]
    assert scored_tokens(word_tokenizer(), pairs) == 5 + 5  # 48 and 24 characters
    assert scored_tokens(word_tokenizer(), []) == 0


def test_the_count_is_what_a_reward_model_reads():
    tok = build_char_tokenizer()
    pairs = [("3+4=", "3+4=7"), ("1+2+3=", "1+2=3;3+3=6")]
    assert scored_tokens(tok, pairs) == sum(len(reward_input_ids(tok, p, c)) for p, c in pairs)
