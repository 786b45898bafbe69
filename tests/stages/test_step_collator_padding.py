"""The PRM collator pads through pad_ids: right padding, labels and mask aligned with the tokens."""
from __future__ import annotations

import torch

from rlhf_nb.stages.prm import _StepCollator


def test_step_collator_right_pads_ids_labels_and_mask_alike():
    rows = [{"input_ids": [5, 6, 7], "step_mask": [0, 1, 1], "step_labels": [0, 1, 0]},
            {"input_ids": [8], "step_mask": [1], "step_labels": [1]}]
    batch = _StepCollator(pad_id=9)(rows)
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, 9, 9]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert batch["step_mask"].tolist() == [[0, 1, 1], [1, 0, 0]]
    assert batch["step_labels"].tolist() == [[0, 1, 0], [1, 0, 0]]
    assert all(t.dtype == torch.long for t in batch.values())
