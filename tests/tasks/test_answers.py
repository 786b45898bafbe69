r"""Final numeric answers read as people write them: separators, signs, fractions, markers, exact comparison.

Each expected value was worked out by hand from the rules in :mod:`rlhf_nb.tasks.answers`.
"""
from fractions import Fraction as F

import pytest

from rlhf_nb.tasks.answers import (
    canonical_answer,
    check_numeric_answer,
    extract_final_number,
    final_answer_text,
    numbers_match,
    parse_number,
)

MINUS, EN_DASH, THIN, NARROW_NBSP, NBSP = "\u2212", "\u2013", "\u2009", "\u202f", "\u00a0"

# (completion, what extract_final_number reads from it with the default fallback to the last number)
EXTRACTION_CASES = [
    # thousands separators: groups of exactly three digits
    ("#### 9,500", F(9500)),
    (f"#### 9{THIN}500", F(9500)),
    (f"#### 9{NARROW_NBSP}500", F(9500)),
    (f"#### 9{NBSP}500", F(9500)),
    (r"\boxed{9{,}500}", F(9500)),
    (r"The total is $9\,500$.", F(9500)),
    (f"so in all 1{THIN}000{THIN}000 grains", F(1000000)),
    ("#### 1,234", F(1234)),
    ("It costs 10,000,000 dollars", F(10000000)),
    ("the answer is 1,234,567.89", F("1234567.89")),
    ("#### 9 500", F(9500)),                      # a plain space groups thousands in a whole marked answer
    ("first 9 then 500", F(500)),                 # ... but not in running text
    ("The numbers are 1, 2, 3", F(3)),            # a list, not 123
    (r"\boxed{1, 2}", F(1)),                      # not 12
    ("#### 12,34", F(12)),                        # ',34' is no thousands group
    ("#### 1,000 apples", F(1000)),
    # signs
    (f"The temperature ends at {MINUS}5", F(-5)),
    (f"#### {MINUS}7", F(-7)),
    (f"#### {EN_DASH}5", F(-5)),
    (r"\boxed{\!-5}", F(-5)),
    ("The change is -3.", F(-3)),
    ("12-5", F(5)),                               # subtraction, not -5
    (r"\boxed{- \frac{1}{2}}", F(-1, 2)),         # a spaced minus starts a whole answer
    # fractions and mixed numbers
    (r"\boxed{\frac{3}{4}}", F(3, 4)),
    (r"\boxed{\dfrac{3}{4}}", F(3, 4)),
    (r"\boxed{\tfrac{1}{2}}", F(1, 2)),
    (r"\boxed{\frac12}", F(1, 2)),
    ("#### 1/2", F(1, 2)),
    ("#### 3/-4", F(-3, 4)),
    (r"\boxed{-\frac{3}{4}}", F(-3, 4)),
    (r"\boxed{\frac{-3}{4}}", F(-3, 4)),
    (MINUS + r"\frac{1}{2}", F(-1, 2)),
    (r"The answer is $\frac{1}{2}$.", F(1, 2)),
    (r"\boxed{2\frac{1}{2}}", F(5, 2)),           # mixed number, never 21/2
    ("#### 2 2/3", F(8, 3)),
    ("#### -2 1/2", F(-5, 2)),                    # the sign covers the whole mixed number
    (r"\boxed{-2\frac{1}{4}}", F(-9, 4)),
    ("She ran 2\u00bd miles", F(5, 2)),
    ("#### 2 3/2", F(2)),                         # 3/2 is improper: 2, then 3/2; the first is read
    ("#### 1/0", None),                           # no number over zero
    # decimals and the sentence's period
    ("#### 0.5", F(1, 2)),
    ("#### 5.0", F(5)),
    ("#### .5", F(1, 2)),
    ("The answer is 12.", F(12)),
    ("The answer is 12.5.", F(25, 2)),
    ("The price is $1,000.50.", F(2001, 2)),
    # currency, percent, units, delimiters
    (r"\boxed{50\%}", F(50)),
    (r"#### \$18.90", F(189, 10)),
    (r"\boxed{5\text{ cm}}", F(5)),
    (r"\boxed{12\mbox{ dollars}}", F(12)),
    (r"The area is \boxed{5\text{ m}^2}.", F(5)),
    ("The area is 5 cm^2", F(5)),                 # the exponent is not the answer
    (r"\boxed{\left(-3\right)}", F(-3)),
    (r"\boxed{90^\circ}", F(90)),
    (r"\boxed{x = 3}", F(3)),
    ("Answer: \\(7\\)", F(7)),
    ("#### \uff17\uff12", F(72)),                 # full-width digits
    # scientific notation
    (r"\boxed{1.5 \times 10^{3}}", F(1500)),
    ("#### 2e3", F(2000)),
    ("#### 2.5E-2", F(1, 40)),
    ("#### 3 \u00d7 10^-2", F(3, 100)),
    # markers and their precedence
    ("#### 42\n\nQuestion: What is 3+4?\nAnswer: 3+4=7\n#### 7", F(42)),  # the first #### answer
    ("#### Step 1: add\n3+4=7\n#### 7", F(7)),   # '#### Step 1' is a Markdown heading
    (r"So \boxed{3} is wrong; the answer is \boxed{5}.", F(5)),           # the last box
    (r"\boxed{\dfrac{10}{4}}, simplified: \boxed{\frac{5}{2}}", F(5, 2)),
    (r"\boxed 5", F(5)),
    (r"$\boxed 5$ after 3 tries", F(5)),         # '\boxed 5' reads up to '$' (MATH)
    (r"\fbox{7}", F(7)),
    (r"Earlier I had 4; final: \boxed{}", None),  # an empty last box reads None, no fallback
    (r"\boxed{72} then #### 71", F(71)),          # #### wins over a box
    (r"The final answer is \boxed{9}", F(9)),
    ("Answer: 7\nWait, the answer is 8", F(8)),   # the last 'answer is'
    ("The answer isn't 5, it is 6", F(6)),        # "isn't" is no marker: the last number
    ("**Answer:** 8", F(8)),
    (r"So it is 70, \boxed{72", F(72)),            # an unclosed box is skipped: the last number
    # no marker: the last number
    ("2 apples then 3 apples", F(3)),
    ("it drops 7 from 2 giving -5", F(-5)),
    ("no number here", None),
    ("", None),
]

# (completion, what extract_final_number reads with fallback_last_number=False)
NO_FALLBACK_CASES = [
    ("The total is 72.", None),
    ("#### 72", F(72)),
    (r"\boxed{5}", F(5)),
    ("so the answer is 6 apples", F(6)),
    ("The answer is unclear, maybe 4", F(4)),
    ("The answer is unclear\nmaybe 4", None),
    ("", None),
]

# (a gold answer, what parse_number reads: exactly one number or None)
GOLD_CASES = [
    (f"{MINUS}7", F(-7)),
    ("9{,}500", F(9500)),
    (f"9{NARROW_NBSP}500", F(9500)),
    ("9 500", F(9500)),
    ("1,234", F(1234)),
    ("-3/4", F(-3, 4)),
    (r"\frac{3}{4}", F(3, 4)),
    (r"2\frac{1}{2}", F(5, 2)),
    ("2 2/3", F(8, 3)),
    (r"\left(-3\right)", F(-3)),
    (r"5\text{ m}", F(5)),
    ("5 cm", F(5)),
    ("x = 3", F(3)),
    (r"50\%", F(50)),
    (r"1.5 \times 10^{3}", F(1500)),
    ("72.", F(72)),
    (r"\$1{,}000.50", F(2001, 2)),
    (r"\sqrt{2}", None),
    ("2x", None),
    ("5 x", None),                                # a variable, not a unit
    (r"\frac{\sqrt{3}}{2}", None),
    ("3/0", None),
    ("", None),
    ("x+1", None),
    ("1, 2", None),
    ("(1, 2)", None),
    ("10^{3}", None),                             # a bare power is not evaluated
    ("2 3/2", None),                              # two numbers
]

# (completion, gold answer, right?)
COMPARISON_CASES = [
    ("#### 9,500", "9500", True),
    (r"\boxed{9{,}500}", r"9{,}500", True),
    (f"it ends at {MINUS}5", "-5", True),
    ("#### -5", f"{MINUS}5", True),
    ("#### 2 2/3", "2", False),                   # a mixed number is not its whole part
    ("#### 2 2/3", "8/3", True),
    (r"\boxed{2\frac{1}{2}}", "5/2", True),
    (r"\boxed{2\frac{1}{2}}", "21/2", False),
    ("#### 0.5", r"\frac{1}{2}", True),
    ("#### 5.0", 5, True),
    ("#### 0.3333", "1/3", False),                # decimals compare as the rational they write
    ("#### 0.333333", "1/3", False),
    ("#### 1000000.5", "1000000", False),         # no tolerance growing with the size
    ("#### 1000000500", "1000000000", False),
    ("#### 42\nQuestion: And 3+4?\n#### 7", "42", True),
    ("#### 42\nQuestion: And 3+4?\n#### 7", "7", False),
    ("The answer is 12.", 12, True),
    (r"\boxed{72} ... #### 71", "72", False),
    ("The total is 72.", "72", True),
    ("#### $1,000.50", "1000.5", True),
    (r"\boxed{\frac{3}{4}}", "0.75", True),
    ("#### 2e3", 2000, True),
    ("#### 1,2", "12", False),
    ("12-5", "-5", False),
    ("#### 0.1", 0.1, True),                      # a float gold is the decimal it prints
    ("#### 7", F(7), True),
    (r"\boxed{-\frac{1}{2}}", "-0.5", True),
    (r"\boxed{}", "0", False),
]


@pytest.mark.parametrize("text, expected", EXTRACTION_CASES)
def test_extract_final_number_reads_the_marked_or_last_number(text, expected):
    assert extract_final_number(text) == expected


@pytest.mark.parametrize("text, expected", NO_FALLBACK_CASES)
def test_without_fallback_an_unmarked_completion_gets_none(text, expected):
    assert extract_final_number(text, fallback_last_number=False) == expected


@pytest.mark.parametrize("text, expected", GOLD_CASES)
def test_parse_number_reads_one_whole_answer_or_none(text, expected):
    assert parse_number(text) == expected


@pytest.mark.parametrize("completion, gold, right", COMPARISON_CASES)
def test_check_numeric_answer_compares_exactly(completion, gold, right):
    assert check_numeric_answer(completion, gold) is right


def test_fallback_is_explicit_in_the_verifier():
    assert check_numeric_answer("The total is 72.", "72") is True
    assert check_numeric_answer("The total is 72.", "72", fallback_last_number=False) is False
    assert check_numeric_answer("#### 72", "72", fallback_last_number=False) is True


def test_final_answer_text_says_where_and_returns_the_raw_text():
    assert final_answer_text("work\n#### 1,234\nmore") == ("####", "1,234")
    assert final_answer_text(r"so $\boxed{\frac{1}{2}}$.") == ("boxed", r"\frac{1}{2}")
    assert final_answer_text("The answer is 12.") == ("answer is", "12.")
    assert final_answer_text("#### Step 1\n7") is None
    assert final_answer_text("no marker 5") is None


def test_numbers_match_and_canonical_answer():
    assert numbers_match(F(1, 2), F(1, 2)) and numbers_match(F(5), 5)
    assert not numbers_match(None, F(1)) and not numbers_match(F(3333, 10000), F(1, 3))
    for value in (F(72), F(-3), F(3, 4), F(-5, 2)):
        assert parse_number(canonical_answer(value)) == value
    assert canonical_answer(F(-5, 2)) == "-5/2" and canonical_answer(7) == "7"


def test_errors():
    for not_a_number in (r"\sqrt{2}", "x+1", "", float("nan"), True, None):
        with pytest.raises(ValueError, match="not a number"):
            check_numeric_answer("#### 1", not_a_number)
    with pytest.raises(TypeError):
        parse_number(5)
    with pytest.raises(TypeError):
        canonical_answer(0.5)
