"""Shared fixtures of the lab tests: one torch thread, a small seeded split, and a tiny pretrained base.

The tiny base goes through the real `models.base_model` path (byte-level BPE tokenizer, config-built Llama,
a few pretraining steps, save_pretrained) with a size registered only for the tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from notes_lab import data, models

# 400 papers -> 147 balanced rows -> train 74 / val 29 / test 44
DATA = data.DataConfig(n_papers=400, seed=7)
# hidden 64: bitsandbytes' CPU 4-bit inference kernel needs in_features >= its 64-value quantisation block
TINY = models.ModelSize(hidden=64, layers=2, heads=4, kv_heads=2, intermediate=128, vocab_size=400,
                        max_positions=512, pretrain_steps=4, pretrain_batch=4, pretrain_lr=3e-3)  # fmt: skip


@pytest.fixture(scope="package", autouse=True)
def one_torch_thread() -> Iterator[None]:
    """One intra-op thread: CPU sums then do not depend on the machine's load, and nothing spins on a busy core."""
    torch = pytest.importorskip("torch")
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="package")
def split() -> data.Split:
    return data.build(DATA)[2]


@pytest.fixture(scope="package")
def tiny_base(tmp_path_factory: pytest.TempPathFactory, split: data.Split) -> Path:
    """A saved base folder (tokenizer + Llama) built by models.base_model with the test-only size "tiny"."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(models.SIZES, "tiny", TINY)
        return models.base_model("tiny", split.train, tmp_path_factory.mktemp("cache"), seed=0, device="cpu")


@pytest.fixture(scope="package")
def tiny_lm(tiny_base: Path) -> tuple[Any, Any]:
    """(model, tokenizer) of the tiny base in fp32; shared, so tests must leave it as they found it."""
    return models.load_causal_lm(tiny_base)
