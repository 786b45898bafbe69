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


def training_seed(run_id: str, runs: dict[str, tuple[str, Path, dict]]) -> int | None:
    """The seed a run's cost belongs to: that of the SFT model it descends from (an evaluation or a pool carries a
    fixed evaluation seed of its own, which says nothing of the study seed that needed it); a run with no
    upstream run (SFT) has its own."""
    seen = set()
    while run_id in runs and run_id not in seen:
        seen.add(run_id)
        _, _, params = runs[run_id]
        upstream = params.get("upstream") or {}
        ids = [v for v in upstream.values() if isinstance(v, str) and v in runs]
        if not ids:
            return params.get("seed")
        sft = [v for v in ids if v.startswith("sft-")]
        run_id = (sft or ids)[0]
    return None


def stage_costs(store_dir: Path) -> pd.DataFrame:
    """One row per (seed, stage, part) with its wall ``seconds`` and the ``runs`` it sums.

    ``seed`` is the run's :func:`training_seed`. ``part`` is ``all`` for every stage but ``rl``,
    whose runs split into :data:`RL_PARTS` and ``training`` (the remainder); an RL run whose parts
    were not timed apart counts whole under ``training``. Raises FileNotFoundError for a missing store.
    """
    store_dir = Path(store_dir)
    if not store_dir.is_dir():
        raise FileNotFoundError(f"no run store at {store_dir}: pass the study's store folder (outputs/store)")
    runs = {}
    for stage_dir in sorted(p for p in store_dir.iterdir() if p.is_dir()):
        for run_dir in sorted(p for p in stage_dir.iterdir() if (p / DONE_MARKER).exists()):
            runs[run_dir.name] = (stage_dir.name, run_dir, _read(run_dir / "params.json"))
    rows = []
    for run_id, (stage, run_dir, _) in runs.items():
        metrics = _read(run_dir / "metrics.json")
        seed, total = training_seed(run_id, runs), _run_seconds(run_dir, stage, metrics)
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
    """Wall seconds by stage and part: one column per study seed, ``total`` and its ``share`` of the whole.

    Rows are ``(stage, part)`` pairs, largest total first, then ``executions / overhead``: the
    executions' wall seconds minus every stage computed (papermill, kernels, plots, analysis,
    lock waits), which belongs to no one seed (its seed columns are NaN).
    """
    stages = stage_costs(store_dir)
    seeds = stages.assign(seed=stages["seed"].astype(object).where(stages["seed"].notna(), "unknown"))  # kept
    table = seeds.pivot_table(index=["stage", "part"], columns="seed", values="seconds", aggfunc="sum").fillna(0.0)
    table.columns = [f"seed {int(c)}" if isinstance(c, (int, float)) and c == c else f"seed {c}" for c in table.columns]
    table["total"] = table.sum(axis=1)
    table = table.sort_values("total", ascending=False)
    runs = execution_seconds(study_dir)
    overhead = runs["seconds"].sum() - stages["seconds"].sum() if len(runs) else float("nan")
    table.loc[("executions", "overhead"), "total"] = overhead
    table["share"] = table["total"] / table["total"].sum()
    return table.reset_index()
