"""One RLHF pipeline: SFT -> reward model -> RL -> evaluation, each stage cached in the run store.

Every axis notebook is this pipeline with one knob turned. A stage's run id covers its own
config, the task, its upstream run ids and its seed, so stages shared between axes (one SFT
model, each reward model) are computed once and loaded everywhere else.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..models import has_preset_shape, load_causal_lm, load_tokenizer
from ..scoring.reward_models import load_reward
from ..stages.evaluation import EvalStageConfig, evaluate_policy
from ..stages.ppo import settings_for
from ..stages.reward import RewardStageConfig, train_reward_model
from ..stages.rl import RLStageConfig, train_rl
from ..stages.sft import SFTStageConfig, train_sft
from ..store import Run, RunStore
from ..tasks.addition import AdditionTask
from ..tasks.protocol import Task

DEFAULT_STORE = Path("outputs") / "store"


@dataclass(frozen=True)
class PipelineConfig:
    """The whole pipeline's knobs, one dataclass per stage."""

    task: Task = field(default_factory=AdditionTask)
    sft: SFTStageConfig = field(default_factory=SFTStageConfig)
    reward: RewardStageConfig = field(default_factory=RewardStageConfig)
    rl: RLStageConfig = field(default_factory=RLStageConfig)
    eval: EvalStageConfig = field(default_factory=EvalStageConfig)


def run_sft(store: RunStore, task: Task, config: SFTStageConfig) -> Run:
    """SFT through the store; the id names a checkpoint policy by its path and its content digest."""
    params = {"task": asdict(task), "config": config.identity(), "upstream": {}, "seed": config.seed}
    return store.execute("sft", params, lambda out: train_sft(config, task, out))


def policy_of(sft: Run) -> str:
    """The preset name or checkpoint an SFT run started from (as its params record it)."""
    return str(sft.params.get("config", {}).get("policy", "s"))


def reward_params(task: Task, config: RewardStageConfig, sft: Run, init_sft: Run | None = None) -> dict:
    """What identifies a reward-model run: data from ``sft``'s samples, weights from ``init_sft`` (default: ``sft``)."""
    upstream = {"sft": sft.run_id}
    if init_sft is not None and init_sft.run_id != sft.run_id:
        upstream["init_sft"] = init_sft.run_id
    init_is_preset = has_preset_shape(policy_of(init_sft or sft))
    return {"task": asdict(task), "config": config.identity(init_is_preset), "upstream": upstream,
            "seed": config.seed}


def run_reward(store: RunStore, task: Task, config: RewardStageConfig, sft: Run) -> Run:
    return store.execute("reward", reward_params(task, config, sft),
                         lambda out: train_reward_model(config, task, sft.path / "model", out))


def run_rl(store: RunStore, task: Task, config: RLStageConfig, sft: Run, reward: Run | None) -> Run:
    upstream = {"sft": sft.run_id, "reward": reward.run_id if reward else None}
    # The micro-batch changes memory, not what is learned (losses are normalised over the whole step): every value
    # names the run as 0 (automatic) did, so lowering it to fit memory loads a finished run instead of retraining.
    identity = {**asdict(config), "completions_per_micro_batch": 0}
    params = {"task": asdict(task), "config": identity, "upstream": upstream, "seed": config.seed}
    if config.algorithm == "ppo":  # PPO's own settings (fixed, the critic's rate by model kind) name the run too
        params["ppo"] = asdict(settings_for(policy_of(sft)))  # by the policy it started from, as reward_params
    rm_dir = reward.path / "model" if reward else None
    return store.execute("rl", params, lambda out: with_rl_truncation(
        train_rl(config, task, sft.path / "model", rm_dir, out), out))


def with_rl_truncation(metrics: dict[str, Any], out: Path) -> dict[str, Any]:
    """RL metrics plus ``rl/truncated_share``: the share of training completions cut at the token budget.

    Read from TRL's per-step log (``completions/clipped_ratio``: completions without an end token);
    above 5 % a warning names ``max_completion_tokens``. Absent when the log has no such column (PPO).
    """
    import pandas as pd

    from ..stages.common import warn_truncated

    log_file = out / "train_log.csv"
    if log_file.exists():
        log = pd.read_csv(log_file)
        if "completions/clipped_ratio" in log and log["completions/clipped_ratio"].notna().any():
            share = float(log["completions/clipped_ratio"].mean())
            metrics = {**metrics, "rl/truncated_share": share}
            warn_truncated("RL training completions", share,
                           "RLStageConfig.max_completion_tokens (the notebooks' rl_max_tokens)")
    return metrics


def run_eval(store: RunStore, task: Task, config: EvalStageConfig, policy: Run, sft: Run,
             reward: Run | None) -> Run:
    """Evaluate ``policy`` (an SFT or RL run) against the SFT reference and, if given, the proxy reward."""
    upstream = {"policy": policy.run_id, "sft": sft.run_id, "reward": reward.run_id if reward else None}
    params = {"task": asdict(task), "config": asdict(config), "upstream": upstream, "seed": config.seed}

    def compute(out: Path) -> dict[str, Any]:
        model, tokenizer = load_causal_lm(policy.path / "model"), load_tokenizer(policy.path / "model")
        ref = load_causal_lm(sft.path / "model")
        proxy = load_reward(reward.path / "model") if reward else None
        return {"policy_stage": policy.stage, **evaluate_policy(model, tokenizer, task, config, ref, proxy)}

    return store.execute("eval", params, compute)


def sampling_budgets(task: Task, policy: str):
    """Token budgets for ``task`` as ``policy``'s tokenizer reads it (:func:`rlhf_nb.stages.common.token_budgets`).

    What the notebooks use for a budget parameter left at 0: the embedded task's constants
    (RL 40, evaluation 64, reward-model data 48, sequences 128 tokens), else from the longest SFT
    example of the data file. ``policy`` is a preset name, a checkpoint folder or a ``.gguf`` file
    (its tokenizer is read once per process and task).
    """
    from ..models import build_char_tokenizer, is_preset
    from ..stages.common import ADDITION_BUDGETS, TokenBudgets, token_budgets

    if getattr(task, "name", "") == "addition":  # constants: no tokenizer to read
        return TokenBudgets(**ADDITION_BUDGETS)
    key = (repr(task), str(policy))
    if key not in _POLICY_BUDGETS:
        tokenizer = build_char_tokenizer() if is_preset(policy) else load_tokenizer(policy)
        _POLICY_BUDGETS[key] = token_budgets(task, tokenizer)
    return _POLICY_BUDGETS[key]


_POLICY_BUDGETS: dict[tuple[str, str], Any] = {}


def run_budgets(task: Task, sft: Run):
    """:func:`sampling_budgets` for an SFT run, read with the tokenizer saved in the run (its checkpoint's), so a
    store moved to a machine without the original checkpoint still resolves its budgets."""
    return sampling_budgets(task, str(sft.path / "model"))


@dataclass
class PipelineResult:
    sft: Run
    reward: Run | None
    rl: Run
    sft_eval: Run
    rl_eval: Run

    def summary(self) -> dict[str, Any]:
        """The headline numbers of one pipeline, flat."""
        out: dict[str, Any] = {}
        for name, run in (("sft", self.sft), ("reward", self.reward), ("rl", self.rl)):
            if run is not None:
                out.update(run.metrics)
        out.update({f"sft_policy/{k}": v for k, v in self.sft_eval.metrics.items()})
        out.update({f"rl_policy/{k}": v for k, v in self.rl_eval.metrics.items()})
        return out

    @property
    def cached_stages(self) -> list[str]:
        return [r.stage for r in (self.sft, self.reward, self.rl, self.sft_eval, self.rl_eval) if r and r.cached]


def run_pipeline(config: PipelineConfig, store: RunStore | str | Path = DEFAULT_STORE) -> PipelineResult:
    """Run (or load) every stage of one pipeline and return the runs."""
    store = store if isinstance(store, RunStore) else RunStore(store)
    sft = run_sft(store, config.task, config.sft)
    reward = run_reward(store, config.task, config.reward, sft)
    rl = run_rl(store, config.task, config.rl, sft, reward)
    sft_eval = run_eval(store, config.task, config.eval, sft, sft, reward)
    rl_eval = run_eval(store, config.task, config.eval, rl, sft, reward)
    return PipelineResult(sft, reward, rl, sft_eval, rl_eval)
