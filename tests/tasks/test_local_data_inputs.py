"""Local data as people have it: near-duplicate questions, chat templates of both BOS kinds, a BOM in the file."""
from __future__ import annotations

import json
import string

import pytest
from tokenizers.processors import TemplateProcessing

from rlhf_nb.tasks.local_data import question_key
from rlhf_nb.tasks.registry import make_task
from rlhf_nb.tasks.tokenizer import build_char_tokenizer

ALPHABET = string.ascii_letters + string.digits + string.punctuation + " \n"


def _records(n: int) -> list[dict]:
    return [{"question": f"Item {i}: what is {i} plus 3?", "answer": f"{i} plus 3.\n#### {i + 3}"} for i in range(n)]


def _variants(question: str) -> list[str]:
    return [question, question.upper(), "  " + question.replace(" ", "   ") + " ", question.replace(" ", "\u00a0")]


def test_near_duplicate_questions_never_cross_the_held_out_line(tmp_path):
    rows = [{"question": v, "answer": r["answer"]} for r in _records(40) for v in _variants(r["question"])]
    path = tmp_path / "dups.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    task = make_task(str(path), heldout_fraction=0.3)
    train = {question_key(p.question) for p in task.problems("train", 10_000, 0)}
    heldout = {question_key(p.question) for p in task.problems("heldout", 10_000, 0)}
    assert heldout and train and not (heldout & train)
    assert task.duplicate_questions == 40 * 3
    assert sum(task.split_sizes[:2]) == len(rows)  # duplicates are counted in the split they fall in


def _save(tokenizer, folder):
    tokenizer.save_pretrained(folder)
    return folder


def _adds_bos_tokenizer():
    tok = build_char_tokenizer(ALPHABET)
    tok.add_special_tokens({"bos_token": "<s>"})
    tok._tokenizer.post_processor = TemplateProcessing(single="<s> $A", special_tokens=[("<s>", tok.bos_token_id)])
    tok.chat_template = "<s>{% for m in messages %}[{{ m['role'] }}]{{ m['content'] }}\n{% endfor %}[assistant]"
    return tok


def _template_bos_tokenizer():  # SmolLM2's kind: the template writes <|im_start|>, the tokenizer adds nothing
    tok = build_char_tokenizer(ALPHABET)
    tok.add_special_tokens({"bos_token": "<|im_start|>", "additional_special_tokens": ["<|im_end|>"]})
    tok.chat_template = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
                         "{% endfor %}<|im_start|>assistant\n")
    return tok


@pytest.mark.parametrize("make_tokenizer", [_adds_bos_tokenizer, _template_bos_tokenizer])
def test_prompt_ids_are_exactly_the_chat_templates(tmp_path, make_tokenizer):
    folder = _save(make_tokenizer(), tmp_path / "ckpt")
    data = tmp_path / "d.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in _records(30)) + "\n", encoding="utf-8")
    task = make_task(str(data), chat_template_from=str(folder), heldout_fraction=0.3)
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder)
    for problem in task.problems("heldout", 3, 0) + task.sft_problems(3, 0):
        ours = tok(problem.prompt)["input_ids"]
        theirs = tok.apply_chat_template([{"role": "user", "content": problem.question}], tokenize=True,
                                         add_generation_prompt=True)
        theirs = theirs["input_ids"] if hasattr(theirs, "keys") else theirs
        assert ours == list(theirs)
        assert ours[0] == tok.bos_token_id and ours[1] != tok.bos_token_id  # one BOS, never two, never none


def test_a_data_file_with_a_byte_order_mark_reads_like_one_without(tmp_path):
    rows = _records(20) + [{"question": "What is 3 minus 10?", "answer": "3 - 10.\n#### \u22127"}]
    plain, marked, as_list = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "c.json"
    text = "\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n"
    plain.write_bytes(text.encode("utf-8"))
    marked.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    as_list.write_bytes(b"\xef\xbb\xbf" + json.dumps(rows, ensure_ascii=False).encode("utf-8"))
    sizes = {make_task(str(p), heldout_fraction=0.3).split_sizes for p in (plain, marked, as_list)}
    assert len(sizes) == 1 and sum(next(iter(sizes))[:2]) == len(rows)  # the Unicode-minus answer parses too
