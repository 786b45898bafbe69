"""The policy axes' store compositions: one RL grid point through the run store, its tidy rows, best-of-n.

The axes ``samples_per_prompt``, ``policy_size``, ``rm_size_for_rl``, ``rl_length_kl`` and
``method`` each turn one knob of the same pipeline (SFT -> reward model -> RL -> evaluation).
This module holds what they run:

- :func:`run_point`: one grid point, every stage through the run store (cached);
- :func:`point_rows`: its tidy rows, one per tracked RL step (a constant-learning-rate run
  truncated at step k is the run of length k, so RL length is a grid dimension of every run);
  evaluation and compute columns are filled on the run's last row only, and the ``*_flops``
  columns only on the first row that uses each run (a run shared by two grid points, or the
  SFT model under every point, is listed once), so summing a table's ``*flops*`` columns
  counts each run once; ``rl_compute_to_step`` is the RL run's FLOPs up to each row's step;
- :func:`bon_rows`: best-of-n by the proxy on the SFT policy (via :mod:`rlhf_nb.scoring.best_of_n`),
  cached in the store as stage ``bon_curve``, on a pool of SFT samples (stage ``bon_pool``)
  that every reward model scoring the same SFT policy shares; with the exact KL of best-of-n
  over the pool (:func:`rlhf_nb.analysis.exact_bon_kl_curve`) beside the bound.

What it does not do: read notebook parameters (:mod:`rlhf_nb.axes.policy_family`), choose a
grid or state a finding (each axis module does).
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..models import load_causal_lm, load_tokenizer
from ..scoring.best_of_n import best_of_n_curve
from ..scoring.reward_models import load_reward
from ..scoring.sampling import sample
from ..stages.common import finished_flags
from ..stages.rl import RLStageConfig
from ..store import Run, RunStore
from ..tasks.addition import Problem
from .runs import PipelineConfig, run_eval, run_reward, run_rl, run_sft

# ------------------------------------------------------------------------------------------
# One grid point through the store
# ------------------------------------------------------------------------------------------


@dataclass
class PointRuns:
    """The runs behind one RL grid point."""

    config: PipelineConfig
    sft: Run
    rm_sft: Run
    """the SFT run the reward model was initialised from and trained on the samples of"""
    reward: Run
    rl: Run
    sft_eval: Run
    rl_eval: Run


def run_point(store: RunStore, config: PipelineConfig, rm_policy: str = "") -> PointRuns:
    """SFT, reward model, RL and evaluations for one grid point, each loaded from the store if finished.

    ``rm_policy`` builds the reward model on the SFT model of another preset (same SFT config
    otherwise): its comparisons are that model's samples and its weights start from it.
    """
    sft = run_sft(store, config.task, config.sft)
    rm_sft = run_sft(store, config.task, replace(config.sft, policy=rm_policy)) if rm_policy and \
        rm_policy != config.sft.policy else sft
    reward = run_reward(store, config.task, config.reward, rm_sft)
    rl = run_rl(store, config.task, config.rl, sft, reward)
    sft_eval = run_eval(store, config.task, config.eval, sft, sft, reward)
    rl_eval = run_eval(store, config.task, config.eval, rl, sft, reward)
    return PointRuns(config, sft, rm_sft, reward, rl, sft_eval, rl_eval)


def _read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path) if path.exists() and path.stat().st_size > 1 else pd.DataFrame()


def point_rows(runs: PointRuns, seen: set[str] | None = None, **labels: Any) -> pd.DataFrame:
    """Tidy rows of one grid point: one per tracked step, with the run's labels and, on its last row, its results.

    ``seen`` collects run ids across the points of one seed, so SFT and reward-model FLOPs are
    written once per run.
    """
    rl_cfg: RLStageConfig = runs.config.rl
    curve = _read_csv(runs.rl.path / "curve.csv").sort_values("step").reset_index(drop=True)
    log = _read_csv(runs.rl.path / "train_log.csv")
    step_col = next((c for c in ("time/step_seconds", "step_time") if c in log), None)
    m_rl, m_rm, m_sft = runs.rl.metrics, runs.reward.metrics, runs.sft.metrics
    base = {
        "seed": rl_cfg.seed,
        "policy": runs.config.sft.policy,
        "policy_params": m_sft.get("sft/params"),
        "rm_policy": runs.rm_sft.params["config"]["policy"],
        "rm_params": m_rm.get("rm/params"),
        "rm_heldout_pairwise_acc": m_rm.get("rm/heldout/pairwise_acc"),
        "algorithm": rl_cfg.algorithm,
        "reward": rl_cfg.reward,
        "rl_steps": rl_cfg.rl_steps,
        "prompts_per_step": rl_cfg.prompts_per_step,
        "samples_per_prompt": rl_cfg.samples_per_prompt,
        "completions_per_step": rl_cfg.completions_per_step,
        "kl_coef": rl_cfg.kl_coef,
        "learning_rate": rl_cfg.learning_rate,
        "rl_run": runs.rl.run_id,
        **labels,
    }
    rows = pd.DataFrame({**base, "step": curve["step"].astype(int)})
    rows["final"] = rows["step"] == rl_cfg.rl_steps
    rows["gold"] = curve["gold_acc"].to_numpy()
    rows["gold_gain"] = rows["gold"] - curve["gold_acc"].iloc[0]
    for half in ("even", "odd"):  # gold on each half of the tracking prompts (NaN for runs tracked before halves)
        col = f"gold_acc_{half}"
        rows[f"gold_{half}"] = curve[col].to_numpy() if col in curve else np.nan
    if "proxy_mean" in curve:
        rows["proxy"] = curve["proxy_mean"].to_numpy()
        rows["proxy_gain"] = rows["proxy"] - curve["proxy_mean"].iloc[0]
    rows["kl"] = curve["kl"].clip(lower=0.0).to_numpy()  # the estimate is unbiased, so it can dip below 0
    rows["sqrt_kl"] = np.sqrt(rows["kl"])
    rows["rl_compute_to_step"] = m_rl["rl/flops"] * rows["step"] / rl_cfg.rl_steps

    last = rows.index[-1]
    e_sft, e_rl = runs.sft_eval.metrics, runs.rl_eval.metrics
    final = {
        "rl_seconds": m_rl["rl/seconds"],
        "rl_step_seconds": float(log[step_col].median()) if step_col else float("nan"),
    }
    seen = seen if seen is not None else set()
    for key, run, metric in (("rl_flops", runs.rl, "rl/flops"), ("sft_flops", runs.sft, "sft/flops"),
                             ("rm_flops", runs.reward, "rm/flops"), ("rm_sft_flops", runs.rm_sft, "sft/flops")):
        final[key] = run.metrics.get(metric) if run.run_id not in seen else float("nan")
        seen.add(run.run_id)
    final.update(eval_columns("rl", e_sft, e_rl))
    for key, value in final.items():
        rows.loc[last, key] = value
    return rows


def eval_columns(prefix: str, sft_metrics: dict[str, Any], policy_metrics: dict[str, Any]) -> dict[str, Any]:
    """A trained policy's evaluation beside its SFT policy's, per split: ``sft_<split>_<metric>``,
    ``<prefix>_<split>_<metric>`` and ``gain_<split>_<metric>`` for sampled and greedy accuracy, and the
    policy's ``<prefix>_<split>_kl`` and ``<prefix>_<split>_proxy`` (NaN or None where a metric is missing)."""
    out: dict[str, Any] = {}
    for split in ("heldout", "ood"):
        for metric in ("sampled_acc", "greedy_acc"):
            key = f"eval/{split}/{metric}"
            out[f"sft_{split}_{metric}"] = sft_metrics.get(key)
            out[f"{prefix}_{split}_{metric}"] = policy_metrics.get(key)
            out[f"gain_{split}_{metric}"] = policy_metrics.get(key, np.nan) - sft_metrics.get(key, np.nan)
        out[f"{prefix}_{split}_kl"] = policy_metrics.get(f"eval/{split}/kl")
        out[f"{prefix}_{split}_proxy"] = policy_metrics.get(f"eval/{split}/proxy_mean")
    return out


def parameter_count(run: Run, non_embedding: bool = True) -> int:
    """Parameters of a run's saved model (non-embedding by default, the FLOPs-relevant count)."""
    from ..models import count_parameters

    stage_model = run.path / "model"
    if run.stage == "reward":
        from transformers import AutoModelForSequenceClassification

        model = AutoModelForSequenceClassification.from_pretrained(str(stage_model), use_safetensors=True)
    else:
        model = load_causal_lm(stage_model)
    return count_parameters(model, non_embedding=non_embedding)


# ------------------------------------------------------------------------------------------
# Best-of-n on the SFT policy, scored by the proxy: the reference that RL is compared with
# ------------------------------------------------------------------------------------------


def bon_pool(store: RunStore, config: PipelineConfig, sft: Run, problems: list[Problem], n_max: int,
             max_new_tokens: int, sample_seed: int) -> Run:
    """``n_max`` temperature-1 SFT samples per problem with their gold labels, sampled once for every RM scoring them."""
    params = {"task": asdict(config.task), "upstream": {"sft": sft.run_id}, "prompts": [p.prompt for p in problems],
              "n_max": n_max, "max_new_tokens": max_new_tokens, "seed": sample_seed}

    def compute(out: Path) -> dict[str, Any]:
        model, tokenizer = load_causal_lm(sft.path / "model"), load_tokenizer(sft.path / "model")
        flat = [p for p in problems for _ in range(n_max)]
        s = sample(model, tokenizer, [p.prompt for p in flat], max_new_tokens, seed=sample_seed)
        done = finished_flags(s.completion_ids, tokenizer)
        gold = [float(config.task.check_answer(c, p.answer, finished=f)) for p, c, f in zip(flat, s.completions, done)]
        (out / "samples.json").write_text(json.dumps({"completions": s.completions, "gold": gold}), encoding="utf-8")
        return {"bon_pool/samples": len(flat), "bon_pool/gold": float(np.mean(gold))}

    return store.execute("bon_pool", params, compute)


def bon_rows(store: RunStore, config: PipelineConfig, sft: Run, reward: Run, problems: list[Problem],
             n_max: int, max_new_tokens: int, sample_seed: int, **labels: Any) -> pd.DataFrame:
    """Best-of-n, n = 1, 2, 4, ..., n_max, from one pool of ``n_max`` SFT samples per problem.

    Rows: the columns of :func:`rlhf_nb.scoring.best_of_n.best_of_n_curve`, among them ``n``,
    ``kl_exact`` and ``d_exact`` (the exact KL of best-of-n over each prompt's pool, identical
    completions grouped, averaged over prompts, and its square root: the d of docs/findings.md,
    "Best-of-n KL"), ``kl_bound`` and ``d`` (ln n - (n-1)/n, the upper bound, and its root),
    ``gold`` / ``gold_gain`` (unbiased, subsets without replacement), ``gold_wr`` /
    ``gold_wr_gain`` (the draws with replacement whose KL ``kl_exact`` is), ``proxy``, ``oracle``.
    Cached in the store as stage ``bon_curve``.
    """
    ns = [2**i for i in range(int(math.log2(n_max)) + 1)]
    pool = bon_pool(store, config, sft, problems, n_max, max_new_tokens, sample_seed)
    # "kl": "exact" names what this stage computes since the exact KL column: runs without it are other runs.
    params = {"task": asdict(config.task), "upstream": {"pool": pool.run_id, "reward": reward.run_id}, "kl": "exact"}

    def compute(out: Path) -> dict[str, Any]:
        samples = json.loads((pool.path / "samples.json").read_text(encoding="utf-8-sig"))
        proxy = load_reward(reward.path / "model")  # an outcome or a process reward model
        prompts = [p.prompt for p in problems for _ in range(n_max)]
        scores = np.array(proxy.score(prompts, samples["completions"])).reshape(len(problems), n_max)
        gold = np.array(samples["gold"]).reshape(len(problems), n_max)
        completions = [samples["completions"][i * n_max:(i + 1) * n_max] for i in range(len(problems))]
        curve = best_of_n_curve(scores.tolist(), gold.tolist(), ns, responses=completions)
        curve.to_csv(out / "bon.csv", index=False)
        top = curve.iloc[-1]
        return {"bon/n_max": n_max, "bon/gold": float(top["gold"]), "bon/gold_gain": float(top["gold_gain"]),
                "bon/kl_bound": float(top["kl_bound"]), "bon/kl_exact": float(top["kl_exact"])}

    run = store.execute("bon_curve", params, compute)
    rows = pd.read_csv(run.path / "bon.csv")
    rows["final"] = False  # not an RL run's last row
    for key, value in reversed(list(labels.items())):
        rows.insert(0, key, value)
    return rows


# ------------------------------------------------------------------------------------------
# Reading tables and curves
# ------------------------------------------------------------------------------------------


