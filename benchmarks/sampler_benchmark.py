"""HF ``generate`` against rlhf_nb's fast sampler on a tiny policy, side by side in one run (not a test).

    python benchmarks/sampler_benchmark.py                  # s preset, batch 128, one torch thread
    python benchmarks/sampler_benchmark.py --sft-steps 0    # an untrained policy (no SFT first)

Measures, on one torch thread:

1. decoding throughput at batch 128: tokens per second of HF ``generate`` and of the fast
   sampler, (a) 40 tokens per row with no end-of-sequence id (pure decoding), and (b) through
   ``sample_hf`` / ``sample_fast`` on held-out task prompts (the task's EOS, log-probs included);
2. seconds per GRPO step at 16 prompts x 8 samples: TRL's stock ``GRPOTrainer`` generating
   with HF ``generate`` (``sampler="hf"``) and the same trainer with rlhf_nb's fast rollouts
   (``sampler="fast"``), gold reward, the stage's own settings; and of that, the seconds spent
   generating (the trainer's ``_generate``, timed on the instance).

The policy is the ``s`` preset after ``--sft-steps`` SFT steps (default 300: it writes
task-shaped answers and stops, as the policies RL starts from do). Each figure is the best of
``--repeats`` (decoding) or the median over ``--grpo-steps`` steps after the first; both wall
time and this process's CPU time are given, since the CPU time is what a shared machine does
not inflate. Prints a table, then one JSON line with every figure.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")


def _clocks():
    return time.perf_counter(), time.process_time()


def _since(start):
    wall, cpu = _clocks()
    return wall - start[0], cpu - start[1]


def policy(sft_steps: int, seed: int):
    """The s preset, SFT'd for ``sft_steps`` steps (0: as built), and its tokenizer."""
    from rlhf_nb.models import build_policy, load_causal_lm, load_tokenizer

    if sft_steps <= 0:
        model, tok = build_policy("s", seed)
        return model.eval(), tok
    from rlhf_nb.pipeline.runs import run_sft
    from rlhf_nb.stages.sft import SFTStageConfig
    from rlhf_nb.store import RunStore
    from rlhf_nb.tasks.addition import AdditionTask

    store = RunStore(tempfile.mkdtemp(prefix="sampler-bench-"))
    sft = run_sft(store, AdditionTask(), SFTStageConfig(policy="s", sft_steps=sft_steps, seed=seed))
    return load_causal_lm(sft.path / "model", device="cpu").eval(), load_tokenizer(sft.path / "model")


def bench_decoding(model, tok, batch: int, new_tokens: int, repeats: int) -> list[dict]:
    import torch

    from rlhf_nb.scoring.fast_sampler import FastLlamaDecoder
    from rlhf_nb.scoring.sampling import pad_ids, sample_fast, sample_hf
    from rlhf_nb.tasks.addition import AdditionTask

    prompts = [p.prompt for p in AdditionTask().problems("heldout", batch, 0)]
    rows = [tok(p)["input_ids"] for p in prompts]
    input_ids, mask = pad_ids(rows, tok.pad_token_id, side="left")

    def hf_fixed():
        with torch.no_grad():
            out = model.generate(input_ids=input_ids, attention_mask=mask, do_sample=True, top_k=0, top_p=1.0,
                                 max_new_tokens=new_tokens, min_new_tokens=new_tokens, eos_token_id=None,
                                 pad_token_id=tok.pad_token_id)
        return (out.shape[1] - input_ids.shape[1]) * batch

    def fast_fixed():
        g = torch.Generator().manual_seed(0)
        out = FastLlamaDecoder(model).generate(rows, new_tokens, [], tok.pad_token_id, generator=g)
        return int(out.lengths.sum())

    def hf_sample():
        return sum(len(c) for c in sample_hf(model, tok, prompts, new_tokens, seed=1).completion_ids)

    def fast_sample():
        return sum(len(c) for c in sample_fast(model, tok, prompts, new_tokens, seed=1).completion_ids)

    results = []
    for what, runs in ((f"decode {new_tokens} tokens, no EOS", (("hf", hf_fixed), ("fast", fast_fixed))),
                       ("sample() on task prompts", (("hf", hf_sample), ("fast", fast_sample)))):
        for name, run in runs:
            run()  # warm-up
            best = None
            for _ in range(repeats):
                start = _clocks()
                tokens = run()
                wall, cpu = _since(start)
                if best is None or wall < best[1]:
                    best = (tokens, wall, cpu)
            tokens, wall, cpu = best
            results.append({"what": what, "sampler": name, "tokens": tokens, "wall_s": wall, "cpu_s": cpu,
                            "tokens_per_s_wall": tokens / wall, "tokens_per_s_cpu": tokens / cpu})
    return results


def grpo_run(model_dir: Path, sampler: str, steps: int, seed: int) -> dict:
    """``steps`` GRPO steps of the stage's TRL trainer with ``sampler``; median seconds per step after the first."""
    import trl
    from transformers import TrainerCallback

    from rlhf_nb.models import load_causal_lm, load_tokenizer
    from rlhf_nb.stages import rl
    from rlhf_nb.stages.rl import RLStageConfig, _train_trl
    from rlhf_nb.tasks.addition import AdditionTask

    config = RLStageConfig(reward="gold", rl_steps=steps, prompts_per_step=16, samples_per_prompt=8,
                           sampler=sampler, seed=seed)
    step_times, gen_times, lengths = [], [], []

    class Clock(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            self.start = _clocks()

        def on_step_end(self, args, state, control, **kwargs):
            step_times.append(_since(self.start))

    plain_init = trl.GRPOTrainer.__init__

    def timed_init(self, *args, **kwargs):  # times the instance's _generate; the class stays TRL's
        plain_init(self, *args, **kwargs)
        generate = self._generate

        def timed(prompts):
            start = _clocks()
            out = generate(prompts)
            gen_times.append(_since(start))
            lengths.extend(len(c) for c in out[1])
            return out

        self._generate = timed

    trl.GRPOTrainer.__init__ = timed_init
    try:
        policy, tok = load_causal_lm(model_dir, device="cpu"), load_tokenizer(model_dir)
        with tempfile.TemporaryDirectory() as out:
            trainer, log = _train_trl(config, AdditionTask(), policy, tok, None, Clock(), Path(out))
    finally:
        trl.GRPOTrainer.__init__ = plain_init
    assert type(trainer) is trl.GRPOTrainer
    assert (trainer.rollout_func is not None) == (sampler == "fast")
    later = slice(1, None)  # the first step pays for warm-up
    return {
        "what": "GRPO step, 16 prompts x 8 samples", "sampler": sampler,
        "trainer": "TRL GRPOTrainer" + (" + rlhf_nb rollout_func" if sampler == "fast" else " (stock)"),
        "step_wall_s": statistics.median(t[0] for t in step_times[later]),
        "step_cpu_s": statistics.median(t[1] for t in step_times[later]),
        "generate_wall_s": statistics.median(t[0] for t in gen_times[later]),
        "generate_cpu_s": statistics.median(t[1] for t in gen_times[later]),
        "mean_completion_tokens": sum(lengths) / len(lengths),
        "gold_reward_mean": float(log["rewards/gold/mean"].mean()),
        "resolved_sampler": rl.resolve_sampler(config, policy),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sft-steps", type=int, default=300)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--new-tokens", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--grpo-steps", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    model, tok = policy(args.sft_steps, args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(Path(tmp) / "policy")
        tok.save_pretrained(Path(tmp) / "policy")
        decoding = bench_decoding(model, tok, args.batch, args.new_tokens, args.repeats)
        grpo = [grpo_run(Path(tmp) / "policy", sampler, args.grpo_steps, args.seed) for sampler in ("hf", "fast")]

    print(f"\ns preset ({sum(p.numel() for p in model.parameters()):,} parameters, SFT {args.sft_steps} steps), "
          f"one torch thread, batch {args.batch}")
    print(f"{'measurement':<36} {'HF generate':>22} {'fast sampler':>22} {'speed-up':>10}")
    for what in dict.fromkeys(r["what"] for r in decoding):
        hf, fast = (next(r for r in decoding if r["what"] == what and r["sampler"] == s) for s in ("hf", "fast"))
        for clock in ("wall", "cpu"):
            key = f"tokens_per_s_{clock}"
            print(f"{what + f' (tok/s, {clock})':<36} {hf[key]:>22,.0f} {fast[key]:>22,.0f} "
                  f"{fast[key] / hf[key]:>9.1f}x")
    hf, fast = grpo
    for key, label in (("step_wall_s", "GRPO s/step (wall)"), ("step_cpu_s", "GRPO s/step (cpu)"),
                       ("generate_wall_s", "  of which generating (wall)"),
                       ("generate_cpu_s", "  of which generating (cpu)")):
        print(f"{label:<36} {hf[key]:>22.3f} {fast[key]:>22.3f} {hf[key] / fast[key]:>9.1f}x")
    print(f"{'mean completion tokens (GRPO)':<36} {hf['mean_completion_tokens']:>22.1f} "
          f"{fast['mean_completion_tokens']:>22.1f}")
    print(f"{'gold reward, mean over steps':<36} {hf['gold_reward_mean']:>22.3f} {fast['gold_reward_mean']:>22.3f}")
    print(json.dumps({"decoding": decoding, "grpo": grpo, "args": vars(args)}))


if __name__ == "__main__":
    main()
