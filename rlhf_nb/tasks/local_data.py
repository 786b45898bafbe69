"""A real-data task: local JSONL or parquet math problems with numeric answers, behind the task interface.

It is what :class:`rlhf_nb.tasks.addition.AdditionTask` is for the embedded task (``problems(split, n,
seed)``, ``sft_problems``, ``sft_completion``, ``check_answer``), so every stage, evaluation
and axis runs on it unchanged. Three record shapes are read, one per line (JSONL) or row
(parquet):

- GSM8K-style: ``{"question": ..., "answer": "...worked solution... #### 72"}``;
- MATH-style: ``{"problem": ..., "solution": "... \\boxed{72} ..."}`` (an ``answer`` field wins
  over the boxed one when present);
- plain: ``{"prompt": ..., "answer": "72"}``, with an optional ``solution`` for SFT.

The verifier reads the final number of a completion (after the last ``####``, else inside
the last ``\\boxed{}``, else after the last "answer is", else the last number in the text)
and compares it with the gold answer numerically: ``1,234`` = ``1234``, ``0.5`` = ``1/2`` =
``\\frac{1}{2}``, a trailing period or a ``$`` does not matter.

Splits are deterministic: a record is held out when the hash of its question falls under
``heldout_fraction`` (the same record lands in the same split whatever the file order); the
``ood`` split comes from a second file (``ood_path``) or from the records whose ``ood_column``
holds ``ood_value``; with neither it is the held-out split, and ``ood_source`` says so.

Prompts are the tokenizer's chat template applied to the question as one user message when
``chat_template_from`` names a checkpoint whose tokenizer has one, else ``prompt_format``. The
rendered template's leading BOS text is dropped, because TRL's trainers and
:func:`rlhf_nb.scoring.sampling.sample` tokenize prompt text with the tokenizer's special tokens,
which adds it back once.

What it does not do: step labels (process reward models need the embedded task), or
download anything.
"""
from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, ClassVar, Iterator

from .addition import in_heldout_share

SPLITS = ("train", "heldout", "ood")
DATA_SUFFIXES = (".jsonl", ".json", ".parquet")
PLAIN_PROMPT_FORMAT = "Question: {question}\nAnswer:"

# --- numbers -------------------------------------------------------------------------------------

_NUM = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+"
_SIGNED_NUM = rf"(?:(?<![\w)])-)?(?:{_NUM})"  # "12-5": a minus after a digit is subtraction, not a sign
_NUMBER_OR_FRACTION = re.compile(rf"({_SIGNED_NUM})(?:\s*/\s*({_NUM}))?")
# A whole gold answer: an optional "x =" before, an optional unit word after ("5 cm", "x = 3").
_STRICT = re.compile(rf"^(?:[A-Za-z]\s*=\s*)?({_SIGNED_NUM})(?:\s*/\s*({_NUM}))?(?:\s+[A-Za-z][A-Za-z ]*)?$")
_FRAC = re.compile(r"\\frac\s*\{\s*(-?[\d.,]+)\s*\}\s*\{\s*(-?[\d.,]+)\s*\}|\\frac\s*(\d)\s*(\d)")
_TEXT_WRAPPERS = re.compile(r"\\(?:text|textbf|mathrm|mbox|textnormal)\s*\{([^{}]*)\}")
_LATEX_NOISE = ("\\!", "\\,", "\\;", "\\:", "\\ ", "\\left", "\\right", "\\$", "$", "\\%", "%",
                "^{\\circ}", "^\\circ", "\\circ", "\\displaystyle")
_ANSWER_IS = re.compile(r"answer\s*(?:is|:)\s*", re.IGNORECASE)
_CALCULATOR = re.compile(r"<<[^<>]*>>")  # GSM8K's calculator annotations: 48/2=24 inside <<...>>


def _clean(text: str) -> str:
    """LaTeX and currency noise removed, ``\\frac{a}{b}`` written ``a/b``, trailing period dropped."""
    s = text.strip()
    s = _TEXT_WRAPPERS.sub(r" \1", s)
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    s = _FRAC.sub(lambda m: f"{m.group(1) or m.group(3)}/{m.group(2) or m.group(4)}", s)
    for noise in _LATEX_NOISE:
        s = s.replace(noise, "")
    s = s.strip()
    while s.endswith((".", ",", ";")) and not s.endswith("..."):
        s = s[:-1].rstrip()
    return s


def _to_fraction(number: str, denominator: str | None) -> Fraction | None:
    value = Fraction(number.replace(",", ""))
    if denominator is not None:
        den = Fraction(denominator.replace(",", ""))
        if den == 0:
            return None
        value /= den
    return value


def parse_number(text: str) -> Fraction | None:
    """The value of a whole answer such as ``72``, ``-1,234.5``, ``3/4``, ``\\frac{3}{4}``, ``$18.90``, ``5 cm``; else None.

    Strict: ``\\sqrt{2}`` or ``2x+1`` is not a number (a gold answer must be one).
    """
    m = _STRICT.match(_clean(text))
    return _to_fraction(m.group(1), m.group(2)) if m else None


def _boxed_contents(text: str) -> list[str]:
    """Contents of every ``\\boxed{...}`` / ``\\fbox{...}``, braces balanced."""
    out = []
    for m in re.finditer(r"\\(?:boxed|fbox)\s*\{", text):
        depth, i = 1, m.end()
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        if depth == 0:
            out.append(text[m.end() : i - 1])
    return out


def final_answer_text(text: str) -> tuple[str, str] | None:
    """(where it was found, the text holding the final answer) of a solution or completion, or None.

    Looks after the last ``####``, then in the last ``\\boxed{}``, then after the last
    "answer is" / "answer:". The caller reads the first number there.
    """
    if "####" in text:
        tail = text.rsplit("####", 1)[1].strip()
        return ("####", tail.splitlines()[0] if tail else "")
    boxed = _boxed_contents(text)
    if boxed:
        return ("boxed", boxed[-1])
    found = list(_ANSWER_IS.finditer(text))
    if found:
        tail = text[found[-1].end() :].strip()
        return ("answer is", tail.splitlines()[0] if tail else "")
    return None


def extract_final_number(completion: str) -> Fraction | None:
    """The number a completion gives as its final answer (lenient: a policy's output, not a gold label).

    The first number in the marked final-answer text (``####``, ``\\boxed{}``, "answer is"),
    else the last number anywhere in the completion; None when there is no number.
    """
    marked = final_answer_text(completion)
    if marked is not None:
        m = _NUMBER_OR_FRACTION.search(_clean(marked[1]))
        return _to_fraction(m.group(1), m.group(2)) if m else None
    matches = list(_NUMBER_OR_FRACTION.finditer(_clean(completion)))
    return _to_fraction(matches[-1].group(1), matches[-1].group(2)) if matches else None


def numbers_match(got: Fraction | None, want: Fraction) -> bool:
    """Equal as numbers; decimals within a relative 1e-6 (``0.333333`` = ``1/3``), integers exactly."""
    if got is None:
        return False
    if got == want:
        return True
    if got.denominator == 1 and want.denominator == 1:
        return False
    return abs(got - want) <= Fraction(1, 10**6) * max(1, abs(want))


def canonical_answer(value: Fraction) -> str:
    """A gold answer as text that :func:`parse_number` reads back: ``72``, ``-3``, ``3/4``."""
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


def check_numeric_answer(completion: str, answer: Any) -> bool:
    """Gold verifier: the completion's final number equals ``answer`` (int, Fraction or text)."""
    want = answer if isinstance(answer, Fraction) else parse_number(str(answer))
    if want is None:
        raise ValueError(f"gold answer {answer!r} is not a number: the verifier compares numeric answers only")
    return numbers_match(extract_final_number(completion), want)


# --- records -------------------------------------------------------------------------------------

def read_records(path: str | Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """(``file:line`` or ``file:row``, record) for each record of a JSONL, JSON-array or parquet file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"math data file {str(path)!r} does not exist: pass a local .jsonl or .parquet file of records like "
            '{"question": ..., "answer": "... #### 72"} (nothing is downloaded)')
    if path.suffix not in DATA_SUFFIXES:
        raise ValueError(f"{path.name}: unsupported data file type {path.suffix!r}; use one of {DATA_SUFFIXES}")
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        for i, row in enumerate(pq.read_table(path).to_pylist(), start=1):
            yield f"{path.name}:row {i}", row
        return
    if path.suffix == ".json":
        rows = json.loads(path.read_text())
        if not isinstance(rows, list):
            raise ValueError(f"{path.name}: a .json data file must hold a list of records; use .jsonl for one per line")
        for i, row in enumerate(rows, start=1):
            yield f"{path.name}:item {i}", row
        return
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{path.name}:line {i}: not valid JSON ({err.msg}); each line must be one record") from None
            yield f"{path.name}:line {i}", row


class UnparseableAnswer(ValueError):
    """A record whose final answer is missing or not a number (``skip_unparseable=True`` drops such records)."""


@dataclass(frozen=True)
class MathExample:
    """One record read: the question, its numeric gold answer and a worked solution (SFT target)."""

    question: str
    answer: Fraction
    solution: str


def _text(value: Any) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


def parse_record(record: dict[str, Any], where: str, question_field: str = "", answer_field: str = "",
                 solution_field: str = "") -> MathExample:
    """A record of any supported shape as a :class:`MathExample`; raises naming the record and the fix.

    Empty field names pick the shape from the fields present: ``question``+``answer``
    (GSM8K), ``problem``+``solution`` (MATH), ``prompt``+``answer`` (plain).
    """
    if not isinstance(record, dict):
        raise ValueError(f"{where}: a record must be a JSON object, got {type(record).__name__}")
    q_field = question_field or next((k for k in ("question", "problem", "prompt") if k in record), "")
    if not q_field or q_field not in record or not _text(record[q_field]).strip():
        raise ValueError(
            f"{where}: no question field: found fields {sorted(record)}; expected 'question' (GSM8K), 'problem' "
            "(MATH) or 'prompt', or name it with question_field=")
    a_field = answer_field or next((k for k in ("answer", "final_answer") if k in record), "")
    s_field = solution_field or next((k for k in ("solution", "rationale") if k in record), "")
    if not a_field and not s_field:
        raise ValueError(
            f"{where}: no answer field: found fields {sorted(record)}; expected 'answer' (GSM8K: '... #### 72'; "
            "plain: '72') or 'solution' (MATH: '... \\boxed{72}'), or name it with answer_field=")
    answer_text = _text(record.get(a_field)) if a_field else ""
    solution = _text(record.get(s_field)) if s_field else ""
    if "####" in answer_text and not solution:  # GSM8K: the answer field is the worked solution
        solution = answer_text
    if answer_text.strip():
        marked = final_answer_text(answer_text)
        gold_text = marked[1] if marked else answer_text
    elif solution.strip():
        marked = final_answer_text(solution)
        if marked is None:
            raise UnparseableAnswer(f"{where}: the {s_field!r} field has no final answer: expected '#### <number>' "
                                    "or '\\boxed{<number>}' in it, or an 'answer' field; pass skip_unparseable=True "
                                    "to drop such records")
        gold_text = marked[1]
    else:
        raise ValueError(f"{where}: the answer is empty: fields {sorted(record)} hold no answer or solution text")
    value = parse_number(gold_text)
    if value is None:
        raise UnparseableAnswer(
            f"{where}: cannot read a numeric final answer from {gold_text.strip()[:80]!r}: the verifier compares "
            "numbers (72, -3, 1,234, 0.5, 3/4, \\frac{3}{4}); pass skip_unparseable=True to drop such records")
    return MathExample(_text(record[q_field]).strip(), value, solution.strip())


def sft_target(example: MathExample) -> str:
    """The completion SFT teaches: the worked solution, ending on an answer the verifier reads."""
    answer = canonical_answer(example.answer)
    if not example.solution:
        return f"The answer is {answer}."
    if "####" in example.solution:  # GSM8K: drop the calculator annotations, keep '#### 72' last
        reasoning = _CALCULATOR.sub("", example.solution.rsplit("####", 1)[0]).strip()
        return f"{reasoning}\n#### {answer}" if reasoning else f"#### {answer}"
    if extract_final_number(example.solution) is not None and numbers_match(
            extract_final_number(example.solution), example.answer):
        return example.solution
    return f"{example.solution}\n#### {answer}"  # a solution that does not end on its answer gets it appended


# --- prompts -------------------------------------------------------------------------------------

def has_chat_template(tokenizer: Any) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def format_prompt(question: str, tokenizer: Any = None, system_prompt: str = "",
                  prompt_format: str = PLAIN_PROMPT_FORMAT) -> str:
    """The prompt text for a question: the chat template (user message) when the tokenizer has one, else plain.

    The rendered template's leading BOS text is dropped: trainers and sampling tokenize the
    prompt with special tokens, which puts the BOS back once (not twice).
    """
    if tokenizer is not None and has_chat_template(tokenizer):
        messages = ([{"role": "system", "content": system_prompt}] if system_prompt else []) + \
                   [{"role": "user", "content": question}]
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        bos = getattr(tokenizer, "bos_token", None)
        if bos and text.startswith(bos):
            text = text[len(bos) :]
        return text
    body = prompt_format.format(question=question)
    return f"{system_prompt}\n\n{body}" if system_prompt else body


# --- the task ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MathProblem:
    """One problem as the pipeline sees it: the formatted prompt and the gold answer as text."""

    prompt: str
    answer: str
    """canonical numeric answer (``72``, ``-3``, ``3/4``), what the RL dataset's ``answer`` column holds"""
    question: str = field(compare=False)
    solution: str = field(compare=False, repr=False)
    terms: tuple = field(default=(), compare=False, repr=False)
    """empty: there are no addition terms (keeps ``ResponsePool.to_json`` working; no step labels)"""


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p)
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class MathDataTask:
    """Math problems with numeric answers from a local file, split deterministically, formatted for a tokenizer."""

    path: str
    """a .jsonl, .json or .parquet file of GSM8K-style, MATH-style or plain {prompt, answer} records"""
    ood_path: str = ""
    """a second file whose records form the out-of-distribution split (e.g. a harder set); "" for none"""
    ood_column: str = ""
    """or: records of ``path`` whose value in this column equals ``ood_value`` form the ood split"""
    ood_value: str = ""
    """the ``ood_column`` value (as text) that marks an OOD record, e.g. 'Level 5'"""
    heldout_fraction: float = 0.1
    """share of the in-distribution records held out for evaluation (by hash of the question)"""
    chat_template_from: str = ""
    """checkpoint folder whose tokenizer's chat template formats prompts (pass the policy's); "" = plain text"""
    system_prompt: str = ""
    """system message (chat template) or preamble (plain text); "" for none"""
    prompt_format: str = PLAIN_PROMPT_FORMAT
    """plain-text prompt, used when there is no chat template; must contain {question}"""
    completion_prefix: str = " "
    """put before every SFT completion of a plain-text prompt ('Answer:' + ' 72'); chat prompts get none"""
    skip_unparseable: bool = False
    """drop records without a numeric answer (e.g. MATH's \\sqrt answers) instead of refusing the file"""
    max_records: int = 0
    """read at most this many records per file (0 = all), for quick runs"""
    question_field: str = ""
    """the question's field name; "" detects question / problem / prompt"""
    answer_field: str = ""
    """the answer's field name; "" detects answer / final_answer"""
    solution_field: str = ""
    """the worked solution's field name; "" detects solution / rationale"""
    trust_remote_code: bool = False
    """allow the chat-template tokenizer's own code (only for checkpoints you trust)"""
    name: str = field(default="math_data", init=False)
    has_step_labels: ClassVar[bool] = False
    """final answers only: no step verifier, so no process reward model"""
    data_sha256: str = field(default="", init=False)
    """digest of the data files and the prompt template: a changed file gives new run ids"""
    prompt_style: str = field(default="", init=False)
    """chat or plain: how prompts were made"""
    ood_source: str = field(default="", init=False)
    """file, column, or heldout (no OOD data given: the ood split is the held-out split)"""
    split_sizes: tuple = field(default=(), init=False)
    """(train, heldout, ood, skipped) record counts"""

    def __post_init__(self):
        if not 0 < self.heldout_fraction < 1:
            raise ValueError(f"heldout_fraction={self.heldout_fraction}: use a share strictly between 0 and 1")
        if self.ood_path and self.ood_column:
            raise ValueError("give the OOD split either as ood_path or as ood_column/ood_value, not both")
        if self.ood_column and not self.ood_value:
            raise ValueError(f"ood_column={self.ood_column!r} needs ood_value (the value that marks an OOD record)")
        if "{question}" not in self.prompt_format:
            raise ValueError(f"prompt_format={self.prompt_format!r} must contain '{{question}}'")
        if self.max_records < 0:
            raise ValueError(f"max_records={self.max_records}: use 0 (all) or a positive count")
        for name in ("path", "ood_path", "chat_template_from"):  # absolute: the same wherever a worker runs
            if getattr(self, name):
                object.__setattr__(self, name, str(Path(getattr(self, name)).expanduser().resolve()))

        tokenizer = None
        if self.chat_template_from:
            from transformers import (
                AutoTokenizer,  # only the template is read: no model, no layer above tasks
            )

            if not (Path(self.chat_template_from) / "tokenizer_config.json").exists():
                raise FileNotFoundError(
                    f"chat_template_from={self.chat_template_from!r} has no tokenizer_config.json: pass the "
                    "checkpoint folder whose chat template formats the prompts, or leave it empty")
            tokenizer = AutoTokenizer.from_pretrained(self.chat_template_from, trust_remote_code=self.trust_remote_code)
        style = "chat" if has_chat_template(tokenizer) else "plain"

        main, skipped, ood_rows = self._read(self.path)
        if self.ood_path:
            ood, ood_skipped, _ = self._read(self.ood_path)
            skipped += ood_skipped
            source = "file"
        elif self.ood_column:
            ood = ood_rows
            if not ood:
                raise ValueError(f"no record of {Path(self.path).name} has {self.ood_column}={self.ood_value!r}: "
                                 "the ood split would be empty; check ood_column / ood_value")
            source = "column"
        else:
            ood, source = [], "heldout"
        ood_questions = {e.question for e in ood}
        main = [e for e in main if e.question not in ood_questions]  # an OOD question never trains anything
        is_heldout = [in_heldout_share(e.question, self.heldout_fraction) for e in main]
        heldout = [e for e, held in zip(main, is_heldout) if held]
        train = [e for e, held in zip(main, is_heldout) if not held]
        for split, rows in (("train", train), ("heldout", heldout)):
            if not rows:
                raise ValueError(
                    f"the {split} split of {Path(self.path).name} is empty ({len(main)} usable records, "
                    f"heldout_fraction={self.heldout_fraction}): add records or change heldout_fraction")

        def problems(rows: list[MathExample]) -> list[MathProblem]:
            return [MathProblem(format_prompt(e.question, tokenizer, self.system_prompt, self.prompt_format),
                                canonical_answer(e.answer), e.question, e.solution) for e in rows]

        splits = {"train": problems(train), "heldout": problems(heldout)}
        splits["ood"] = problems(ood) if ood else splits["heldout"]
        template = (tokenizer.chat_template if style == "chat" else self.prompt_format) or ""
        files = [Path(self.path)] + ([Path(self.ood_path)] if self.ood_path else [])
        object.__setattr__(self, "data_sha256", _digest(*(f.read_bytes() for f in files), str(template).encode()))
        object.__setattr__(self, "prompt_style", style)
        object.__setattr__(self, "ood_source", source)
        object.__setattr__(self, "split_sizes", (len(train), len(heldout), len(ood), skipped))
        object.__setattr__(self, "_splits", splits)

    def _read(self, path: str) -> tuple[list[MathExample], int, list[MathExample]]:
        """(in-distribution examples, records skipped, OOD-by-column examples) of one file."""
        examples, ood, skipped = [], [], 0
        for where, record in read_records(path):
            if self.max_records and len(examples) + len(ood) + skipped >= self.max_records:
                break
            try:
                example = parse_record(record, where, self.question_field, self.answer_field, self.solution_field)
            except UnparseableAnswer:
                if not self.skip_unparseable:
                    raise
                skipped += 1
                continue
            if self.ood_column and str(record.get(self.ood_column, "")) == self.ood_value:
                ood.append(example)
            else:
                examples.append(example)
        if not examples and not ood:
            raise ValueError(f"{Path(path).name} holds no usable record ({skipped} skipped as unparseable)")
        return examples, skipped, ood

    def problems(self, split: str, n: int, seed: int) -> list[MathProblem]:
        """``n`` problems of a split in a seeded order; a split smaller than ``n`` is cycled through, reshuffled.

        The list for ``n`` is a prefix of the list for any larger ``n`` (same seed), as for the
        embedded task, so chunked reward-model data stays consistent.
        """
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}: use one of {SPLITS}")
        return self._draw(split, self._splits[split], n, seed)

    def sft_problems(self, n: int, seed: int) -> list[MathProblem]:
        """SFT problems: the train split (never a held-out or OOD question)."""
        return self._draw("sft", self._splits["train"], n, seed)

    def _draw(self, stream: str, pool: list[MathProblem], n: int, seed: int) -> list[MathProblem]:
        if n <= 0:
            raise ValueError(f"n={n}: ask for at least one problem")
        rng = random.Random(f"{self.name}/{stream}/{seed}")
        out: list[MathProblem] = []
        while len(out) < n:
            order = list(range(len(pool)))
            rng.shuffle(order)
            out.extend(pool[i] for i in order)
        return out[:n]

    def sft_completion(self, problem: MathProblem, rng: random.Random) -> str:
        """The record's worked solution (its final answer last); ``rng`` is unused (no planted bias here)."""
        target = sft_target(MathExample(problem.question, Fraction(problem.answer), problem.solution))
        return (self.completion_prefix + target) if self.prompt_style == "plain" else target

    def check_answer(self, completion: str, answer: Any) -> bool:
        """Gold verifier: the completion's final number equals ``answer`` numerically."""
        return check_numeric_answer(completion, answer)
