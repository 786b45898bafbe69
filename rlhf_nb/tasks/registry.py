"""One place that turns a task spec into a task: ``make_task("addition")`` or ``make_task("data/gsm8k.jsonl")``.

Notebooks, the stage launcher and the benchmark take the task as a string so that a
parameters cell (or a JSON config) can name it: ``addition`` is the embedded task
(:class:`rlhf_nb.tasks.addition.AdditionTask`), a path to a ``.jsonl``, ``.json`` or ``.parquet`` file is
a real-data task (:class:`rlhf_nb.tasks.local_data.MathDataTask`). Keyword arguments go to the
task's constructor, so every knob of either task is reachable.
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from .addition import AdditionTask
from .local_data import DATA_SUFFIXES, MathDataTask

BUILTIN_TASKS = {"addition": AdditionTask}


def make_task(spec: str = "addition", **kwargs: Any):
    """The task named by ``spec`` (``addition`` or a local data file), built with ``kwargs``."""
    spec = str(spec).strip()
    if spec in BUILTIN_TASKS:
        return BUILTIN_TASKS[spec](**kwargs)
    if Path(spec).suffix in DATA_SUFFIXES:
        return MathDataTask(path=spec, **kwargs)
    raise ValueError(
        f"unknown task {spec!r}: use one of {sorted(BUILTIN_TASKS)} or a path to a local {'/'.join(DATA_SUFFIXES)} "
        "file of math problems")


def task_kwargs_from_text(text: str) -> dict[str, Any]:
    """A notebook parameter like ``"ood_path=data/math.jsonl, heldout_fraction=0.2"`` as keyword arguments.

    Values are read as JSON when they parse (numbers, true/false), else kept as text.
    """
    import json

    out: dict[str, Any] = {}
    for item in (s.strip() for s in str(text).split(",")):
        if not item:
            continue
        if "=" not in item:
            raise ValueError(f"task option {item!r}: write name=value, separated by commas")
        key, value = (x.strip() for x in item.split("=", 1))
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def notebook_task(spec: str = "addition", options: str = "", digits: int = 0, embedded: tuple = ()):
    """The task a notebook names: the pipeline's default task for ``addition``, else a data file.

    ``options`` is the notebook's ``task_options`` text; ``digits`` (per term, 0 keeps the
    default) only applies to the embedded task, and naming it for a data file is refused.
    ``embedded`` holds ``(name, value)`` knobs of the embedded task that a notebook sets by
    its own parameters (``options`` may override them); a data file ignores them. Cached: a
    data file is read, parsed and hashed once per process however often an axis asks, and
    again when it (or a file its options name) changes on disk.
    """
    files = [spec, *task_kwargs_from_text(options).values()]
    stamps = tuple(os.stat(f).st_mtime_ns for f in files if isinstance(f, str) and os.path.isfile(f))
    return _notebook_task(spec, options, digits, tuple(embedded), stamps)


@lru_cache(maxsize=32)
def _notebook_task(spec: str, options: str, digits: int, embedded: tuple, stamps: tuple):
    # ``stamps`` (modification times of the files named) only keys the cache
    from dataclasses import fields, replace

    kwargs = task_kwargs_from_text(options)
    if str(spec).strip() == "addition":
        kwargs = {**dict(embedded), **kwargs}
        task = AdditionTask()
        known = {f.name for f in fields(task) if f.init}
        unknown = sorted(set(kwargs) - known)
        if unknown:
            raise ValueError(f"task_options names {unknown}, which the addition task does not have: use some of "
                             f"{sorted(known)}")
        if digits:
            kwargs["digits"] = digits
        return replace(task, **kwargs) if kwargs else task
    if digits:
        raise ValueError(f"task_digits={digits} only applies to the embedded addition task, not to {spec!r}: "
                         "leave task_digits at 0")
    return make_task(spec, **kwargs)
