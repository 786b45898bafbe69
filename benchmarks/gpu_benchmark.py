"""The pipeline at a size where the GPU matters: time per stage, generation tokens/s, peak memory.

Builds a Llama-style model of one of the sizes below from a ``LlamaConfig`` (nothing is
downloaded; the embedded task's character tokenizer), saves it as a checkpoint, and runs the
project's own stages on it by path: SFT -> reward model -> GRPO -> evaluation, through a run
store in a fresh folder. A checkpoint without a preset's shape trains in bf16 on a GPU that
supports it (:mod:`rlhf_nb.device`). It prints one JSON line per stage and a summary line.

    python benchmarks/gpu_benchmark.py --size 120m            # one GPU, standard workload (minutes on an H100)
    python benchmarks/gpu_benchmark.py --size 25m --size 350m # several sizes, one after the other
    python benchmarks/gpu_benchmark.py --size tiny --cpu      # smoke run on a CPU (about a minute on 2 cores)
    python benchmarks/gpu_benchmark.py --size 120m --out bench.json --keep-store outputs/bench
    python benchmarks/gpu_benchmark.py --size 350m --set sft_steps 100 --set rl_steps 10   # change the workload

Needs nothing beyond PyTorch, transformers and the project's dependencies. Peak memory is
``torch.cuda.max_memory_allocated`` per stage on a GPU, the process's peak RSS on a CPU.
Generation throughput is measured apart from training: ``sample()`` (HF ``generate``, as
evaluation and reward-model data use it) on the SFT model, in float32 as the pipeline loads
it, and in bf16 where the GPU supports it.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")


@dataclass(frozen=True)
class Size:
    hidden_size: int
    layers: int
    intermediate_size: int
    heads: int


# Shapes of the usual small-model ladder (head_dim 64 above "tiny"); parameters are reported exactly.
SIZES: dict[str, Size] = {
    "tiny": Size(hidden_size=64, layers=2, intermediate_size=192, heads=2),       # ~0.1M: CPU smoke only
    "25m": Size(hidden_size=512, layers=8, intermediate_size=1536, heads=8),      # ~25M
    "120m": Size(hidden_size=768, layers=16, intermediate_size=2304, heads=12),   # ~113M
    "350m": Size(hidden_size=1024, layers=26, intermediate_size=2816, heads=16),  # ~340M
}

# Work per stage. "standard" keeps each stage long enough that set-up is a small share of it.
WORKLOADS: dict[str, dict] = {
    "standard": dict(task_terms=4, sft_problems=20000, sft_steps=300, examples_per_step=64, sft_lr=3e-4, rm_prompts=256, rm_responses=4,
                     rm_per_step=32, rl_steps=20, prompts_per_step=16, samples_per_prompt=8, rl_lr=1e-5,
                     eval_prompts=256, gen_prompts=512, max_new_tokens=40),
    # smoke: 2-term problems and just enough SFT that the policy is sometimes right (an RM needs right and wrong)
    "smoke": dict(task_terms=2, sft_problems=1000, sft_steps=60, examples_per_step=16, sft_lr=3e-3, rm_prompts=64, rm_responses=4,
                  rm_per_step=1, rl_steps=1, prompts_per_step=2, samples_per_prompt=2, rl_lr=1e-4,
                  eval_prompts=4, gen_prompts=16, max_new_tokens=24),
}


def build_checkpoint(size: Size, path: Path, seed: int = 0) -> int:
    """Save a fresh Llama of ``size`` with the character tokenizer to ``path``; returns its parameter count."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from rlhf_nb.models import count_parameters
    from rlhf_nb.tasks.tokenizer import build_char_tokenizer

    tokenizer = build_char_tokenizer()
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=size.hidden_size,
                         intermediate_size=size.intermediate_size, num_hidden_layers=size.layers,
                         num_attention_heads=size.heads, num_key_value_heads=size.heads,
                         max_position_embeddings=256, pad_token_id=tokenizer.pad_token_id,
                         eos_token_id=tokenizer.eos_token_id, bos_token_id=None, tie_word_embeddings=True)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return count_parameters(model)


class Meter:
    """Wall time and peak memory of one block: CUDA allocated on a GPU, process RSS on a CPU."""

    def __init__(self, cuda: bool):
        self.cuda = cuda

    def __enter__(self):
        import torch

        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        import torch

        if self.cuda:
            torch.cuda.synchronize()
            self.peak_gb = torch.cuda.max_memory_allocated() / 2**30
        else:  # ru_maxrss: kilobytes on Linux, bytes on macOS; a process-lifetime peak
            scale = 1 if sys.platform == "darwin" else 1024
            self.peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**30
        self.seconds = time.perf_counter() - self.start
        return False


def generation_throughput(model_dir: Path, prompts: list[str], max_new_tokens: int, bf16: bool, cuda: bool) -> dict:
    """Completion tokens per second of ``sample()`` on the saved model (one warm-up batch first)."""
    import torch

    from rlhf_nb.models import load_causal_lm, load_tokenizer
    from rlhf_nb.scoring.sampling import sample

    model, tokenizer = load_causal_lm(model_dir), load_tokenizer(model_dir)
    if bf16:
        model = model.to(torch.bfloat16)
    sample(model, tokenizer, prompts[:8], max_new_tokens, seed=0)  # warm-up: kernels, allocator
    with Meter(cuda) as m:
        s = sample(model, tokenizer, prompts, max_new_tokens, seed=1)
    tokens = sum(len(ids) for ids in s.completion_ids)
    del model
    if cuda:
        torch.cuda.empty_cache()
    return {"tokens": tokens, "seconds": m.seconds, "tokens_per_s": tokens / m.seconds, "peak_gb": m.peak_gb}


def bench_size(name: str, workload: dict, root: Path, cuda: bool) -> list[dict]:
    import torch

    from rlhf_nb.device import use_bf16
    from rlhf_nb.models import is_preset_model
    from rlhf_nb.pipeline.runs import run_eval, run_reward, run_rl, run_sft
    from rlhf_nb.stages.evaluation import EvalStageConfig
    from rlhf_nb.stages.reward import RewardStageConfig
    from rlhf_nb.stages.rl import RLStageConfig
    from rlhf_nb.stages.sft import SFTStageConfig
    from rlhf_nb.store import RunStore
    from rlhf_nb.tasks.addition import AdditionTask

    w = workload
    ckpt = root / f"init-{name}"
    params = build_checkpoint(SIZES[name], ckpt)
    store = RunStore(root / "store")
    terms = w["task_terms"]
    task = AdditionTask(terms=terms, ood_terms=terms + 1, sft_min_terms=2, sft_max_terms=max(terms, 3))
    common = {"size": name, "params": params, "device": _device_name(cuda),
              "bf16": use_bf16("auto", model_is_preset=is_preset_model(ckpt))}
    rows = []

    def record(stage: str, meter: Meter, **extra) -> None:
        row = {"what": "stage", "stage": stage, **common, "seconds": round(meter.seconds, 3),
               "peak_gb": round(meter.peak_gb, 3), **extra}
        rows.append(row)
        print(json.dumps(row), flush=True)

    sft_cfg = SFTStageConfig(policy=str(ckpt), sft_steps=w["sft_steps"], examples_per_step=w["examples_per_step"],
                             learning_rate=w["sft_lr"], train_problems=w["sft_problems"])
    with Meter(cuda) as m:
        sft = run_sft(store, task, sft_cfg)
    record("sft", m, s_per_step=round(sft.metrics["sft/seconds"] / w["sft_steps"], 4))

    with Meter(cuda) as m:
        rm = run_reward(store, task, RewardStageConfig(n_prompts=w["rm_prompts"], responses_per_prompt=w["rm_responses"],
                                                       comparisons_per_step=w["rm_per_step"], eval_prompts=0), sft)
    record("reward", m, s_per_step=round(rm.metrics["rm/seconds"] / rm.metrics["rm/steps"], 4),
           comparisons=rm.metrics["rm/comparisons"])

    rl_cfg = RLStageConfig(reward="proxy", rl_steps=w["rl_steps"], prompts_per_step=w["prompts_per_step"],
                           samples_per_prompt=w["samples_per_prompt"], learning_rate=w["rl_lr"],
                           max_completion_tokens=w["max_new_tokens"], track_every_steps=w["rl_steps"],
                           track_prompts=max(4, w["prompts_per_step"]))
    with Meter(cuda) as m:
        rl = run_rl(store, task, rl_cfg, sft, rm)
    log = _read_csv(rl.path / "train_log.csv")
    mean_len = float(log["completions/mean_length"].mean()) if "completions/mean_length" in log else float("nan")
    record("rl", m, s_per_step=round(rl.metrics["rl/seconds"] / w["rl_steps"], 4),
           completion_tokens_per_s=round(rl.metrics["rl/completions"] * mean_len / rl.metrics["rl/seconds"], 1),
           note="tokens/s of GRPO counts generation and training together (tracking passes included)")

    with Meter(cuda) as m:
        run_eval(store, task, EvalStageConfig(eval_prompts=w["eval_prompts"], samples_per_prompt=4,
                                              max_completion_tokens=w["max_new_tokens"]), rl, sft, rm)
    record("eval", m)

    prompts = [p.prompt for p in task.problems("heldout", w["gen_prompts"], 0)]
    for precision in ("fp32", "bf16"):
        if precision == "bf16" and not (cuda and torch.cuda.is_bf16_supported()):
            continue
        g = generation_throughput(sft.path / "model", prompts, w["max_new_tokens"], precision == "bf16", cuda)
        row = {"what": "generation", **common, "precision": precision, "prompts": len(prompts),
               **{k: round(v, 3) for k, v in g.items()}}
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def _read_csv(path: Path):
    import pandas as pd

    return pd.read_csv(path)


def _device_name(cuda: bool) -> str:
    import torch

    return torch.cuda.get_device_name() if cuda else f"cpu ({platform.processor() or platform.machine()})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", action="append", choices=sorted(SIZES), help="model size (repeatable); default 120m")
    parser.add_argument("--cpu", action="store_true", help="run on the CPU even if a GPU is present (smoke test)")
    parser.add_argument("--workload", choices=sorted(WORKLOADS), default=None,
                        help="work per stage; default: standard on a GPU, smoke with --cpu")
    parser.add_argument("--set", nargs=2, action="append", default=[], metavar=("KEY", "VALUE"),
                        help="override one workload entry, e.g. --set sft_steps 50 (see WORKLOADS)")
    parser.add_argument("--keep-store", default=None, help="keep checkpoints and runs in this folder (default: a temp dir)")
    parser.add_argument("--out", default=None, help="also write every row to this JSON file")
    args = parser.parse_args(argv)

    if args.cpu:
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # before torch is imported: the stages then see no GPU
    import torch

    if args.cpu:
        torch.set_num_threads(1)  # the CPU run is a smoke test of tiny models: extra threads only spin and wait
    cuda = torch.cuda.is_available()
    if not cuda and not args.cpu:
        print("gpu_benchmark: no GPU visible; pass --cpu (with --size tiny) for a smoke run", file=sys.stderr)
        return 2
    sizes = args.size or ["120m"]
    workload = dict(WORKLOADS[args.workload or ("smoke" if args.cpu else "standard")])
    for key, value in args.set:
        if key not in workload:
            parser.error(f"--set {key}: not a workload entry; use one of {sorted(workload)}")
        workload[key] = type(workload[key])(value)
    root = Path(args.keep_store) if args.keep_store else Path(tempfile.mkdtemp(prefix="rlhf-gpu-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    start, rows = time.perf_counter(), []
    try:
        for name in sizes:
            rows += bench_size(name, workload, root / name, cuda)
    finally:
        if not args.keep_store:
            shutil.rmtree(root, ignore_errors=True)
    summary = {"what": "summary", "sizes": sizes, "seconds": round(time.perf_counter() - start, 1),
               "torch": torch.__version__, "device": _device_name(cuda)}
    print(json.dumps(summary), flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(rows + [summary], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
