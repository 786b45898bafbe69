"""Running a study's executions in worker processes: resumable, failure-tolerant, one study per folder.

- Each execution writes its notebook to a temporary name and renames it when it succeeds;
  ``done/<id>.json`` is written last. A rerun skips every execution with a done record, so
  Ctrl-C or a killed process loses nothing that finished and shows nothing half-written.
- A failing execution is recorded in ``failed/<id>.json`` with its error, its partly executed
  notebook is kept as ``<id>.failed.ipynb``, and the rest goes on. A rerun retries it.
- Workers are processes with one torch thread each: on 2 cores two single-thread processes
  gave about 1.4x the throughput of one two-thread process. Shared upstream stages are
  computed once thanks to the run store's per-run locks.
- Ctrl-C stops the study at once: executions not started are cancelled, running ones are
  stopped with their notebook kernels, and neither leaves a done or a failure record (an
  interrupted execution did not fail; the rerun starts it again).
- A lock file refuses a second study on the same folder instead of letting both write.
- Where the executions run is pluggable: local worker processes by default, or any
  ``concurrent.futures.Executor`` factory, e.g. Ray tasks on a cluster
  (:mod:`rlhf_nb.study.ray_executor`), which run the same :func:`_execute`.
"""
from __future__ import annotations

import os
import signal
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, Executor, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from filelock import FileLock, Timeout
from tqdm.auto import tqdm

from ..store import write_json_atomic
from ..workers import ONE_THREAD_ENV
from .plan import Execution


@dataclass
class StudyPaths:
    root: Path

    @property
    def executions(self) -> Path:
        return self.root / "executions"

    @property
    def done(self) -> Path:
        return self.root / "done"

    @property
    def failed(self) -> Path:
        return self.root / "failed"

    @property
    def results(self) -> Path:
        return self.root / "results"

    @property
    def report(self) -> Path:
        return self.root / "report"

    def notebook(self, ex: Execution) -> Path:
        return self.executions / f"{ex.id}.ipynb"


@dataclass
class RunSummary:
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def _execute(ex: Execution, paths: StudyPaths, cwd: str) -> tuple[str, float, str | None]:
    """Worker body: run one notebook; never raises, returns (id, seconds, error or None)."""
    os.environ.update(ONE_THREAD_ENV)  # the notebook kernel inherits it
    import papermill as pm

    from ..notebooks import KERNEL_ARGUMENTS, notebook_path

    final = paths.notebook(ex)
    partial = final.with_name(f".{final.stem}.running.ipynb")
    start = time.perf_counter()
    try:
        pm.execute_notebook(str(notebook_path(ex.notebook)), str(partial), parameters=ex.parameters,
                            kernel_name="python3", cwd=cwd, progress_bar=False,
                            extra_arguments=KERNEL_ARGUMENTS)
        os.replace(partial, final)
        seconds = time.perf_counter() - start
        write_json_atomic(paths.done / f"{ex.id}.json", {"id": ex.id, "label": ex.label, "notebook": ex.notebook,
                                                          "phase": ex.phase, "parameters": ex.parameters,
                                                          "seconds": seconds, "output": str(final)})
        (paths.failed / f"{ex.id}.json").unlink(missing_ok=True)
        return ex.id, seconds, None
    except Exception as err:  # recorded, never fatal for the study
        seconds = time.perf_counter() - start
        kept = final.with_name(f"{ex.id}.failed.ipynb")
        if partial.exists():
            os.replace(partial, kept)
        message = str(err).strip().splitlines()[-1] if str(err).strip() else repr(err)
        write_json_atomic(paths.failed / f"{ex.id}.json", {"id": ex.id, "label": ex.label, "error": message,
                                                            "traceback": traceback.format_exc()[-4000:],
                                                            "notebook": str(kept), "seconds": seconds})
        return ex.id, seconds, message


def is_done(ex: Execution, paths: StudyPaths) -> bool:
    return (paths.done / f"{ex.id}.json").exists() and paths.notebook(ex).exists()


def _stop_worker(signum, frame) -> None:
    """SIGTERM in a worker: kill its notebook kernel (a child in a session of its own), then exit at once."""
    import psutil

    for child in psutil.Process().children(recursive=True):
        try:
            child.kill()
        except psutil.NoSuchProcess:
            pass
    os._exit(128 + signum)


def _init_worker() -> None:
    # Ctrl-C reaches every process of the terminal's group: the main process alone decides what
    # happens (it stops the workers with SIGTERM), so a worker never records a half-run notebook.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _stop_worker)


class LocalPool(ProcessPoolExecutor):
    """Worker processes that can be stopped mid-execution (ProcessPoolExecutor alone waits for them)."""

    def __init__(self, workers: int):
        super().__init__(max_workers=max(1, workers), initializer=_init_worker)

    def stop_now(self, grace_seconds: float = 10.0) -> None:
        processes = list((self._processes or {}).values())  # the pool's own handles on its workers
        self.shutdown(wait=False, cancel_futures=True)
        for proc in processes:
            if proc.is_alive():
                proc.terminate()
        deadline = time.monotonic() + grace_seconds
        for proc in processes:
            proc.join(max(0.0, deadline - time.monotonic()))
            if proc.is_alive():
                proc.kill()


def local_executor(workers: int) -> Executor:
    """The default: ``workers`` local processes."""
    return LocalPool(workers)


def run_executions(executions: list[Execution], paths: StudyPaths, workers: int, desc: str,
                   cwd: Path | None = None,
                   executor: Callable[[int], Executor] = local_executor) -> RunSummary:
    """Run what is not done yet on ``executor(workers)`` (local processes by default), with a progress bar.

    An execution listed twice (same notebook, same parameters: the same id) runs once: two workers
    writing one notebook file would race.
    """
    for d in (paths.executions, paths.done, paths.failed):
        d.mkdir(parents=True, exist_ok=True)
    unique: dict[str, Execution] = {}
    for ex in executions:
        unique.setdefault(ex.id, ex)
    executions = list(unique.values())
    summary = RunSummary()
    todo = []
    for ex in executions:
        if is_done(ex, paths):
            summary.skipped.append(ex.id)
        else:
            todo.append(ex)
    by_id = {ex.id: ex for ex in todo}
    bar = tqdm(total=len(executions), initial=len(summary.skipped), desc=desc, unit="notebook", dynamic_ncols=True)
    pool = executor(workers)
    try:
        running = {pool.submit(_execute, ex, paths, str(cwd or Path.cwd())): ex for ex in todo}
        while running:
            active = sorted({ex.name for fut, ex in running.items() if fut.running()})
            bar.set_postfix_str(", ".join(active)[:60])
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in finished:
                ex = running.pop(fut)
                ex_id, seconds, error = fut.result()
                summary.seconds[ex_id] = seconds
                if error is None:
                    summary.ran.append(ex_id)
                else:
                    summary.failed[ex_id] = f"{by_id[ex_id].label}: {error}"
                    bar.write(f"FAILED {by_id[ex_id].label}: {error}")
                bar.update(1)
    except BaseException:  # Ctrl-C (KeyboardInterrupt) or an error here: stop everything now
        stop = getattr(pool, "stop_now", None)
        if stop is not None:
            stop()
        else:
            pool.shutdown(wait=False, cancel_futures=True)
        raise
    else:
        pool.shutdown(wait=True)
    finally:
        bar.close()
    return summary


def study_lock(root: Path) -> FileLock:
    """A lock that refuses a second study on the same folder at once, with a clear message."""
    root.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(root / "study.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise RuntimeError(
            f"another study is running on {root} (its lock file is {root / 'study.lock'}); wait for it to "
            "finish or pass a different --name"
        ) from None
    return lock
