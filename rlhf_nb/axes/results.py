"""What every axis shares: seed lists, result files and finding records.

Result files are written atomically (temporary file + rename), so an interrupted study
never leaves a half-written table or finding for the report to read.
"""
from __future__ import annotations

import math
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..store import write_json_atomic

VERDICTS = ("shown", "not shown", "inconclusive")


def parse_seeds(text: str) -> list[int]:
    """``"0,1,2"`` -> ``[0, 1, 2]``; refuses empty or duplicate seeds."""
    try:
        seeds = [int(s) for s in str(text).split(",") if s.strip() != ""]
    except ValueError:
        raise ValueError(f"seeds={text!r}: give comma-separated integers such as '0,1,2'") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds={text!r}: give at least one seed, each once")
    return seeds


def parse_list(text: str, cast=str) -> list[Any]:
    """A comma-separated notebook parameter as a typed list (``"2,4,8"`` -> ``[2, 4, 8]``)."""
    items = [s.strip() for s in str(text).split(",") if s.strip()]
    if not items:
        raise ValueError(f"{text!r}: expected a comma-separated list with at least one value")
    try:
        return [cast(s) for s in items]
    except ValueError:
        raise ValueError(f"{text!r}: every item must be a valid {cast.__name__}") from None


def write_table(table: pd.DataFrame, path: Path) -> Path:
    """Write a CSV atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    table.to_csv(tmp, index=False)
    os.replace(tmp, path)
    return path


@dataclass
class Finding:
    """One finding's verdict for the scorecard (H1-H8 from Hou et al., G1-G8 from Gao et al.)."""

    id: str
    """finding id, e.g. 'H1' or 'G3'"""
    claim: str
    """the claim in one line"""
    verdict: str
    """shown, not shown or inconclusive"""
    effect: float
    """the effect size the verdict rests on (its meaning is in ``effect_label``)"""
    ci: tuple[float, float]
    """95 % interval of the effect"""
    n_seeds: int
    effect_label: str = ""
    """what ``effect`` measures, with units"""
    figure: str = ""
    """path of the figure that shows it, relative to the results folder"""
    axis: str = ""
    numbers: dict[str, Any] = field(default_factory=dict)
    """further figures worth quoting"""
    note: str = ""
    """why the verdict is what it is, in a sentence"""

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict={self.verdict!r}: use one of {VERDICTS}")

    def sentence(self) -> str:
        lo, hi = self.ci
        ci = f"[{lo:.3g}, {hi:.3g}]" if not (math.isnan(lo) or math.isnan(hi)) else "[n/a]"
        return (f"{self.id} ({self.claim}): {self.verdict.upper()} - {self.effect_label or 'effect'} "
                f"{self.effect:.3g}, 95% CI {ci}, {self.n_seeds} seeds. {self.note}").strip()


def strict_json(obj: Any) -> Any:
    """``obj`` with NaN and infinities as None, so the file is standard JSON (NaN is not) for any reader."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: strict_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict_json(v) for v in obj]
    if hasattr(obj, "tolist") and not isinstance(obj, (str, bytes)):  # numpy scalars and arrays
        return strict_json(obj.tolist())
    return obj


def write_finding(finding: Finding, results_dir: Path) -> Path:
    """``<results>/findings/<ID>.json``, atomically, with undefined numbers written as null."""
    path = Path(results_dir) / "findings" / f"{finding.id}.json"
    write_json_atomic(path, strict_json(asdict(finding)))
    return path
