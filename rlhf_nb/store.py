"""The run store: every stage's artifacts under one root, keyed by what produced them.

A run lives in ``<root>/<stage>/<run_id>/`` with ``params.json``, ``metrics.json``, the
stage's artifacts, and ``DONE`` written last. The id is a hash of the stage name, its
config, the ids of its upstream runs and its seed, never the clock, so a rerun finds its
earlier result. A run is built in a hidden temporary folder and moved into place with one
``rename``: a reader sees a whole run or none. A per-run file lock makes concurrent workers
that need the same upstream run (one SFT model shared by every axis) compute it once.

What it does not do: decide what a stage computes, or retry failures.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pandas as pd
from filelock import FileLock

DONE_MARKER = "DONE"
FAILED_RECORD = "FAILED.json"
TIMING_FILE = "timing.json"
"""a computed run's wall and CPU (this process) seconds, for cost accounting; not part of its identity"""
SCHEMA_VERSION = 3  # bump when a stage's meaning changes, so old results are not reused (2: sampling leaves the
# caller's random state alone and uses only the chosen settings, PPO scores the sampled ids, OOD prompts held out,
# step labels of what was written, RLOO FLOPs as run; 3: samples of Llama-shaped models drawn by the fast sampler)


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def make_run_id(stage: str, params: dict[str, Any]) -> str:
    """``<stage>-<12 hex>`` from the stage and its parameters (config, upstream ids, seed)."""
    digest = hashlib.sha256(canonical_json({"stage": stage, "schema": SCHEMA_VERSION, **params}).encode())
    return f"{stage}-{digest.hexdigest()[:12]}"


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


def read_metrics(path: Path) -> dict[str, Any]:
    """A run's flat metrics; a number written as null (undefined: NaN or infinite) reads back as NaN."""
    metrics = json.loads(Path(path).read_text(encoding="utf-8-sig"))
    return {k: float("nan") if v is None else v for k, v in metrics.items()}


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write standard JSON (UTF-8; NaN and infinities as null) through a temporary file and ``os.replace``:
    never a half-written file, and every strict reader can read it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(strict_json(obj), f, indent=2, sort_keys=True, default=str, allow_nan=False)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


@dataclass(frozen=True)
class Run:
    """A finished run: where it lives, what produced it and what it measured."""

    stage: str
    run_id: str
    path: Path
    params: dict[str, Any]
    metrics: dict[str, Any]
    cached: bool = False
    """True when this call loaded the run instead of computing it"""


class RunStore:
    """Content-addressed store of stage runs under ``root``."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def run_dir(self, stage: str, run_id: str) -> Path:
        return self.root / stage / run_id

    def is_done(self, stage: str, run_id: str) -> bool:
        return (self.run_dir(stage, run_id) / DONE_MARKER).exists()

    def load(self, stage: str, run_id: str) -> Run:
        path = self.run_dir(stage, run_id)
        if not (path / DONE_MARKER).exists():
            raise FileNotFoundError(f"run {run_id} of stage {stage!r} is not finished in {self.root}")
        params = json.loads((path / "params.json").read_text(encoding="utf-8-sig"))
        metrics = read_metrics(path / "metrics.json")
        return Run(stage, run_id, path, params, metrics, cached=True)

    def execute(self, stage: str, params: dict[str, Any], compute: Callable[[Path], dict[str, Any]]) -> Run:
        """Load the run for ``params`` if it is finished, else run ``compute(workdir)`` and commit it.

        ``compute`` writes its artifacts into ``workdir`` and returns flat, slash-namespaced
        metrics. A failure leaves no run behind, records the error beside the stage's runs in
        ``<run_id>.FAILED.json`` and re-raises.
        """
        run_id = make_run_id(stage, params)
        final = self.run_dir(stage, run_id)
        final.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(final) + ".lock"):
            if self.is_done(stage, run_id):
                self._log_access(stage, run_id, cached=True)
                return self.load(stage, run_id)
            if final.exists():  # left by a process killed between rename and marker: not trusted
                shutil.rmtree(final)
            for stale in final.parent.glob(f".{run_id}.*.tmp"):  # work folders of stopped runs of this id: we
                shutil.rmtree(stale, ignore_errors=True)          # hold its lock, so no live process owns them
            work = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{run_id}.", suffix=".tmp"))
            try:
                wall, cpu = time.perf_counter(), time.process_time()
                metrics = compute(work)
                write_json_atomic(work / TIMING_FILE, {"wall_seconds": time.perf_counter() - wall,
                                                       "cpu_seconds": time.process_time() - cpu})
                write_json_atomic(work / "params.json", {"stage": stage, "run_id": run_id, **params})
                write_json_atomic(work / "metrics.json", metrics)
                (work / DONE_MARKER).write_text(run_id + "\n", encoding="utf-8")
                os.rename(work, final)
            except BaseException as err:
                shutil.rmtree(work, ignore_errors=True)
                if isinstance(err, Exception):
                    write_json_atomic(
                        final.parent / f"{run_id}.{FAILED_RECORD}",
                        {"stage": stage, "run_id": run_id, "params": params, "error": repr(err),
                         "traceback": traceback.format_exc()},
                    )
                raise
            failed = final.parent / f"{run_id}.{FAILED_RECORD}"
            failed.unlink(missing_ok=True)
            self._log_access(stage, run_id, cached=False)
        return Run(stage, run_id, final, {"stage": stage, "run_id": run_id, **params}, metrics, cached=False)

    def _log_access(self, stage: str, run_id: str, cached: bool) -> None:
        """One line per request in ``access.jsonl``: how often the store saved a recomputation."""
        with open(self.root / "access.jsonl", "a", encoding="utf-8") as f:  # short appends of one line do not interleave
            f.write(canonical_json({"stage": stage, "run_id": run_id, "cached": cached}) + "\n")

    def access_counts(self) -> pd.DataFrame:
        """Requests per stage, split into served from the store and computed."""
        path = self.root / "access.jsonl"
        if not path.exists():
            return pd.DataFrame(columns=["stage", "cached", "requests"])
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        return pd.DataFrame(rows).groupby(["stage", "cached"]).size().rename("requests").reset_index()

    def runs(self, stage: str | None = None) -> list[Run]:
        if stage:
            stages = [stage]
        else:
            stages = sorted(p.name for p in self.root.iterdir() if p.is_dir()) if self.root.exists() else []
        found = []
        for s in stages:
            base = self.root / s
            if not base.is_dir():
                continue
            for d in sorted(base.iterdir()):
                if d.is_dir() and not d.name.startswith(".") and (d / DONE_MARKER).exists():
                    found.append(self.load(s, d.name))
        return found

    def table(self, stage: str | None = None) -> pd.DataFrame:
        """All finished runs as one tidy table: a row per run, ``param/...`` and ``metric/...`` columns."""
        rows = []
        for run in self.runs(stage):
            row = {"stage": run.stage, "run_id": run.run_id, "path": str(run.path)}
            row.update({f"param/{k}": v for k, v in flatten(run.params).items() if k not in ("stage", "run_id")})
            row.update({f"metric/{k}": v for k, v in run.metrics.items()})
            rows.append(row)
        return pd.DataFrame(rows)


def as_store(store: "RunStore | str | Path") -> "RunStore":
    """A run store given as itself or as its root folder."""
    return store if isinstance(store, RunStore) else RunStore(store)


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts to one level with slash-joined keys; lists are kept as JSON text."""
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "/"))
        elif isinstance(v, (list, tuple)):
            out[key] = canonical_json(v)
        else:
            out[key] = v
    return out
