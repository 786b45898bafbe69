"""Running a study's notebook executions as Ray tasks, on one machine or a cluster.

:class:`RayExecutor` is a ``concurrent.futures.Executor``: the study runner hands it the same
worker function it hands local processes (:func:`rlhf_nb.study.executions._execute`, one
papermill execution per call), and each call becomes one Ray task with ``cpus_per_task``
CPUs and ``gpus_per_task`` GPUs (Ray sets ``CUDA_VISIBLE_DEVICES`` for it). Results come back
as futures, so resuming, failure records and the progress bar work as they do locally.

What a cluster needs: the package installed in the same environment on every node, and the
study folder, the run store and the working directory on a filesystem every node mounts at
the same path (executions write notebooks, done records and runs there; the store's file
locks make shared upstream runs compute once across nodes too).

What it does not do: start a cluster (``ray start --head`` / ``ray up`` do) or shut one down.
"""
from __future__ import annotations

import os
from concurrent.futures import Executor, Future
from typing import Any, Callable

from ..workers import QUIET_ENV


def _in_dir(cwd: str, fn: Callable, args: tuple, kwargs: dict) -> Any:
    """Task body: run ``fn`` from the driver's working directory (relative paths then mean the same)."""
    if cwd and os.path.isdir(cwd):
        os.chdir(cwd)
    return fn(*args, **kwargs)


class RayExecutor(Executor):
    """Submit calls as Ray tasks; connects to ``address`` (``auto``: the running cluster) unless Ray is up already."""

    def __init__(self, address: str | None = None, cpus_per_task: float = 1, gpus_per_task: float = 0,
                 max_retries: int = 1):
        try:
            import ray
        except ImportError:
            raise RuntimeError("the ray executor needs Ray: `pip install -e .[ray]` (ray[default]) on every node") from None
        if cpus_per_task <= 0 or gpus_per_task < 0:
            raise ValueError(f"cpus_per_task={cpus_per_task}, gpus_per_task={gpus_per_task}: need > 0 CPUs, >= 0 GPUs")
        if not ray.is_initialized():
            # The workers inherit these, so no hub lookups or progress bars on any node.
            env = {k: os.environ.get(k, v) for k, v in QUIET_ENV.items()}
            ray.init(address=address, runtime_env={"env_vars": env}, include_dashboard=False,
                     log_to_driver=False)
        self._ray = ray
        # max_retries: a task whose worker died (node lost, killed for memory) runs again once; an execution is
        # idempotent (its notebook is renamed into place when it succeeds, the store commits runs atomically).
        self._task = ray.remote(num_cpus=cpus_per_task, num_gpus=gpus_per_task, max_retries=max_retries)(_in_dir)
        self._cwd = os.getcwd()
        self._pending: list[Future] = []
        self._refs: list[Any] = []

    def submit(self, fn: Callable, /, *args: Any, **kwargs: Any) -> Future:
        ref = self._task.remote(self._cwd, fn, args, kwargs)
        self._refs.append(ref)
        future = ref.future()
        self._pending.append(future)
        return future

    def stop_now(self) -> None:
        """Ctrl-C on the driver: cancel every task; a running one gets KeyboardInterrupt, so it records nothing."""
        for ref in self._refs:
            try:
                self._ray.cancel(ref)
            except Exception:  # finished already, or its node is gone
                pass
        self.shutdown(wait=False, cancel_futures=True)
        self._refs.clear()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Wait for the submitted tasks; Ray itself stays up (the next phase of the study reuses it)."""
        if cancel_futures:
            for f in self._pending:
                f.cancel()
        if wait:
            for f in self._pending:
                if not f.cancelled():
                    f.exception()
        self._pending.clear()


def ray_executor_factory(address: str | None = None, cpus_per_task: float = 1,
                         gpus_per_task: float = 0) -> Callable[[int], Executor]:
    """A factory for :func:`rlhf_nb.study.executions.run_executions`; Ray's scheduler, not ``workers``, bounds concurrency."""
    def make(workers: int) -> Executor:
        return RayExecutor(address, cpus_per_task, gpus_per_task)
    return make
