"""Values a user types, converted by the declared type of what they set; never guessed from how the text looks.

Every ``-p NAME VALUE`` of the command line and the study, every ``task_options`` item and
every config dataclass field goes through here:

- :func:`convert` turns text into the declared type (``bool``, ``int``, ``float``, ``str``)
  or raises ValueError naming the parameter and the fix. Booleans accept true/false, 1/0,
  yes/no, on/off in any case and refuse anything else; a ``str`` stays text (``5`` is ``"5"``);
  an ``int`` accepts an integral float spelling (``"3.0"``); a ``float`` any number.
- :func:`normalize_fields` gives a config dataclass's fields their declared types, so the same
  configuration has one run id whichever route built it (``0`` from papermill and ``0.0``
  from the command line are one float).
- :func:`split_items` splits ``a=1, b="x, y"`` on the commas outside quotes.

It imports nothing of the package (infrastructure), so every layer may use it.
"""
from __future__ import annotations

import dataclasses
import math
import typing
from typing import Any

TRUE = ("true", "1", "yes", "on")
FALSE = ("false", "0", "no", "off")


def parse_bool(value: Any, name: str = "value") -> bool:
    """``value`` as a bool: a bool itself, 0/1, or true/false, 1/0, yes/no, on/off in any case."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    text = _unquote(str(value).strip()).strip().lower()
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise ValueError(f"{name}={value!r} is not a boolean: write one of true/false, 1/0, yes/no, on/off")


def convert(value: Any, kind: Any, name: str = "value") -> Any:
    """``value`` (text or a Python value) as the declared ``kind``; ValueError names ``name`` and the fix.

    ``kind`` is ``bool``, ``int``, ``float`` or ``str`` (any other type, e.g. a tuple, is
    returned unchanged). Text quoted as a whole (``"a, b"``) loses its quotes; other text meant
    as text is kept exactly, spaces included.
    """
    if isinstance(value, str):
        stripped = value.strip()
        unquoted = _unquote(stripped)
        value = unquoted if unquoted is not stripped or kind is not str else value
        if kind is not str:
            value = value.strip()
    if kind is bool:
        return parse_bool(value, name)
    if kind is int:
        if isinstance(value, bool):
            raise ValueError(f"{name}={value!r} is a boolean, but {name} takes an integer")
        try:
            number = float(value) if not isinstance(value, int) else value
        except (TypeError, ValueError):
            raise ValueError(f"{name}={value!r} is not an integer: write a whole number such as 3") from None
        if isinstance(number, float) and not (math.isfinite(number) and number.is_integer()):
            raise ValueError(f"{name}={value!r} is not a whole number: {name} takes an integer")
        return int(number)
    if kind is float:
        if isinstance(value, bool):
            raise ValueError(f"{name}={value!r} is a boolean, but {name} takes a number")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{name}={value!r} is not a number: write one such as 0.1") from None
    if kind is str:
        if isinstance(value, (bool, int, float)) and not isinstance(value, str):
            return str(value)
        return value
    return value


def declared_types(cls: type) -> dict[str, Any]:
    """Field name -> declared type of the dataclass ``cls`` (string annotations resolved)."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints.get(f.name, Any) for f in dataclasses.fields(cls)}


def normalize_fields(obj: Any) -> None:
    """In ``__post_init__`` of a frozen config dataclass: every bool/int/float/str field takes its declared type.

    An int given for a float field becomes that float, an integral float for an int field that
    int, and a value that does not convert raises ValueError naming the field. So one
    configuration is one set of values, and one run id, whichever route typed it.
    """
    for name, kind in declared_types(type(obj)).items():
        if kind not in (bool, int, float, str):
            continue
        value = getattr(obj, name)
        converted = convert(value, kind, name)
        if converted is not value:
            object.__setattr__(obj, name, converted)


def split_items(text: str, sep: str = ",") -> list[str]:
    """``text`` split on ``sep`` outside single or double quotes; items stripped, empty ones dropped."""
    items, current, quote = [], [], ""
    for ch in str(text):
        if quote:
            current.append(ch)
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
            current.append(ch)
        elif ch == sep:
            items.append("".join(current))
            current = []
        else:
            current.append(ch)
    if quote:
        raise ValueError(f"{text!r}: a quote is not closed")
    items.append("".join(current))
    return [i.strip() for i in items if i.strip()]


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    return text
