"""What a real checkpoint needs besides running: defaults by model kind, derived token budgets, honest ids and labels,
memory errors that name a knob, and a CLI that reports a refusal in one line."""
from __future__ import annotations

import json
import shutil
from fractions import Fraction

import pytest
import torch

from rlhf_nb.models import checkpoint_digest, default_micro_batch
from rlhf_nb.stages.common import SAMPLING_HEADROOM, name_the_knob, token_budgets
from rlhf_nb.stages.evaluation import eval_splits
from rlhf_nb.stages.reward import RewardStageConfig
from rlhf_nb.stages.sft import SFTStageConfig
from rlhf_nb.tasks.addition import AdditionTask
from rlhf_nb.tasks.local_data import MathExample, sft_target
from rlhf_nb.tasks.registry import make_task, notebook_task

from .helpers import write_jsonl


def test_learning_rates_follow_the_model_kind_and_micro_batches_stay_out_of_the_id(tiny_checkpoint, tmp_path):
    pretrained = tmp_path / "pretrained"  # SmolLM2-135M's shape: not a preset's
    pretrained.mkdir()
    (pretrained / "config.json").write_text(json.dumps({"hidden_size": 576, "num_hidden_layers": 30,
                                                         "intermediate_size": 1536, "vocab_size": 49152}))
    preset, ckpt = SFTStageConfig(policy="s"), SFTStageConfig(policy=str(pretrained))
    assert preset.effective_learning_rate == 2e-3 and ckpt.effective_learning_rate == 1e-5
    # a checkpoint with a preset's shape (here xs, saved with another vocabulary) is a tiny model: the presets' rates
    assert SFTStageConfig(policy=str(tiny_checkpoint)).effective_learning_rate == 2e-3
    assert SFTStageConfig(policy=str(pretrained), learning_rate=3e-4).effective_learning_rate == 3e-4
    assert preset.identity() == SFTStageConfig(policy="s", learning_rate=2e-3, examples_per_micro_batch=8).identity()
    assert "policy_digest" not in preset.identity() and SFTStageConfig(policy=str(tiny_checkpoint)).identity()[
        "policy_digest"]
    assert RewardStageConfig().identity(True)["learning_rate"] == 1e-4
    assert RewardStageConfig().identity(False)["learning_rate"] == 1e-5
    with pytest.raises(ValueError, match="does not divide"):
        SFTStageConfig(examples_per_step=64, examples_per_micro_batch=5)


def test_a_checkpoint_digest_follows_its_content_not_its_path(tiny_checkpoint, tmp_path):
    copy = tmp_path / "ckpt"
    shutil.copytree(tiny_checkpoint, copy)
    assert checkpoint_digest(copy) == checkpoint_digest(tiny_checkpoint)  # same content, another folder
    before = checkpoint_digest(copy)
    config = json.loads((copy / "config.json").read_text())
    config["rms_norm_eps"] = 1e-7
    (copy / "config.json").write_text(json.dumps(config))
    assert checkpoint_digest(copy) != before
    assert checkpoint_digest("s") == ""


def test_the_micro_batch_of_a_checkpoint_is_chosen_by_memory(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"vocab_size": 49152, "hidden_size": 576}))
    # logits of 4 x 256 tokens x 49,152 x 4 bytes = 192 MiB fit 256 MiB; 8 would not
    assert default_micro_batch(str(tmp_path), 64, 256) == 4
    assert default_micro_batch(str(tmp_path), 6, 1024) == 1
    assert default_micro_batch("s", 64, 128) == 64  # a preset takes the whole step


def test_token_budgets_cover_the_longest_worked_solution(tiny_checkpoint, tmp_path):
    from rlhf_nb.models import load_tokenizer

    long = "First, " + "we add the numbers one by one. " * 6
    rows = [{"question": f"Q{i}: what is {i}+1?", "answer": f"{long}{i}+1={i + 1}\n#### {i + 1}"} for i in range(30)]
    task = make_task(str(write_jsonl(tmp_path / "d.jsonl", rows)), heldout_fraction=0.2)
    tok = load_tokenizer(tiny_checkpoint)
    budgets = token_budgets(task, tok)
    problems = task.sft_problems(30, 0)
    longest = max(len(tok(p.prompt + task.sft_completion(p, None))["input_ids"]) + 1 for p in problems)
    assert budgets.sequence >= longest > 128  # the addition task's 128 would cut these answers
    solution = max(len(tok(task.sft_completion(p, None), add_special_tokens=False)["input_ids"]) for p in problems)
    assert budgets.rl == budgets.eval == budgets.rm_sampling >= SAMPLING_HEADROOM * solution  # room to run longer
    assert token_budgets(AdditionTask(), tok).sequence == 128  # the embedded task keeps its constants


def test_no_credit_without_an_answer_and_targets_end_on_a_marked_one(real_task):
    ramble = "We have 3 apples, then 4 more, so 7, and then we count 7"
    assert not real_task.check_answer(ramble, "7")  # cut at the budget (or unknown): a last number earns nothing
    assert real_task.check_answer(ramble, "7", finished=True)  # it ended there: its last number is its answer
    assert real_task.check_answer("so 3 + 4 = 7\n#### 7", "7") and real_task.check_answer("The answer is 7", "7")
    bare = MathExample("Find 3^105+4^105 mod 11.", Fraction(2), "3^105+4^105 mod 11 = 1+1 mod 11 = 2.")
    assert sft_target(bare).endswith("\n#### 2")  # CHAMP's solutions end on a bare number: the answer is marked
    boxed = MathExample("q", Fraction(2), "so it is \\boxed{2}")
    assert sft_target(boxed) == boxed.solution


def test_a_checkpoint_policy_formats_a_data_files_prompts_by_default(real_data, tiny_checkpoint):
    train, _ = real_data
    task = notebook_task(str(train), "heldout_fraction=0.25", policy=str(tiny_checkpoint))
    assert task.prompt_style == "chat" and task.chat_template_from == str(tiny_checkpoint.resolve())
    plain = notebook_task(str(train), "heldout_fraction=0.25, chat_template_from=", policy=str(tiny_checkpoint))
    assert plain.prompt_style == "plain"
    assert notebook_task(str(train), "heldout_fraction=0.25", policy="s").prompt_style == "plain"
    assert eval_splits(task) == ("heldout",) and task.ood_source == "heldout"  # no OOD data: no OOD figure


def test_an_allocation_failure_names_the_knob_to_lower():
    with pytest.raises(MemoryError, match="lower SFTStageConfig.examples_per_micro_batch"):
        with name_the_knob("SFT", "SFTStageConfig.examples_per_micro_batch (now 8)"):
            raise RuntimeError("[enforce fail at alloc_cpu.cpp:121] DefaultCPUAllocator: can't allocate memory: "
                               "you tried to allocate 16106127360 bytes.")
    with pytest.raises(MemoryError, match="ran out of memory"):
        with name_the_knob("RL", "x"):
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
    with pytest.raises(RuntimeError, match="shape mismatch"):  # any other error passes through untouched
        with name_the_knob("SFT", "x"):
            raise RuntimeError("shape mismatch")


def test_a_stopped_runs_work_folder_is_cleaned_when_the_run_is_computed(tmp_path):
    from rlhf_nb.store import RunStore, make_run_id

    store = RunStore(tmp_path)
    params = {"x": 1}
    run_id = make_run_id("toy", params)
    stale = tmp_path / "toy" / f".{run_id}.abc123.tmp"
    stale.mkdir(parents=True)
    (stale / "half.bin").write_bytes(b"0" * 10)
    other = tmp_path / "toy" / ".toy-000000000000.zzz.tmp"  # another run's folder: not ours to remove
    other.mkdir()
    run = store.execute("toy", params, lambda out: {"toy/value": 1.0})
    assert run.metrics["toy/value"] == 1.0 and not stale.exists() and other.exists()


def test_the_cli_reports_a_refusal_in_one_line_with_exit_code_2(tmp_path, capsys):
    from rlhf_nb.cli import main

    code = main(["pipeline", "--output-dir", str(tmp_path), "-p", "task", str(tmp_path / "missing.jsonl"),
                 "-p", "sft_steps", "1"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    # papermill's progress bar aside, one line
    lines = [line for line in err.replace("\r", "\n").splitlines() if not line.startswith("Executing")]
    assert len(lines) == 1 and lines[0].startswith("rlhf-nb: FileNotFoundError:") and "Traceback" not in err, err
    assert "missing.jsonl" in err and "does not exist" in err
    assert f"executed notebook: {tmp_path / 'pipeline' / 'pipeline.ipynb'}" in err
    assert (tmp_path / "pipeline" / "pipeline.ipynb").exists()


def test_the_pipeline_commands_output_dir_holds_its_store(tmp_path, monkeypatch):
    import rlhf_nb.cli as cli

    seen = {}

    def fake_execute(name, output, params):
        seen.update(params, output=output)
        return output

    monkeypatch.setattr(cli, "execute_notebook", fake_execute)
    assert cli.main(["pipeline", "--output-dir", str(tmp_path)]) == 0
    assert seen["store_dir"] == str(tmp_path / "store") and seen["output"] == tmp_path / "pipeline" / "pipeline.ipynb"
    assert cli.main(["pipeline", "--output-dir", str(tmp_path), "-p", "store_dir", "/elsewhere"]) == 0
    assert seen["store_dir"] == "/elsewhere"


def test_the_gold_reward_credits_an_unmarked_answer_only_when_the_completion_finished(real_task):
    """GRPO, RLOO and PPO reward what evaluation credits: a cut ramble whose last number happens to be right earns nothing."""
    from rlhf_nb.scoring.rewards import GoldReward

    gold = GoldReward(real_task, eos_ids=[2])
    answer = ["42"]
    assert gold(["q"], ["so it is 42"], answer=answer, completion_ids=[[7, 8, 2]]) == [1.0]  # ended with EOS
    assert gold(["q"], ["so it is 42"], answer=answer, completion_ids=[[7, 8, 9]]) == [0.0]  # cut at the budget
    assert gold(["q"], ["so it is 42"], answer=answer) == [0.0]  # no ids: counted as cut
    assert gold(["q"], ["#### 42"], answer=answer, completion_ids=[[7, 8, 9]]) == [1.0]  # a marked answer counts


def test_an_evaluation_on_a_split_smaller_than_its_prompts_says_how_many_differ(tmp_path):
    """A held-out split of 2 problems evaluated on 6 prompts cycles through them: the metrics say 2 distinct."""
    from rlhf_nb.models import build_policy
    from rlhf_nb.stages.evaluation import EvalStageConfig, evaluate_policy

    records = [{"question": f"What is {a} plus {b}?", "answer": f"#### {a + b}"}
               for a in range(1, 3) for b in range(1, 5)]
    task = make_task(str(write_jsonl(tmp_path / "tiny.jsonl", records)), heldout_fraction=0.25)
    held = {p.prompt for p in task.problems("heldout", 100, 0)}
    model, tokenizer = build_policy("xs", seed=0)
    metrics = evaluate_policy(model, tokenizer, task, EvalStageConfig(eval_prompts=6, samples_per_prompt=1,
                                                                      max_completion_tokens=4))
    assert metrics["eval/heldout/distinct_prompts"] == len(held) < 6


def test_the_setup_text_says_when_sft_cycles_through_a_small_data_file(real_task):
    from rlhf_nb.axes.results import sft_problems_text

    n = real_task.split_sizes[0]
    assert n < 20000 and sft_problems_text(real_task, 20000) == f"20000 draws from its {n} training problems"
    assert sft_problems_text(real_task, n) == f"{n} problems"
    assert sft_problems_text(AdditionTask(), 20000) == "20000 problems"


def test_a_gguf_files_hash_is_read_once_and_follows_its_content(tmp_path):
    import hashlib
    import os

    from rlhf_nb.models import _file_sha256, _sha256_of

    f = tmp_path / "m.gguf"
    f.write_bytes(b"one")
    first = _file_sha256(f)
    hits = _sha256_of.cache_info().hits
    assert _file_sha256(f) == first == hashlib.sha256(b"one").hexdigest() and _sha256_of.cache_info().hits == hits + 1
    f.write_bytes(b"two")
    os.utime(f, ns=(f.stat().st_atime_ns, f.stat().st_mtime_ns + 1_000_000))  # a rewrite within the clock's tick
    assert _file_sha256(f) == hashlib.sha256(b"two").hexdigest()
