"""``rlhf-nb study``: expand a preset, run its executions, build the report."""
from __future__ import annotations

import os
import time
from pathlib import Path

from .plan import expand
from .presets import get_preset
from .report import build_report
from .runner import RunSummary, StudyPaths, run_executions, study_lock


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


def run_study(preset_name: str, output_dir: Path = Path("outputs"), name: str | None = None,
              workers: int | None = None, store_dir: Path | None = None,
              isolate_stores: bool = False) -> tuple[Path, RunSummary]:
    """Run (or resume) a study; returns the report path and what happened."""
    preset = get_preset(preset_name)
    root = Path(output_dir) / "studies" / (name or preset.name)
    paths = StudyPaths(root)
    store = Path(store_dir) if store_dir else Path(output_dir) / "store"
    lock = study_lock(root)
    try:
        start = time.perf_counter()
        fill, analyze = expand(preset, store.resolve(), paths.results.resolve(), isolate_stores)
        workers = workers or default_workers()
        first = run_executions(fill, paths, workers, desc=f"{preset.name}: training")
        second = run_executions(analyze, paths, workers, desc=f"{preset.name}: analysis")
        report = build_report(root, title=f"RLHF scaling study ({preset.name} preset)")
        summary = RunSummary(ran=first.ran + second.ran, skipped=first.skipped + second.skipped,
                             failed={**first.failed, **second.failed}, seconds={**first.seconds, **second.seconds})
        summary.seconds["__wall__"] = time.perf_counter() - start
        return report, summary
    finally:
        lock.release()
