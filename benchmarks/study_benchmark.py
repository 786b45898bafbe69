"""Benchmarks of the embedded default on this machine (figures for the README; not a test).

    python benchmarks/study_benchmark.py stages      # time per stage for each model size
    python benchmarks/study_benchmark.py papermill   # papermill overhead per execution
    python benchmarks/study_benchmark.py study --preset smoke   # preset wall time, speed-up, store reuse
    python benchmarks/study_benchmark.py cost outputs/studies/default   # a finished study's seconds per seed by stage and part
    python benchmarks/study_benchmark.py compile --presets s,m   # torch.compile (CPU inductor) against eager, per training step

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


def bench_cost(study_dir: str, store_dir: str | None) -> None:
    from rlhf_nb.study.cost import cost_table

    study = Path(study_dir)
    store = Path(store_dir) if store_dir else study.parent.parent / "store"
    table = cost_table(study, store)
    print(table.to_string(index=False, float_format=lambda x: f"{x:,.1f}" if abs(x) >= 1 else f"{x:.3f}", na_rep=""))
    print(json.dumps({"what": "cost_per_seed_s", "study": str(study),
                      "rows": table.to_dict(orient="records")}), flush=True)


def bench_compile(presets: list[str], batch: int, tokens: int, steps: int) -> None:
    """One training step (forward, backward, AdamW) of each preset, eager and under ``torch.compile``, side by side.

    Random token ids [batch, tokens] as labels too; the compile time is the first step's excess over an eager
    step, and ``break_even_steps`` the steps a run needs before compiling has paid for itself (inf when a
    compiled step is not faster). One torch thread.
    """
    import torch

    from rlhf_nb.models import build_policy

    torch.set_num_threads(1)
    for preset in presets:
        row = {"what": "compile_vs_eager", "preset": preset, "batch": batch, "tokens": tokens}
        for compiled in (False, True):
            model, _ = build_policy(preset, seed=0)
            model.train()
            opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
            forward = torch.compile(model) if compiled else model
            ids = torch.randint(3, model.config.vocab_size, (batch, tokens), generator=torch.Generator().manual_seed(0))

            def step():
                forward(input_ids=ids, labels=ids).loss.backward()
                opt.step()
                opt.zero_grad()

            start = time.perf_counter()
            step()
            first = time.perf_counter() - start
            times = []
            for _ in range(steps):
                start = time.perf_counter()
                step()
                times.append(time.perf_counter() - start)
            times.sort()
            key = "compiled" if compiled else "eager"
            row[f"{key}_first_step_s"], row[f"{key}_step_s"] = first, times[len(times) // 2]
        saved = row["eager_step_s"] - row["compiled_step_s"]
        row["compile_s"] = row["compiled_first_step_s"] - row["eager_step_s"]
        row["speedup"] = row["eager_step_s"] / row["compiled_step_s"]
        row["break_even_steps"] = row["compile_s"] / saved if saved > 0 else float("inf")
        print(json.dumps(row), flush=True)


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
    c = sub.add_parser("cost")
    c.add_argument("study_dir")
    c.add_argument("--store-dir", default=None, help="default: <study_dir>/../../store")
    cp = sub.add_parser("compile")
    cp.add_argument("--presets", default="s,m")
    cp.add_argument("--batch", type=int, default=64)
    cp.add_argument("--tokens", type=int, default=50)
    cp.add_argument("--steps", type=int, default=15)
    args = parser.parse_args()
    if args.what == "cost":
        bench_cost(args.study_dir, args.store_dir)
    elif args.what == "compile":
        bench_compile(args.presets.split(","), args.batch, args.tokens, args.steps)
    elif args.what == "stages":
        bench_stages(args.presets.split(","), args.threads)
    elif args.what == "papermill":
        bench_papermill(args.n)
    else:
        bench_study(args.preset)


if __name__ == "__main__":
    main()
