"""Expanding a study preset into papermill executions.

An execution is one notebook run with fixed parameters. Its id is a hash of the notebook
name and the parameters, so rerunning a study finds the executions it already finished.
Per axis there is one execution per seed that fills the run store (``analyze=False``; these
run in parallel) and one that gathers all seeds, fits and writes the findings
(``analyze=True``; it only reads the store, so it is cheap).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .presets import StudyPreset


@dataclass(frozen=True)
class Execution:
    """One papermill execution of a notebook."""

    notebook: str
    """notebook name in notebooks/ (without .ipynb)"""
    parameters: dict[str, Any] = field(hash=False)
    phase: str = "seed"
    """seed: fills the run store for one seed; analyze: gathers seeds and writes findings; demo: a showcase run"""

    @property
    def id(self) -> str:
        blob = json.dumps({"notebook": self.notebook, "phase": self.phase, "parameters": self.parameters},
                          sort_keys=True, default=str)
        return f"{self.name}-{self.phase}-{hashlib.sha256(blob.encode()).hexdigest()[:10]}"

    @property
    def name(self) -> str:
        """The notebook's name, also when ``notebook`` is a path (as in tests)."""
        return Path(self.notebook).stem

    @property
    def label(self) -> str:
        seeds = self.parameters.get("seeds", self.parameters.get("seed", ""))
        return f"{self.name} [{self.phase} {seeds}]"


def expand(preset: StudyPreset, store_dir: Path, results_dir: Path,
           isolate_stores: bool = False) -> tuple[list[Execution], list[Execution]]:
    """(store-filling executions, analysis executions) for a preset.

    ``isolate_stores`` gives every execution a private store, so nothing is shared or reused:
    only for measuring what the shared store saves (benchmarks/study_benchmark.py).
    """
    first, second = [], []

    def make(notebook: str, params: dict[str, Any], phase: str) -> Execution:
        ex = Execution(notebook, {**params, "store_dir": str(store_dir)}, phase)
        if isolate_stores:
            ex = Execution(notebook, {**params, "store_dir": str(store_dir / f"isolated-{ex.id}")}, phase)
        return ex

    for axis in preset.axes:
        grid = {**preset.shared, **preset.grids.get(axis, {}), "results_dir": str(results_dir)}
        seeds = preset.seeds_for(axis)
        for seed in seeds:
            first.append(make(axis, {**grid, "seeds": str(seed), "analyze": False}, "seed"))
        all_seeds = ",".join(str(s) for s in seeds)
        second.append(make(axis, {**grid, "seeds": all_seeds, "analyze": True}, "analyze"))
    if preset.pipeline is not None:
        first.insert(0, make("pipeline", dict(preset.pipeline), "demo"))
    return first, second
