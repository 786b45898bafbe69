"""Running an axis notebook's seeds in parallel worker processes, one torch thread each.

Each seed is an independent replication (its own SFT model, reward model and RL runs), so
a notebook run on its own can spread them over the cores: on 2 cores two single-thread
processes gave about 1.4x the throughput of one process with two threads (their environment:
:mod:`rlhf_nb.workers`). Stages that two seeds share are computed once thanks to the run store's per-run locks. The study runner
gives every execution one seed, so there this runs the seed in the kernel itself.

Workers are started with ``spawn``: forking a process whose torch thread pool already ran
can hang the child.
"""
from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Callable, Sequence

import pandas as pd
from tqdm.auto import tqdm

from ..workers import use_one_thread


def seed_workers(n_seeds: int, workers: int = 0) -> int:
    """Worker processes for ``n_seeds`` seeds: ``workers`` (0 = one per core), never more than the seeds."""
    if workers < 0:
        raise ValueError(f"workers={workers}: use 0 (one per core), 1 (in this process) or more")
    return max(1, min(n_seeds, workers or os.cpu_count() or 1))


def run_seeds(run_seed: Callable[..., pd.DataFrame], seeds: Sequence[int], store: str | Path, *args: Any,
              workers: int = 0, **kwargs: Any) -> pd.DataFrame:
    """``run_seed(seed, store, *args, **kwargs)`` for every seed, as one table in seed order.

    ``run_seed`` must be a module-level function (it is sent to the workers by name) and its
    arguments picklable (the axes' grid and scale dataclasses are).
    """
    seeds = list(seeds)
    n = seed_workers(len(seeds), workers)
    if n == 1:
        frames = [run_seed(seed, store, *args, **kwargs) for seed in tqdm(seeds, desc="seeds", unit="seed")]
    else:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(n, mp_context=context, initializer=use_one_thread) as pool:
            futures = [pool.submit(run_seed, seed, str(store), *args, **kwargs) for seed in seeds]
            frames = [f.result() for f in tqdm(futures, desc=f"seeds ({n} processes)", unit="seed")]
    return pd.concat(frames, ignore_index=True)
