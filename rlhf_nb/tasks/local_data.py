"""A real-data task: local JSONL or parquet math problems with numeric answers, behind the task interface.

It is what :class:`rlhf_nb.tasks.addition.AdditionTask` is for the embedded task (``problems(split, n,
seed)``, ``sft_problems``, ``sft_completion``, ``check_answer``), so every stage, evaluation
and axis runs on it unchanged. Three record shapes are read, one per line (JSONL) or row
(parquet):

- GSM8K-style: ``{"question": ..., "answer": "...worked solution... #### 72"}``;
- MATH-style: ``{"problem": ..., "solution": "... \\boxed{72} ..."}`` (an ``answer`` field wins
  over the boxed one when present);
- plain: ``{"prompt": ..., "answer": "72"}``, with an optional ``solution`` for SFT.

Answers are read and compared by :mod:`rlhf_nb.tasks.answers` (the rules live there, with
their tables: where a final answer is, ``####`` first, then the last ``\\boxed{}``, then
"answer is", else the last number; how numbers are written; exact comparison, so ``0.5`` =
``1/2`` = ``\\frac{1}{2}`` but ``0.333333`` is not ``1/3``). Its functions (``parse_number``,
``extract_final_number``, ``check_numeric_answer``, ...) stay importable from this module.

Splits are deterministic: a record is held out when the hash of its question falls under
``heldout_fraction`` (the same record lands in the same split whatever the file order); the
``ood`` split comes from a second file (``ood_path``) or from the records whose ``ood_column``
holds ``ood_value``; with neither it is the held-out split, and ``ood_source`` says so.
No evaluation prompt of any split (``heldout``, ``ood``) is ever a ``train`` prompt, and SFT
draws from ``train`` only: a record whose question is an OOD question, or whose formatted
prompt equals an evaluation prompt, is dropped from ``train``.

Prompts are the tokenizer's chat template applied to the question as one user message when
``chat_template_from`` names a checkpoint (a folder or a ``.gguf`` file) whose tokenizer has one,
else ``prompt_format``. TRL's trainers and :func:`rlhf_nb.scoring.sampling.sample` tokenize
prompt text with the tokenizer's special tokens, so the text is made such that those ids equal
``apply_chat_template(messages, tokenize=True, add_generation_prompt=True)`` exactly: the
template's leading BOS text is dropped only when the tokenizer adds that BOS itself (SmolLM2's
does not: its ``<|im_start|>`` is written by the template), and the equality is checked once
when the task is built (:func:`check_template_ids`).

The verifier gives no credit without an answer: a completion is right when its marked answer
(``####``, ``\boxed{}``, "answer is") equals the gold one, or, only when it ended with an end
token (``finished=True``), when its last number does. A completion cut at the token budget
with no marked answer gets none, whatever numbers it rambled through.

What it does not do: step labels (process reward models need the embedded task), or
download anything.
"""
from __future__ import annotations

import hashlib
import json
import random
import re
import unicodedata
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, ClassVar, Iterator

from ..typed_values import normalize_fields
from .addition import in_heldout_share
from .answers import (  # the answer reader; these names stay importable from this module
    canonical_answer,
    check_numeric_answer,
    extract_final_number,
    final_answer_text,
    numbers_match,
    parse_number,
)

SPLITS = ("train", "heldout", "ood")
DATA_SUFFIXES = (".jsonl", ".json", ".parquet")
PLAIN_PROMPT_FORMAT = "Question: {question}\nAnswer:"

# --- numbers: rlhf_nb.tasks.answers reads and compares them ----------------------------------

_CALCULATOR = re.compile(r"<<[^<>]*>>")  # GSM8K's calculator annotations: 48/2=24 inside <<...>>


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
        rows = json.loads(path.read_text(encoding="utf-8-sig"))
        if not isinstance(rows, list):
            raise ValueError(f"{path.name}: a .json data file must hold a list of records; use .jsonl for one per line")
        for i, row in enumerate(rows, start=1):
            yield f"{path.name}:item {i}", row
        return
    with open(path, encoding="utf-8-sig") as f:
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
    """The completion SFT teaches: the worked solution, ending on a marked answer (``####``, ``\\boxed{}``, "answer is")."""
    answer = canonical_answer(example.answer)
    if not example.solution:
        return f"The answer is {answer}."
    if "####" in example.solution:  # GSM8K: drop the calculator annotations, keep '#### 72' last
        reasoning = _CALCULATOR.sub("", example.solution.rsplit("####", 1)[0]).strip()
        return f"{reasoning}\n#### {answer}" if reasoning else f"#### {answer}"
    if final_answer_text(example.solution) is not None and numbers_match(
            extract_final_number(example.solution, fallback_last_number=False), example.answer):
        return example.solution  # e.g. MATH: ends on its \boxed{} answer
    # a solution without a marked answer (CHAMP's end on a bare "= 2.") gets one: the policy learns to mark its
    # answer, and the verifier credits a marked answer even where it cannot tell that a completion ended
    return f"{example.solution}\n#### {answer}"


# --- prompts -------------------------------------------------------------------------------------

def has_chat_template(tokenizer: Any) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def adds_bos(tokenizer: Any) -> bool:
    """Whether tokenizing text with special tokens puts the tokenizer's BOS in front by itself."""
    bos_id = getattr(tokenizer, "bos_token_id", None)
    if bos_id is None:
        return False
    ids = tokenizer("x")["input_ids"]
    return bool(ids) and ids[0] == bos_id and tokenizer("x", add_special_tokens=False)["input_ids"][:1] != [bos_id]


def chat_messages(question: str, system_prompt: str = "") -> list[dict[str, str]]:
    return ([{"role": "system", "content": system_prompt}] if system_prompt else []) + \
           [{"role": "user", "content": question}]


def format_prompt(question: str, tokenizer: Any = None, system_prompt: str = "",
                  prompt_format: str = PLAIN_PROMPT_FORMAT) -> str:
    """The prompt text for a question: the chat template (user message) when the tokenizer has one, else plain.

    Trainers and the sampler tokenize prompt text with special tokens (``tokenizer(text)``), so
    the text is made such that those ids are exactly the template's own
    (``apply_chat_template(..., tokenize=True, add_generation_prompt=True)``): one BOS, whether
    the tokenizer adds it itself (then the template's leading BOS text is dropped, or it would
    come twice) or only the template writes it (then it is kept: SmolLM2's ``<|im_start|>``
    is text the template writes, not a token the tokenizer adds). :func:`check_template_ids`
    verifies it once per task.
    """
    if tokenizer is not None and has_chat_template(tokenizer):
        text = tokenizer.apply_chat_template(chat_messages(question, system_prompt), tokenize=False,
                                             add_generation_prompt=True)
        bos = getattr(tokenizer, "bos_token", None)
        if bos and text.startswith(bos) and adds_bos(tokenizer):
            text = text[len(bos) :]
        return text
    body = prompt_format.format(question=question)
    return f"{system_prompt}\n\n{body}" if system_prompt else body


def check_template_ids(question: str, tokenizer: Any, system_prompt: str = "") -> None:
    """Refuse a tokenizer whose prompt ids (text tokenized with special tokens) differ from its chat template's ids.

    Raises ValueError naming both sequences' starts, before any training.
    """
    text = format_prompt(question, tokenizer, system_prompt)
    ours = tokenizer(text)["input_ids"]
    theirs = tokenizer.apply_chat_template(chat_messages(question, system_prompt), tokenize=True,
                                           add_generation_prompt=True)
    if hasattr(theirs, "keys"):  # transformers may return a BatchEncoding
        theirs = theirs["input_ids"]
    theirs = list(theirs[0]) if theirs and isinstance(theirs[0], (list, tuple)) else list(theirs)
    if list(ours) != theirs:
        raise ValueError(
            f"the prompt ids the trainers would use ({list(ours)[:8]}...) differ from the chat template's own "
            f"({theirs[:8]}...): the tokenizer and its template disagree on special tokens; pass a checkpoint whose "
            "tokenizer_config.json is consistent, or leave chat_template_from empty for plain prompts")


def question_key(question: str) -> str:
    """The key splits use for a question: Unicode NFKC, whitespace collapsed, case folded.

    Two records whose questions differ only in spacing, capitalisation or Unicode form are one
    question: they fall in the same split, so a held-out question never trains anything.
    """
    return " ".join(unicodedata.normalize("NFKC", question).split()).casefold()


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
    """checkpoint folder or .gguf file whose tokenizer's chat template formats prompts (the notebooks pass the
    policy's when it has one); "" = plain text"""
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
    duplicate_questions: int = field(default=0, init=False)
    """records whose normalised question (:func:`question_key`) another record already has; counted in the
    split sizes, and always in the same split as their twin"""
    """(train, heldout, ood, skipped) record counts"""

    def __post_init__(self):
        normalize_fields(self)  # declared types: one configuration, one run id, whatever typed it
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

            source = Path(self.chat_template_from)
            if source.suffix == ".gguf" and source.is_file():  # llama.cpp's format: the tokenizer is inside it
                tokenizer = AutoTokenizer.from_pretrained(str(source.parent), gguf_file=source.name)
            elif not (source / "tokenizer_config.json").exists():
                raise FileNotFoundError(
                    f"chat_template_from={self.chat_template_from!r} has no tokenizer_config.json: pass the "
                    "checkpoint folder (or .gguf file) whose chat template formats the prompts, or leave it empty")
            else:
                tokenizer = AutoTokenizer.from_pretrained(self.chat_template_from,
                                                          trust_remote_code=self.trust_remote_code)
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
        ood_questions = {question_key(e.question) for e in ood}
        main = [e for e in main if question_key(e.question) not in ood_questions]  # an OOD question trains nothing
        is_heldout = [in_heldout_share(question_key(e.question), self.heldout_fraction) for e in main]
        keys = [question_key(e.question) for e in main + ood]
        object.__setattr__(self, "duplicate_questions", len(keys) - len(set(keys)))
        if tokenizer is not None and style == "chat" and main:
            check_template_ids(main[0].question, tokenizer, self.system_prompt)

        def problems(rows: list[MathExample]) -> list[MathProblem]:
            return [MathProblem(format_prompt(e.question, tokenizer, self.system_prompt, self.prompt_format),
                                canonical_answer(e.answer), e.question, e.solution) for e in rows]

        heldout = problems([e for e, held in zip(main, is_heldout) if held])
        ood_problems = problems(ood) if ood else heldout
        # The held-out rule is on prompts, what a policy actually sees: a train record whose prompt is an
        # evaluation prompt of any split (a template can render two questions alike) trains nothing.
        evaluated = {p.prompt for p in heldout} | {p.prompt for p in ood_problems}
        train = [p for p in problems([e for e, held in zip(main, is_heldout) if not held])
                 if p.prompt not in evaluated]
        for split, rows in (("train", train), ("heldout", heldout)):
            if not rows:
                raise ValueError(
                    f"the {split} split of {Path(self.path).name} is empty ({len(main)} usable records, "
                    f"heldout_fraction={self.heldout_fraction}): add records or change heldout_fraction")

        splits = {"train": train, "heldout": heldout, "ood": ood_problems}
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
        """SFT problems: the train split (never a held-out or OOD prompt)."""
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

    def check_answer(self, completion: str, answer: Any, finished: bool = False) -> bool:
        """Gold verifier: the completion's final answer equals ``answer`` exactly (:mod:`rlhf_nb.tasks.answers`).

        A marked answer is read wherever it is; without one, the last number counts only for a
        completion that ``finished`` (ended with an end token): no credit for a cut ramble.
        """
        return check_numeric_answer(completion, answer, fallback_last_number=finished)
