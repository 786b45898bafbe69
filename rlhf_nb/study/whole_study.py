"""``rlhf-nb study``: expand a preset, run its executions (local processes or Ray tasks), build the report."""
from __future__ import annotations

import ast
import os
import time
from dataclasses import replace
from pathlib import Path

from ..notebooks import declared_parameters, notebook_path, parse_parameter_overrides
from .executions import (
    RunSummary,
    StudyPaths,
    local_executor,
    run_executions,
    study_lock,
)
from .plan import expand
from .presets import StudyPreset, get_preset
from .report import build_report

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


def with_shared_parameters(preset: StudyPreset, pairs: list[list[str]]) -> StudyPreset:
    """The preset with ``[[name, text], ...]`` applied, checked before anything runs.

    ``name`` goes to every axis notebook that takes it (e.g. ``task``, ``task_options``, or
    ``policy``, which all but ``policy_size`` take) and must be taken by at least one;
    ``axis.name`` (e.g. ``orm_vs_prm.supervisions``) goes to that axis only. Either overrides
    the preset's own value. Values are typed by the notebooks' parameters cells. The showcase
    pipeline run gets the names it declares too.
    """
    if not pairs:
        return preset
    grids = {axis: dict(grid) for axis, grid in preset.grids.items()}
    for name, text in pairs:
        axis, _, knob = name.rpartition(".")
        if axis and axis not in preset.axes:
            raise ValueError(f"-p {name}: the {preset.name} preset has no axis {axis!r}; its axes are "
                             f"{list(preset.axes)}")
        targets = [axis] if axis else [a for a in preset.axes if knob in declared_parameters(notebook_path(a))]
        if not targets:
            raise ValueError(f"-p {name}: no axis notebook of the {preset.name} preset has a parameter {knob!r}; "
                             "see papermill --help-notebook notebooks/<axis>.ipynb")
        for target in targets:
            try:
                value = parse_parameter_overrides([[knob, text]], notebook_path(target))[knob]
            except ValueError as err:
                raise ValueError(f"-p {name}: {err}") from None
            grids[target] = {**grids.get(target, {}), knob: value}
    pipeline = preset.pipeline
    if pipeline is not None:
        declared = declared_parameters(notebook_path("pipeline"))
        given = [[name, text] for name, text in pairs if "." not in name and name in declared]
        pipeline = {**pipeline, **parse_parameter_overrides(given, notebook_path("pipeline"))}
    return replace(preset, grids=grids, pipeline=pipeline)


def _literal(text):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError):
        return text


def check_study_task(preset: StudyPreset) -> tuple[str, ...]:
    """Pre-flight, before anything trains: build the study's task once (a missing or malformed data file
    fails here, not in every notebook) and let each axis refuse a grid its task cannot run (an axis
    module may define ``check_task(task, grid)``, ``grid`` holding the notebook's defaults and the
    preset's values). Returns the registered findings no axis of this preset decides."""
    import importlib
    import importlib.util

    from ..axes.findings import FINDINGS, SCORED
    from ..tasks.registry import notebook_task

    for axis in preset.axes:
        declared = declared_parameters(notebook_path(axis))
        grid = {name: _literal(p.get("default")) for name, p in declared.items()}
        grid.update({**preset.shared, **preset.grids.get(axis, {})})
        # cached per (task, options, digits): a data file is read once however many axes name it
        task = notebook_task(grid.get("task", "addition"), grid.get("task_options", ""),
                             int(grid.get("task_digits", 0)))
        module = f"rlhf_nb.axes.{axis}" if str(axis).isidentifier() else ""
        if module and importlib.util.find_spec(module) is not None:  # a notebook given by path has no axis module
            check = getattr(importlib.import_module(module), "check_task", None)
            if check is not None:
                check(task, grid)
    return tuple(f for f in SCORED if FINDINGS[f].axis not in preset.axes)


DESIGN_FILE = "design.json"


def record_design(root: Path, preset: StudyPreset) -> dict:
    """Write the preset's declared design to ``<root>/design.json`` before anything runs; a study resumed in the
    same folder must have the same design (ValueError otherwise: a changed design is a new study)."""
    import json

    from ..store import write_json_atomic

    design = preset.design()
    path = Path(root) / DESIGN_FILE
    if path.exists():
        earlier = json.loads(path.read_text(encoding="utf-8"))
        if earlier != json.loads(json.dumps(design)):
            raise ValueError(f"{root} holds a study of another design ({path}); a changed design is a new study: "
                             "give it another --name (or remove the folder to start over)")
        return earlier
    Path(root).mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, design)
    return design


def run_study(preset_name: str, output_dir: Path = Path("outputs"), name: str | None = None,
              workers: int | None = None, store_dir: Path | None = None,
              isolate_stores: bool = False, executor: str = "local", ray_address: str | None = None,
              ray_gpus_per_task: float = 0, parameters: list[list[str]] | None = None) -> tuple[Path, RunSummary]:
    """Run (or resume) a study; returns the report path and what happened.

    ``executor="ray"`` runs the same notebook executions as Ray tasks (see
    :mod:`rlhf_nb.study.ray_executor`): ``output_dir`` must then be on a filesystem every node
    mounts at the same path. ``parameters`` (``[[name, text], ...]``) go to every axis
    notebook, e.g. ``[["task", "data/gsm8k.jsonl"], ["policy", "/models/qwen"]]``.
    """
    preset = with_shared_parameters(get_preset(preset_name), parameters or [])
    check_study_task(preset)
    make_executor = executor_factory(executor, ray_address, ray_gpus_per_task)
    root = Path(output_dir) / "studies" / (name or preset.name)
    paths = StudyPaths(root)
    store = Path(store_dir) if store_dir else Path(output_dir) / "store"
    lock = study_lock(root)
    try:
        record_design(root, preset)
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
