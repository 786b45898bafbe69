"""Process labels agree with themselves: a prefix of steps gets the same labels whether or not more steps follow."""
from __future__ import annotations

import random

import pytest

from rlhf_nb.scoring.reward_models import step_token_positions
from rlhf_nb.stages.prm import encode_step_example
from rlhf_nb.tasks.addition import (
    AdditionTask,
    Problem,
    gold_correct,
    solution,
    step_end_offsets,
    step_labels,
)
from rlhf_nb.tasks.tokenizer import build_char_tokenizer

TOK = build_char_tokenizer()


def _completions(rng: random.Random, n: int) -> list[tuple[Problem, str]]:
    """Right, carry-error, corrupted, over-long and garbled answers to problems of 2..5 terms."""
    task = AdditionTask()
    out = []
    for problem in task.sft_problems(n, seed=3):
        steps = solution(problem, carry_error_rate=0.5, rng=rng).split(";")
        kind = rng.randrange(5)
        if kind == 1:  # one step's result off by one
            i = rng.randrange(len(steps))
            head, result = steps[i].rsplit("=", 1)
            steps[i] = f"{head}={int(result) + 1}"
        elif kind == 2:  # extra steps after the answer
            steps += [f"{rng.randint(0, 9)}+{rng.randint(0, 9)}={rng.randint(0, 18)}"] * rng.randint(1, 2)
        elif kind == 3:  # a garbled step
            steps[rng.randrange(len(steps))] = rng.choice(["", "9", "1+=", "abc"])
        out.append((problem, ";".join(steps)))
    return out


def test_a_prefix_of_steps_gets_the_labels_it_gets_inside_a_longer_answer():
    for problem, completion in _completions(random.Random(0), 400):
        steps = completion.split(";")
        full = step_labels(problem, completion)
        assert len(full) == len(steps) == len(step_end_offsets(completion))
        for k in range(1, len(steps) + 1):
            assert step_labels(problem, ";".join(steps[:k])) == full[:k], (problem.prompt, completion, k)


def test_a_prefix_carries_the_same_token_labels_in_the_prm_data():
    for problem, completion in _completions(random.Random(1), 200):
        steps = completion.split(";")
        full = encode_step_example(TOK, problem, problem.prompt, completion)
        for k in range(1, len(steps) + 1):
            prefix = encode_step_example(TOK, problem, problem.prompt, ";".join(steps[:k]))
            width = len(prefix["input_ids"])
            assert full["input_ids"][:width] == prefix["input_ids"]
            # the same tokens are step ends, with the same labels, whatever follows
            assert full["step_mask"][:width] == prefix["step_mask"], (problem.prompt, completion, k)
            assert full["step_labels"][:width] == prefix["step_labels"], (problem.prompt, completion, k)


def test_a_truncated_answer_is_labelled_by_what_it_wrote():
    p = Problem((17, 25, 8, 3))  # 17+25=42;42+8=50;50+3=53
    assert step_labels(p, "17+25=42") == [True]
    assert step_labels(p, "17+25=42;42+8=50") == [True, True]
    assert step_labels(p, "17+25=42;42+8=50;50+3=53") == [True, True, True]
    assert not gold_correct(p, "17+25=42;42+8=50")  # unfinished: its final answer is not the total
    assert step_labels(p, "17+25=42;42+8=40") == [True, False]
    assert step_labels(p, "17+25=32;32+8=40") == [False, False]  # a wrong start taints every later step
    assert step_labels(p, "17+25=42;42+8=50;50+3=53;53+0=53") == [True, True, True, False]  # beyond the answer
    assert step_labels(p, "17+25=42;") == [True, False]  # an empty step written after the first
    assert step_labels(p, "") == [False]  # nothing written: one empty step, wrong


@pytest.mark.parametrize("completion", ["17+25=42", "17+25=42;42+8=50", "17+25=42;42+8=5", ""])
def test_every_label_sits_on_its_own_step_end(completion):
    p = Problem((17, 25, 8, 3))
    ex = encode_step_example(TOK, p, p.prompt, completion)
    _, positions = step_token_positions(TOK, p.prompt, completion)
    labels = step_labels(p, completion)
    assert len(labels) == len(positions)
    assert [i for i, m in enumerate(ex["step_mask"]) if m] == positions
    assert [ex["step_labels"][i] for i in positions] == [int(x) for x in labels]
