"""What every TRL stage shares: trainer arguments with defaults fit for tiny models.

TRL's configs switch bf16 and gradient checkpointing on even on CPU (33-43 % slower per step
here, and different numbers) and carry learning rates tuned for large pretrained models.
The stages set all of these explicitly; this module keeps that in one place.
"""
from __future__ import annotations

import math

import os
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
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
    gradient_accumulation_steps: int = 1,
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
        gradient_accumulation_steps=gradient_accumulation_steps,
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


# --- token budgets, truncation, memory --------------------------------------------------------

TRUNCATION_WARN_SHARE = 0.05
"""above this share of truncated SFT targets or sampled completions a stage warns (its metrics always say)"""

ADDITION_BUDGETS = {"sequence": 128, "rm_sampling": 48, "rl": 40, "eval": 64}
"""the embedded task's budgets (tokens): its longest sequence is about 60 characters, one token each"""


SAMPLING_HEADROOM = 1.5
"""sampling budgets of a data task, as a multiple of its longest worked solution: at exactly the longest (rounded up to
16 tokens), SmolLM2-135M after 8 SFT steps ran 31-38 % of its grade-school samples to the budget, and a tiny
checkpoint after 40 steps every reward-model sample (budget 16 for 14-token solutions)"""


@dataclass(frozen=True)
class TokenBudgets:
    """Token budgets of every stage, derived from the task's data as a tokenizer reads it (units: tokens).

    ``sequence``: SFT and reward-model sequences (prompt + completion + end token);
    ``rm_sampling``, ``rl``, ``eval``: new tokens sampled for reward-model data, RL (and its
    tracking) and evaluation. For a data task the sequence budget covers the longest SFT
    example of the train split, so no worked solution loses its answer, and the sampling
    budgets :data:`SAMPLING_HEADROOM` times its longest worked solution (each rounded up to a
    multiple of 16): a policy writes its own solutions, and some run longer than the data's.
    """

    sequence: int
    rm_sampling: int
    rl: int
    eval: int
    longest_prompt: int = 0
    longest_completion: int = 0


_BUDGET_CACHE: dict[tuple, TokenBudgets] = {}


def _round_up(n: int, to: int = 16) -> int:
    return -(-n // to) * to


def token_budgets(task: Any, tokenizer: Any, sample_problems: int = 2000) -> TokenBudgets:
    """The budgets a stage uses for a knob left at 0: the embedded task's constants, else from the data.

    Reads up to ``sample_problems`` SFT examples of ``task`` (prompt and completion tokenized as
    the SFT trainer does, plus one end token) and takes the longest. Cached per task and tokenizer.
    """
    if getattr(task, "name", "") == "addition":
        return TokenBudgets(**ADDITION_BUDGETS)
    key = (repr(task), getattr(tokenizer, "name_or_path", ""), len(tokenizer))
    if key in _BUDGET_CACHE:
        return _BUDGET_CACHE[key]
    import random

    problems = task.sft_problems(sample_problems, 0)
    seen, prompts, completions = set(), [], []
    for p in problems:
        if p.prompt in seen:
            continue
        seen.add(p.prompt)
        prompts.append(p.prompt)
        completions.append(task.sft_completion(p, random.Random(0)))
    prompt_len = max(len(ids) for ids in tokenizer(prompts)["input_ids"])
    completion_len = max(len(ids) for ids in tokenizer(completions, add_special_tokens=False)["input_ids"]) + 1
    sequence = _round_up(max(len(a) for a in tokenizer([p + c for p, c in zip(prompts, completions)])["input_ids"]) + 1)
    sampling = _round_up(math.ceil(SAMPLING_HEADROOM * completion_len))
    budgets = TokenBudgets(sequence, sampling, sampling, sampling, prompt_len, completion_len)
    _BUDGET_CACHE[key] = budgets
    return budgets


def warn_truncated(what: str, share: float, knob: str) -> None:
    """Warn when more than :data:`TRUNCATION_WARN_SHARE` of ``what`` was cut at its token budget, naming the knob."""
    if share > TRUNCATION_WARN_SHARE:
        warnings.warn(f"{share:.0%} of {what} hit the token budget (more than {TRUNCATION_WARN_SHARE:.0%}): a cut "
                      f"answer earns no credit; raise {knob}", RuntimeWarning, stacklevel=2)


def truncated_share(completion_ids: list[list[int]], tokenizer: Any) -> float:
    """Share of sampled completions (token ids as sampled) that end without an end token: cut at the budget."""
    from ..scoring.sampling import eos_token_ids

    if not completion_ids:
        return 0.0
    eos = set(eos_token_ids(tokenizer))
    return sum(1 for ids in completion_ids if not ids or ids[-1] not in eos) / len(completion_ids)


def finished_flags(completion_ids: list[list[int]], tokenizer: Any) -> list[bool]:
    """For each sampled completion: whether it ended with an end token (True) or was cut at the budget."""
    from ..scoring.sampling import eos_token_ids

    eos = set(eos_token_ids(tokenizer))
    return [bool(ids) and ids[-1] in eos for ids in completion_ids]


def is_allocation_failure(err: BaseException) -> bool:
    """torch's out-of-memory error on a GPU, or the CPU allocator's 'can't allocate' RuntimeError."""
    if isinstance(err, torch.OutOfMemoryError):
        return True
    return isinstance(err, RuntimeError) and ("can't allocate" in str(err) or "out of memory" in str(err).lower())


@contextmanager
def name_the_knob(stage: str, knobs: str):
    """Re-raise an allocation failure inside the block as a MemoryError naming the knobs that lower memory."""
    try:
        yield
    except (RuntimeError, torch.OutOfMemoryError) as err:
        if not is_allocation_failure(err):
            raise
        first = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
        raise MemoryError(f"{stage} ran out of memory ({first}): lower {knobs}") from err
