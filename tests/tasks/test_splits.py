"""No evaluation prompt of any split (heldout, ood) is ever an SFT, reward-model or RL ("train") prompt, on every task."""
from __future__ import annotations

import json

import pytest

from rlhf_nb.tasks.addition import AdditionTask
from rlhf_nb.tasks.local_data import MathDataTask
from rlhf_nb.tasks.tokenizer import build_char_tokenizer

EVALUATION_SPLITS = ("heldout", "ood")
SEEDS = (0, 1, 2)


def _trained_prompts(task, n: int) -> set[str]:
    """Every prompt SFT, the reward model or RL could see, over several seeds."""
    prompts = set()
    for seed in SEEDS:
        prompts |= {p.prompt for p in task.sft_problems(n, seed)}
        prompts |= {p.prompt for p in task.problems("train", n, seed)}
    return prompts


def _evaluated_prompts(task, n: int) -> dict[str, set[str]]:
    return {split: {p.prompt for seed in SEEDS for p in task.problems(split, n, seed)} for split in EVALUATION_SPLITS}


@pytest.mark.parametrize("knobs, n", [
    ({}, 3000),                                                       # the default task
    ({"digits": 1, "terms": 2, "ood_terms": 3, "sft_max_terms": 3}, 2000),   # small spaces: collisions are likely
    ({"digits": 1, "terms": 3, "ood_terms": 2, "sft_max_terms": 3}, 2000),   # OOD shorter than train
    ({"digits": 2, "terms": 2, "ood_terms": 3, "sft_max_terms": 4, "heldout_fraction": 0.3}, 1000),
])
def test_addition_evaluation_prompts_are_never_trained_on(knobs, n):
    task = AdditionTask(**knobs)
    trained = _trained_prompts(task, n)
    for split, prompts in _evaluated_prompts(task, max(n // 10, 50)).items():
        leaked = prompts & trained
        assert not leaked, f"{split}: {len(leaked)} of {len(prompts)} evaluation prompts are SFT/train prompts"


def test_sft_still_covers_the_ood_length():
    task = AdditionTask()
    ood = task.problems("ood", 200, 0)
    assert {len(p.terms) for p in ood} == {task.ood_terms}
    assert task.ood_terms in {len(p.terms) for p in task.sft_problems(2000, 0)}
    assert all(len(p.terms) == task.terms for p in task.problems("heldout", 200, 0))


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def _lowercasing_template(folder):
    """A tokenizer whose chat template renders a question in lower case: two questions, one prompt."""
    tok = build_char_tokenizer()
    tok.chat_template = ("{% for m in messages %}<{{ m['role'] }}>{{ m['content'] | lower }}\n{% endfor %}"
                         "{% if add_generation_prompt %}<assistant>{% endif %}")
    tok.save_pretrained(folder)
    return str(folder)


def _math_tasks(tmp_path):
    rows = [{"question": f"Q{i}: what is {i} plus 1?", "answer": f"#### {i + 1}"} for i in range(80)]
    rows += [{"question": f"q{i}: WHAT IS {i} PLUS 1?", "answer": f"#### {i + 1}"} for i in range(80)]  # same, upper
    rows += [{"question": f"Hard {i}?", "answer": f"#### {i}", "level": "5"} for i in range(10)]
    ood_rows = [{"question": f"Q{i}: what is {i} plus 1?", "answer": f"#### {i + 1}"} for i in range(0, 80, 7)]
    ood_rows += [{"question": f"Other {i}?", "answer": f"#### {i}"} for i in range(10)]
    data, ood = _write(tmp_path / "d.jsonl", rows), _write(tmp_path / "ood.jsonl", ood_rows)
    lower = _lowercasing_template(tmp_path / "lower")
    for fraction in (0.1, 0.3, 0.5):
        yield MathDataTask(data, heldout_fraction=fraction)
        yield MathDataTask(data, ood_path=ood, heldout_fraction=fraction)
        yield MathDataTask(data, ood_column="level", ood_value="5", heldout_fraction=fraction)
        yield MathDataTask(data, chat_template_from=lower, heldout_fraction=fraction)
        yield MathDataTask(data, ood_path=ood, chat_template_from=lower, heldout_fraction=fraction)


@pytest.mark.parametrize("n", [10, 100, 500])
def test_math_data_evaluation_prompts_are_never_trained_on(n, tmp_path):
    for task in _math_tasks(tmp_path):
        trained = _trained_prompts(task, n)
        for split, prompts in _evaluated_prompts(task, n).items():
            leaked = prompts & trained
            assert not leaked, (f"{split} ({task.ood_source}, {task.prompt_style}, heldout_fraction="
                                f"{task.heldout_fraction}): {len(leaked)} evaluation prompts are SFT/train prompts")
