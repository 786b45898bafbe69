"""One RLHF pipeline: SFT -> reward model -> RL -> evaluation, each stage cached in the run store.

Every axis notebook is this pipeline with one knob turned. A stage's run id covers its own
config, the task, its upstream run ids and its seed, so stages shared between axes (one SFT
model, each reward model) are computed once and loaded everywhere else.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..models import load_causal_lm, load_tokenizer
from ..scoring.reward_models import load_reward
from ..stages.evaluation import EvalStageConfig, evaluate_policy
from ..stages.ppo import PPOSettings
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
    params = {"task": asdict(task), "config": asdict(config), "upstream": {}, "seed": config.seed}
    return store.execute("sft", params, lambda out: train_sft(config, task, out))


def reward_params(task: Task, config: RewardStageConfig, sft: Run, init_sft: Run | None = None) -> dict:
    """What identifies a reward-model run: data from ``sft``'s samples, weights from ``init_sft`` (default: ``sft``)."""
    upstream = {"sft": sft.run_id}
    if init_sft is not None and init_sft.run_id != sft.run_id:
        upstream["init_sft"] = init_sft.run_id
    return {"task": asdict(task), "config": asdict(config), "upstream": upstream, "seed": config.seed}


def run_reward(store: RunStore, task: Task, config: RewardStageConfig, sft: Run) -> Run:
    return store.execute("reward", reward_params(task, config, sft),
                         lambda out: train_reward_model(config, task, sft.path / "model", out))


def run_rl(store: RunStore, task: Task, config: RLStageConfig, sft: Run, reward: Run | None) -> Run:
    upstream = {"sft": sft.run_id, "reward": reward.run_id if reward else None}
    params = {"task": asdict(task), "config": asdict(config), "upstream": upstream, "seed": config.seed}
    if config.algorithm == "ppo":  # PPO's own settings are fixed defaults, but a changed default is a new run
        params["ppo"] = asdict(PPOSettings())
    rm_dir = reward.path / "model" if reward else None
    return store.execute("rl", params, lambda out: train_rl(config, task, sft.path / "model", rm_dir, out))


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
