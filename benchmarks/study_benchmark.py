"""Benchmarks of the embedded default on this machine (figures for the README; not a test).

    python benchmarks/study_benchmark.py stages      # time per stage for each model size
    python benchmarks/study_benchmark.py papermill   # papermill overhead per execution
    python benchmarks/study_benchmark.py study --preset smoke   # preset wall time, speed-up, store reuse

``study`` runs the preset three times in fresh folders: with 2 workers and the shared store,
with 1 worker and the shared store (parallel speed-up), and with 1 worker and a private
store per execution (what stage reuse saves). It prints one JSON line per measurement.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")


def bench_stages(presets: list[str], threads: int) -> None:
    import torch

    from rlhf_nb.pipeline.runs import run_reward, run_rl, run_sft
    from rlhf_nb.stages.reward import RewardStageConfig
    from rlhf_nb.stages.rl import RLStageConfig
    from rlhf_nb.stages.sft import SFTStageConfig
    from rlhf_nb.store import RunStore
    from rlhf_nb.tasks.addition import AdditionTask

    torch.set_num_threads(threads)
    task = AdditionTask()
    for preset in presets:
        store = RunStore(tempfile.mkdtemp(prefix=f"bench-{preset}-"))
        sft_steps, rl_steps = 60, 10
        sft = run_sft(store, task, SFTStageConfig(policy=preset, sft_steps=sft_steps))
        # 60 SFT steps leave the policy mostly wrong: more prompts and a smaller batch still give
        # several reward-model steps to time
        rm = run_reward(store, task, RewardStageConfig(n_prompts=400, comparisons_per_step=8), sft)
        row = {"what": "stage_seconds", "preset": preset, "params": sft.metrics["sft/params"], "threads": threads,
               "sft_s_per_step": sft.metrics["sft/seconds"] / sft_steps,
               "rm_s_per_step": rm.metrics["rm/seconds"] / rm.metrics["rm/steps"]}
        for samples in (2, 8):
            rl = run_rl(store, task, RLStageConfig(reward="gold", rl_steps=rl_steps, samples_per_prompt=samples,
                                                   track_every_steps=rl_steps), sft, rm)
            row[f"grpo_16x{samples}_s_per_step"] = rl.metrics["rl/seconds"] / rl_steps  # includes 2 tracking passes
        # peak resident memory of this process so far: presets run smallest first, so it is this preset's peak
        row["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(row), flush=True)
        shutil.rmtree(store.root, ignore_errors=True)


def bench_papermill(n: int) -> None:
    import nbformat
    import papermill as pm
    from nbformat.v4 import new_code_cell, new_notebook

    tmp = Path(tempfile.mkdtemp(prefix="bench-pm-"))
    nb = new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                                "language_info": {"name": "python"}})
    params = new_code_cell("x: int = 0")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, new_code_cell("y = x + 1")]
    nbformat.write(nb, str(tmp / "t.ipynb"))
    start = time.perf_counter()
    for i in range(n):
        pm.execute_notebook(str(tmp / "t.ipynb"), str(tmp / f"o{i}.ipynb"), parameters={"x": i},
                            kernel_name="python3", progress_bar=False)
    print(json.dumps({"what": "papermill_overhead_s", "executions": n,
                      "seconds_each": (time.perf_counter() - start) / n}), flush=True)


def bench_study(preset: str) -> None:
    from rlhf_nb.store import RunStore
    from rlhf_nb.study.whole_study import run_study

    results = {}
    for label, workers, isolate in (("shared_2w", 2, False), ("shared_1w", 1, False), ("isolated_1w", 1, True)):
        out = Path(tempfile.mkdtemp(prefix=f"bench-study-{label}-"))
        start = time.perf_counter()
        _, summary = run_study(preset, out, workers=workers, isolate_stores=isolate)
        wall = time.perf_counter() - start
        results[label] = wall
        row = {"what": "study_wall_s", "preset": preset, "variant": label, "seconds": wall,
               "executions": len(summary.ran), "failed": len(summary.failed)}
        if not isolate:
            counts = RunStore(out / "store").access_counts()
            served = int(counts.loc[counts["cached"], "requests"].sum())
            row["stage_requests"] = int(counts["requests"].sum())
            row["served_from_store_share"] = served / max(1, row["stage_requests"])
        print(json.dumps(row), flush=True)
    print(json.dumps({"what": "ratios", "preset": preset,
                      "parallel_speedup_2w_vs_1w": results["shared_1w"] / results["shared_2w"],
                      "no_reuse_1w_vs_shared_2w": results["isolated_1w"] / results["shared_2w"]}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    s = sub.add_parser("stages")
    s.add_argument("--presets", default="xs,s,m,l,xl")
    s.add_argument("--threads", type=int, default=1)
    p = sub.add_parser("papermill")
    p.add_argument("-n", type=int, default=5)
    st = sub.add_parser("study")
    st.add_argument("--preset", default="smoke")
    args = parser.parse_args()
    if args.what == "stages":
        bench_stages(args.presets.split(","), args.threads)
    elif args.what == "papermill":
        bench_papermill(args.n)
    else:
        bench_study(args.preset)


if __name__ == "__main__":
    main()
