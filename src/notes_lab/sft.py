"""Supervised fine-tuning with four adapter arms: LoRA, QLoRA, DoRA and QDoRA.

The arms differ only in the adapter: the same base, rank, targets (all seven linear projections),
data order, seed and steps. "q" arms load the base in bitsandbytes 4-bit NF4 with double
quantisation; "dora" arms set peft's ``use_dora=True``. Training is a plain loop so every knob is
visible: explicit AdamW over the adapter parameters, linear warm-up then cosine (or constant)
schedule, gradient clipping at 1.0, a seeded data order, and completion-only loss (prompt tokens
carry the label -100). ``prepare_model_for_kbit_training`` is deliberately not used: it would also
turn on gradient checkpointing and up-cast layers, hiding two knobs; the frozen base needs neither.

Heavy libraries are imported inside functions.
"""

from __future__ import annotations

import logging
import math
import random
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from notes_lab import runtime
from notes_lab.prompts import completion_after_prompt, format_prompt
from notes_lab.schedules import SCHEDULES, lr_factor
from notes_lab.tensors import IGNORE_INDEX, right_padded
from notes_lab.validation import check

logger = logging.getLogger(__name__)

ARMS = ("lora", "qlora", "dora", "qdora")
TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class SFTConfig:
    """One arm's training settings; validation names the field and the rule."""

    arm: str
    rank: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: tuple[str, ...] = TARGET_MODULES
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    steps: int = 150
    batch_size: int = 8
    max_length: int = 256
    warmup_steps: int = 5
    schedule: str = "cosine"
    grad_clip: float = 1.0
    seed: int = 0
    threads: int | None = None
    device: str = "cpu"
    timing_warmup_steps: int = 3

    def __post_init__(self) -> None:
        check(self, [
            ("arm", self.arm in ARMS, f"must be one of {ARMS}"),
            ("rank", self.rank >= 1, "must be >= 1"),
            ("alpha", self.alpha > 0, "must be > 0"),
            ("dropout", 0.0 <= self.dropout < 1.0, "must be in [0, 1)"),
            ("target_modules", len(self.target_modules) > 0, "must name at least one module"),
            ("learning_rate", self.learning_rate > 0, "must be > 0"),
            ("weight_decay", self.weight_decay >= 0, "must be >= 0"),
            ("steps", self.steps >= 1, "must be >= 1"),
            ("batch_size", self.batch_size >= 1, "must be >= 1"),
            ("max_length", self.max_length >= 8, "must be >= 8"),
            ("warmup_steps", 0 <= self.warmup_steps <= self.steps, "must be in [0, steps]"),
            ("schedule", self.schedule in SCHEDULES, f"must be one of {SCHEDULES}"),
            ("grad_clip", self.grad_clip > 0, "must be > 0"),
            ("threads", self.threads is None or self.threads >= 1, "must be None or >= 1"),
            ("device", self.device == "cpu" or self.device.startswith("cuda"), "must be 'cpu' or 'cuda[:i]'"),
            ("timing_warmup_steps", self.timing_warmup_steps >= 0, "must be >= 0"),
        ])  # fmt: skip

    @property
    def quantized(self) -> bool:
        return self.arm in ("qlora", "qdora")

    @property
    def use_dora(self) -> bool:
        return self.arm in ("dora", "qdora")

    @property
    def on_gpu(self) -> bool:
        return self.device.startswith("cuda")


@dataclass
class TrainResult:
    """What one training run measured."""

    losses: list[float] = field(default_factory=list)
    step_seconds: list[float] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)
    trainable_params: int = 0
    total_params: int = 0

    def median_step_seconds(self, warmup: int) -> float:
        timed = self.step_seconds[warmup:] or self.step_seconds
        return statistics.median(timed)

    def tokens_per_second(self, warmup: int) -> float:
        """Non-pad tokens per second over the steps after the timing warm-up."""
        timed_seconds = self.step_seconds[warmup:] or self.step_seconds
        timed_tokens = self.tokens[warmup:] or self.tokens
        return sum(timed_tokens) / sum(timed_seconds)


def build_arm(config: SFTConfig, base_path: str | Path) -> tuple[Any, Any]:
    """Load the base (4-bit NF4 for q-arms) and wrap it with the arm's LoRA/DoRA adapter."""
    from notes_lab.models import load_causal_lm

    compute_dtype = "bfloat16" if config.on_gpu else "float32"
    runtime.seed_everything(config.seed)
    model, tokenizer = load_causal_lm(
        str(base_path),
        device=config.device,
        dtype=compute_dtype,
        quantize_4bit=config.quantized,
        compute_dtype=compute_dtype,
    )
    return attach_adapter(model, config), tokenizer


def attach_adapter(model: Any, config: SFTConfig) -> Any:
    """Freeze `model` and add the arm's adapter (same seed -> same initial A matrices in every arm)."""
    peft = _require("peft")
    runtime.seed_everything(config.seed)
    adapter = peft.LoraConfig(
        r=config.rank,
        lora_alpha=config.alpha,
        lora_dropout=config.dropout,
        target_modules=list(config.target_modules),
        use_dora=config.use_dora,
        bias="none",
        task_type="CAUSAL_LM",
    )
    return peft.get_peft_model(model, adapter)


def encode_example(
    tokenizer: Any, prompt: str, completion: str, max_length: int
) -> tuple[list[int], list[int]]:
    """Token ids and labels for one row; prompt tokens get label -100 so only the completion is learned.

    Prompt and completion are tokenised separately (the completion ends with EOS), which matches
    generation, where the model continues the prompt's own tokens. Overlong rows lose prompt
    tokens from the front; the completion is never cut.
    """
    prompt_ids = list(tokenizer(prompt)["input_ids"])
    completion_ids = list(tokenizer(completion, add_special_tokens=False)["input_ids"])
    completion_ids.append(tokenizer.eos_token_id)
    if len(completion_ids) >= max_length:
        raise ValueError(
            f"max_length {max_length} leaves no room for the prompt ({len(completion_ids)} tokens)"
        )
    overflow = len(prompt_ids) + len(completion_ids) - max_length
    if overflow > 0:
        logger.debug("row too long: dropping %d prompt tokens from the front", overflow)
        prompt_ids = prompt_ids[overflow:]
    input_ids = prompt_ids + completion_ids
    labels = [IGNORE_INDEX] * len(prompt_ids) + completion_ids
    return input_ids, labels


def collate(rows: list[tuple[list[int], list[int]]], pad_token_id: int) -> dict[str, Any]:
    """Right-pad a list of (input_ids, labels) into tensors; pad positions are masked and ignored."""
    torch = _require("torch")
    ids, mask, labels = right_padded([r[0] for r in rows], pad_token_id, torch, labels=[r[1] for r in rows])
    return {"input_ids": ids, "labels": labels, "attention_mask": mask}


def batch_order(n_rows: int, batch_size: int, steps: int, seed: int) -> list[list[int]]:
    """Row indices for each step: seeded reshuffle every epoch, same order for every arm."""
    if n_rows < 1:
        raise ValueError("batch_order: need at least one training row")
    rng = random.Random(seed)
    order: list[int] = []
    while len(order) < steps * batch_size:
        epoch = list(range(n_rows))
        rng.shuffle(epoch)
        order.extend(epoch)
    return [order[i * batch_size : (i + 1) * batch_size] for i in range(steps)]


def train(model: Any, tokenizer: Any, papers: list[dict], config: SFTConfig) -> TrainResult:
    """Train the adapter of `model` on `papers` for `config.steps` steps; return the measurements."""
    torch = _require("torch")
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    encoded = [
        encode_example(tokenizer, format_prompt(p), completion_after_prompt(p), config.max_length)
        for p in papers
    ]
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.learning_rate, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, config.steps, config.warmup_steps, config.schedule)
    )
    result = TrainResult(
        trainable_params=sum(p.numel() for p in trainable),
        total_params=sum(p.numel() for p in model.parameters()),
    )
    model.train()
    for indices in batch_order(len(encoded), config.batch_size, config.steps, config.seed):
        batch = collate([encoded[i] for i in indices], tokenizer.pad_token_id)
        batch = {key: tensor.to(config.device) for key, tensor in batch.items()}
        _synchronize(torch, config)
        started = time.perf_counter()
        loss = _train_step(model, batch, optimizer, scheduler, config, torch)
        _synchronize(torch, config)
        result.step_seconds.append(time.perf_counter() - started)
        result.losses.append(loss)
        result.tokens.append(int(batch["attention_mask"].sum().item()))
    logger.info("%s: %d steps, final loss %.4f", config.arm, config.steps, result.losses[-1])
    return result


def _train_step(
    model: Any, batch: dict, optimizer: Any, scheduler: Any, config: SFTConfig, torch: Any
) -> float:
    """One optimiser step; bf16 autocast on GPU, plain fp32 on CPU. Returns the loss as a float."""
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=config.on_gpu):
        loss = model(**batch).loss
    loss.backward()
    torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], config.grad_clip)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return float(loss.detach().float().item())


def _synchronize(torch: Any, config: SFTConfig) -> None:
    if config.on_gpu:
        torch.cuda.synchronize()


def save_adapter(model: Any, folder: str | Path) -> int:
    """Save the adapter with save_pretrained; return the adapter weights' size in bytes."""
    folder = Path(folder)
    model.save_pretrained(folder)
    weights = folder / "adapter_model.safetensors"
    if not weights.exists():
        raise FileNotFoundError(f"save_pretrained wrote no {weights.name} into {folder}")
    return weights.stat().st_size


def base_param_count(model: Any) -> int:
    """Parameters of the frozen base, counting 4-bit packed weights at their logical size."""
    count = 0
    for name, param in model.named_parameters():
        if "lora_" in name:
            continue
        quant_state = getattr(param, "quant_state", None)
        count += math.prod(quant_state.shape) if quant_state is not None else param.numel()
    return count


def model_flops_utilization(base_params: int, tokens_per_sec: float, peak_flops: float) -> float:
    """Achieved share of `peak_flops`, counting 4 * N FLOPs per token for adapter training.

    Forward is 2N; backward needs the activation gradients (2N) but no weight gradients of the
    frozen base, so 4N per token is the ceiling's accounting (LoRA Without Regret: ~2/3 of full FT).
    """
    if peak_flops <= 0:
        raise ValueError(f"peak_flops must be > 0, got {peak_flops}")
    return 4.0 * base_params * tokens_per_sec / peak_flops


def _require(module: str) -> Any:
    from notes_lab._deps import require

    return require(module)
