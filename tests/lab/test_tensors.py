"""The one padding helper: right padding, the attention mask and ignored labels."""

from __future__ import annotations

import pytest

from notes_lab.tensors import IGNORE_INDEX, right_padded

torch = pytest.importorskip("torch")


def test_right_padded_ids_and_mask():
    ids, mask = right_padded([[5, 6, 7], [8], [9, 10]], pad_id=0, torch=torch)
    assert ids.dtype == mask.dtype == torch.long
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0], [9, 10, 0]]
    assert mask.tolist() == [[1, 1, 1], [1, 0, 0], [1, 1, 0]]


def test_right_padded_labels_are_ignored_at_pad_positions():
    ids, mask, labels = right_padded([[5, 6, 7], [8]], pad_id=2, torch=torch, labels=[[-100, 6, 7], [8]])
    assert ids.tolist() == [[5, 6, 7], [8, 2, 2]]
    assert labels.tolist() == [[-100, 6, 7], [8, IGNORE_INDEX, IGNORE_INDEX]]
    assert (labels[mask == 0] == IGNORE_INDEX).all()
    assert IGNORE_INDEX == -100


def test_right_padded_needs_rows():
    with pytest.raises(ValueError, match="no rows"):
        right_padded([], pad_id=0, torch=torch)
