"""A checkpoint on disk goes through every stage by path, on real-format data, and the stage launcher finds its runs."""
import json
import math
import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pandas as pd
import pytest
import torch

from rlhf_nb.models import (
    build_policy,
    count_parameters,
    is_preset_checkpoint,
    load_causal_lm,
)
from rlhf_nb.pipeline.launch import check_multi_process_stages, check_saved_weights
from rlhf_nb.pipeline.launch import main as launch_main
from rlhf_nb.stages.sft import sft_dataset


def test_the_checkpoint_loads_by_path_with_its_chat_template(tiny_checkpoint, real_task):
    model, tok = build_policy(str(tiny_checkpoint), seed=0)
    assert tok.chat_template and count_parameters(model) > 0
    assert next(model.parameters()).dtype == torch.float32
    assert not is_preset_checkpoint(tiny_checkpoint)  # a "real" checkpoint: bf16 on a capable GPU
    assert real_task.prompt_style == "chat" and real_task.ood_source == "file"
    prompt = real_task.problems("train", 1, 0)[0].prompt
    assert prompt.startswith("<|user|>") and prompt.endswith("<|assistant|>")
    data = sft_dataset(real_task, 20, 0)
    assert all(c.rstrip().endswith(("#### 2", "#### 3", "#### 4", "{2}", "{3}", "{4}")) for c in data["completion"])
    assert not any("<<" in c for c in data["completion"])


def test_every_stage_runs_on_the_checkpoint_and_the_real_format_task(real_pipeline, real_pipeline_config,
                                                                     tiny_checkpoint):
    sft, reward, rl = real_pipeline.sft, real_pipeline.reward, real_pipeline.rl
    start = load_causal_lm(tiny_checkpoint)
    trained = load_causal_lm(sft.path / "model")
    assert not all(torch.equal(a, b) for a, b in zip(start.parameters(), trained.parameters()))
    assert (sft.path / "model" / "model.safetensors").exists()
    assert "chat_template" in json.dumps(sorted(os.listdir(sft.path / "model")))  # the template travels with it
    assert sft.params["task"]["name"] == "math_data" and sft.params["task"]["data_sha256"]

    assert reward.metrics["rm/comparisons"] > 0
    first = json.loads((reward.path / "comparisons.jsonl").read_text().splitlines()[0])
    assert first["prompt"].startswith("<|user|>")  # RM data is the chat-formatted prompt + the policy's answer

    log = pd.read_csv(rl.path / "train_log.csv")
    assert "rewards/gold/mean" in log and "rewards/proxy/mean" in log  # gold logged at weight 0 via `answer`
    curve = pd.read_csv(rl.path / "curve.csv")
    assert curve["kl"].iloc[0] == pytest.approx(0.0, abs=1e-6)
    rl_model = load_causal_lm(rl.path / "model")
    assert not all(torch.equal(a, b) for a, b in zip(trained.parameters(), rl_model.parameters()))

    for run in (real_pipeline.sft_eval, real_pipeline.rl_eval):
        for split in ("heldout", "ood"):
            for metric in ("greedy_acc", "sampled_acc"):
                assert 0.0 <= run.metrics[f"eval/{split}/{metric}"] <= 1.0
            assert math.isfinite(run.metrics[f"eval/{split}/kl"])
            drawn = real_pipeline_config.task.problems(split, real_pipeline_config.eval.eval_prompts, 1234)
            # a split smaller than eval_prompts is cycled through: the evaluation says how many prompts differ
            assert run.metrics[f"eval/{split}/distinct_prompts"] == len({p.prompt for p in drawn})
    check_saved_weights(rl.path / "model")
    check_saved_weights(reward.path / "model")


def _launch_config(path: Path, config, store_dir: Path) -> Path:
    task = config.task
    options = {"ood_path": task.ood_path, "chat_template_from": task.chat_template_from,
               "heldout_fraction": task.heldout_fraction}
    raw = {"store_dir": str(store_dir), "task": task.path, "task_options": options,
           **{s: asdict(getattr(config, s)) for s in ("sft", "reward", "rl", "eval")}}
    path.write_text(json.dumps(raw))
    return path


def test_the_stage_launcher_finds_the_notebook_pipelines_runs(real_pipeline, real_pipeline_config, real_store,
                                                             tmp_path, capsys):
    config = _launch_config(tmp_path / "run.json", real_pipeline_config, real_store.root)
    assert launch_main(["--stage", "rl", "--config", str(config)]) == 0
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {p["stage"]: p["run_id"] for p in printed} == {
        "sft": real_pipeline.sft.run_id, "reward": real_pipeline.reward.run_id, "rl": real_pipeline.rl.run_id}
    assert all(p["cached"] for p in printed)  # same config, same run ids: nothing retrained
    assert launch_main(["--stage", "eval", "--config", str(config)]) == 0
    printed = {p["stage"]: p for p in map(json.loads, capsys.readouterr().out.splitlines())}
    assert printed["rl_eval"]["run_id"] == real_pipeline.rl_eval.run_id and printed["rl_eval"]["cached"]


def test_the_stage_launcher_refuses_missing_upstream_and_bad_configs(real_pipeline_config, tmp_path, capsys):
    config = _launch_config(tmp_path / "run.json", real_pipeline_config, tmp_path / "empty_store")
    assert launch_main(["--stage", "rl", "--config", str(config)]) == 2
    assert "upstream stage 'sft'" in capsys.readouterr().err
    raw = json.loads(config.read_text())
    raw["sft"]["batch_size"] = 8
    config.write_text(json.dumps(raw))
    assert launch_main(["--stage", "sft", "--config", str(config)]) == 2
    assert "unknown key(s) ['batch_size']" in capsys.readouterr().err
    assert launch_main(["--stage", "sft", "--config", str(tmp_path / "missing.json")]) == 2


def test_ppo_is_refused_under_several_processes_before_training(real_pipeline_config, tmp_path, monkeypatch):
    from dataclasses import replace

    from rlhf_nb.pipeline.launch import run_stage

    config = {"store_dir": str(tmp_path / "store"), "task": real_pipeline_config.task, "sft": real_pipeline_config.sft,
              "reward": real_pipeline_config.reward, "eval": real_pipeline_config.eval,
              "rl": replace(real_pipeline_config.rl, algorithm="ppo")}
    check_multi_process_stages({"sft"}, config)  # PPO not in this launch: accepted
    check_multi_process_stages({"rl"}, {**config, "rl": real_pipeline_config.rl})  # GRPO/RLOO: accepted
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ValueError, match="one process"):
        run_stage("rl", config)
    assert not (tmp_path / "store").exists()  # refused before anything was trained


def test_a_model_saved_from_one_shard_is_caught(tmp_path, tiny_checkpoint):
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(tiny_checkpoint / "model.safetensors"))
    name = next(iter(tensors))
    tensors[name] = torch.zeros(0)  # what save_pretrained writes for a ZeRO-3 partitioned parameter
    bad = tmp_path / "bad"
    bad.mkdir()
    save_file(tensors, str(bad / "model.safetensors"), metadata={"format": "pt"})
    (bad / "config.json").write_text((tiny_checkpoint / "config.json").read_text())
    with pytest.raises(RuntimeError, match="saved from one shard"):
        check_saved_weights(bad)


def test_two_processes_train_every_stage_and_commit_each_run_once(tmp_path):
    """torchrun (gloo on CPU) stands in for accelerate launch: both processes train, only the main one commits."""
    store = tmp_path / "store"
    config = tmp_path / "run.json"
    config.write_text(json.dumps({
        "store_dir": str(store), "task": "addition",
        "task_options": {"terms": 2, "ood_terms": 3, "sft_min_terms": 2, "sft_max_terms": 3},
        "sft": {"policy": "xs", "sft_steps": 30, "examples_per_step": 16, "train_problems": 400},
        "reward": {"n_prompts": 32, "responses_per_prompt": 4, "comparisons_per_step": 2, "eval_prompts": 4},
        "rl": {"rl_steps": 2, "prompts_per_step": 2, "samples_per_prompt": 2, "train_prompts": 16,
               "track_every_steps": 2, "track_prompts": 4, "max_completion_tokens": 16},
        "eval": {"eval_prompts": 4, "samples_per_prompt": 2, "max_completion_tokens": 16}}))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}  # the CPU path, also on a GPU machine
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m",
                           "rlhf_nb.pipeline.launch", "--stage", "all", "--config", str(config)],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    printed = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert [p["stage"] for p in printed] == ["sft", "reward", "rl", "sft_eval", "rl_eval"]  # main process only
    assert not any(p["cached"] for p in printed)
    for stage in ("sft", "reward", "rl"):
        runs = [p for p in (store / stage).iterdir() if p.is_dir()]
        assert [r.name for r in runs] == [next(p["run_id"] for p in printed if p["stage"] == stage)]  # no leftovers
        check_saved_weights(runs[0] / "model")
    access = [json.loads(line) for line in (store / "access.jsonl").read_text().splitlines()]
    assert len(access) == 5 and not any(a["cached"] for a in access)  # each run computed once, by one process
