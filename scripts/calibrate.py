"""Calibration check of the embedded default, over seeds (the figures in the README come from here).

For each seed: the default SFT policy, its held-out and OOD accuracy; the default reward
model's pairwise accuracy; GRPO against the gold verifier (the RL headroom); GRPO against the
learned reward model with no KL penalty (overoptimisation: gold rises, then falls while the
proxy keeps rising). Runs through the run store, so a rerun only reads results.

    python scripts/calibrate.py --seeds 0,1,2 [--store outputs/store]
"""
from __future__ import annotations

import argparse
import dataclasses
import json

import pandas as pd

from rlhf_nb.pipeline.runs import PipelineConfig, run_eval, run_reward, run_rl, run_sft
from rlhf_nb.store import RunStore


def calibrate(seed: int, store: RunStore) -> dict:
    base = PipelineConfig()
    task = base.task
    sft = run_sft(store, task, dataclasses.replace(base.sft, seed=seed))
    rm = run_reward(store, task, dataclasses.replace(base.reward, seed=seed), sft)
    sft_eval = run_eval(store, task, base.eval, sft, sft, rm)
    gold = run_rl(store, task, dataclasses.replace(base.rl, reward="gold", rl_steps=100, seed=seed), sft, rm)
    proxy = run_rl(store, task, dataclasses.replace(base.rl, reward="proxy", kl_coef=0.0, seed=seed), sft, rm)
    curve = pd.read_csv(proxy.path / "curve.csv")
    peak = curve["gold_acc"].idxmax()
    return {
        "seed": seed,
        "sft_greedy": sft_eval.metrics["eval/heldout/greedy_acc"],
        "sft_sampled": sft_eval.metrics["eval/heldout/sampled_acc"],
        "sft_ood_sampled": sft_eval.metrics["eval/ood/sampled_acc"],
        "rm_pairwise": rm.metrics["rm/heldout/pairwise_acc"],
        "rm_pairwise_ood": rm.metrics["rm/ood/pairwise_acc"],
        "gold_rl_start": gold.metrics["rl/start/gold_acc"],
        "gold_rl_final": gold.metrics["rl/final/gold_acc"],
        "proxy_rl_peak_gold": curve["gold_acc"].iloc[peak],
        "proxy_rl_peak_step": int(curve["step"].iloc[peak]),
        "proxy_rl_final_gold": curve["gold_acc"].iloc[-1],
        "proxy_at_peak": curve["proxy_mean"].iloc[peak],
        "proxy_final": curve["proxy_mean"].iloc[-1],
        "final_kl": curve["kl"].iloc[-1],
        "sft_seconds": sft.metrics["sft/seconds"],
        "rm_seconds": rm.metrics["rm/seconds"],
        "proxy_rl_seconds": proxy.metrics["rl/seconds"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--store", default="outputs/store")
    args = parser.parse_args()
    store = RunStore(args.store)
    rows = [calibrate(int(s), store) for s in args.seeds.split(",")]
    table = pd.DataFrame(rows)
    print(table.round(3).to_string(index=False))
    print(json.dumps(table.drop(columns="seed").mean().round(3).to_dict()))


if __name__ == "__main__":
    main()
