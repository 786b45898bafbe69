"""Device and precision choice, shared by every stage.

Tiny presets train in fp32 on any device: bf16 ruined a 0.8M-parameter model (0.15 vs 0.61
accuracy after the same SFT). bf16 is used only on a GPU that supports it, for checkpoints
loaded from a path (real models), and only when asked for or left on "auto". Also: where a
process puts models outside a trainer (its own GPU under ``accelerate launch``), and the
switch for vLLM generation in GRPO/RLOO.
"""
from __future__ import annotations

import importlib.util
import os

import torch

PRECISIONS = ("auto", "fp32", "bf16")


def accelerator_available() -> bool:
    return torch.cuda.is_available()


def use_bf16(precision: str, model_is_preset: bool) -> bool:
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r}: use one of {PRECISIONS}")
    if precision == "fp32":
        return False
    bf16_ok = accelerator_available() and torch.cuda.is_bf16_supported()
    if precision == "bf16":
        if not bf16_ok:
            raise ValueError("precision='bf16' needs a GPU with bf16 support; use 'auto' or 'fp32' here")
        return True
    return bf16_ok and not model_is_preset


def default_device() -> torch.device:
    """Where models go outside a trainer: this process's GPU (``LOCAL_RANK`` under accelerate/torchrun), else the CPU."""
    if not accelerator_available():
        return torch.device("cpu")
    local_rank = os.environ.get("LOCAL_RANK")
    if local_rank is None:
        return torch.device("cuda")
    check_one_gpu_per_process()
    return torch.device("cuda", int(local_rank))


def check_one_gpu_per_process() -> None:
    """Refuse more processes on this node than it has GPUs (CUDA's own error is 'invalid device ordinal').

    Under ``accelerate launch``/``torchrun`` each process trains on the GPU of its local rank.
    """
    procs = os.environ.get("LOCAL_WORLD_SIZE")
    if procs is None or not accelerator_available():
        return
    gpus = torch.cuda.device_count()
    if int(procs) > gpus:
        raise RuntimeError(
            f"{procs} processes on this node but {gpus} visible GPU(s): each process needs its own GPU; launch with "
            f"--num_processes {gpus} (accelerate) or --nproc_per_node {gpus} (torchrun), or set CUDA_VISIBLE_DEVICES= "
            "to train on the CPU"
        )


VLLM_MODES = ("off", "auto", "on")


def vllm_available() -> bool:
    """vLLM is installed and there is a GPU for it."""
    return accelerator_available() and importlib.util.find_spec("vllm") is not None


def vllm_generation_kwargs(use_vllm: str = "off", gpu_memory_utilization: float = 0.3) -> dict:
    """TRL GRPO/RLOO config arguments that generate with vLLM, colocated with training on each GPU.

    ``off``: HF ``generate`` (the default; what the tiny presets use). ``auto``: vLLM when it is
    installed and a GPU is present. ``on``: vLLM or a clear error. Colocate mode shares each GPU
    between training and generation (``gpu_memory_utilization`` is vLLM's share), so it needs
    no separate server and works under ``accelerate launch`` with any number of processes.
    """
    if use_vllm not in VLLM_MODES:
        raise ValueError(f"use_vllm={use_vllm!r}: use one of {VLLM_MODES}")
    if use_vllm == "off" or (use_vllm == "auto" and not vllm_available()):
        return {}
    if not vllm_available():
        raise ValueError("use_vllm='on' needs vLLM and a GPU: `pip install -e .[vllm]` on a GPU machine, "
                         "or use 'auto' / 'off'")
    return {"use_vllm": True, "vllm_mode": "colocate", "vllm_gpu_memory_utilization": gpu_memory_utilization}
