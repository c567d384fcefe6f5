"""Matrix-multiply modes for the determinism probe: the library default, a batch-invariant mode and a
deliberately batch-variant split-K mode. Each is a context manager that swaps the forward of every
`torch.nn.Linear` in a model and restores it afterwards.

- default: `F.linear` on all B x T rows at once. The BLAS library picks its blocking (and with it the
  order of the additions over K) from the shape, so a row's result may depend on how many rows share
  the call, i.e. on the batch size.
- batch_invariant: the rows go through `F.linear` in chunks of exactly `chunk` rows (the last chunk is
  zero-padded), so every call has the same shape whatever the batch, and a row's reduction order never
  depends on its neighbours. With a fixed pad length for the prompts (attention then sees the same
  shapes too), outputs are bitwise identical across batch sizes. The cost is recorded as its slowdown.
- split_k: the K reduction is split into more parts the more rows share the call (1 below 16 rows, 2 below
  256, else 4), each partial product rounded to bfloat16 before the sum: a batch-variant reduction by
  construction, the kind of kernel choice that makes serving engines non-deterministic.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from notes_lab._deps import require

MODES = ("default", "batch_invariant", "split_k")
CHUNK_ROWS = 64
SPLIT_K_PARTS = ((16, 1), (256, 2))  # (rows below, parts); 4 parts from 256 rows on


def chunked_linear(x: Any, weight: Any, bias: Any, chunk: int = CHUNK_ROWS) -> Any:
    """F.linear over fixed-size row chunks: the same GEMM shape for every chunk, whatever the batch."""
    torch = require("torch")
    functional = torch.nn.functional
    flat = x.reshape(-1, x.shape[-1])
    rows = flat.shape[0]
    padded_rows = -(-rows // chunk) * chunk
    if padded_rows != rows:
        flat = torch.cat([flat, flat.new_zeros(padded_rows - rows, flat.shape[1])])
    out = torch.cat(
        [functional.linear(flat[i : i + chunk], weight, bias) for i in range(0, padded_rows, chunk)]
    )
    return out[:rows].reshape(*x.shape[:-1], weight.shape[0])


def split_k_linear(x: Any, weight: Any, bias: Any) -> Any:
    """A batch-variant reduction: K split into parts once there are enough rows, partial sums in bfloat16."""
    torch = require("torch")
    flat = x.reshape(-1, x.shape[-1])
    parts = next((n for below, n in SPLIT_K_PARTS if flat.shape[0] < below), 4)
    bounds = [round(i * flat.shape[1] / parts) for i in range(parts + 1)]
    partial = [
        (flat[:, a:b] @ weight[:, a:b].T).to(torch.bfloat16) for a, b in zip(bounds, bounds[1:], strict=False)
    ]
    out = torch.stack(partial).float().sum(dim=0).to(x.dtype)
    if bias is not None:
        out = out + bias
    return out.reshape(*x.shape[:-1], weight.shape[0])


@contextlib.contextmanager
def matmul_mode(model: Any, mode: str) -> Iterator[None]:
    """Run every nn.Linear of `model` in `mode` inside the block."""
    if mode not in MODES:
        raise ValueError(f"matmul_mode: mode must be one of {MODES}, got {mode!r}")
    if mode == "default":
        yield
        return
    torch = require("torch")
    kernel: Callable[[Any, Any, Any], Any] = chunked_linear if mode == "batch_invariant" else split_k_linear
    patched = []
    for module in model.modules():
        if type(module) is torch.nn.Linear:  # plain Linear only, never a quantised or adapter subclass
            module.forward = _bound(kernel, module)
            patched.append(module)
    try:
        yield
    finally:
        for module in patched:
            del module.forward  # back to the class's forward


def _bound(kernel: Callable[[Any, Any, Any], Any], module: Any) -> Callable[[Any], Any]:
    def forward(x: Any) -> Any:
        return kernel(x, module.weight, module.bias)

    return forward
