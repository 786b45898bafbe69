"""The process RM: step positions, labels, a loss that reads step ends only, aggregation; the multi-task loss."""
import math

import pytest
import torch
import torch.nn.functional as F

from rlhf_nb.scoring.reward_models import aggregate_steps, step_token_positions
from rlhf_nb.stages.multitask_rm import multitask_loss
from rlhf_nb.stages.prm import class_weights, encode_step_example, prm_loss
from rlhf_nb.tasks.addition import Problem, step_labels
from rlhf_nb.tasks.tokenizer import build_char_tokenizer

TOK = build_char_tokenizer()
PROBLEM = Problem((7, 5, 8))  # 7+5=12;12+8=20
PROMPT = PROBLEM.prompt


def test_step_positions_are_the_last_character_of_each_step():
    completion = "7+5=12;12+8=20"
    ids, positions = step_token_positions(TOK, PROMPT, completion)
    text = PROMPT + completion
    assert len(ids) == len(text)
    assert [text[p] for p in positions] == ["2", "0"]
    assert positions == [len(PROMPT) + 5, len(text) - 1]
    assert step_token_positions(TOK, PROMPT, "")[1] == [len(PROMPT) - 1]


@pytest.mark.parametrize("completion", ["7+5=12;12+8=20", "7+5=2;2+8=10", "7+5=12", "7+5=12;12+8=20;20+1=21", "", "9"])
def test_labels_sit_on_step_ends_and_match_the_step_verifier(completion):
    ex = encode_step_example(TOK, PROBLEM, PROMPT, completion)
    _, positions = step_token_positions(TOK, PROMPT, completion)
    labels = step_labels(PROBLEM, completion)
    marked = [i for i, m in enumerate(ex["step_mask"]) if m]
    assert marked == sorted(set(positions))
    assert all(lab == 0 for lab, m in zip(ex["step_labels"], ex["step_mask"]) if not m)
    if len(labels) == len(positions):
        assert [ex["step_labels"][p] for p in positions] == [int(x) for x in labels]
    else:  # a missing step: its wrong label lands on the last written step's token
        assert ex["step_labels"][positions[-1]] == 0


def test_the_loss_reads_step_positions_only():
    torch.manual_seed(0)
    ex = encode_step_example(TOK, PROBLEM, PROMPT, "7+5=2;2+8=10")
    labels = torch.tensor([ex["step_labels"]], dtype=torch.float)
    mask = torch.tensor([ex["step_mask"]])
    logits = torch.randn(1, len(ex["input_ids"]), requires_grad=True)
    base = prm_loss(logits, labels, mask, 1.5, 0.7)
    off = [i for i, m in enumerate(ex["step_mask"]) if not m]
    on = [i for i, m in enumerate(ex["step_mask"]) if m]
    # changing labels or logits at non-step positions changes nothing, not even the gradient there
    flipped = labels.clone()
    flipped[0, off] = 1 - flipped[0, off] + 5.0
    assert prm_loss(logits, flipped, mask, 1.5, 0.7).item() == base.item()
    moved = logits.detach().clone()
    moved[0, off] += 100.0
    assert prm_loss(moved, labels, mask, 1.5, 0.7).item() == base.item()
    base.backward()
    assert torch.all(logits.grad[0, off] == 0) and torch.all(logits.grad[0, on] != 0)
    # changing a label at a step position does change it
    flipped = labels.clone()
    flipped[0, on[0]] = 1 - flipped[0, on[0]]
    assert prm_loss(logits, flipped, mask, 1.5, 0.7).item() != base.item()
    # and the value is the class-weighted BCE over the step positions
    w = torch.tensor([1.5 if labels[0, i] > 0.5 else 0.7 for i in on])
    bce = F.binary_cross_entropy_with_logits(logits[0, on], labels[0, on], reduction="none")
    assert base.item() == pytest.approx(((bce * w).sum() / w.sum()).item())


def test_class_weights_make_the_two_classes_count_equally():
    rows = [encode_step_example(TOK, PROBLEM, PROMPT, c) for c in ["7+5=12;12+8=20"] * 3 + ["7+5=2;2+8=10"]]
    w_right, w_wrong = class_weights(rows, balance=True)
    right = sum(r["step_labels"][i] for r in rows for i, m in enumerate(r["step_mask"]) if m)
    total = sum(sum(r["step_mask"]) for r in rows)
    assert right * w_right == pytest.approx((total - right) * w_wrong)
    assert class_weights(rows, balance=False) == (1.0, 1.0)


def test_aggregates():
    s = [2.0, -1.0, 0.5]
    assert aggregate_steps(s, "min") == -1.0
    assert aggregate_steps(s, "last") == 0.5
    assert aggregate_steps(s, "prod") == pytest.approx(sum(math.log(1 / (1 + math.exp(-x))) for x in s))
    assert aggregate_steps(s, "mean") == pytest.approx(sum(1 / (1 + math.exp(-x)) for x in s) / 3)
    with pytest.raises(ValueError, match="aggregate"):
        aggregate_steps(s, "max")


def test_multitask_loss_is_bradley_terry_plus_weighted_bce():
    chosen, rejected = torch.tensor([1.0, 0.2]), torch.tensor([-0.5, 0.4])
    bt = -F.logsigmoid(chosen - rejected).mean()
    bce = (F.binary_cross_entropy_with_logits(chosen, torch.ones(2))
           + F.binary_cross_entropy_with_logits(rejected, torch.zeros(2))) / 2
    assert multitask_loss(chosen, rejected, 0.0).item() == pytest.approx(bt.item())
    assert multitask_loss(chosen, rejected, 0.5).item() == pytest.approx((bt + 0.5 * bce).item())
