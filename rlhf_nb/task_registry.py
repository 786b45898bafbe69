"""One place that turns a task spec into a task: ``make_task("addition")`` or ``make_task("data/gsm8k.jsonl")``.

Notebooks, the stage launcher and the benchmark take the task as a string so that a
parameters cell (or a JSON config) can name it: ``addition`` is the embedded task
(:class:`rlhf_nb.task.AdditionTask`), a path to a ``.jsonl``, ``.json`` or ``.parquet`` file is
a real-data task (:class:`rlhf_nb.real_data.MathDataTask`). Keyword arguments go to the
task's constructor, so every knob of either task is reachable.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .real_data import DATA_SUFFIXES, MathDataTask
from .task import AdditionTask

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
