"""Seeds of a notebook run in parallel processes with one torch thread each, results in seed order."""
from __future__ import annotations

import os

import pandas as pd
import pytest

from rlhf_nb.axes.seed_pool import run_seeds, seed_workers


def where_am_i(seed: int, store: str, scale: int = 1) -> pd.DataFrame:
    import torch

    return pd.DataFrame({"seed": [seed], "value": [seed * scale], "pid": [os.getpid()],
                         "threads": [torch.get_num_threads()], "store": [store]})


def test_seeds_run_in_worker_processes_with_one_thread_each_in_seed_order(tmp_path):
    table = run_seeds(where_am_i, [3, 1, 2], tmp_path, scale=10, workers=2)
    assert table["seed"].tolist() == [3, 1, 2] and table["value"].tolist() == [30, 10, 20]
    assert os.getpid() not in set(table["pid"]) and table["pid"].nunique() <= 2
    assert (table["threads"] == 1).all() and (table["store"] == str(tmp_path)).all()


def test_one_worker_or_one_seed_runs_in_this_process(tmp_path):
    assert set(run_seeds(where_am_i, [0, 1], tmp_path, workers=1)["pid"]) == {os.getpid()}
    assert set(run_seeds(where_am_i, [0], tmp_path)["pid"]) == {os.getpid()}  # the study's case


def test_worker_counts():
    assert seed_workers(3, 2) == 2 and seed_workers(1, 0) == 1 and seed_workers(5, 8) == 5
    assert seed_workers(3, 0) == min(3, os.cpu_count())
    with pytest.raises(ValueError, match="workers=-1"):
        seed_workers(3, -1)
