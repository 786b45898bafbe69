"""The real-data adapter: record shapes, the numeric verifier, deterministic splits, prompts, clear errors."""
import json
from dataclasses import asdict
from fractions import Fraction

import pandas as pd
import pytest

from rlhf_nb.store import make_run_id
from rlhf_nb.tasks.addition import AdditionTask
from rlhf_nb.tasks.local_data import (
    MathDataTask,
    check_numeric_answer,
    extract_final_number,
    format_prompt,
    parse_number,
    parse_record,
    sft_target,
)
from rlhf_nb.tasks.registry import make_task, task_kwargs_from_text

from .helpers import real_format_records, write_jsonl

GSM8K_LINES = [
    {"question": "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
                 "How many clips did Natalia sell altogether in April and May?",
     "answer": "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nNatalia sold 48+24 = <<48+24=72>>72 clips "
               "altogether in April and May.\n#### 72"},
    {"question": "A shop sells 1,000 pens a day for 1.234 days. How many pens, rounded?",
     "answer": "1,000 * 1.234 = <<1000*1.234=1234>>1234\n#### 1,234"},
    {"question": "The temperature drops by 7 from 2. What is it now?", "answer": "2 - 7 = -5\n#### -5"},
]
MATH_LINES = [
    {"problem": "What is $\\frac{1}{2} + \\frac{1}{4}$?",
     "solution": "We have $\\frac{1}{2}+\\frac{1}{4} = \\boxed{\\frac{3}{4}}$.", "level": "Level 2"},
    {"problem": "Compute $3 \\cdot 24$.", "solution": "$3 \\cdot 24 = \\boxed{72}$.", "level": "Level 1"},
    {"problem": "Find $x$ if $2x = 1$.", "solution": "So $x = \\boxed{0.5}.$", "level": "Level 5"},
]


@pytest.mark.parametrize("completion, answer, right", [
    ("so she sold #### 72", "72", True),
    ("#### 1,234", "1234", True),
    ("The total is 72.", "72", True),                    # no marker: the last number, trailing period
    ("... = \\boxed{\\frac{3}{4}}", "0.75", True),       # fractions compare numerically
    ("the answer is 3/4", "\\frac{3}{4}", True),
    ("#### -5", "-5", True),
    ("it drops 7 from 2 giving -5", "-5", True),
    ("12-5", "-5", False),                               # a minus after a digit is subtraction
    ("#### 0.333333", "1/3", False),                     # exact comparison: a rounded decimal is not 1/3
    ("#### 0.5", "1/2", True),                           # ... but equal rationals match, whatever the notation
    ("#### 1000000500", "1000000000", False),            # exact: no relative tolerance either
    ("#### $18.90", "18.9", True),
    ("\\boxed{72} ... #### 71", "72", False),            # '####' wins over boxed
    ("no number here", "3", False),
    ("", "3", False),
])
def test_the_verifier_reads_the_final_number_and_compares_exactly(completion, answer, right):
    assert check_numeric_answer(completion, answer) is right


def test_local_data_reads_answers_with_the_answers_module(tmp_path):
    from rlhf_nb.tasks import answers, local_data

    for name in ("parse_number", "final_answer_text", "extract_final_number", "numbers_match", "canonical_answer",
                 "check_numeric_answer"):
        assert getattr(local_data, name) is getattr(answers, name), name  # one reader, importable from both
    rows = [{"prompt": f"q{i}", "answer": "5/2"} for i in range(10)]
    task = make_task(str(write_jsonl(tmp_path / "d.jsonl", rows)), heldout_fraction=0.3)
    assert task.check_answer("#### 2 1/2", "5/2") and task.check_answer("#### 2.5", "5/2")  # a mixed number
    assert not task.check_answer("#### 2.500001", "5/2")  # exact: no tolerance
    assert task.check_answer("#### 42\nQuestion: next?\n#### 7", "42")  # the first #### of a run-on completion
    assert parse_record({"question": "q", "answer": "#### \u22127"}, "t:1").answer == -7  # a Unicode minus sign
    assert parse_record({"question": "q", "answer": "#### 9{,}500"}, "t:2").answer == 9500


def test_gold_answers_are_parsed_strictly():
    assert parse_number("1,234") == 1234 and parse_number("-3/4") == Fraction(-3, 4)
    assert parse_number("\\frac{3}{4}") == Fraction(3, 4) and parse_number("5\\text{ cm}") == 5
    for not_a_number in ("\\sqrt{2}", "2x", "\\frac{\\sqrt{3}}{2}", "3/0", "", "x+1"):
        assert parse_number(not_a_number) is None, not_a_number
    assert extract_final_number("2 apples then 3 apples") == 3  # lenient for completions


def test_gsm8k_math_and_plain_records_parse_with_their_solutions():
    g = parse_record(GSM8K_LINES[0], "t:1")
    assert g.answer == 72 and "48+24" in g.solution
    target = sft_target(g)
    assert target.endswith("#### 72") and "<<" not in target  # calculator annotations dropped
    assert parse_record(GSM8K_LINES[1], "t:2").answer == 1234
    assert parse_record(GSM8K_LINES[2], "t:3").answer == -5
    m = parse_record(MATH_LINES[0], "t:4")
    assert m.answer == Fraction(3, 4) and sft_target(m) == m.solution  # MATH solutions end on their boxed answer
    assert parse_record(MATH_LINES[2], "t:5").answer == Fraction(1, 2)
    p = parse_record({"prompt": "2+2?", "answer": "4"}, "t:6")
    assert p.answer == 4 and sft_target(p) == "The answer is 4."
    assert parse_record({"problem": "q", "solution": "long \\boxed{9}", "answer": "9"}, "t:7").answer == 9


def test_real_format_files_become_a_task_with_disjoint_deterministic_splits(tmp_path):
    rows = [{"question": f"Item {i}: what is {i} plus 1?", "answer": f"{i}+1={i + 1}\n#### {i + 1}"} for i in range(60)]
    path = write_jsonl(tmp_path / "gsm.jsonl", rows)
    task = make_task(str(path), heldout_fraction=0.3)
    train, held = task.problems("train", 200, 0), task.problems("heldout", 50, 0)
    assert {p.question for p in train}.isdisjoint({p.question for p in held})
    assert task.problems("train", 10, 0) == train[:10]  # prefixes agree (chunked reward-model data relies on it)
    assert task.problems("train", 10, 1) != train[:10]
    assert task.ood_source == "heldout"  # no OOD data given: the held-out records stand in, and the task says so
    assert {p.question for p in task.problems("ood", 50, 0)} == {p.question for p in held}
    assert task.prompt_style == "plain" and train[0].prompt.startswith("Question: ")
    assert task.sft_completion(train[0], None).startswith(" ") and task.check_answer(f"#### {train[0].answer}",
                                                                                     train[0].answer)
    # the same records in another order give the same splits; a changed file gives new run ids
    again = make_task(str(write_jsonl(tmp_path / "shuffled.jsonl", rows[::-1])), heldout_fraction=0.3)
    assert sorted(p.question for p in again._splits["heldout"]) == sorted(p.question for p in task._splits["heldout"])
    changed = make_task(str(write_jsonl(tmp_path / "gsm.jsonl", rows[:-1])), heldout_fraction=0.3)
    assert make_run_id("sft", {"task": asdict(changed)}) != make_run_id("sft", {"task": asdict(task)})


def test_ood_from_a_column_or_a_second_file_and_parquet(tmp_path):
    math = write_jsonl(tmp_path / "math.jsonl", MATH_LINES * 1 + [
        {"problem": f"Compute {i} times 2.", "solution": f"\\boxed{{{2 * i}}}", "level": "Level 1"} for i in range(30)])
    by_column = make_task(str(math), ood_column="level", ood_value="Level 5", heldout_fraction=0.2)
    assert by_column.ood_source == "column"
    assert [p.answer for p in by_column.problems("ood", 2, 0)] == ["1/2", "1/2"]  # the one Level 5 record, cycled
    assert all("2x" not in p.question for p in by_column.problems("train", 40, 0))
    gsm = tmp_path / "gsm.parquet"
    pd.DataFrame(GSM8K_LINES).to_parquet(gsm)
    by_file = make_task(str(math), ood_path=str(gsm), heldout_fraction=0.2)
    assert by_file.ood_source == "file" and {p.answer for p in by_file.problems("ood", 9, 0)} == {"72", "1234", "-5"}


def test_prompts_use_the_chat_template_when_the_tokenizer_has_one(tiny_checkpoint, tmp_path):
    from rlhf_nb.models import load_tokenizer

    tok = load_tokenizer(tiny_checkpoint)
    assert format_prompt("What is 2+2?", tok) == "<|user|>What is 2+2?\n<|assistant|>"
    assert format_prompt("q", tok, system_prompt="Be brief.").startswith("<|system|>Be brief.\n<|user|>q")
    assert format_prompt("What is 2+2?", None) == "Question: What is 2+2?\nAnswer:"

    # a template's BOS text is dropped only when the tokenizer adds its BOS itself: tests/tasks/test_local_data_inputs.py

    from .helpers import build_tiny_checkpoint

    plain = build_tiny_checkpoint(tmp_path / "plain", chat_template=None)
    rows = write_jsonl(tmp_path / "d.jsonl", [{"prompt": f"q{i}", "answer": str(i)} for i in range(20)])
    assert make_task(str(rows), chat_template_from=str(plain), heldout_fraction=0.3).prompt_style == "plain"
    chat = make_task(str(rows), chat_template_from=str(tiny_checkpoint), heldout_fraction=0.3)
    assert chat.prompt_style == "chat" and chat.sft_completion(chat.problems("train", 1, 0)[0], None)[0] != " "


@pytest.mark.parametrize("content, error, fragment", [
    (None, FileNotFoundError, "does not exist"),
    ('{"question": "q", "answer": "#### 7"}\n{not json\n', ValueError, "line 2: not valid JSON"),
    ('{"question": "How many?"}\n', ValueError, "line 1: no answer field"),
    ('{"text": "7"}\n', ValueError, "line 1: no question field"),
    ('{"question": "q", "answer": "so #### seven"}\n', ValueError, "line 1: cannot read a numeric final answer"),
    ('{"problem": "q", "solution": "\\\\boxed{\\\\sqrt{2}}"}\n', ValueError, "cannot read a numeric final answer"),
    ('{"problem": "q", "solution": "it is two"}\n', ValueError, "has no final answer"),
    ("\n\n", ValueError, "no usable record"),
])
def test_bad_input_is_refused_naming_the_problem(tmp_path, content, error, fragment):
    path = tmp_path / "bad.jsonl"
    if content is not None:
        path.write_text(content)
    with pytest.raises(error, match=fragment):
        make_task(str(path))


def test_unparseable_records_can_be_skipped_and_bad_knobs_are_refused(tmp_path):
    rows = [{"problem": f"p{i}", "solution": f"\\boxed{{{i}}}"} for i in range(30)] + \
           [{"problem": "r", "solution": "\\boxed{\\sqrt{2}}"}, {"problem": "s", "solution": "no final answer"}]
    path = write_jsonl(tmp_path / "m.jsonl", rows)
    task = make_task(str(path), skip_unparseable=True, heldout_fraction=0.2)
    assert task.split_sizes[3] == 2 and sum(task.split_sizes[:2]) == 30
    as_list = tmp_path / "m.json"
    as_list.write_text(json.dumps(rows[:30]))
    assert make_task(str(as_list), heldout_fraction=0.2).split_sizes == task.split_sizes[:3] + (0,)
    with pytest.raises(ValueError, match="empty"):
        make_task(str(write_jsonl(tmp_path / "one.jsonl", rows[:1])), heldout_fraction=0.01)
    with pytest.raises(ValueError, match="ood_value"):
        MathDataTask(str(path), ood_column="level")
    (tmp_path / "x.csv").write_text("question,answer")
    with pytest.raises(ValueError, match="unsupported data file type"):
        MathDataTask(str(tmp_path / "x.csv"))
    with pytest.raises(ValueError, match="unknown task"):
        make_task("gsm8k")


def test_make_task_builds_the_embedded_task_and_reads_option_text():
    assert make_task("addition") == AdditionTask()
    assert make_task("addition", digits=2).digits == 2
    assert task_kwargs_from_text("ood_path=a.jsonl, heldout_fraction=0.2, skip_unparseable=true") == \
        {"ood_path": "a.jsonl", "heldout_fraction": "0.2", "skip_unparseable": "true"}  # typed by the field they set
    with pytest.raises(ValueError, match="name=value"):
        task_kwargs_from_text("oops")


def test_notebook_task_reads_a_file_once_until_it_changes(tmp_path):
    import os

    from rlhf_nb.tasks.registry import notebook_task

    path = write_jsonl(tmp_path / "d.jsonl", real_format_records(1, 2))
    first = notebook_task(str(path), "heldout_fraction=0.25")
    assert notebook_task(str(path), "heldout_fraction=0.25") is first  # cached: not parsed again
    write_jsonl(path, real_format_records(1, 3))
    os.utime(path, ns=(os.stat(path).st_atime_ns, os.stat(path).st_mtime_ns + 10**9))
    changed = notebook_task(str(path), "heldout_fraction=0.25")
    assert changed.data_sha256 != first.data_sha256
    # the embedded task: a notebook's own knob, which task_options may override; ignored by a data file
    assert notebook_task("addition", "", embedded=(("carry_error_rate", 0.3),)).carry_error_rate == 0.3
    assert notebook_task("addition", "carry_error_rate=0.2", embedded=(("carry_error_rate", 0.3),)).carry_error_rate == 0.2
    assert notebook_task(str(path), "", embedded=(("carry_error_rate", 0.3),)).name == "math_data"
    with pytest.raises(ValueError, match="does not have"):
        notebook_task("addition", "carry_eror_rate=0.2")
