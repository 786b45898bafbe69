"""pad_ids: the one padding helper (left for generation and rollouts, right for scalar heads)."""
from __future__ import annotations

import pytest
import torch

from rlhf_nb.scoring.sampling import pad_ids


def test_left_padding_ends_every_row_at_the_last_position():
    ids, mask = pad_ids([[5, 6, 7], [8], []], pad_id=0, side="left")
    assert ids.dtype == torch.long and mask.dtype == torch.long
    assert ids.tolist() == [[5, 6, 7], [0, 0, 8], [0, 0, 0]]
    assert mask.tolist() == [[1, 1, 1], [0, 0, 1], [0, 0, 0]]


def test_right_padding_keeps_position_zero_aligned():
    ids, mask = pad_ids([[5, 6, 7], [8], []], pad_id=9)
    assert ids.tolist() == [[5, 6, 7], [8, 9, 9], [9, 9, 9]]
    assert mask.tolist() == [[1, 1, 1], [1, 0, 0], [0, 0, 0]]


def test_a_pad_id_inside_a_row_is_a_real_token():
    # masks come from the row lengths, never from comparing values with the pad id
    ids, mask = pad_ids([[0, 4], [3]], pad_id=0, side="left")
    assert ids.tolist() == [[0, 4], [0, 3]] and mask.tolist() == [[1, 1], [0, 1]]


def test_tuples_and_tensors_rows_work_and_width_is_the_longest_row():
    ids, mask = pad_ids([(1, 2), torch.tensor([3, 4, 5, 6])], pad_id=0)
    assert ids.shape == mask.shape == (2, 4)
    assert ids.tolist() == [[1, 2, 0, 0], [3, 4, 5, 6]]


@pytest.mark.parametrize("kwargs", [{"rows": [], "pad_id": 0}, {"rows": [[1]], "pad_id": 0, "side": "middle"},
                                    {"rows": [[1]], "pad_id": None}])
def test_refuses_an_empty_batch_another_side_or_no_pad_id(kwargs):
    with pytest.raises(ValueError):
        pad_ids(**kwargs)
