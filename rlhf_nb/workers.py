"""The environment of a worker process that trains on one CPU core, shared by every process pool.

On 2 cores, two single-thread processes gave about 1.4x the throughput of one process with two
threads. Child processes (a notebook's kernel) inherit the variables; the torch call is for
the worker itself. Nothing here imports torch at module level, so a parent can import it
before forking without starting torch's thread pool.
"""
from __future__ import annotations

import os

QUIET_ENV = {"TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1", "HF_DATASETS_DISABLE_PROGRESS_BARS": "1"}
"""No hub lookups (nothing is downloaded), no tokenizer threads, no dataset progress bars."""

ONE_THREAD_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", **QUIET_ENV}


def use_one_thread() -> None:
    """Make this process (and the processes it starts) use one CPU thread."""
    os.environ.update(ONE_THREAD_ENV)
    import torch

    torch.set_num_threads(1)
