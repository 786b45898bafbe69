"""What of the GPU path can be checked without a GPU: launch configs, device and vLLM choices, the benchmark smoke run."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from rlhf_nb.device import (
    check_one_gpu_per_process,
    default_device,
    use_bf16,
    vllm_generation_kwargs,
)
from rlhf_nb.stages.common import per_device_batch

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "configs" / "accelerate"


def test_every_accelerate_config_loads_and_leaves_precision_to_the_stages():
    from accelerate.commands.config.config_args import load_config_from_file

    kinds = {}
    for path in sorted(CONFIGS.glob("*.yaml")):
        config = load_config_from_file(str(path))  # accelerate's own loader refuses unknown keys
        assert config.mixed_precision == "no", path.name  # bf16 comes from the stage (fp32 for tiny presets)
        kinds[path.stem] = (str(config.distributed_type).split(".")[-1], config.num_processes,
                            (config.deepspeed_config or {}).get("zero_stage"))
    assert kinds["single_gpu"][:2] == ("NO", 1)
    assert kinds["ddp"][0] == "MULTI_GPU"
    assert kinds["zero2"] == ("DEEPSPEED", 8, 2) and kinds["zero3"] == ("DEEPSPEED", 8, 3)
    assert kinds["zero2_offload_single_gpu"][1:] == (1, 2) and kinds["zero3_offload_single_gpu"][1:] == (1, 3)
    assert kinds["fsdp"][0] == "FSDP"


def test_cpu_defaults_are_unchanged_and_gpu_only_knobs_refuse_clearly(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # the CPU branch, also on a GPU machine
    assert default_device() == torch.device("cpu")
    assert use_bf16("auto", model_is_preset=False) is False  # no GPU here: fp32
    with pytest.raises(ValueError, match="needs a GPU"):
        use_bf16("bf16", model_is_preset=False)
    assert vllm_generation_kwargs("off") == {} and vllm_generation_kwargs("auto") == {}
    with pytest.raises(ValueError, match="needs vLLM and a GPU"):
        vllm_generation_kwargs("on")
    monkeypatch.setattr("rlhf_nb.device.vllm_available", lambda: True)
    assert vllm_generation_kwargs("auto")["use_vllm"] is True


def test_per_step_batches_split_over_processes(monkeypatch):
    assert per_device_batch(64, "examples_per_step") == 64
    monkeypatch.setenv("WORLD_SIZE", "8")
    assert per_device_batch(64, "examples_per_step") == 8
    with pytest.raises(ValueError, match="examples_per_step=60 does not divide over 8"):
        per_device_batch(60, "examples_per_step")


def test_gpu_benchmark_smoke_run_on_cpu(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_benchmark.py"), "--size", "tiny", "--cpu",
                           "--out", str(out)], capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = json.loads(out.read_text())
    stages = {r["stage"]: r for r in rows if r["what"] == "stage"}
    assert list(stages) == ["sft", "reward", "rl", "eval"]
    assert all(r["seconds"] > 0 and r["peak_gb"] > 0 and r["params"] > 100_000 for r in stages.values())
    generation = [r for r in rows if r["what"] == "generation"]
    assert generation and generation[0]["tokens_per_s"] > 0 and generation[0]["precision"] == "fp32"
    assert rows[-1]["what"] == "summary"


def test_more_processes_than_gpus_is_refused_with_the_launch_fix(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    with pytest.raises(RuntimeError, match="--num_processes 1"):
        default_device()
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "1")
    monkeypatch.setenv("LOCAL_RANK", "0")
    check_one_gpu_per_process()
    assert default_device() == torch.device("cuda", 0)
