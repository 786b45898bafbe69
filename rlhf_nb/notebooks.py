"""Executing the project's notebooks with papermill: where they are, how parameters are typed, what a batch kernel shows.

Parameters given on the command line arrive as strings; they are converted to the type the
notebook's parameters cell declares (papermill's own inference), and an unknown name is
refused before anything runs. A batch kernel (:data:`KERNEL_ARGUMENTS`) keeps the executed
notebook to what the notebook displays and prints: progress bars and warnings go to the console
(:func:`quiet_batch_kernel`), errors to both.
"""
from __future__ import annotations

import builtins
import os
import re
import sys
import warnings
from pathlib import Path
from typing import Any

from .typed_values import convert

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"


def notebook_path(name: str) -> Path:
    """``notebooks/<name>.ipynb``, or ``name`` itself when it is a path to a notebook file."""
    if name.endswith(".ipynb") and Path(name).is_file():
        return Path(name)
    path = NOTEBOOK_DIR / f"{name}.ipynb"
    if not path.exists():
        known = sorted(p.stem for p in NOTEBOOK_DIR.glob("*.ipynb"))
        raise FileNotFoundError(f"no notebook {name!r} in {NOTEBOOK_DIR}: known notebooks are {known}")
    return path


def declared_parameters(path: Path) -> dict[str, dict[str, Any]]:
    """The parameters cell as papermill reads it: name -> {inferred_type_name, default, help}."""
    import papermill as pm

    return {p["name"]: p for p in pm.inspect_notebook(str(path)).values()}


def parse_parameter_overrides(pairs: list[list[str]], path: Path) -> dict[str, Any]:
    """``[[name, text], ...]`` to values of the types the notebook's parameters cell declares.

    Conversion is by the declared type only (:func:`rlhf_nb.typed_values.convert`): a ``bool``
    parameter accepts true/false, 1/0, yes/no, on/off and refuses anything else, a ``str``
    parameter keeps ``5`` as the text ``"5"``, a ``float`` parameter given ``0`` gets ``0.0``.
    An unknown name or a value that does not convert raises ValueError naming it.
    """
    declared = declared_parameters(path)
    kinds = {"int": int, "float": float, "str": str, "bool": bool}
    out = {}
    for name, text in pairs:
        if name not in declared:
            raise ValueError(f"{path.name} has no parameter {name!r}; it takes {sorted(declared)}")
        out[name] = convert(text, kinds.get(declared[name]["inferred_type_name"], str), name)
    return out


HARMLESS_WARNINGS: tuple[tuple[str, str], ...] = (
    ("IProgress not found", "Warning"),
    ("`is_gradient_checkpointing` is deprecated", "FutureWarning"),
)
"""(start of the message, warning category) of the third-party warnings a batch kernel never shows: tqdm's
notice that ipywidgets is absent (its console progress bar works without them) and transformers' deprecation
of ``is_gradient_checkpointing``, which TRL's trainers read (``trl/models/utils.py``) and no rlhf_nb code calls.
Matched as a prefix, as Python's ``-W`` option does; every other warning still shows."""


def quiet_batch_kernel() -> None:
    """Run at the start of a batch notebook kernel (papermill, the study): the document keeps what the notebook shows.

    - :data:`HARMLESS_WARNINGS` are ignored in the kernel, and ``PYTHONWARNINGS`` carries the same
      filters to every process the notebook starts (seed workers);
    - ``sys.stderr`` goes back to the process's own stderr, the console of whoever ran papermill or
      the study: progress bars (tqdm writes to stderr), logging and any other warning land there,
      not in the executed notebook. Errors still show in both places: an exception becomes the
      cell's error output and fails the execution.

    Interactive kernels never call this, so a notebook opened in JupyterLab keeps its progress
    bars and warnings in the page.
    """
    entries = [f"ignore:{message}:{category}" for message, category in HARMLESS_WARNINGS]
    previous = os.environ.get("PYTHONWARNINGS", "")
    os.environ["PYTHONWARNINGS"] = ",".join(([previous] if previous else []) + entries)
    for message, category in HARMLESS_WARNINGS:
        warnings.filterwarnings("ignore", message=re.escape(message), category=getattr(builtins, category))
    sys.stderr = sys.__stderr__


KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=ERROR", "--IPKernelApp.capture_fd_output=False",
                    "--IPKernelApp.exec_lines=import rlhf_nb.notebooks as _b; _b.quiet_batch_kernel(); del _b"]
"""Given to every batch notebook kernel (``execute_notebook`` and the study's executions).

- ``log_level=ERROR``: the kernel app's own start-up warnings (e.g. "Kernel is running over TCP
  without encryption", a local kernel talking to its parent on this machine) stay out of a study's
  console; errors still show, and so does everything the notebook's code prints or warns.
- ``capture_fd_output=False``: what is written to the process's file descriptors 1 and 2 (C
  libraries, worker processes the notebook starts) goes to the console, not into the notebook.
- ``exec_lines``: :func:`quiet_batch_kernel` before the first cell runs."""


def execute_notebook(name: str, output: Path, parameters: dict[str, Any], cwd: Path | None = None,
                     progress: bool = True) -> Path:
    """Run ``notebooks/<name>.ipynb`` with ``parameters`` into ``output`` (parent folders created)."""
    import papermill as pm

    output.parent.mkdir(parents=True, exist_ok=True)
    pm.execute_notebook(str(notebook_path(name)), str(output), parameters=parameters, kernel_name="python3",
                        cwd=str(cwd or Path.cwd()), progress_bar=progress,
                        extra_arguments=KERNEL_ARGUMENTS)
    return output
