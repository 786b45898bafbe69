"""Executing the project's notebooks with papermill: where they are, how parameters are typed.

Parameters given on the command line arrive as strings; they are converted to the type the
notebook's parameters cell declares (papermill's own inference), and an unknown name is
refused before anything runs.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import papermill as pm

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


KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=ERROR"]
"""Given to every notebook kernel: the kernel app's own start-up warnings (e.g. "Kernel is running over
TCP without encryption", a local kernel talking to its parent on this machine) stay out of a
study's console; errors still show, and so does everything the notebook's code prints or warns."""


def execute_notebook(name: str, output: Path, parameters: dict[str, Any], cwd: Path | None = None,
                     progress: bool = True) -> Path:
    """Run ``notebooks/<name>.ipynb`` with ``parameters`` into ``output`` (parent folders created)."""
    output.parent.mkdir(parents=True, exist_ok=True)
    pm.execute_notebook(str(notebook_path(name)), str(output), parameters=parameters, kernel_name="python3",
                        cwd=str(cwd or Path.cwd()), progress_bar=progress,
                        extra_arguments=KERNEL_ARGUMENTS)
    return output
