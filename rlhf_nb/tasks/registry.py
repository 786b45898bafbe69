"""One place that turns a task spec into a task: ``make_task("addition")`` or ``make_task("data/gsm8k.jsonl")``.

Notebooks, the stage launcher and the benchmark take the task as a string so that a
parameters cell (or a JSON config) can name it: ``addition`` is the embedded task
(:class:`rlhf_nb.tasks.addition.AdditionTask`), a path to a ``.jsonl``, ``.json`` or ``.parquet`` file is
a real-data task (:class:`rlhf_nb.tasks.local_data.MathDataTask`). Keyword arguments go to the
task's constructor, so every knob of either task is reachable.
"""
from __future__ import annotations

import os
from dataclasses import fields
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..typed_values import convert, declared_types, split_items
from .addition import AdditionTask
from .local_data import DATA_SUFFIXES, MathDataTask

BUILTIN_TASKS = {"addition": AdditionTask}


def make_task(spec: str = "addition", **kwargs: Any):
    """The task named by ``spec`` (``addition`` or a local data file), built with ``kwargs``.

    Values given as text (``task_options``) are converted to the declared type of the task's
    field they set (:func:`typed_kwargs`); an unknown option is refused with the known ones.
    """
    spec = str(spec).strip()
    if spec in BUILTIN_TASKS:
        cls = BUILTIN_TASKS[spec]
        return cls(**typed_kwargs(cls, kwargs))
    if Path(spec).suffix in DATA_SUFFIXES:
        return MathDataTask(path=spec, **typed_kwargs(MathDataTask, kwargs))
    raise ValueError(
        f"unknown task {spec!r}: use one of {sorted(BUILTIN_TASKS)} or a path to a local {'/'.join(DATA_SUFFIXES)} "
        "file of math problems")


def typed_kwargs(cls: type, kwargs: dict[str, Any]) -> dict[str, Any]:
    """``kwargs`` converted to the declared types of ``cls``'s init fields (``"0.2"`` -> 0.2 for a float,
    ``"False"`` -> False for a bool, ``5`` -> ``"5"`` for a text field); ValueError names an unknown option."""
    known = {f.name for f in fields(cls) if f.init}
    unknown = sorted(set(kwargs) - known)
    if unknown:
        raise ValueError(f"task_options names {unknown}, which the {cls.__name__} task does not have: use some of "
                         f"{sorted(known)}")
    kinds = declared_types(cls)
    return {k: convert(v, kinds[k], k) for k, v in kwargs.items()}


def task_kwargs_from_text(text: str) -> dict[str, str]:
    """A notebook parameter like ``"ood_path=data/math.jsonl, heldout_fraction=0.2"`` as ``{name: text}``.

    Items are separated by commas outside quotes (``prompt_format="Q: {question}, A:"`` is one
    item); values stay text here and are typed by the field they set (:func:`typed_kwargs`).
    """
    out: dict[str, str] = {}
    for item in split_items(text):
        if "=" not in item:
            raise ValueError(f"task option {item!r}: write name=value, separated by commas")
        key, value = (x.strip() for x in item.split("=", 1))
        out[key] = value
    return out


def notebook_task(spec: str = "addition", options: str = "", digits: int = 0, embedded: tuple = (),
                  policy: str = ""):
    """The task a notebook names: the pipeline's default task for ``addition``, else a data file.

    ``policy`` is the notebook's policy (a preset name, a checkpoint folder or a ``.gguf`` file):
    for a data file, a checkpoint policy's chat template formats the prompts unless
    ``options`` names ``chat_template_from`` itself (``chat_template_from=`` with no value keeps
    plain prompts). A checkpoint without a template gives plain prompts, as before.

    ``options`` is the notebook's ``task_options`` text; ``digits`` (per term, 0 keeps the
    default) only applies to the embedded task, and naming it for a data file is refused.
    ``embedded`` holds ``(name, value)`` knobs of the embedded task that a notebook sets by
    its own parameters (``options`` may override them); a data file ignores them. Cached: a
    data file is read, parsed and hashed once per process however often an axis asks, and
    again when it (or a file its options name) changes on disk.
    """
    kwargs = task_kwargs_from_text(options)
    if (policy and str(spec).strip() != "addition" and "chat_template_from" not in kwargs
            and policy_has_files(policy)):
        options = f"{options}, chat_template_from={_quote(policy)}" if options.strip() else \
            f"chat_template_from={_quote(policy)}"
    files = [spec, *task_kwargs_from_text(options).values()]
    stamps = tuple(os.stat(f).st_mtime_ns for f in files if isinstance(f, str) and os.path.isfile(f))
    return _notebook_task(spec, options, digits, tuple(embedded), stamps)


def policy_has_files(policy: str) -> bool:
    """A checkpoint on disk (a folder with a tokenizer, or a ``.gguf`` file), as opposed to a preset name."""
    path = Path(policy).expanduser()
    return (path.is_file() and path.suffix == ".gguf") or (path / "tokenizer_config.json").is_file()


def _quote(value: str) -> str:
    return f'"{value}"' if "," in value else value


@lru_cache(maxsize=32)
def _notebook_task(spec: str, options: str, digits: int, embedded: tuple, stamps: tuple):
    # ``stamps`` (modification times of the files named) only keys the cache
    from dataclasses import replace

    kwargs = task_kwargs_from_text(options)
    if str(spec).strip() == "addition":
        kwargs = {**dict(embedded), **kwargs}
        task = AdditionTask()
        kwargs = typed_kwargs(AdditionTask, kwargs)
        if digits:
            kwargs["digits"] = digits
        return replace(task, **kwargs) if kwargs else task
    if digits:
        raise ValueError(f"task_digits={digits} only applies to the embedded addition task, not to {spec!r}: "
                         "leave task_digits at 0")
    return make_task(spec, **kwargs)
