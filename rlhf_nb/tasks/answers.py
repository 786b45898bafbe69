r"""Final numeric answers of GSM8K/MATH-style data and model completions, read as people write them.

Pure and dependency-free (only the standard library's ``re``, ``fractions`` and ``unicodedata``).
Every value is an exact :class:`fractions.Fraction`, and answers are compared exactly: no
tolerance, for integers or fractions or decimals.

Where the final answer is
-------------------------

:func:`final_answer_text` and :func:`extract_final_number` take the first of these that applies:

====  ==============================  ===============================================================
rank  marker                          what is read
====  ==============================  ===============================================================
1     ``####`` (GSM8K)                the FIRST ``####`` whose text starts with a number: the rest of
                                      its line (a ``####`` alone on its line reads the next line), up
                                      to another ``####``. A completion that answers ``#### 42`` and
                                      runs on into another question answered ``#### 7`` gives 42. A
                                      ``####`` followed by words ("#### Step 1") is a Markdown heading,
                                      not a marker. ``####`` wins over a box when both appear (a box
                                      in GSM8K-style text is part of the working; the old verifier did
                                      the same).
2     ``\boxed{...}``, ``\fbox{...}``  the LAST complete box (the MATH convention), braces nested to any
      ``\boxed 5``                    depth; ``\boxed 5`` / ``\boxed5`` read up to ``$`` or the line's
                                      end. An unclosed box (a cut-off completion) is skipped. The
                                      last box counts even when it is empty or holds no number: that
                                      reads None.
3     "answer is" / "answer:" /       the LAST such phrase (any case, not "answer isn't") whose text
      "answer ="                      holds a number: the rest of its line, up to the next such phrase.
4     none of the above               ``fallback_last_number=True`` (the default, as before): the last
                                      number anywhere in the text; ``False``: None (no credit without
                                      a marker).
====  ==============================  ===============================================================

Inside a marked answer the whole text is first read as one answer (:func:`parse_number`: so
``#### 9 500``, ``\boxed{x = 3}`` and ``\boxed{5\text{ cm}}`` read whole); when it is not one
number, the FIRST number in it is the answer.

How a number is written
-----------------------

=========================  ====================================================================
written                    read as
=========================  ====================================================================
digits                     ``72``, ``007`` = 7; any Unicode decimal digit (``７２``, ``٧٢``) = ASCII
thousands separators       groups of exactly three digits after a first group of 1-3 digits not
                           starting with 0, one separator kind per number: ``9,500``,
                           ``9{,}500``, ``9\,500``, and the thin / narrow no-break / no-break /
                           figure spaces (U+2009, U+202F, U+00A0, U+2007, U+2008, U+200A).
                           ``1, 2, 3`` and ``1,2`` are lists (1 then 2), ``1,2345`` is 1 then
                           2345, ``0,500`` is 0 then 500. A plain ASCII space separates
                           thousands only in a whole answer (``parse_number("9 500")`` = 9500);
                           inside running text ``9 500`` is 9 then 500
decimals                   ``0.5``, ``.5``, ``5.0`` = 5; a decimal comma (``0,5``) is not read
                           as one. A period not followed by a digit ends the sentence: ``12.`` = 12
signs                      ``-``, U+2212 minus, U+2013 en dash, U+2012, U+2010, U+2011, U+FE63,
                           U+FF0D, ``\!-``; a minus right after a letter, digit, ``_`` or a
                           closing bracket is subtraction (``12-5`` holds 12 and 5, ``x-5``
                           holds 5); a minus must touch its number except at the start of a
                           whole answer (``\boxed{- \frac{1}{2}}`` = -1/2). ``+5`` = 5
fractions                  ``1/2``, ``3/-4``, ``\frac{1}{2}``, ``\dfrac``, ``\tfrac``, ``\cfrac``,
                           ``\frac12``, ``\frac1{2}``, ``-\frac{3}{4}``, ``\frac{-3}{4}``, U+2044
                           fraction slash, ``½`` and the other vulgar fractions. A zero
                           denominator is no number (None). ``\frac`` of anything but plain
                           numbers (``\frac{\sqrt3}{2}``) is not read
mixed numbers              an integer, spaces (not a newline), then a proper fraction with
                           0 < numerator < denominator: ``2 2/3`` = 8/3, ``2\frac{1}{2}`` = 5/2
                           (never 21/2), ``2½`` = 5/2, ``-2 1/2`` = -5/2 (the sign covers the
                           whole). ``2 3/2`` is 2 then 3/2
scientific notation        ``1.5e3``, ``2E-2``, ``1.5 \times 10^{3}``, ``3\cdot10^{-2}``,
                           ``2 × 10^3``, ``4 * 10^2``; a bare power (``10^3``, ``2^{10}``) is not
                           evaluated
exponents and indices      a number right after ``^`` or ``_`` is not read (``5 cm^2`` holds 5,
                           ``x_1 = 3`` holds 3); ``10^{3}`` alone is 10, not 1000
ignored around a number    ``$``, ``\$``, ``%``, ``\%`` (50% reads 50, not 1/2), ``°``,
                           ``^\circ``, ``\left``/``\right``/``\big``..., ``\(`` ``\)`` ``\[``
                           ``\]``, ``\displaystyle``, braces, LaTeX spaces (``\,`` ``\;`` ``\:``
                           ``\ `` ``\quad`` ``~``), zero-width characters, trailing ``.,;:!?``;
                           ``\text{}``, ``\textbf{}``, ``\mbox{}``, ``\mathrm{}``... are unwrapped
whole answer (strict)      :func:`parse_number`: exactly one number, optionally after a variable
                           (``x =``, ``x_1 =``), optionally in one pair of parentheses, optionally
                           followed by a unit: words of two or more letters (``5 cm``,
                           ``18 dollars``, ``5 cm^2``) or any letters inside ``\text{}``-like
                           wrappers (``5\text{ m}``). ``5 x``, ``2x``, ``\sqrt{2}``, ``x+1``,
                           ``3/0``, ``1, 2`` and the empty text are not numbers
=========================  ====================================================================

Comparison (:func:`numbers_match`, :func:`check_numeric_answer`) is exact equality of rationals:
``0.5`` = ``1/2`` = ``\frac{1}{2}``, ``5.0`` = ``5``, but ``0.3333`` is not ``1/3`` and
``1000000.5`` is not ``1000000`` (the old verifier allowed a relative 1e-6, so larger golds
accepted larger errors).
"""
from __future__ import annotations

import re
import unicodedata
from fractions import Fraction
from typing import Any

__all__ = [
    "canonical_answer",
    "check_numeric_answer",
    "extract_final_number",
    "final_answer_text",
    "numbers_match",
    "parse_number",
]

# --- text normalisation --------------------------------------------------------------------------

_THIN = "\u2009"  # every space that separates thousands becomes this one
_UNIT_MARK = "\ue000"  # private use: "the letters after me came out of \text{...}" (strict reading only)

_SEPARATING_SPACES = frozenset("\u00a0\u2007\u2008\u2009\u200a\u202f")
_MINUS_SIGNS = frozenset("\u2212\u2013\u2012\u2010\u2011\ufe63\uff0d\u2796")
_DROPPED_CHARS = frozenset("\u200b\u200c\u200d\u2060\ufeff\u00ad\u00b0")  # zero width, soft hyphen, degree
_REPLACED_CHARS = {"\u2044": "/", "\u2215": "/", "\uff0f": "/", "\uff05": "%", "\uff04": "$", "\ufe69": "$",
                   "\u00d7": "\\times ", "\u00b7": "\\cdot ", "\u22c5": "\\cdot "}


def _normalize_unicode(text: str) -> str:
    out = []
    for ch in text:
        if ch.isascii():
            out.append(ch)
        elif ch in _SEPARATING_SPACES:
            out.append(_THIN)
        elif ch in _MINUS_SIGNS:
            out.append("-")
        elif ch in _DROPPED_CHARS:
            continue
        elif ch in _REPLACED_CHARS:
            out.append(_REPLACED_CHARS[ch])
        else:
            category = unicodedata.category(ch)
            if category == "Nd":
                out.append(str(unicodedata.decimal(ch)))
            elif category == "Zs":
                out.append(" ")
            elif category == "No" and unicodedata.name(ch, "").startswith("VULGAR FRACTION"):
                value = Fraction(unicodedata.numeric(ch)).limit_denominator(1000)
                out.append(f"\\frac{{{value.numerator}}}{{{value.denominator}}}" if value.denominator > 1 else ch)
            else:
                out.append(ch)
    return "".join(out)


_TEXT_WRAPPER = re.compile(
    r"\\(?:text|textrm|textnormal|textbf|textit|textsf|texttt|textup|mbox|hbox|mathrm|mathbf|mathit|mathsf"
    r"|mathtt|mathnormal|operatorname)\s*\{([^{}]*)\}")
_UNIT_WORDS = re.compile(r"\s*[A-Za-z][A-Za-z ./]*")
_LATEX_THIN_THOUSANDS = re.compile(r"(?<=\d)\\,(?=\d{3}(?!\d))")
_LATEX_SPACES = re.compile(r"\\(?:[,;: ]|q?quad(?![A-Za-z])|thinspace|medspace|thickspace|enspace)|~")
_LEFT_RIGHT_DOT = re.compile(r"\\(?:left|right)\s*\.")
_SIZERS = re.compile(r"\\(?:left|right|[bB]igg?[lr]?)(?![A-Za-z])")
_MATH_DELIMITERS = re.compile(r"\\[()\[\]]")
_NOISE = ("^{\\circ}", "^\\circ", "\\circ", "\\degree", "\\%", "%", "\\$", "$", "\\displaystyle", "\\textstyle")
_FRAC_NAMES = re.compile(r"\\[dtc]frac(?![A-Za-z])")
_FRAC_ARG = r"(?:\{\s*([-+]?[\d.,\u2009]+)\s*\}|(\d))"
_FRAC = re.compile(rf"\\frac\s*{_FRAC_ARG}\s*{_FRAC_ARG}")
_BOX_NAMES = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])")
_BRACES = re.compile(r"\\?[{}]")


def _unwrap_text(m: re.Match) -> str:
    inner = m.group(1)
    if _UNIT_WORDS.fullmatch(inner):  # letters only: a unit, allowed after a whole answer however short
        return f" {_UNIT_MARK}{inner.strip()} "
    return f" {inner} "


def _frac_as_slash(m: re.Match) -> str:
    num, den = m.group(1) or m.group(2), m.group(3) or m.group(4)
    before = m.string[m.start() - 1] if m.start() else ""
    # 2\frac{1}{2} is the mixed number 2 1/2 (= 5/2), never 21/2: keep the whole part apart.
    lead = " " if before.isdigit() or before in ".}" else ""
    return f"{lead}{num}/{den} "


def _clean(text: str, unit_marks: bool = False) -> str:
    r"""``text`` with Unicode and LaTeX notation reduced to plain numbers (see the module docstring).

    ``\frac{a}{b}`` becomes ``a/b``, ``9{,}500`` becomes ``9,500``, thousands spaces become
    U+2009, minus signs ``-``, wrappers, braces, currency and percent signs go, a trailing period
    goes. ``unit_marks`` keeps a private marker before letters that came out of ``\text{}`` (used
    by :func:`parse_number` to accept ``5\text{ m}``).
    """
    s = _normalize_unicode(text)
    for _ in range(4):  # nested wrappers unwrap from the inside
        unwrapped = _TEXT_WRAPPER.sub(_unwrap_text, s)
        if unwrapped == s:
            break
        s = unwrapped
    s = s.replace("{,}", ",")
    s = _LATEX_THIN_THOUSANDS.sub(_THIN, s)
    s = s.replace("\\!", "")
    s = _LATEX_SPACES.sub(" ", s)
    s = _LEFT_RIGHT_DOT.sub("", s)
    s = _SIZERS.sub("", s)
    s = _MATH_DELIMITERS.sub(" ", s)
    for noise in _NOISE:
        s = s.replace(noise, "")
    s = _FRAC_NAMES.sub(r"\\frac", s)
    s = _FRAC.sub(_frac_as_slash, s)
    s = _BOX_NAMES.sub(" ", s)
    s = _BRACES.sub(" ", s)
    if not unit_marks:
        s = s.replace(_UNIT_MARK, "")
    s = s.strip()
    while s and s[-1] in ".,;:!?" and not s.endswith("..."):
        s = s[:-1].rstrip()
    return s


# --- numbers in text -----------------------------------------------------------------------------

_INT = r"(?:[1-9]\d{0,2}(?:,\d{3}(?!\d))+|[1-9]\d{0,2}(?:\u2009\d{3}(?!\d))+|\d+)"
_ATOM = re.compile(
    r"(?P<sign>(?<![\w)\]}])-)?"  # "12-5", "x-5": a minus after an operand is subtraction, not a sign
    rf"(?<![\d.])(?P<num>{_INT}(?:\.\d+)?|\.\d+)"
    r"(?:[eE](?P<e>[+-]?\d+)(?!\w)|\s*(?:\\times|\\cdot|\*)\s*10\s*\^\s*(?P<p>[+-]?\d+))?")
_FRACTION_GAP = re.compile(r"\s*/\s*")
_MIXED_GAP = re.compile(r"[ \t\u2009]+")
_SEPARATORS = re.compile(r"[,\u2009]")
_EXPONENT_BEFORE = re.compile(r"[\^_]\s*$")  # "cm^2", "x_1": an exponent or an index is not an answer


def _atom_value(m: re.Match) -> Fraction:
    value = Fraction(_SEPARATORS.sub("", m.group("num")))
    exponent = m.group("e") or m.group("p")
    if exponent is not None:
        value *= Fraction(10) ** int(exponent)
    return -value if m.group("sign") else value


def _is_plain_int(m: re.Match, signed: bool = True) -> bool:
    return ("." not in m.group("num") and m.group("e") is None and m.group("p") is None
            and (signed or not m.group("sign")))


def _scan(s: str) -> list[tuple[int, int, Fraction | None]]:
    """(start, end, value) of each number of cleaned text, left to right; value None for x/0."""
    atoms = [m for m in _ATOM.finditer(s) if not _EXPONENT_BEFORE.search(s, max(0, m.start() - 16), m.start())]
    out: list[tuple[int, int, Fraction | None]] = []
    i = 0
    while i < len(atoms):
        a = atoms[i]
        if i + 2 < len(atoms):  # mixed number: 2 1/2
            b, c = atoms[i + 1], atoms[i + 2]
            if (_is_plain_int(a) and _is_plain_int(b, signed=False) and _is_plain_int(c, signed=False)
                    and _MIXED_GAP.fullmatch(s[a.end():b.start()])
                    and _FRACTION_GAP.fullmatch(s[b.end():c.start()])
                    and 0 < _atom_value(b) < _atom_value(c)):
                whole = abs(_atom_value(a)) + _atom_value(b) / _atom_value(c)
                out.append((a.start(), c.end(), -whole if a.group("sign") else whole))
                i += 3
                continue
        if i + 1 < len(atoms) and _FRACTION_GAP.fullmatch(s[a.end():atoms[i + 1].start()]):  # 3/4
            den = _atom_value(atoms[i + 1])
            out.append((a.start(), atoms[i + 1].end(), _atom_value(a) / den if den else None))
            i += 2
            continue
        out.append((a.start(), a.end(), _atom_value(a)))
        i += 1
    return out


def _to_fraction(number: str, denominator: str | None) -> Fraction | None:
    """``number`` (over ``denominator``, when given) as a Fraction; separators allowed; None over zero.

    Raises ValueError when a part is not a plain decimal number.
    """
    value = Fraction(_SEPARATORS.sub("", _normalize_unicode(number)))
    if denominator is not None:
        den = Fraction(_SEPARATORS.sub("", _normalize_unicode(denominator)))
        if den == 0:
            return None
        value /= den
    return value


# --- a whole answer ------------------------------------------------------------------------------

_VARIABLE_PREFIX = re.compile(r"^[A-Za-z](?:_\s*\w+)?\s*=\s*")
_LEADING_SIGN = re.compile(r"^([-+])\s+")
_SPACE_GROUPED = re.compile(r"^-?[1-9]\d{0,2}(?: \d{3})+(?!\d)")
# what may follow a whole answer: a unit (any letters from \text{}, else a word of 2+ letters), ^2 or ^3
_UNIT_SUFFIX = re.compile(rf"(?:\s*{_UNIT_MARK}\s*[A-Za-z]|\s+[A-Za-z]{{2}})[A-Za-z ./{_UNIT_MARK}]*"
                          r"(?:\^\s*[23])?\s*")


def parse_number(text: str) -> Fraction | None:
    r"""The value of a whole answer, such as a gold label; None when it is not exactly one number.

    Input: the answer text, e.g. ``72``, ``-1,234.5``, ``−7``, ``9{,}500``, ``9 500``, ``3/4``,
    ``\frac{3}{4}``, ``2\frac{1}{2}``, ``$18.90``, ``50\%``, ``5\text{ cm}``, ``x = 3``,
    ``\left(-3\right)``, ``1.5 \times 10^{3}``.
    Output: the exact value as a Fraction, or None for anything else (``\sqrt{2}``, ``2x``,
    ``x+1``, ``3/0``, ``1, 2``, ``""``): a gold answer must be one number.
    Errors: TypeError when ``text`` is not a str.
    """
    if not isinstance(text, str):
        raise TypeError(f"parse_number reads text, got {type(text).__name__}")
    s = _VARIABLE_PREFIX.sub("", _clean(text, unit_marks=True), count=1).strip()
    if s.startswith("(") and s.endswith(")"):
        s = s[1:-1].strip()
    s = _LEADING_SIGN.sub(r"\1", s)
    s = s.removeprefix("+")
    grouped = _SPACE_GROUPED.match(s)
    if grouped:
        s = grouped.group(0).replace(" ", "") + s[grouped.end():]
    numbers = _scan(s)
    if not numbers or numbers[0][0] != 0:
        return None
    _, end, value = numbers[0]
    rest = s[end:]
    if rest.strip() and not _UNIT_SUFFIX.fullmatch(rest):
        return None
    return value


# --- where the final answer is -------------------------------------------------------------------

_HASH_MARK = re.compile(r"####(?=\s*([^\n]*))")  # the marker, and (looking ahead) its line
_TO_EOL = re.compile(r"[^\n]*")
_TO_DOLLAR_OR_EOL = re.compile(r"[^$\n]*")
_ANSWER_START = re.compile(r"[A-Za-z](?:_\w+)?\s*=\s*|[(\[]?\s*[-+]?\s*\.?\d")
_BOX_START = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])")
_ANSWER_IS = re.compile(r"\banswer\b\s*(?:is(?![A-Za-z'\u2019])|:|=)\s*", re.IGNORECASE)


def _matching_braces(text: str) -> dict[int, int]:
    """Position of each ``{`` that is closed -> position of its ``}`` (escaped ``\\{``, ``\\}`` skipped)."""
    closing, stack = {}, []
    for i, ch in enumerate(text):
        if ch in "{}" and i and text[i - 1] == "\\":
            continue
        if ch == "{":
            stack.append(i)
        elif ch == "}" and stack:
            closing[stack.pop()] = i
    return closing


def _boxed_contents(text: str) -> list[str]:
    r"""Contents of every complete ``\boxed{...}`` / ``\fbox{...}`` (braces balanced) and ``\boxed 5``,
    in the order their commands start (so a box inside a box comes after it)."""
    out = []
    closing: dict[int, int] | None = None
    for m in _BOX_START.finditer(text):
        i = m.end()
        while i < len(text) and text[i] in " \t":
            i += 1
        if i < len(text) and text[i] == "{":
            if closing is None:
                closing = _matching_braces(text)
            if i in closing:
                out.append(text[i + 1 : closing[i]])
        elif i < len(text) and (i > m.end() or text[i].isdigit() or text[i] in "-\\."):
            content = _TO_DOLLAR_OR_EOL.match(text, i).group(0).strip()  # MATH: "\boxed 5$"
            if content:
                out.append(content)
    return out


def _hash_answers(text: str) -> list[str]:
    """The text after each ``####`` that holds an answer (a ``####`` starting a heading does not)."""
    out = []
    for m in _HASH_MARK.finditer(text):
        line = m.group(1).split("####", 1)[0]
        if _ANSWER_START.match(_clean(line)):
            out.append(line.strip())
    return out


def final_answer_text(text: str) -> tuple[str, str] | None:
    r"""Where a solution or completion states its final answer, and the text of it.

    Input: a worked solution or a model completion.
    Output: ``("####", line)`` for the first answer-like ``####``, else ``("boxed", contents)``
    for the last complete ``\boxed{}``/``\fbox{}``/``\boxed 5``, else ``("answer is", line)`` for
    the last "answer is" / "answer:" / "answer =" whose text (the rest of its line, up to the next
    such phrase) holds a number, else None. The text
    is returned raw (not cleaned); read it with :func:`parse_number` or the first number in it.
    Errors: none for str input.
    """
    hashes = _hash_answers(text)
    if hashes:
        return ("####", hashes[0])
    boxed = _boxed_contents(text)
    if boxed:
        return ("boxed", boxed[-1])
    phrases = list(_ANSWER_IS.finditer(text))
    for k in range(len(phrases) - 1, -1, -1):  # the rest of the line, up to the next such phrase
        end = phrases[k + 1].start() if k + 1 < len(phrases) else len(text)
        line = _TO_EOL.match(text, phrases[k].end(), end).group(0).strip()
        if _scan(_clean(line)):
            return ("answer is", line)
    return None


def _read_marked(span: str) -> Fraction | None:
    whole = parse_number(span)
    if whole is not None:
        return whole
    numbers = _scan(_clean(span))
    return numbers[0][2] if numbers else None


def extract_final_number(completion: str, *, fallback_last_number: bool = True) -> Fraction | None:
    """The number a completion gives as its final answer (lenient: a policy's output, not a gold label).

    Input: the completion text; ``fallback_last_number`` says what a completion without a marked
    answer (no answer-like ``####``, no box, no "answer is" with a number) gets: True (the
    default, as the old verifier did) reads the last number anywhere in the text, False gives
    None so that a caller can refuse credit without a marker.
    Output: the marked answer read whole (:func:`parse_number`), else the first number in it,
    else None (a marker with no number, such as ``\\boxed{}``, gives None and never falls back);
    without a marker, see ``fallback_last_number``. A fraction over zero gives None.
    Errors: none for str input.
    """
    marked = final_answer_text(completion)
    if marked is not None:
        return _read_marked(marked[1])
    if not fallback_last_number:
        return None
    numbers = _scan(_clean(completion))
    return numbers[-1][2] if numbers else None


# --- comparison ----------------------------------------------------------------------------------

def _exact(value: Any) -> Fraction | None:
    """A gold or extracted value as an exact Fraction; None when it is not a number."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, Fraction):
        return value
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, float):
        try:
            return Fraction(repr(value))  # 0.1 is 1/10, not the binary double nearest to it
        except ValueError:  # nan, inf
            return None
    return parse_number(value if isinstance(value, str) else str(value))


def numbers_match(got: Fraction | None, want: Fraction) -> bool:
    """Whether an extracted answer equals the gold one, exactly.

    Input: ``got`` (Fraction, int, or None when nothing was extracted) and ``want`` (Fraction or
    int; a float is taken as the decimal it prints, 0.1 = 1/10).
    Output: True when both are numbers and equal as rationals (0.5 = 1/2, 5.0 = 5; 0.3333 is not
    1/3, 1000000.5 is not 1000000), else False.
    Errors: none.
    """
    got_value, want_value = _exact(got), _exact(want)
    return got_value is not None and want_value is not None and got_value == want_value


def canonical_answer(value: Fraction) -> str:
    """A gold answer as text that :func:`parse_number` reads back.

    Input: a Fraction (or int). Output: ``72``, ``-3``, ``3/4``, ``-5/2``.
    Errors: TypeError for other types.
    """
    if isinstance(value, bool) or not isinstance(value, (Fraction, int)):
        raise TypeError(f"canonical_answer takes a Fraction or int, got {type(value).__name__}")
    value = Fraction(value)
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


def check_numeric_answer(completion: str, answer: Any, *, fallback_last_number: bool = True) -> bool:
    r"""Gold verifier: the completion's final number equals the gold ``answer`` exactly.

    Input: the completion text; ``answer`` as a Fraction, int, float (read as the decimal it
    prints) or text (read by :func:`parse_number`, e.g. ``"1,234"``, ``"\\frac{3}{4}"``,
    ``"−7"``); ``fallback_last_number`` as in :func:`extract_final_number`.
    Output: True when :func:`extract_final_number` gives a number equal to the gold one.
    Errors: ValueError when ``answer`` is not a number (``"\\sqrt{2}"``, ``"x+1"``, NaN, a bool):
    the verifier compares numeric answers only.
    """
    want = _exact(answer)
    if want is None:
        raise ValueError(f"gold answer {answer!r} is not a number: the verifier compares numeric answers only")
    return numbers_match(extract_final_number(completion, fallback_last_number=fallback_last_number), want)
