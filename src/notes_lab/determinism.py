"""Does greedy decoding with a fixed seed repeat? A probe over batch size, dtype, threads and kernels.

Every setting decodes the same prompts greedily (no sampling, one beam, seed fixed before each run),
`repeats` times. Prompts run in consecutive chunks of `batch_size` with left padding, so a prompt's
neighbours and padding change with the batch size, not its content. End-of-sequence does not stop
decoding (`eos_token_id=None`), so every output has exactly `max_new_tokens` tokens and outputs compare
position by position.

Definitions used in the summaries:
- identical share: over repeats 2..K and all prompts, the share of outputs equal to repeat 1's output.
- changed (across settings): a prompt whose first-repeat output is not the same in every setting.
- first divergence position: the 0-based index of the first generated token that differs from the
  reference output (batch 1, float32, first repeat); only prompts that changed have one.
- |delta log-prob|: on the tokens before the first divergence (where both runs chose the same token
  after the same prefix), the largest absolute difference of that token's log-probability.
"""

from __future__ import annotations

import hashlib
import json
import logging
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from notes_lab import runtime
from notes_lab._deps import require

logger = logging.getLogger(__name__)

SHORT_DTYPE = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16"}


@dataclass(frozen=True)
class ProbeSetting:
    """One decoding configuration."""

    batch_size: int
    dtype: str = "float32"
    threads: int | None = None
    deterministic: bool = True

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"ProbeSetting.batch_size must be >= 1, got {self.batch_size}")
        if self.dtype not in SHORT_DTYPE:
            raise ValueError(f"ProbeSetting.dtype must be one of {sorted(SHORT_DTYPE)}, got {self.dtype!r}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"ProbeSetting.threads must be >= 1 or None, got {self.threads}")

    @property
    def name(self) -> str:
        """Metric-safe label such as "fp32.bs8.t2.det" ("nondet" when deterministic algorithms are off)."""
        threads = "" if self.threads is None else f".t{self.threads}"
        kernels = "det" if self.deterministic else "nondet"
        return f"{SHORT_DTYPE[self.dtype]}.bs{self.batch_size}{threads}.{kernels}"


@dataclass
class ProbeRun:
    """What one setting produced: token ids per repeat and prompt, log-probs of repeat 1, seconds per repeat."""

    setting: ProbeSetting
    token_ids: list[list[list[int]]] = field(default_factory=list)
    logprobs: list[list[float]] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)


def probe_settings(
    device: str,
    batch_sizes: Sequence[int] = (1, 8, 32),
    threads: Sequence[int] = (1, 2),
) -> list[ProbeSetting]:
    """The grid. The first setting is the reference (batch 1, float32).

    CPU: batch sizes x {float32, bfloat16} at the last thread count, plus float32 at the other thread
    counts. CUDA: batch sizes x {float32, bfloat16, float16} with deterministic algorithms off (torch's
    default), plus the largest batch with deterministic algorithms on for each dtype (for the slowdown).
    """
    if device.startswith("cuda"):
        dtypes = ("float32", "bfloat16", "float16")
        grid = [ProbeSetting(b, d, None, False) for d in dtypes for b in batch_sizes]
        return grid + [ProbeSetting(max(batch_sizes), d, None, True) for d in dtypes]
    main, others = threads[-1], threads[:-1]
    grid = [ProbeSetting(b, d, main, True) for d in ("float32", "bfloat16") for b in batch_sizes]
    return grid + [ProbeSetting(b, "float32", t, True) for t in others for b in batch_sizes]


def greedy_generate(
    model: Any, tokenizer: Any, prompts: Sequence[str], batch_size: int, max_new_tokens: int
) -> tuple[list[list[int]], list[list[float]]]:
    """Greedy outputs (token ids) and the log-probability of each chosen token, prompt by prompt."""
    torch = require("torch")
    device = next(model.parameters()).device
    model.generation_config.eos_token_id = None  # decode exactly max_new_tokens tokens
    token_ids: list[list[int]] = []
    logprobs: list[list[float]] = []
    for start in range(0, len(prompts), batch_size):
        chunk = list(prompts[start : start + batch_size])
        inputs = tokenizer(chunk, return_tensors="pt", padding=True).to(device)
        with torch.inference_mode():
            out = model.generate(**inputs, do_sample=False, num_beams=1, max_new_tokens=max_new_tokens,
                                 pad_token_id=tokenizer.pad_token_id, return_dict_in_generate=True,
                                 output_logits=True)  # fmt: skip
        new_B_T = out.sequences[:, inputs["input_ids"].shape[1] :]
        logits_B_T_V = torch.stack(out.logits, dim=1).float()
        chosen_B_T = torch.log_softmax(logits_B_T_V, dim=-1).gather(-1, new_B_T.unsqueeze(-1)).squeeze(-1)
        token_ids.extend(new_B_T.cpu().tolist())
        logprobs.extend(chosen_B_T.cpu().tolist())
    return token_ids, logprobs


def run_setting(
    model_dir: str, prompts: Sequence[str], setting: ProbeSetting, repeats: int, max_new_tokens: int,
    seed: int, device: str,
) -> ProbeRun:  # fmt: skip
    """Load the model in the setting's dtype and decode all prompts `repeats` times."""
    from notes_lab import models

    runtime.configure_determinism(setting.deterministic, threads=setting.threads)
    model, tokenizer = models.load_causal_lm(model_dir, device=device, dtype=setting.dtype)
    run = ProbeRun(setting)
    for _ in range(repeats):
        runtime.seed_everything(seed)
        _synchronize(device)
        started = time.perf_counter()
        ids, logprobs = greedy_generate(model, tokenizer, prompts, setting.batch_size, max_new_tokens)
        _synchronize(device)
        run.seconds.append(time.perf_counter() - started)
        run.token_ids.append(ids)
        if not run.logprobs:
            run.logprobs = logprobs
    logger.info("%s: %.2fs per repeat", setting.name, statistics.mean(run.seconds))
    return run


def run_probe(
    model_dir: str, prompts: Sequence[str], settings: Sequence[ProbeSetting], repeats: int,
    max_new_tokens: int, seed: int, device: str,
) -> list[ProbeRun]:  # fmt: skip
    """Every setting in order; restores deterministic algorithms (on) afterwards."""
    try:
        return [run_setting(model_dir, prompts, s, repeats, max_new_tokens, seed, device) for s in settings]
    finally:
        runtime.configure_determinism(True, threads=settings[0].threads if settings else None)


def _synchronize(device: str) -> None:
    if device.startswith("cuda"):
        require("torch").cuda.synchronize()


# ---------------------------------------------------------------- summaries


def token_hash(token_ids: Sequence[Sequence[int]]) -> str:
    """sha256 of the compact JSON of the token ids (prompt order)."""
    return hashlib.sha256(
        json.dumps([list(row) for row in token_ids], separators=(",", ":")).encode()
    ).hexdigest()


def identical_share(run: ProbeRun) -> tuple[float, int]:
    """(share of repeat-2..K outputs equal to repeat 1, how many outputs were compared)."""
    first, later = run.token_ids[0], run.token_ids[1:]
    compared = [other[i] == first[i] for other in later for i in range(len(first))]
    return (sum(compared) / len(compared) if compared else 1.0), len(compared)


def first_divergence(reference: Sequence[int], other: Sequence[int]) -> int | None:
    """0-based index of the first differing token; the shorter length if one is a prefix; None if equal."""
    for position, (a, b) in enumerate(zip(reference, other, strict=False)):
        if a != b:
            return position
    return None if len(reference) == len(other) else min(len(reference), len(other))


def changed_share(runs: Sequence[ProbeRun]) -> tuple[float, int]:
    """(share of prompts whose repeat-1 output is not identical in all `runs`, number of prompts)."""
    n_prompts = len(runs[0].token_ids[0])
    changed = sum(len({tuple(run.token_ids[0][i]) for run in runs}) > 1 for i in range(n_prompts))
    return changed / n_prompts, n_prompts


def divergence_positions(reference: ProbeRun, other: ProbeRun) -> list[int]:
    """First divergence position of every prompt whose output changed vs the reference."""
    pairs = zip(reference.token_ids[0], other.token_ids[0], strict=True)
    return [pos for ref, out in pairs if (pos := first_divergence(ref, out)) is not None]


def max_logprob_delta(reference: ProbeRun, other: ProbeRun) -> float:
    """Largest |log p_ref - log p_other| of the chosen tokens before each prompt's first divergence."""
    largest = 0.0
    for ref_ids, out_ids, ref_lp, out_lp in zip(
        reference.token_ids[0], other.token_ids[0], reference.logprobs, other.logprobs, strict=True
    ):
        stop = first_divergence(ref_ids, out_ids)
        stop = len(ref_ids) if stop is None else stop
        for position in range(stop):
            largest = max(largest, abs(ref_lp[position] - out_lp[position]))
    return largest


def summarize(runs: Sequence[ProbeRun]) -> dict[str, Any]:
    """Per-setting numbers vs the first run (the reference), plus the cross-setting change shares."""
    reference = runs[0]
    per_setting = {}
    for run in runs:
        share, n = identical_share(run)
        positions = divergence_positions(reference, run)
        per_setting[run.setting.name] = {
            "identical_share": share,
            "identical_n": n,
            "token_sha256": token_hash(run.token_ids[0]),
            "changed_vs_reference": len(positions),
            "divergence_positions": positions,
            "max_abs_logprob_delta": max_logprob_delta(reference, run),
            "seconds": statistics.mean(run.seconds),
        }
    return {"reference": reference.setting.name, "settings": per_setting, **_cross_setting(runs)}


def _cross_setting(runs: Sequence[ProbeRun]) -> dict[str, Any]:
    """Change shares among settings that share the reference's threads and kernels.

    changed_across_batch_sizes: per dtype (short name), over that dtype's batch sizes.
    changed_across_dtypes: over the dtypes at the reference batch size.
    """
    ref = runs[0].setting
    comparable = [
        r for r in runs if (r.setting.threads, r.setting.deterministic) == (ref.threads, ref.deterministic)
    ]
    by_dtype: dict[str, float] = {}
    for dtype in dict.fromkeys(r.setting.dtype for r in comparable):
        by_dtype[SHORT_DTYPE[dtype]] = changed_share([r for r in comparable if r.setting.dtype == dtype])[0]
    across_dtypes, n_prompts = changed_share(
        [r for r in comparable if r.setting.batch_size == ref.batch_size]
    )
    return {
        "changed_across_batch_sizes": by_dtype,
        "changed_across_dtypes": across_dtypes,
        "n_prompts": n_prompts,
    }


def slowdown(runs: Sequence[ProbeRun], slow: ProbeSetting, fast: ProbeSetting) -> float:
    """Mean seconds of `slow` divided by mean seconds of `fast` (both must be in `runs`)."""
    seconds = {run.setting: statistics.mean(run.seconds) for run in runs}
    return seconds[slow] / seconds[fast]
