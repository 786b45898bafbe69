"""``rlhf-nb study``: expand a preset, run its executions (local processes or Ray tasks), build the report."""
from __future__ import annotations

import os
import time
from pathlib import Path

from .plan import expand
from .presets import get_preset
from .report import build_report
from .runner import RunSummary, StudyPaths, local_executor, run_executions, study_lock

EXECUTORS = ("local", "ray")


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


def executor_factory(executor: str = "local", ray_address: str | None = None, ray_gpus_per_task: float = 0):
    """``local``: worker processes on this machine; ``ray``: Ray tasks on the cluster at ``ray_address``."""
    if executor not in EXECUTORS:
        raise ValueError(f"executor={executor!r}: use one of {EXECUTORS}")
    if executor == "local":
        if ray_address or ray_gpus_per_task:
            raise ValueError("ray_address / ray_gpus_per_task apply to executor='ray' only")
        return local_executor
    from .ray_executor import ray_executor_factory

    return ray_executor_factory(ray_address, gpus_per_task=ray_gpus_per_task)


def run_study(preset_name: str, output_dir: Path = Path("outputs"), name: str | None = None,
              workers: int | None = None, store_dir: Path | None = None,
              isolate_stores: bool = False, executor: str = "local", ray_address: str | None = None,
              ray_gpus_per_task: float = 0) -> tuple[Path, RunSummary]:
    """Run (or resume) a study; returns the report path and what happened.

    ``executor="ray"`` runs the same notebook executions as Ray tasks (see
    :mod:`rlhf_nb.study.ray_executor`): ``output_dir`` must then be on a filesystem every node
    mounts at the same path.
    """
    preset = get_preset(preset_name)
    make_executor = executor_factory(executor, ray_address, ray_gpus_per_task)
    root = Path(output_dir) / "studies" / (name or preset.name)
    paths = StudyPaths(root)
    store = Path(store_dir) if store_dir else Path(output_dir) / "store"
    lock = study_lock(root)
    try:
        start = time.perf_counter()
        fill, analyze = expand(preset, store.resolve(), paths.results.resolve(), isolate_stores)
        workers = workers or default_workers()
        first = run_executions(fill, paths, workers, desc=f"{preset.name}: training", executor=make_executor)
        second = run_executions(analyze, paths, workers, desc=f"{preset.name}: analysis", executor=make_executor)
        report = build_report(root, title=f"RLHF scaling study ({preset.name} preset)")
        summary = RunSummary(ran=first.ran + second.ran, skipped=first.skipped + second.skipped,
                             failed={**first.failed, **second.failed}, seconds={**first.seconds, **second.seconds})
        summary.seconds["__wall__"] = time.perf_counter() - start
        return report, summary
    finally:
        lock.release()
