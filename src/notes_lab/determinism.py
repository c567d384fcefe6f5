"""Does a model give the same answer twice? A probe built to find drift where it exists.

Four parts, each on the pretrained base (its label distribution is near uniform, so near-ties abound):

1. Label decisions: the three label log-probabilities of every prompt, teacher-forced, under each
   matmul mode (invariance.py) x dtype x padding (equal-length prompts, no padding; or natural lengths,
   padded within the batch) x batch size. Per setting: the largest |delta log-prob| against batch 1 of
   the same setting and how many argmax decisions flipped; and the margin (top-1 minus top-2) histogram
   that says how close to a tie the decisions are.
2. Long greedy decodes (past end-of-sequence) at two batch sizes per mode and dtype: how many prompts'
   completions changed, where they first diverged, and whether a repeat is identical.
3. Threads on a reduction long enough to split (K = 4096): 1 thread against 2.
4. CPU ISA knobs (isa_probe.py): ATEN_CPU_CAPABILITY and MKL_CBWR, on logits and a short training run.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from notes_lab import invariance, runtime, scoring
from notes_lab._deps import require
from notes_lab.generation import greedy_generate
from notes_lab.prompts import format_prompt
from notes_lab.validation import check
from notes_lab.vocab import LABELS

logger = logging.getLogger(__name__)
SHORT_DTYPE = {"float32": "fp32", "bfloat16": "bf16"}


@dataclass(frozen=True)
class ProbeConfig:
    label_prompts: int = 256
    batch_sizes: tuple[int, ...] = (1, 8, 64)
    dtypes: tuple[str, ...] = ("float32", "bfloat16")
    modes: tuple[str, ...] = invariance.MODES
    equal_length: int = 64
    decode_prompts: int = 16
    decode_tokens: int = 128
    decode_batch_sizes: tuple[int, ...] = (1, 16)
    decode_pad_to: int = 192
    threads: int = 2
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        check(self, [
            ("batch_sizes", len(self.batch_sizes) >= 2 and self.batch_sizes[0] == 1, "must start at 1 and have >= 2 sizes"),
            ("dtypes", set(self.dtypes) <= set(SHORT_DTYPE), f"must be among {sorted(SHORT_DTYPE)}"),
            ("modes", set(self.modes) <= set(invariance.MODES), f"must be among {invariance.MODES}"),
            ("decode_batch_sizes", len(self.decode_batch_sizes) == 2, "must be two sizes"),
            ("equal_length", self.equal_length >= 16, "must be >= 16"),
        ])  # fmt: skip


# --- 1. label decisions ---------------------------------------------------------------------------


def label_rows(
    tokenizer: Any, papers: Sequence[dict], equal_length: int | None
) -> tuple[list[list[int]], list[int]]:
    """Token ids up to where the label is written, and the label tokens; with `equal_length`, every row
    cut to its last `equal_length` tokens (no padding anywhere)."""
    split = scoring.split_at_label(scoring.answer_ids(tokenizer))
    if split is None:
        raise ValueError("label_rows: the labels are not single tokens for this tokenizer")
    start, token_of = split
    rows = [list(tokenizer(format_prompt(p))["input_ids"]) + start for p in papers]
    if equal_length is not None:
        rows = [row[-equal_length:] for row in rows]
    return rows, [token_of[label] for label in LABELS]


def label_scores(
    model: Any, rows: list[list[int]], candidates: list[int], pad_id: int, batch_size: int
) -> list[list[float]]:
    """Scores in the model's own dtype (no bf16 autocast on CUDA), on the model's device."""
    device = str(next(model.parameters()).device)
    return scoring.next_token_scores(
        model, rows, candidates, pad_id, batch_size, device, require("torch"), autocast=False
    )


def compare_scores(reference: list[list[float]], other: list[list[float]]) -> dict[str, Any]:
    deltas = [
        abs(a - b) for ra, rb in zip(reference, other, strict=True) for a, b in zip(ra, rb, strict=True)
    ]
    flips = sum(_argmax(ra) != _argmax(rb) for ra, rb in zip(reference, other, strict=True))
    return {"max_abs_delta": max(deltas), "flips": flips}


def margins(scores: list[list[float]]) -> list[float]:
    """Top-1 minus top-2 log-probability per row: how far each decision is from a tie."""
    return [sorted(row, reverse=True)[0] - sorted(row, reverse=True)[1] for row in scores]


def _argmax(row: list[float]) -> int:
    return max(range(len(row)), key=row.__getitem__)


def label_grid(model_dir: str, papers: Sequence[dict], cfg: ProbeConfig) -> dict[str, Any]:
    """Every mode x dtype x padding x batch size; differences are against batch 1 of the same setting."""
    from notes_lab.models import load_causal_lm

    out: dict[str, Any] = {"settings": {}, "seconds": {}}
    for dtype in cfg.dtypes:
        model, tokenizer = load_causal_lm(model_dir, device=cfg.device, dtype=dtype)
        for padding, length in (("equal", cfg.equal_length), ("padded", None)):
            rows, candidates = label_rows(tokenizer, papers, length)
            for mode in cfg.modes:
                with invariance.matmul_mode(model, mode):
                    started = time.perf_counter()
                    reference = label_scores(model, rows, candidates, tokenizer.pad_token_id, 1)
                    out["seconds"][f"{mode}/{SHORT_DTYPE[dtype]}/{padding}"] = time.perf_counter() - started
                    if mode == "default" and dtype == "float32" and padding == "padded":
                        out["reference"] = reference
                    for batch_size in cfg.batch_sizes[1:]:
                        other = label_scores(model, rows, candidates, tokenizer.pad_token_id, batch_size)
                        name = f"{mode}/{SHORT_DTYPE[dtype]}/{padding}/bs{batch_size}"
                        out["settings"][name] = compare_scores(reference, other)
    out["n"] = len(papers)
    return out


def reference_margins(model_dir: str, papers: Sequence[dict], cfg: ProbeConfig) -> list[float]:
    """Decision margins of the fp32 default model on `papers` (natural lengths, batches of 64)."""
    from notes_lab.models import load_causal_lm

    model, tokenizer = load_causal_lm(model_dir, device=cfg.device, dtype="float32")
    rows, candidates = label_rows(tokenizer, papers, None)
    return margins(label_scores(model, rows, candidates, tokenizer.pad_token_id, 64))


# --- 2. long greedy decodes ------------------------------------------------------------------------


@dataclass(frozen=True)
class Decodes:
    token_ids: list[list[int]]
    logprobs: list[list[float]]
    seconds: float


def decode(
    model: Any, tokenizer: Any, prompts: list[str], batch_size: int, cfg: ProbeConfig, fixed_pad: bool
) -> Decodes:
    runtime.seed_everything(cfg.seed)
    started = time.perf_counter()
    out = greedy_generate(model, tokenizer, prompts, cfg.decode_tokens, batch_size, stop_at_eos=False,
                          with_logprobs=True, pad_to=cfg.decode_pad_to if fixed_pad else None, autocast=False)  # fmt: skip
    return Decodes(out.token_ids, out.logprobs, time.perf_counter() - started)


def first_divergence(a: Sequence[int], b: Sequence[int]) -> int | None:
    """0-based index of the first differing token; None when equal."""
    return next((i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y), None)


def compare_decodes(small: Decodes, large: Decodes) -> dict[str, Any]:
    """Prompts whose completion changed between the two batch sizes, where, and the largest |delta log-prob|
    of the chosen tokens before the first divergence."""
    positions, delta = [], 0.0
    for ids_a, ids_b, lp_a, lp_b in zip(
        small.token_ids, large.token_ids, small.logprobs, large.logprobs, strict=True
    ):
        stop = first_divergence(ids_a, ids_b)
        if stop is not None:
            positions.append(stop)
        upto = len(ids_a) if stop is None else stop
        delta = max([delta, *(abs(x - y) for x, y in zip(lp_a[:upto], lp_b[:upto], strict=True))])
    return {"changed": len(positions), "first_divergence": positions, "max_abs_logprob_delta": delta,
            "unique_completions": len({tuple(x) for x in small.token_ids + large.token_ids})}  # fmt: skip


def decode_grid(model_dir: str, papers: Sequence[dict], cfg: ProbeConfig) -> dict[str, Any]:
    from notes_lab.models import load_causal_lm

    prompts = [format_prompt(p) for p in papers[: cfg.decode_prompts]]
    small, large = cfg.decode_batch_sizes
    out: dict[str, Any] = {"settings": {}, "n": len(prompts), "tokens": cfg.decode_tokens}
    plan = [(mode, "float32") for mode in cfg.modes] + [("default", d) for d in cfg.dtypes if d != "float32"]
    for mode, dtype in plan:
        model, tokenizer = load_causal_lm(model_dir, device=cfg.device, dtype=dtype)
        fixed = mode == "batch_invariant"
        with invariance.matmul_mode(model, mode):
            first, second = (
                decode(model, tokenizer, prompts, small, cfg, fixed),
                decode(model, tokenizer, prompts, large, cfg, fixed),
            )
            result = compare_decodes(first, second)
            result["seconds"] = first.seconds + second.seconds
            if mode == "default" and dtype == "float32":
                again = decode(model, tokenizer, prompts, large, cfg, fixed)
                out["repeat_identical"] = sum(
                    a == b for a, b in zip(again.token_ids, second.token_ids, strict=True)
                )
        out["settings"][f"{mode}/{SHORT_DTYPE[dtype]}"] = result
    return out


# --- 3. threads on a long reduction ----------------------------------------------------------------


def threads_check(k: int = 4096, threads: int = 2, seed: int = 0) -> dict[str, Any]:
    """A (64 x k) @ (k x 256) matmul and a sum over 2^20 values, with 1 thread and with `threads`."""
    torch = require("torch")
    generator = torch.Generator().manual_seed(seed)
    a, b = torch.randn(64, k, generator=generator), torch.randn(k, 256, generator=generator)
    v = torch.randn(1 << 20, generator=generator)
    results = {}
    previous = torch.get_num_threads()
    try:
        for n in (1, threads):
            torch.set_num_threads(n)
            started = time.perf_counter()
            results[n] = (a @ b, v.sum(), time.perf_counter() - started)
    finally:
        torch.set_num_threads(previous)
    (mm1, s1, t1), (mm2, s2, t2) = results[1], results[threads]
    return {"matmul_max_abs_diff": float((mm1 - mm2).abs().max()), "sum_abs_diff": float((s1 - s2).abs()),
            "k": k, "seconds_1": t1, f"seconds_{threads}": t2}  # fmt: skip


# --- summaries the notebook captures ---------------------------------------------------------------


def margin_summary(values: Sequence[float], drift: float, k: int = 10) -> dict[str, Any]:
    """Quantiles of the decision margins, near-tie counts, and the power of the probe.

    Expected flips at a drift d are about decisions x P(margin < d). For drifts far below every margin
    seen, P(margin < d) ~ density(0) x d, with the density near a tie estimated from the k smallest
    margins as k / (n x m_k) (m_k the k-th smallest): an over-estimate if the density grows away from 0,
    so `decisions_per_flip`, the number of decisions it takes to expect one flip at `drift`, errs low.
    """
    ordered = sorted(values)
    n = len(ordered)
    k = min(k, n)
    density = k / (n * ordered[k - 1]) if ordered[k - 1] > 0 else float("inf")
    return {
        "median": statistics.median(ordered),
        "p01": ordered[round(0.01 * (n - 1))],
        "p10": ordered[round(0.10 * (n - 1))],
        "smallest": ordered[0],
        "below_1e-2": sum(v < 1e-2 for v in ordered),
        "below_1e-4": sum(v < 1e-4 for v in ordered),
        "density_near_tie": density,
        "expected_flips": density * drift * n,
        "decisions_per_flip": (1.0 / (density * drift)) if density > 0 and drift > 0 else None,
        "n": n,
    }
