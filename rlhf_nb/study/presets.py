"""Study presets: which axis notebooks run, with which seeds and grids.

``smoke`` is a first look and the CI check (minutes), ``default`` every axis with 3 seeds
in about half an hour on 2 cores, ``full`` 5 seeds and the notebooks' own (wider) grids.
Grid values are notebook parameters, so each preset is documented by the notebooks'
parameters cells (``papermill --help-notebook notebooks/<axis>.ipynb``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

AXES = ("rm_data", "rm_size", "orm_vs_prm", "best_of_n",
        "samples_per_prompt", "policy_size", "rm_size_for_rl", "rl_length_kl", "method")


@dataclass(frozen=True)
class StudyPreset:
    name: str
    seeds: tuple[int, ...]
    axes: tuple[str, ...] = AXES
    grids: dict[str, dict[str, Any]] = field(default_factory=dict)
    """per-axis notebook parameters overriding the notebook defaults"""
    shared: dict[str, Any] = field(default_factory=dict)
    """parameters given to every axis notebook"""
    pipeline: dict[str, Any] | None = None
    """parameters of a showcase run of notebooks/pipeline.ipynb, or None for none"""


PRESETS: dict[str, StudyPreset] = {}


def register(preset: StudyPreset) -> StudyPreset:
    PRESETS[preset.name] = preset
    return preset


def get_preset(name: str) -> StudyPreset:
    if name not in PRESETS:
        raise ValueError(f"unknown study preset {name!r}: use one of {sorted(PRESETS)}")
    return PRESETS[name]


register(StudyPreset(name="full", seeds=(0, 1, 2, 3, 4), pipeline={}))
register(StudyPreset(name="default", seeds=(0, 1, 2), pipeline={}))
register(StudyPreset(name="smoke", seeds=(0,), pipeline={}))
