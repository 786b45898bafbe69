"""What every TRL stage shares: trainer arguments with defaults fit for tiny models.

TRL's configs switch bf16 and gradient checkpointing on even on CPU (33-43 % slower per step
here, and different numbers) and carry learning rates tuned for large pretrained models.
The stages set all of these explicitly; this module keeps that in one place.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import datasets
import pandas as pd
import torch
from transformers import PrinterCallback, Trainer
from transformers.utils import logging as hf_logging

from ..device import accelerator_available, use_bf16

# Quiet, offline, reproducible: set before the trainers import their logging.
os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
hf_logging.disable_progress_bar()
datasets.disable_progress_bars()  # the env variable is too late once another module imported datasets  # weight loading/saving bars, once per stage, say nothing useful
hf_logging.set_verbosity_error()


def trainer_kwargs(
    out_dir: str,
    seed: int,
    learning_rate: float,
    max_steps: int,
    per_device_batch: int,
    model_is_preset: bool,
    precision: str = "auto",
    scheduler: str = "constant",
    warmup_ratio: float = 0.0,
    logging_steps: int = 10,
    **extra: Any,
) -> dict[str, Any]:
    """Keyword arguments for any TRL ``*Config``: explicit precision, no checkpointing, no hub."""
    bf16 = use_bf16(precision, model_is_preset)
    return dict(
        output_dir=out_dir,
        seed=seed,
        data_seed=seed,
        learning_rate=learning_rate,
        max_steps=max_steps,
        per_device_train_batch_size=per_device_batch,
        gradient_accumulation_steps=1,
        lr_scheduler_type=scheduler,
        warmup_steps=int(warmup_ratio * max_steps),
        bf16=bf16,
        fp16=False,
        gradient_checkpointing=False,
        activation_checkpointing=False,  # the new name; setting it avoids the deprecation path
        use_cpu=not accelerator_available(),
        report_to="none",
        save_strategy="no",
        logging_steps=logging_steps,
        disable_tqdm=True,
        dataloader_num_workers=0,
        **extra,
    )


def quiet(trainer: Trainer) -> Trainer:
    """Stop a trainer printing its log dict every step (with tqdm off it falls back to printing)."""
    trainer.remove_callback(PrinterCallback)
    return trainer


def log_history_frame(log_history: list[dict[str, Any]]) -> pd.DataFrame:
    """The trainer's per-step logs as a table (training rows only, final summary row dropped)."""
    rows = [r for r in log_history if "step" in r and "train_runtime" not in r]
    return pd.DataFrame(rows)


def world_size() -> int:
    """Training processes of this run (``WORLD_SIZE``, set by ``accelerate launch``/torchrun; 1 otherwise)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def per_device_batch(per_step: int, what: str) -> int:
    """A per-optimizer-step count (``examples_per_step``, ``comparisons_per_step``) split over the processes.

    The knobs are per optimizer step, whatever the number of GPUs; TRL's batch argument is per
    device. Refuses a count that the processes do not divide, naming both numbers.
    """
    procs = world_size()
    if per_step % procs:
        raise ValueError(f"{what}={per_step} does not divide over {procs} training processes: pick a multiple of "
                         f"{procs} (e.g. {per_step - per_step % procs or procs})")
    return per_step // procs


def save_trained(trainer: Trainer, path: Path | str, tokenizer: Any = None) -> None:
    """Save a trained model (and tokenizer) to ``path`` from any number of processes.

    One process: ``model.save_pretrained``, as before. Several (``accelerate launch``):
    ``trainer.save_model`` gathers ZeRO-3 / FSDP shards and writes on the main process; every
    other process then copies that folder into its own ``path``, because the rest of a stage
    (evaluation, tracking) reads the saved model on every process.
    """
    path = Path(path)
    if world_size() == 1:
        trainer.model.save_pretrained(path)
        if tokenizer is not None:
            tokenizer.save_pretrained(path)
        return
    import shutil

    from accelerate.utils import broadcast_object_list

    trainer.save_model(str(path))
    if tokenizer is not None and trainer.args.should_save:
        tokenizer.save_pretrained(path)
    source = broadcast_object_list([str(path.resolve())], from_process=0)[0]
    trainer.accelerator.wait_for_everyone()
    if not trainer.args.should_save:
        shutil.copytree(source, path, dirs_exist_ok=True)
    trainer.accelerator.wait_for_everyone()  # the main process's folder must outlive every copy


def set_torch_threads(threads: int | None) -> None:
    """Honour an explicit thread count (the study runner gives each worker one)."""
    if threads:
        torch.set_num_threads(threads)
