import random

import pytest

from rlhf_nb.tasks.addition import (
    AdditionTask,
    Problem,
    forgot_carry_sum,
    gold_correct,
    parse_final_answer,
    solution,
    step_end_offsets,
    step_labels,
)
from rlhf_nb.tasks.tokenizer import build_char_tokenizer


def test_correct_solution_format_and_gold():
    p = Problem((17, 25, 8))
    assert p.prompt == "17+25+8="
    assert solution(p) == "17+25=42;42+8=50"
    assert gold_correct(p, "17+25=42;42+8=50")
    assert not gold_correct(p, "17+25=32;32+8=40")
    assert parse_final_answer("12+3=") is None and parse_final_answer("no answer") is None


def test_forgot_carry_only_changes_carry_steps():
    assert forgot_carry_sum(17, 25) == 32
    assert forgot_carry_sum(12, 13) == 25


def test_step_labels_mark_the_first_error_and_everything_after():
    p = Problem((17, 25, 8))
    assert step_labels(p, "17+25=42;42+8=50") == [True, True]
    assert step_labels(p, "17+25=32;32+8=40") == [False, False]
    assert step_labels(p, "17+25=42;42+8=40") == [True, False]
    # a truncated answer is labelled by what it wrote (its final answer is what makes it wrong)
    assert step_labels(p, "17+25=42") == [True]
    assert step_labels(p, "17+25=42;42+8=50;50+1=51") == [True, True, False]


def test_step_end_offsets_point_at_the_last_character_of_each_step():
    c = "17+25=42;42+8=50"
    assert [c[i] for i in step_end_offsets(c)] == ["2", "0"]


def test_splits_are_deterministic_and_disjoint():
    task = AdditionTask()
    train = task.problems("train", 3000, seed=0)
    assert train == task.problems("train", 3000, seed=0)
    assert train != task.problems("train", 3000, seed=1)
    held = task.problems("heldout", 500, seed=0)
    assert not {p.prompt for p in train} & {p.prompt for p in held}
    ood = task.problems("ood", 50, seed=0)
    assert all(len(p.terms) == task.ood_terms for p in ood)
    assert all(len(p.terms) == task.terms for p in train)
    sft = task.sft_problems(3000, seed=0)
    assert {len(p.terms) for p in sft} == set(range(task.sft_min_terms, task.sft_max_terms + 1))
    assert not {p.prompt for p in sft} & {p.prompt for p in held}  # SFT never sees a held-out prompt


def test_sft_bias_rate_is_what_was_asked():
    task = AdditionTask(carry_error_rate=0.6)
    rng = random.Random(0)
    problems = [p for p in task.sft_problems(6000, 0) if len(p.terms) == 2]
    carry = [p for p in problems if (p.terms[0] % 10 + p.terms[1] % 10) >= 10]
    wrong = sum(not gold_correct(p, task.sft_completion(p, rng)) for p in carry)
    assert 0.55 < wrong / len(carry) < 0.65
    no_carry = [p for p in problems if p not in carry]
    assert all(gold_correct(p, task.sft_completion(p, rng)) for p in no_carry)


@pytest.mark.parametrize("kwargs, fragment", [
    ({"sft_min_terms": 1}, "sft_min_terms"),
    ({"terms": 3, "ood_terms": 3}, "OOD"),
    ({"terms": 6}, "outside the SFT range"),
    ({"carry_error_rate": 1.0}, "carry_error_rate"),
    ({"heldout_fraction": 0.0}, "heldout_fraction"),
])
def test_bad_task_knobs_are_refused(kwargs, fragment):
    with pytest.raises(ValueError, match=fragment):
        AdditionTask(**kwargs)


def test_unknown_split_is_refused():
    with pytest.raises(ValueError, match="unknown split"):
        AdditionTask().problems("test", 3, 0)


def test_tokenizer_round_trip_survives_save_and_reload(tmp_path):
    from transformers import AutoTokenizer

    tok = build_char_tokenizer()
    text = "17+25=42;42+8=50"
    ids = tok(text, add_special_tokens=True)["input_ids"]
    assert len(ids) == len(text)  # one token per character, no BOS added
    tok.save_pretrained(tmp_path)
    again = AutoTokenizer.from_pretrained(tmp_path)
    assert again(text)["input_ids"] == ids
    assert again.decode(ids + [again.eos_token_id], skip_special_tokens=True) == text
    assert again.padding_side == "left"
