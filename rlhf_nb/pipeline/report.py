"""Figures and a closing statement for one pipeline run, read from its files in the run store."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from .runs import PipelineResult


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path) if path.exists() and path.stat().st_size > 1 else pd.DataFrame()


def plot_pipeline(result: PipelineResult) -> plt.Figure:
    """Four panels: SFT loss, reward-model loss, RL gold and proxy by step, gold vs sqrt(KL)."""
    sns.set_theme(style="whitegrid", context="notebook")
    fig, axes = plt.subplots(2, 2, figsize=(11, 6.4))  # 11 in at the inline 100 dpi: the report's 1,200 px column
    axes = axes.ravel()
    sft = _read(result.sft.path / "train_log.csv")
    if "loss" in sft:
        sns.lineplot(data=sft, x="step", y="loss", ax=axes[0])
    axes[0].set(title="SFT training loss", yscale="log")
    rm = _read(result.reward.path / "train_log.csv") if result.reward else pd.DataFrame()
    if "loss" in rm:
        sns.lineplot(data=rm, x="step", y="loss", ax=axes[1], label="loss")
    axes[1].set(title="Reward-model training loss")
    curve = _read(result.rl.path / "curve.csv")
    long = curve.melt(id_vars="step", value_vars=[c for c in ("gold_acc", "proxy_mean") if c in curve],
                      var_name="metric")
    sns.lineplot(data=long, x="step", y="value", hue="metric", marker="o", ax=axes[2])
    axes[2].set(title="RL: held-out gold accuracy and proxy reward")
    sns.lineplot(data=curve, x="sqrt_kl", y="gold_acc", marker="o", ax=axes[3], sort=False)
    axes[3].set(title="Gold accuracy vs sqrt(KL to SFT)", xlabel="sqrt(KL) (nats^0.5)")
    fig.tight_layout()
    return fig


def describe_pipeline(result: PipelineResult) -> str:
    """A closing paragraph with the pipeline's numbers."""
    s, r = result.sft_eval.metrics, result.rl_eval.metrics
    rm = result.reward.metrics if result.reward else {}
    rl = result.rl.metrics
    cfg = result.rl.params["config"]
    ood = (f"out of distribution {s['eval/ood/sampled_acc']:.3f} sampled" if "eval/ood/sampled_acc" in s
           else "no OOD data given, so no OOD figure")
    lines = [
        f"SFT policy ({result.sft.params['config']['policy']}, {result.sft.metrics['sft/params']:,} parameters): "
        f"held-out gold accuracy {s['eval/heldout/greedy_acc']:.3f} greedy, {s['eval/heldout/sampled_acc']:.3f} sampled; "
        f"{ood}.",
    ]
    if rm and "rm/heldout/pairwise_acc" in rm:
        rm_ood = f", {rm['rm/ood/pairwise_acc']:.3f} OOD" if "rm/ood/pairwise_acc" in rm else ""
        lines.append(
            f"Reward model: pairwise accuracy {rm['rm/heldout/pairwise_acc']:.3f} held-out{rm_ood}, "
            f"from {rm['rm/comparisons']:,} comparisons."
        )
    lines.append(
        f"{cfg['algorithm'].upper()} against the {cfg['reward']} reward for {cfg['rl_steps']} steps "
        f"(kl_coef {cfg['kl_coef']}): held-out gold accuracy {r['eval/heldout/greedy_acc']:.3f} greedy, "
        f"{r['eval/heldout/sampled_acc']:.3f} sampled (change {r['eval/heldout/sampled_acc'] - s['eval/heldout/sampled_acc']:+.3f}); "
        f"peak tracked gold {rl['rl/peak/gold_acc']:.3f} at step {rl['rl/peak/step']}, final {rl['rl/final/gold_acc']:.3f} "
        f"at KL {rl['rl/final/kl']:.2f} nats."
    )
    if "eval/heldout/proxy_mean" in r:
        lines.append(
            f"Proxy reward went from {s['eval/heldout/proxy_mean']:.2f} (SFT) to {r['eval/heldout/proxy_mean']:.2f}."
        )
    if result.cached_stages:
        lines.append(f"Loaded from the run store rather than recomputed: {', '.join(result.cached_stages)}.")
    return "\n".join(lines)
