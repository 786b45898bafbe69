"""What the policy-training axes share: their scale knobs, one RL grid point through the store, tidy rows, effects.

The axes ``samples_per_prompt``, ``policy_size``, ``rm_size_for_rl``, ``rl_length_kl`` and
``method`` each turn one knob of the same pipeline (SFT -> reward model -> RL -> evaluation).
This module holds what they would otherwise copy:

- :class:`Scale`: the knobs every policy notebook exposes, on top of the pipeline's default
  configs (0 or "" keeps a default, so calibration of the defaults reaches every axis);
- :func:`run_point`: one grid point, every stage through the run store (cached);
- :func:`point_rows`: its tidy rows, one per tracked RL step (a constant-learning-rate run
  truncated at step k is the run of length k, so RL length is a grid dimension of every run);
  evaluation and compute columns are filled on the run's last row only, and the ``*_flops``
  columns only on the first row that uses each run (a run shared by two grid points, or the
  SFT model under every point, is listed once), so summing a table's ``*flops*`` columns
  counts each run once; ``rl_compute_to_step`` is the RL run's FLOPs up to each row's step;
- :func:`bon_rows`: best-of-n by the proxy on the SFT policy (via :mod:`rlhf_nb.best_of_n`),
  cached in the store as stage ``bon_curve``, on a pool of SFT samples (stage ``bon_pool``)
  that every reward model scoring the same SFT policy shares.

Effects over seeds and verdicts are :mod:`rlhf_nb.analysis.seeds`.

What it does not do: choose a grid or state a finding (each axis module does).
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..best_of_n import best_of_n_curve
from ..models import load_causal_lm, load_tokenizer
from ..pipeline import PipelineConfig, run_eval, run_reward, run_rl, run_sft
from ..sampling import sample
from ..stages.reward import load_reward
from ..stages.rl import RLStageConfig
from ..store import Run, RunStore
from ..task import Problem
from ..task_registry import notebook_task
from .common import Finding, write_finding, write_table


@dataclass(frozen=True)
class Scale:
    """Scale knobs of the shared stages, as a notebook gives them: 0 or "" keeps the pipeline default."""

    task_digits: int = 0
    """digits per term of the task (1 makes a toy task that a tiny policy learns in seconds)"""
    task_spec: str = "addition"
    """the embedded task (``addition``) or a local .jsonl/.json/.parquet file of math problems"""
    task_options: str = ""
    """extra task knobs as ``name=value, ...``"""
    policy: str = ""
    """policy preset or checkpoint folder"""
    sft_steps: int = 0
    """SFT optimizer steps"""
    sft_problems: int = 0
    """distinct SFT training problems"""
    rm_prompts: int = 0
    """distinct prompts whose SFT samples make the reward model's comparisons"""
    rm_comparisons_per_step: int = 0
    """reward-model batch, in comparisons"""
    rm_eval_prompts: int = 0
    """held-out prompts for the reward model's pairwise accuracy"""
    rl_algorithm: str = ""
    """grpo, rloo or ppo"""
    rl_reward: str = ""
    """proxy or gold"""
    rl_steps: int = 0
    """RL steps (one generation batch each)"""
    rl_learning_rate: float = 0.0
    """RL learning rate"""
    prompts_per_step: int = 0
    """distinct prompts per RL step"""
    samples_per_prompt: int = 0
    """responses per prompt per RL step"""
    kl_coef: float = -1.0
    """KL penalty to the SFT policy; negative keeps the default (0 is a real value here)"""
    track_every_steps: int = 0
    """RL steps between two measurements of gold, proxy and KL"""
    track_prompts: int = 0
    """held-out prompts of those measurements"""
    train_prompts: int = 0
    """distinct RL training prompts"""
    eval_prompts: int = 0
    """prompts per evaluation split"""
    eval_samples: int = 0
    """samples per evaluation prompt"""

    def pipeline(self, seed: int) -> PipelineConfig:
        """The pipeline's default configs with these knobs applied and every stage seeded with ``seed``."""
        base = PipelineConfig()
        task = notebook_task(self.task_spec, self.task_options, self.task_digits)
        sft = replace(base.sft, seed=seed, **_given(policy=self.policy, sft_steps=self.sft_steps,
                                                      train_problems=self.sft_problems))
        reward = replace(base.reward, seed=seed, **_given(n_prompts=self.rm_prompts,
                                                          comparisons_per_step=self.rm_comparisons_per_step,
                                                          eval_prompts=self.rm_eval_prompts))
        rl = replace(base.rl, seed=seed, **_given(
            algorithm=self.rl_algorithm, reward=self.rl_reward, rl_steps=self.rl_steps,
            learning_rate=self.rl_learning_rate, prompts_per_step=self.prompts_per_step,
            samples_per_prompt=self.samples_per_prompt, track_every_steps=self.track_every_steps,
            track_prompts=self.track_prompts, train_prompts=self.train_prompts))
        if self.kl_coef >= 0:
            rl = replace(rl, kl_coef=self.kl_coef)
        ev = replace(base.eval, **_given(eval_prompts=self.eval_prompts, samples_per_prompt=self.eval_samples))
        return PipelineConfig(task=task, sft=sft, reward=reward, rl=rl, eval=ev)


def _given(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v}


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
    for split in ("heldout", "ood"):
        for metric in ("sampled_acc", "greedy_acc"):
            key = f"eval/{split}/{metric}"
            final[f"sft_{split}_{metric}"] = e_sft.get(key)
            final[f"rl_{split}_{metric}"] = e_rl.get(key)
            final[f"gain_{split}_{metric}"] = e_rl.get(key, np.nan) - e_sft.get(key, np.nan)
        final[f"rl_{split}_kl"] = e_rl.get(f"eval/{split}/kl")
        final[f"rl_{split}_proxy"] = e_rl.get(f"eval/{split}/proxy_mean")
    for key, value in final.items():
        rows.loc[last, key] = value
    return rows


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
        gold = [float(config.task.check_answer(c, p.answer)) for p, c in zip(flat, s.completions)]
        (out / "samples.json").write_text(json.dumps({"completions": s.completions, "gold": gold}))
        return {"bon_pool/samples": len(flat), "bon_pool/gold": float(np.mean(gold))}

    return store.execute("bon_pool", params, compute)


def bon_rows(store: RunStore, config: PipelineConfig, sft: Run, reward: Run, problems: list[Problem],
             n_max: int, max_new_tokens: int, sample_seed: int, **labels: Any) -> pd.DataFrame:
    """Best-of-n, n = 1, 2, 4, ..., n_max, from one pool of ``n_max`` SFT samples per problem.

    Rows: ``n``, ``kl_bound`` (ln n - (n-1)/n, an upper bound on the KL), ``d``, ``gold``,
    ``proxy``, ``oracle``, ``gold_gain`` and ``proxy_gain`` over n = 1 (see
    :func:`rlhf_nb.best_of_n.best_of_n_curve`). Cached in the store as stage ``bon_curve``.
    """
    ns = [2**i for i in range(int(math.log2(n_max)) + 1)]
    pool = bon_pool(store, config, sft, problems, n_max, max_new_tokens, sample_seed)
    params = {"task": asdict(config.task), "upstream": {"pool": pool.run_id, "reward": reward.run_id}}

    def compute(out: Path) -> dict[str, Any]:
        samples = json.loads((pool.path / "samples.json").read_text())
        proxy = load_reward(reward.path / "model")  # an outcome or a process reward model
        prompts = [p.prompt for p in problems for _ in range(n_max)]
        scores = np.array(proxy.score(prompts, samples["completions"])).reshape(len(problems), n_max)
        gold = np.array(samples["gold"]).reshape(len(problems), n_max)
        curve = best_of_n_curve(scores.tolist(), gold.tolist(), ns)
        curve.to_csv(out / "bon.csv", index=False)
        top = curve.iloc[-1]
        return {"bon/n_max": n_max, "bon/gold": float(top["gold"]), "bon/gold_gain": float(top["gold_gain"]),
                "bon/kl_bound": float(top["kl_bound"])}

    run = store.execute("bon_curve", params, compute)
    rows = pd.read_csv(run.path / "bon.csv")
    rows["final"] = False  # not an RL run's last row
    for key, value in reversed(list(labels.items())):
        rows.insert(0, key, value)
    return rows


# ------------------------------------------------------------------------------------------
# Reading tables and curves
# ------------------------------------------------------------------------------------------


def final_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The last tracked row of every run (where evaluation results live)."""
    return table[table["final"].astype(bool)].copy()


def interp_at(x: np.ndarray, y: np.ndarray, x0: float) -> float:
    """y at x0 by linear interpolation along a curve ordered by x (nan outside its range)."""
    order = np.argsort(x, kind="stable")
    x, y = np.asarray(x, dtype=float)[order], np.asarray(y, dtype=float)[order]
    if not len(x) or x0 < x[0] or x0 > x[-1]:
        return float("nan")
    return float(np.interp(x0, x, y))


def until_back_to_baseline(curve: pd.DataFrame) -> pd.DataFrame:
    """The tracked rows of one run up to the first point after its gold peak where the gain is back to <= 0.

    Gao's laws describe a gold score without a floor; accuracy stops at 0, so once the policy
    has overoptimised back below its SFT level, what follows is the floor, not the law. The
    law's own zero (d_zero) is kept in range by including that first point.
    """
    c = curve.sort_values("step")
    gain = c["gold_gain"].to_numpy()
    peak = int(np.argmax(gain))
    after = np.flatnonzero(gain[peak:] <= 0)
    return c if not len(after) else c.iloc[: peak + after[0] + 1]


def best_up_to(kl: np.ndarray, gain: np.ndarray, k: float) -> float:
    """The best gold gain a run reached at KL <= k (linear between tracked points, from (0, 0)).

    An early-stopping oracle: the most favourable reading of an RL curve at a KL budget.
    """
    order = np.argsort(kl, kind="stable")
    x = np.concatenate([[0.0], np.asarray(kl, dtype=float)[order]])
    y = np.maximum.accumulate(np.concatenate([[0.0], np.asarray(gain, dtype=float)[order]]))
    return float(np.interp(k, x, y))


def figure_path(figures_dir: Path, name: str) -> tuple[Path, str]:
    """Where to save a figure, and its path relative to the results folder (the layout
    ``<results>/figures/<axis>/`` is assumed; otherwise the absolute path is recorded)."""
    figures_dir = Path(figures_dir)
    figures_dir.mkdir(parents=True, exist_ok=True)
    path = figures_dir / f"{name}.png"
    rel = str(path.relative_to(figures_dir.parent.parent)) if figures_dir.parent.name == "figures" else str(path)
    return path, rel


def save_results(axis: str, table: pd.DataFrame, findings: list[Finding], results_dir: str | Path) -> list[Path]:
    """``<results>/tables/<axis>.csv`` and ``<results>/findings/<ID>.json`` for each finding."""
    results_dir = Path(results_dir)
    paths = [write_table(table, results_dir / "tables" / f"{axis}.csv")]
    paths += [write_finding(f, results_dir) for f in findings]
    return paths


def figures_dir_for(axis: str, results_dir: str | Path) -> Path:
    return Path(results_dir) / "figures" / axis


def fmt(x: float, digits: int = 3) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{x:.{digits}g}"
