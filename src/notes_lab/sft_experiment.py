"""The QDoRA SFT experiment: LoRA, QLoRA, DoRA and QDoRA compared so that quality *could* differ.

- Every arm is trained at every learning rate of a small grid, scored on val by teacher-forced label
  NLL, and the best rate per arm (each chosen the same way) is kept; the grid and the choice are
  recorded. Test is scored once, at the end, for the chosen runs only.
- Quality is continuous: the label NLL on the test rows and its excess over the Bayes NLL of the very
  same rows (the generator's exact posterior), plus accuracy, macro-F1 and the confusion matrix of the
  argmax label. Arm-vs-arm differences are paired over rows with a bootstrap SE.
- Quantisation damage: the label and LM NLL of the NF4 base against the fp32 base at step 0, and the
  share of the label-NLL damage each q-arm leaves behind after training.
- Cost: tokens/s, median step time and peak memory per arm; a smoothed final loss (mean and SD of the
  last steps) instead of one noisy batch.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from notes_lab import evaluate, generator, memory, scoring, sft, stats
from notes_lab.generation import greedy_generate
from notes_lab.prompts import ANSWER_PREFIX, format_prompt
from notes_lab.validation import check

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SFTPlan:
    """What the experiment trains and how it scores it; everything else comes from SFTConfig's defaults."""

    arms: tuple[str, ...] = sft.ARMS
    rank: int = 16
    low_rank: int | None = 2
    low_rank_arms: tuple[str, ...] = ("lora", "dora")  # DoRA reports its largest gains at low rank
    learning_rates: tuple[float, ...] = (3e-3, 1e-2)
    steps: int = 150
    batch_size: int = 8
    max_length: int = 256
    warmup_steps: int = 8
    seed: int = 0
    device: str = "cpu"
    threads: int | None = None
    val_rows: int = 400
    format_rows: int = 32
    smooth_last: int = 10
    score_batch_size: int = 32

    def __post_init__(self) -> None:
        check(self, [
            ("arms", bool(self.arms) and set(self.arms) <= set(sft.ARMS), f"must be a non-empty subset of {sft.ARMS}"),
            ("rank", self.rank >= 1, "must be >= 1"),
            ("low_rank", self.low_rank is None or 1 <= self.low_rank < self.rank, "must be None or in [1, rank)"),
            ("low_rank_arms", set(self.low_rank_arms) <= set(self.arms), "must be a subset of arms"),
            ("learning_rates", bool(self.learning_rates) and all(lr > 0 for lr in self.learning_rates), "must be > 0"),
            ("val_rows", self.val_rows >= 10, "must be >= 10"),
            ("smooth_last", 2 <= self.smooth_last <= self.steps, "must be in [2, steps]"),
        ])  # fmt: skip

    @property
    def ranks(self) -> tuple[int, ...]:
        return (self.rank,) if self.low_rank is None else (self.low_rank, self.rank)

    def runs(self) -> list[tuple[str, int]]:
        """(arm, rank) pairs: every arm at `rank`, and `low_rank_arms` at `low_rank`."""
        pairs = [(arm, self.rank) for arm in self.arms]
        if self.low_rank is not None:
            pairs += [(arm, self.low_rank) for arm in self.low_rank_arms]
        return pairs

    def config(self, arm: str, rank: int, learning_rate: float) -> sft.SFTConfig:
        return sft.SFTConfig(arm=arm, rank=rank, alpha=2 * rank, learning_rate=learning_rate, steps=self.steps,
                             batch_size=self.batch_size, max_length=self.max_length, warmup_steps=self.warmup_steps,
                             seed=self.seed, device=self.device, threads=self.threads)  # fmt: skip


@dataclass
class ArmResult:
    arm: str
    rank: int
    learning_rate: float
    val_nll: dict[float, float]
    losses: list[float]
    trainable_params: int
    adapter_bytes: int
    base_params: int
    tokens_per_sec: float
    median_step_s: float
    peak_mb: dict[str, float]
    test_log_probs: list[dict[str, float]] = field(default_factory=list)
    format_completions: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"r{self.rank}/{self.arm}"


@dataclass
class SFTResults:
    bayes: dict[str, float]
    bayes_nll_rows: list[float]
    base: dict[str, list[float]]  # "fp32"/"nf4" -> per-row label NLL on test
    base_lm_nll: dict[str, float]
    arms: dict[str, ArmResult]
    test_papers: list[dict]


def run(plan: SFTPlan, base: str | Path, train_papers: list[dict], val_papers: list[dict],
        test_papers: list[dict], output_dir: str | Path) -> SFTResults:  # fmt: skip
    """The whole experiment; adapters of the chosen runs go to <output_dir>/adapters/<arm> (highest rank)
    and <output_dir>/adapters/<arm>-r<rank> (other ranks)."""
    val = val_papers[: plan.val_rows]
    results = SFTResults(
        bayes=generator.bayes_summary(test_papers),
        bayes_nll_rows=[-math.log(p["bayes_posterior"][p["disruption_label"]]) for p in test_papers],
        base={}, base_lm_nll={}, arms={}, test_papers=test_papers,
    )  # fmt: skip
    for quantized, name in ((False, "fp32"), (True, "nf4")):
        rows, lm = _score_base(plan, base, test_papers, quantized)
        results.base[name], results.base_lm_nll[name] = rows, lm
    for arm, rank in plan.runs():
        adapter = Path(output_dir) / "adapters" / (arm if rank == plan.rank else f"{arm}-r{rank}")
        result = _grid_arm(plan, base, arm, rank, train_papers, val, test_papers, adapter)
        results.arms[result.key] = result
    return results


def _score_base(
    plan: SFTPlan, base: str | Path, papers: list[dict], quantized: bool
) -> tuple[list[float], float]:
    from notes_lab.models import load_causal_lm

    compute = "bfloat16" if plan.device.startswith("cuda") else "float32"
    model, tokenizer = load_causal_lm(str(base), device=plan.device, dtype=compute, quantize_4bit=quantized,
                                      compute_dtype=compute)  # fmt: skip
    log_probs = scoring.label_log_probs(model, tokenizer, papers, plan.score_batch_size, plan.device)
    lm = scoring.lm_nll(
        model, tokenizer, [format_prompt(p) for p in papers[:200]], plan.score_batch_size, plan.device
    )
    return scoring.label_nll(log_probs, papers), lm


def _grid_arm(plan: SFTPlan, base: str | Path, arm: str, rank: int, train_papers: list[dict], val: list[dict],
              test: list[dict], adapter_dir: Path) -> ArmResult:  # fmt: skip
    """Train at every rate of the grid, keep the best on val, score it on test once."""
    best: tuple[float, Any, Any, ArmResult] | None = None
    val_nll: dict[float, float] = {}
    for learning_rate in plan.learning_rates:
        config = plan.config(arm, rank, learning_rate)
        memory.reset_peak(plan.device)
        model, tokenizer = sft.build_arm(config, base)
        trained = sft.train(model, tokenizer, train_papers, config)
        peak = memory.window_peak_mb(plan.device)
        nll = scoring.label_nll(
            scoring.label_log_probs(model, tokenizer, val, plan.score_batch_size, plan.device), val
        )
        val_nll[learning_rate] = sum(nll) / len(nll)
        logger.info("%s r%d lr %g: val label NLL %.4f", arm, rank, learning_rate, val_nll[learning_rate])
        if best is None or val_nll[learning_rate] < best[0]:
            result = ArmResult(arm, rank, learning_rate, {}, trained.losses, trained.trainable_params, 0,
                               sft.base_param_count(model), trained.tokens_per_second(config.timing_warmup_steps),
                               trained.median_step_seconds(config.timing_warmup_steps), peak)  # fmt: skip
            best = (val_nll[learning_rate], model, tokenizer, result)
        else:
            del model
    assert best is not None
    _, model, tokenizer, chosen = best
    chosen.val_nll = val_nll
    chosen.adapter_bytes = sft.save_adapter(model, adapter_dir)
    chosen.test_log_probs = scoring.label_log_probs(
        model, tokenizer, test, plan.score_batch_size, plan.device
    )
    prompts = [format_prompt(p) for p in test[: plan.format_rows]]
    generated = greedy_generate(model, tokenizer, prompts, 24, plan.score_batch_size)
    chosen.format_completions = [ANSWER_PREFIX + text for text in generated.texts]
    return chosen


# --- what the experiment reports ---------------------------------------------------------------


def arm_summary(result: ArmResult, results: SFTResults, smooth_last: int) -> dict[str, Any]:
    """The numbers of one chosen run on test: label NLL and its excess over Bayes, accuracy, F1, format."""
    papers = results.test_papers
    nll_rows = scoring.label_nll(result.test_log_probs, papers)
    excess = stats.paired_difference(nll_rows, results.bayes_nll_rows)
    labels = scoring.argmax_labels(result.test_log_probs)
    metrics = evaluate.classification_metrics([p["disruption_label"] for p in papers], list(labels))
    contract = evaluate.contract_rates(result.format_completions)
    smooth, smooth_sd = stats.smoothed(result.losses, smooth_last)
    return {
        "label_nll": stats.mean_se(nll_rows),
        "excess_nll": excess,
        "accuracy": metrics["accuracy"],
        "macro_f1": metrics["macro_f1"],
        "macro_f1_se": evaluate.macro_f1_bootstrap_se([p["disruption_label"] for p in papers], labels),
        "confusion": metrics["confusion"],
        "strict_format_rate": contract["strict_format_rate"],
        "format_n": len(result.format_completions),
        "smoothed_loss": smooth,
        "smoothed_loss_sd": smooth_sd,
        "n": len(papers),
    }


def paired(results: SFTResults, a: str, b: str) -> dict[str, stats.Estimate]:
    """a minus b on the same test rows: label NLL and accuracy (per-row 0/1)."""
    papers = results.test_papers
    ra, rb = results.arms[a], results.arms[b]
    nll_a, nll_b = scoring.label_nll(ra.test_log_probs, papers), scoring.label_nll(rb.test_log_probs, papers)
    gold = [p["disruption_label"] for p in papers]
    hit_a = [float(x == g) for x, g in zip(scoring.argmax_labels(ra.test_log_probs), gold, strict=True)]
    hit_b = [float(x == g) for x, g in zip(scoring.argmax_labels(rb.test_log_probs), gold, strict=True)]
    return {
        "label_nll": stats.paired_difference(nll_a, nll_b),
        "accuracy": stats.paired_difference(hit_a, hit_b),
    }


def comparisons(results: SFTResults, ranks: Sequence[int]) -> dict[str, tuple[str, str]]:
    """The differences the post discusses, by name: adapter effects at each rank, quantisation, rank."""
    pairs: dict[str, tuple[str, str]] = {}
    for rank in ranks:
        for a, b in (("dora", "lora"), ("qdora", "qlora"), ("qlora", "lora"), ("qdora", "dora")):
            if f"r{rank}/{a}" in results.arms and f"r{rank}/{b}" in results.arms:
                pairs[f"r{rank}/{a}_minus_{b}"] = (f"r{rank}/{a}", f"r{rank}/{b}")
    low, high = min(ranks), max(ranks)
    if low != high:
        for arm in ("lora", "dora"):
            if f"r{low}/{arm}" in results.arms and f"r{high}/{arm}" in results.arms:
                pairs[f"{arm}/r{low}_minus_r{high}"] = (f"r{low}/{arm}", f"r{high}/{arm}")
    return pairs


def quantization(results: SFTResults) -> dict[str, Any]:
    """Damage at step 0 (NF4 base minus fp32 base, paired) and, per q-arm, the share of it left after training."""
    damage = stats.paired_difference(results.base["nf4"], results.base["fp32"])
    out: dict[str, Any] = {"damage_label_nll": damage,
                           "damage_lm_nll": results.base_lm_nll["nf4"] - results.base_lm_nll["fp32"]}  # fmt: skip
    for key, arm in results.arms.items():
        if arm.arm in ("qlora", "qdora"):
            twin = key.replace(arm.arm, arm.arm[1:])
            if twin in results.arms:
                gap = paired(results, key, twin)["label_nll"]
                out[f"gap/{key}"] = gap
                if damage.mean > 2 * damage.se and damage.mean > 0:
                    out[f"left_share/{key}"] = gap.mean / damage.mean
    return out
