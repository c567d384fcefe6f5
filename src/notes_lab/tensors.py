"""Batches of token ids: the one padding helper every model call uses."""

from __future__ import annotations

from typing import Any

IGNORE_INDEX = -100


def right_padded(
    rows: list[list[int]], pad_id: int, torch: Any, labels: list[list[int]] | None = None
) -> Any:
    """(input_ids, attention_mask) right-padded to the longest row; with `labels`, also the labels padded
    with IGNORE_INDEX, as a third tensor."""
    if not rows:
        raise ValueError("right_padded: no rows")
    width = max(len(row) for row in rows)
    ids = torch.tensor([row + [pad_id] * (width - len(row)) for row in rows], dtype=torch.long)
    mask = torch.tensor([[1] * len(row) + [0] * (width - len(row)) for row in rows], dtype=torch.long)
    if labels is None:
        return ids, mask
    padded = torch.tensor([lab + [IGNORE_INDEX] * (width - len(lab)) for lab in labels], dtype=torch.long)
    return ids, mask, padded
