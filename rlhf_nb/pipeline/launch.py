"""Run one pipeline stage (or all of them) from a JSON config, on one process or under ``accelerate launch``.

The entry point for training a stage on several GPUs or nodes; it reuses the pipeline's
stage functions and run store, so a run it makes is the run a notebook with the same
config finds (same run id), and the other way round::

    # one GPU (or the CPU)
    python -m rlhf_nb.pipeline.launch --stage sft --config run.json
    # several GPUs: DDP, DeepSpeed ZeRO-2/3 or FSDP, from configs/accelerate/
    accelerate launch --config_file configs/accelerate/zero2.yaml --num_processes 8 \\
        -m rlhf_nb.pipeline.launch --stage rl --config run.json
    # several nodes: the same on every node, with the store on a shared filesystem
    accelerate launch --config_file configs/accelerate/zero3.yaml --num_machines 2 --machine_rank $NODE \\
        --main_process_ip $HEAD --main_process_port 29500 --num_processes 16 -m rlhf_nb.pipeline.launch ...

The config names the store, the task and each stage's knobs (missing sections keep the
pipeline's defaults)::

    {"store_dir": "/shared/outputs/store",
     "task": "data/gsm8k.jsonl", "task_options": {"chat_template_from": "/ckpt/qwen", "ood_path": "data/math.jsonl"},
     "sft": {"policy": "/ckpt/qwen", "sft_steps": 200, "learning_rate": 1e-5},
     "reward": {"n_prompts": 512}, "rl": {"rl_steps": 100}, "eval": {"eval_prompts": 500}}

Every process trains; only the main process commits the run to the store (the others work
in scratch folders they delete). Upstream stages must already be in the store: ``--stage
rl`` refuses to train the SFT model behind your back on 8 GPUs. ``--stage eval`` (and the
evaluation part of ``--stage all``) runs on the main process only.

What it does not do: start processes (that is accelerate's job) or choose a parallelism.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from dataclasses import fields
from pathlib import Path
from typing import Any, Callable

from ..device import check_one_gpu_per_process
from ..store import Run, RunStore, make_run_id

STAGES = ("sft", "reward", "rl", "eval", "all")
SECTIONS = ("sft", "reward", "rl", "eval")


# --- config ---------------------------------------------------------------------------------------

def _build(cls, values: dict[str, Any], section: str):
    known = {f.name for f in fields(cls) if f.init}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"config section {section!r} has unknown key(s) {unknown}; {cls.__name__} takes {sorted(known)}")
    return cls(**values)


def load_config(path: str | Path) -> dict[str, Any]:
    """The JSON config as ``{"store_dir", "task", "sft", "reward", "rl", "eval"}`` with built stage configs."""
    from ..tasks.registry import make_task
    from .runs import DEFAULT_STORE, PipelineConfig

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"stage config {str(path)!r} does not exist: write a JSON file (see rlhf_nb.pipeline.launch)")
    raw = json.loads(path.read_text(encoding="utf-8-sig"))
    allowed = {"store_dir", "task", "task_options", *SECTIONS}
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ValueError(f"{path.name}: unknown key(s) {unknown}; a stage config takes {sorted(allowed)}")
    defaults = PipelineConfig(task=None)
    out: dict[str, Any] = {"store_dir": raw.get("store_dir", str(DEFAULT_STORE)),
                           "task": make_task(raw.get("task", "addition"), **raw.get("task_options", {}))}
    for section in SECTIONS:
        default = getattr(defaults, section)
        out[section] = _build(type(default), raw[section], section) if section in raw else default
    return out


# --- distributed bookkeeping ------------------------------------------------------------------

class LaunchStore(RunStore):
    """The run store seen by one of several training processes.

    A finished run is loaded. A stage in ``trainable`` is computed by every process (they
    train together); the main process commits it through :meth:`RunStore.execute`, the others
    compute into a scratch folder and drop it. Any other stage missing from the store is an
    error that says which stage to launch first.
    """

    def __init__(self, root: str | Path, trainable: set[str], rank: int = 0, world: int = 1,
                 done_decision: Callable[[bool], bool] = lambda flag: flag, barrier: Callable[[], None] = lambda: None):
        super().__init__(root)
        self.trainable, self.rank, self.world = trainable, rank, world
        self.done_decision, self.barrier = done_decision, barrier

    def execute(self, stage: str, params: dict[str, Any], compute: Callable[[Path], dict[str, Any]]) -> Run:
        run_id = make_run_id(stage, params)
        if self.done_decision(self.is_done(stage, run_id)):  # the main process decides for all
            return super().execute(stage, params, compute) if self.rank == 0 else self.load(stage, run_id)
        if stage not in self.trainable:
            raise RuntimeError(
                f"upstream stage {stage!r} (run {run_id}) is not in the store {self.root}: run "
                f"`python -m rlhf_nb.pipeline.launch --stage {stage}` with the same config first")
        if self.rank == 0:
            run = super().execute(stage, params, _checked(compute, stage) if self.world > 1 else compute)
            self.barrier()  # committed: the others may read it now
            return run
        scratch = Path(tempfile.mkdtemp(prefix=f"rlhf_nb-{stage}-rank{self.rank}-"))
        try:
            compute(scratch)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        self.barrier()
        return self.load(stage, run_id)  # downstream stages read the committed run, as on the main process


def check_multi_process_stages(stages: set[str], config: dict[str, Any]) -> None:
    """Refuse, before any training, a stage that cannot run and save correctly from several processes.

    SFT, the reward model and RL through TRL (GRPO, RLOO) train under accelerate and save
    through :func:`rlhf_nb.stages.common.save_trained`, which gathers ZeRO-3 / FSDP shards and
    gives every process the saved folder; :func:`check_saved_weights` checks the result after
    each run. PPO is our own single-process loop (no accelerate): several processes would each
    train their own copy and race to save it, so RL with PPO is refused here.
    Raises ValueError naming the fix.
    """
    rl = config.get("rl")
    if "rl" in stages and rl is not None and getattr(rl, "algorithm", "") == "ppo":
        raise ValueError("rl.algorithm='ppo' runs in one process (its loop does not use accelerate), but this "
                         f"launch has WORLD_SIZE={os.environ.get('WORLD_SIZE')}: run the rl stage with PPO as "
                         "`python -m rlhf_nb.pipeline.launch --stage rl ...` on one process, or use grpo or rloo")


def _checked(compute: Callable[[Path], dict[str, Any]], stage: str) -> Callable[[Path], dict[str, Any]]:
    def run(out: Path) -> dict[str, Any]:
        metrics = compute(out)
        if stage in ("sft", "reward", "rl") and (out / "model").exists():
            check_saved_weights(out / "model")
        return metrics
    return run


def check_saved_weights(model_dir: Path) -> None:
    """Refuse a saved model whose tensors are empty or mis-shaped (ZeRO-3 / FSDP shards saved without gathering).

    Reads only the safetensors headers and builds the expected model on the meta device, so
    it costs no memory whatever the model size.
    """
    import torch
    from safetensors import safe_open
    from transformers import (
        AutoConfig,
        AutoModelForCausalLM,
        AutoModelForSequenceClassification,
    )

    files = sorted(Path(model_dir).glob("*.safetensors"))
    if not files:
        raise RuntimeError(f"{model_dir} holds no safetensors weights: the stage did not save its model")
    config = AutoConfig.from_pretrained(model_dir)
    is_classifier = any(a.endswith("ForSequenceClassification") for a in (config.architectures or []))
    cls = AutoModelForSequenceClassification if is_classifier else AutoModelForCausalLM
    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in cls.from_config(config).state_dict().items()}
    for f in files:
        with safe_open(str(f), framework="pt") as st:
            for key in st.keys():
                shape = tuple(st.get_slice(key).get_shape())
                if 0 in shape or (key in expected and expected[key] != shape):
                    raise RuntimeError(
                        f"{f.name}: tensor {key} was saved with shape {shape}, expected {expected.get(key)}: the "
                        "model was saved from one shard. With ZeRO-3 or FSDP the stage must save through "
                        "rlhf_nb.stages.common.save_trained (trainer.save_model gathers the shards)")


def _distributed() -> tuple[int, int, Callable[[bool], bool], Callable[[], None]]:
    """(rank, world size, decide(flag) -> main process's flag, barrier) for this launch.

    Joins the process group that ``accelerate launch`` / torchrun describe in the environment
    (NCCL on GPUs, gloo on CPUs); the trainers then reuse it.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1, (lambda flag: flag), (lambda: None)
    import torch
    import torch.distributed as dist

    if not dist.is_initialized():
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")

    def decide(flag: bool) -> bool:
        box = [flag]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    return dist.get_rank(), dist.get_world_size(), decide, dist.barrier


# --- stages ---------------------------------------------------------------------------------------

def run_stage(stage: str, config: dict[str, Any]) -> dict[str, Run]:
    """Run ``stage`` (sft, reward, rl, eval or all) with ``config`` (from :func:`load_config`); returns the runs touched."""
    from .runs import run_eval, run_reward, run_rl, run_sft

    if stage not in STAGES:
        raise ValueError(f"stage={stage!r}: use one of {STAGES}")
    trainable = {"sft", "reward", "rl"} if stage == "all" else {stage}
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        check_multi_process_stages(trainable, config)
        check_one_gpu_per_process()
    rank, world, decide, barrier = _distributed()
    store = LaunchStore(config["store_dir"], trainable, rank, world, decide, barrier)
    task = config["task"]
    runs: dict[str, Run] = {}
    if stage in ("sft", "reward", "rl", "all"):
        runs["sft"] = run_sft(store, task, config["sft"])
    if stage in ("reward", "rl", "eval", "all"):
        if "sft" not in runs:
            runs["sft"] = run_sft(store, task, config["sft"])
        runs["reward"] = run_reward(store, task, config["reward"], runs["sft"])
    if stage in ("rl", "eval", "all"):
        runs["rl"] = run_rl(store, task, config["rl"], runs["sft"], runs["reward"])
    if stage in ("eval", "all"):
        barrier()
        if rank == 0:  # evaluation is sampling, not training: one process does it
            eval_store = RunStore(config["store_dir"])
            runs["sft_eval"] = run_eval(eval_store, task, config["eval"], runs["sft"], runs["sft"], runs["reward"])
            runs["rl_eval"] = run_eval(eval_store, task, config["eval"], runs["rl"], runs["sft"], runs["reward"])
    barrier()
    return runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rlhf_nb.pipeline.launch", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stage", required=True, choices=STAGES, help="stage to train (upstream ones must be done)")
    parser.add_argument("--config", required=True, help="JSON file: store_dir, task, task_options, sft/reward/rl/eval")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
        runs = run_stage(args.stage, config)
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        print(f"launch_stage: {err}", file=sys.stderr)
        return 2
    if int(os.environ.get("RANK", "0")) == 0:
        for name, run in runs.items():
            print(json.dumps({"stage": name, "run_id": run.run_id, "cached": run.cached, "path": str(run.path),
                              "metrics": run.metrics}, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
