"""Where a study's time went: wall seconds by stage and by part of each stage, per seed.

Read from what a study leaves behind, nothing re-run:

- every computed run's ``timing.json`` in the run store (:data:`rlhf_nb.store.TIMING_FILE`; runs
  computed before it existed fall back to their ``<stage>/seconds`` metric, which leaves out
  loading and saving);
- RL runs split their time into rollouts (the fast sampler's calls), proxy reward scoring,
  tracking, and the rest, TRL's training step (forward, backward, optimizer, bookkeeping) with
  loading and saving (``rl/seconds_*`` metrics; NaN where a part was not timed apart);
- each notebook execution's wall seconds (``done/<id>.json``); what they hold beyond the stages
  computed inside them is papermill, kernel start-up, plotting, the analysis and waiting on a
  run another worker was computing (the store's lock).

Seconds are summed over worker processes (two workers for 10 minutes are 20 minutes here), so
the table answers "what does one more seed cost", not "how long did the study take".
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from ..store import DONE_MARKER, TIMING_FILE

RL_PARTS = ("rollouts", "reward", "tracking")
"""the parts of an RL run timed apart (``rl/seconds_<part>``); the rest is TRL's training step"""


def _read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _run_seconds(run_dir: Path, stage: str, metrics: dict) -> float:
    timing = run_dir / TIMING_FILE
    if timing.exists():
        return float(_read(timing)["wall_seconds"])
    value = metrics.get(f"{stage}/seconds")
    return float(value) if isinstance(value, (int, float)) else 0.0


def stage_costs(store_dir: Path) -> pd.DataFrame:
    """One row per (seed, stage, part) with its wall ``seconds`` and the ``runs`` it sums.

    ``part`` is ``all`` for every stage but ``rl``, whose runs split into :data:`RL_PARTS` and
    ``training`` (the remainder); an RL run whose parts were not timed apart counts whole under
    ``training``. Raises FileNotFoundError for a missing store.
    """
    store_dir = Path(store_dir)
    if not store_dir.is_dir():
        raise FileNotFoundError(f"no run store at {store_dir}: pass the study's store folder (outputs/store)")
    rows = []
    for stage_dir in sorted(p for p in store_dir.iterdir() if p.is_dir()):
        stage = stage_dir.name
        for run_dir in sorted(p for p in stage_dir.iterdir() if (p / DONE_MARKER).exists()):
            params, metrics = _read(run_dir / "params.json"), _read(run_dir / "metrics.json")
            seed, total = params.get("seed"), _run_seconds(run_dir, stage, metrics)
            if stage != "rl":
                rows.append({"seed": seed, "stage": stage, "part": "all", "seconds": total, "runs": 1})
                continue
            parts = {part: metrics.get(f"rl/seconds_{part}") for part in RL_PARTS}
            timed = {k: float(v) for k, v in parts.items() if isinstance(v, (int, float)) and math.isfinite(v)}
            for part, seconds in timed.items():
                rows.append({"seed": seed, "stage": stage, "part": part, "seconds": seconds, "runs": 1})
            rows.append({"seed": seed, "stage": stage, "part": "training", "seconds": total - sum(timed.values()),
                         "runs": 1})
    frame = pd.DataFrame(rows, columns=["seed", "stage", "part", "seconds", "runs"])
    return frame.groupby(["seed", "stage", "part"], as_index=False, dropna=False)[["seconds", "runs"]].sum()


def execution_seconds(study_dir: Path) -> pd.DataFrame:
    """One row per finished notebook execution: ``notebook``, ``phase`` (seed or analyze) and wall ``seconds``."""
    done = Path(study_dir) / "done"
    rows = [_read(p) for p in sorted(done.glob("*.json"))] if done.is_dir() else []
    return pd.DataFrame([{"notebook": r.get("notebook"), "phase": r.get("phase"), "seconds": float(r["seconds"])}
                         for r in rows], columns=["notebook", "phase", "seconds"])


def cost_table(study_dir: Path, store_dir: Path) -> pd.DataFrame:
    """Seconds per seed by stage and part, with the executions' own overhead, as shares of the whole.

    Columns: ``stage``, ``part``, ``seconds_per_seed`` (mean over the seeds the store holds),
    ``share`` of the total. The row ``executions / overhead`` is the executions' wall seconds
    minus every stage computed (papermill, kernels, plots, analysis, lock waits), per seed.
    """
    stages = stage_costs(store_dir)
    seeds = max(1, stages["seed"].nunique())
    per_seed = stages.groupby(["stage", "part"], as_index=False)["seconds"].sum()
    per_seed["seconds"] /= seeds
    runs = execution_seconds(study_dir)
    overhead = (runs["seconds"].sum() - stages["seconds"].sum()) / seeds if len(runs) else float("nan")
    table = pd.concat([per_seed, pd.DataFrame([{"stage": "executions", "part": "overhead", "seconds": overhead}])],
                      ignore_index=True).rename(columns={"seconds": "seconds_per_seed"})
    table["share"] = table["seconds_per_seed"] / table["seconds_per_seed"].sum()
    return table.sort_values("seconds_per_seed", ascending=False, ignore_index=True)
