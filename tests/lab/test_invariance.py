"""Matmul modes: the chunked linear is batch-invariant to the bit, split-K is batch-variant by construction."""

from __future__ import annotations

import pytest

from notes_lab import invariance

torch = pytest.importorskip("torch")
F = torch.nn.functional


@pytest.fixture(scope="module")
def layer():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(300, 256, generator=generator)
    weight = torch.randn(96, 256, generator=generator) / 16
    bias = torch.randn(96, generator=generator)
    return x, weight, bias


def test_chunked_linear_equals_f_linear(layer):
    x, weight, bias = layer
    out = invariance.chunked_linear(x[:50], weight, bias)
    assert out.shape == (50, 96)
    torch.testing.assert_close(out, F.linear(x[:50], weight, bias), rtol=0, atol=1e-6)
    three_d = invariance.chunked_linear(x[:50].reshape(5, 10, 256), weight, None)
    torch.testing.assert_close(three_d, F.linear(x[:50], weight).reshape(5, 10, 96), rtol=0, atol=1e-6)


def test_chunked_linear_gives_a_row_the_same_bits_alone_or_in_a_batch(layer):
    x, weight, bias = layer
    batch = invariance.chunked_linear(x[:50], weight, bias)
    for row in range(50):
        assert torch.equal(invariance.chunked_linear(x[row : row + 1], weight, bias)[0], batch[row]), row
    # past one chunk too: row 70 of 130 rows sits at position 6 of the second chunk
    alone = invariance.chunked_linear(x[70:71], weight, bias)[0]
    assert torch.equal(invariance.chunked_linear(x[:130], weight, bias)[70], alone)


def test_split_k_is_batch_variant_and_close_to_f_linear(layer):
    x, weight, bias = layer
    few, many = invariance.split_k_linear(x[:8], weight, bias), invariance.split_k_linear(x, weight, bias)
    assert not torch.equal(few, many[:8])  # 1 part below 16 rows, 4 parts from 256 rows
    reference = F.linear(x, weight, bias)
    scale = reference.abs().max()
    torch.testing.assert_close(many, reference, rtol=0, atol=1e-2 * float(scale))
    torch.testing.assert_close(few, reference[:8], rtol=0, atol=1e-2 * float(scale))
    assert not torch.equal(few, reference[:8])  # partial sums rounded to bfloat16


def tiny_mlp():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 4, bias=False))


@pytest.mark.parametrize("mode", ["batch_invariant", "split_k"])
def test_matmul_mode_patches_and_restores_every_linear(mode):
    model = tiny_mlp()
    x = torch.randn(20, 16)
    before = model(x)
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    with invariance.matmul_mode(model, mode):
        assert all("forward" in vars(m) for m in linears)
        inside = model(x)
    assert all("forward" not in vars(m) and m.forward.__func__ is torch.nn.Linear.forward for m in linears)
    assert torch.equal(model(x), before)
    torch.testing.assert_close(inside, before, rtol=0, atol=5e-2)


def test_matmul_mode_restores_after_an_error_and_default_patches_nothing():
    model = tiny_mlp()
    with pytest.raises(RuntimeError, match="inside"), invariance.matmul_mode(model, "split_k"):
        raise RuntimeError("inside")
    assert not any("forward" in vars(m) for m in model.modules())
    with invariance.matmul_mode(model, "default"):
        assert not any("forward" in vars(m) for m in model.modules())


def test_unknown_mode():
    with (
        pytest.raises(ValueError, match="mode must be one of .*got 'fast'"),
        invariance.matmul_mode(tiny_mlp(), "fast"),
    ):
        pass
