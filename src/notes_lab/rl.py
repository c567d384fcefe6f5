"""smol-RL: GRPO with verifiable rewards on the disruption task, through TRL's `GRPOTrainer`.

JustRL-style settings, every one explicit in `GRPOSettings`: no KL term (beta 0, so no reference
model), clip-higher (epsilon 0.2 low / 0.28 high), sampling temperature 1.0 with no top-p/top-k
truncation, groups of >= 4 completions per prompt, a constant learning rate, and one policy update per
generation batch (num_iterations 1, steps_per_generation = gradient_accumulation_steps = 1). With that
alignment TRL takes the detached current log-probs as the "old" ones, the importance ratio is exactly
1, and every ``clip_ratio/*`` metric is exactly 0 (`RLRun.clip_ratio_max`).

Advantages: reward minus the group mean, **not** divided by the group std (``scale_rewards="none"``,
Dr. GRPO's recommendation, and what Part 2's Tinker runs did). With std scaling a group holding one
correct and one wrong answer gets advantages +-1 whatever the rewards are, so the reward magnitudes
that Part 2's variants change (x3 for a correct "disruptive") would cancel inside each group.
`group_advantages` is the same arithmetic as a small pure function, used for the zero-spread metric.

The policy is a fresh LoRA on an fp32 base: the base with the SFT adapter merged in (RL from SFT) or
the bare base (RL from base). Held-out evaluation uses greedy decodes (`generation.greedy_generate`)
graded by `evaluate.evaluate_completions` plus the reward, at step 0 and every ``eval_every`` steps.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from notes_lab import evaluate, rewards, runtime, scoring
from notes_lab._deps import require
from notes_lab.generation import greedy_generate
from notes_lab.prompts import ANSWER_PREFIX, format_prompt

logger = logging.getLogger(__name__)

LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
CLIP_METRICS = ("clip_ratio/low_mean", "clip_ratio/high_mean", "clip_ratio/region_mean")


@dataclass(frozen=True)
class GRPOSettings:
    """One RL run; validation names the field and the rule."""

    reward: str
    seed: int = 0
    steps: int = 40
    prompts_per_step: int = 8
    num_generations: int = 4
    learning_rate: float = 2e-4
    max_completion_length: int = 24
    temperature: float = 1.0
    beta: float = 0.0
    epsilon: float = 0.2
    epsilon_high: float = 0.28
    scale_rewards: str = "none"
    loss_type: str = "dapo"
    lora_rank: int = 16
    lora_alpha: int = 32
    eval_every: int = 10
    eval_batch_size: int = 64
    threads: int | None = None
    deterministic: bool = True
    device: str = "cpu"

    def __post_init__(self) -> None:
        rules = [
            ("reward", self.reward in rewards.REWARD_SPECS, f"must be one of {sorted(rewards.REWARD_SPECS)}"),
            ("steps", self.steps >= 1, "must be >= 1"),
            ("prompts_per_step", self.prompts_per_step >= 1, "must be >= 1"),
            ("num_generations", self.num_generations >= 4, "must be >= 4 (JustRL-style groups)"),
            ("learning_rate", self.learning_rate > 0, "must be > 0"),
            ("max_completion_length", self.max_completion_length >= 1, "must be >= 1"),
            ("temperature", self.temperature > 0, "must be > 0"),
            ("beta", self.beta >= 0, "must be >= 0"),
            ("epsilon", 0 < self.epsilon < 1, "must be in (0, 1)"),
            ("epsilon_high", self.epsilon_high >= self.epsilon, "must be >= epsilon"),
            (
                "scale_rewards",
                self.scale_rewards in ("none", "group", "batch"),
                "must be none, group or batch",
            ),
            ("lora_rank", self.lora_rank >= 1, "must be >= 1"),
            ("eval_every", self.eval_every >= 1, "must be >= 1"),
            ("eval_batch_size", self.eval_batch_size >= 1, "must be >= 1"),
            ("threads", self.threads is None or self.threads >= 1, "must be None or >= 1"),
            ("device", self.device == "cpu" or self.device.startswith("cuda"), "must be 'cpu' or 'cuda[:i]'"),
        ]
        for name, ok, rule in rules:
            if not ok:
                raise ValueError(f"GRPOSettings.{name} {rule}, got {getattr(self, name)!r}")

    @property
    def on_cpu(self) -> bool:
        return self.device == "cpu"


@dataclass
class RLRun:
    """What one RL run measured: held-out evaluations and per-step training logs."""

    settings: GRPOSettings
    evals: list[dict[str, Any]] = field(default_factory=list)
    train_steps: list[dict[str, float]] = field(default_factory=list)
    train_seconds: float = 0.0

    @property
    def clip_ratio_max(self) -> float:
        """The largest clip-ratio value TRL logged (exactly 0 with one update per generation batch)."""
        values = [row[key] for row in self.train_steps for key in CLIP_METRICS if key in row]
        if not values:
            raise ValueError("no clip_ratio metrics were logged")
        return max(values)


def group_advantages(rewards_G: Any, scale: bool, eps: float = 1e-4) -> Any:
    """GRPO advantages of groups along the last axis: reward - group mean (/ (group std + eps) if `scale`).

    Same arithmetic as TRL (unbiased std, eps 1e-4). `rewards_G` may be a list or a tensor of shape
    (..., G); returns a float64 tensor of the same shape.
    """
    torch = require("torch")
    rewards_x_G = torch.as_tensor(rewards_G, dtype=torch.float64)
    if rewards_x_G.shape[-1] < 2:
        raise ValueError(f"rewards_G: a group needs >= 2 completions, got shape {tuple(rewards_x_G.shape)}")
    advantages_x_G = rewards_x_G - rewards_x_G.mean(dim=-1, keepdim=True)
    if scale:
        advantages_x_G = advantages_x_G / (rewards_x_G.std(dim=-1, keepdim=True) + eps)
    return advantages_x_G


def zero_spread_fraction(rewards_B_G: Any, atol: float = 1e-9) -> float:
    """Share of groups (rows) whose completions all got the same reward: no learning signal."""
    advantages_B_G = group_advantages(rewards_B_G, scale=False)
    flat_B = advantages_B_G.abs().amax(dim=-1) <= atol
    return float(flat_B.double().mean())


def prompt_dataset(papers: list[dict]) -> Any:
    """A `datasets.Dataset` with ``prompt`` (lab.prompts) and the gold label column the rewards read."""
    datasets = require("datasets")
    return datasets.Dataset.from_dict(
        {
            "prompt": [format_prompt(p) for p in papers],
            rewards.GOLD_COLUMN: [p["disruption_label"] for p in papers],
        }
    )


def load_policy(
    base_path: str | Path, adapter_dir: str | Path | None, settings: GRPOSettings
) -> tuple[Any, Any]:
    """fp32 base (+ the SFT adapter merged into it, if `adapter_dir`) with a fresh trainable LoRA on top.

    Merging the SFT adapter (a DoRA adapter for the QDoRA arm) keeps the step-0 policy equal to the
    SFT model while RL trains the same cheap LoRA in both arms: DoRA re-normalises every weight on
    every forward pass, which made each CPU step several times slower.
    """
    from notes_lab.models import load_causal_lm

    peft = require("peft")
    model, tokenizer = load_causal_lm(
        str(base_path), device=settings.device, dtype="float32", quantize_4bit=False, compute_dtype="float32"
    )
    if adapter_dir is not None:
        model = peft.PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()
    runtime.seed_everything(settings.seed)
    adapter = peft.LoraConfig(
        r=settings.lora_rank,
        lora_alpha=settings.lora_alpha,
        lora_dropout=0.0,
        target_modules=list(LORA_TARGETS),
        bias="none",
        task_type="CAUSAL_LM",
    )
    return peft.get_peft_model(model, adapter), tokenizer


def grpo_config(settings: GRPOSettings, output_dir: str | Path) -> Any:
    """TRL's GRPOConfig with every knob that matters for the recipe or for determinism spelled out."""
    trl = require("trl")
    batch = settings.prompts_per_step * settings.num_generations
    return trl.GRPOConfig(
        output_dir=str(output_dir),
        seed=settings.seed,
        data_seed=settings.seed,
        use_cpu=settings.on_cpu,
        bf16=False,
        fp16=False,
        max_steps=settings.steps,
        per_device_train_batch_size=batch,
        gradient_accumulation_steps=1,
        steps_per_generation=1,
        num_iterations=1,
        num_generations=settings.num_generations,
        max_completion_length=settings.max_completion_length,
        temperature=settings.temperature,
        top_p=1.0,
        top_k=0,
        min_p=None,
        repetition_penalty=1.0,
        beta=settings.beta,
        epsilon=settings.epsilon,
        epsilon_high=settings.epsilon_high,
        scale_rewards=settings.scale_rewards,
        loss_type=settings.loss_type,
        mask_truncated_completions=False,
        learning_rate=settings.learning_rate,
        lr_scheduler_type="constant",
        warmup_steps=0,
        weight_decay=0.0,
        max_grad_norm=1.0,
        optim="adamw_torch",
        disable_dropout=True,
        gradient_checkpointing=False,
        shuffle_dataset=True,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        log_completions=False,
        dataloader_num_workers=0,
        use_vllm=False,
    )


def evaluate_policy(
    model: Any, tokenizer: Any, papers: list[dict], spec: rewards.RewardSpec, settings: GRPOSettings
) -> dict[str, Any]:
    """Greedy decodes on `papers` (contract and label metrics, reward and components, length, hash) and
    the policy's label probabilities (`evaluate.soft_class_metrics`)."""
    prompts = [format_prompt(p) for p in papers]
    generated = greedy_generate(
        model, tokenizer, prompts, settings.max_completion_length, settings.eval_batch_size
    ).texts
    completions = [ANSWER_PREFIX + text for text in generated]  # the prompt ends inside the answer's "{"
    result = evaluate.evaluate_completions(papers, completions)
    gold = [p["disruption_label"] for p in papers]
    probabilities = scoring.label_probabilities(
        model, tokenizer, papers, settings.eval_batch_size, settings.device
    )
    result.update(evaluate.soft_class_metrics(gold, probabilities))
    scored = rewards.score_batch(completions, gold, spec)
    result.update(rewards.summarize_scores(scored))
    totals = [s.total for s in scored]
    result["reward_se"] = standard_error(totals)
    lengths = [len(tokenizer(text, add_special_tokens=False)["input_ids"]) for text in generated]
    result["completion_length"] = sum(lengths) / len(lengths)
    result["completion_length_se"] = standard_error(lengths)
    result["completions_sha256"] = hashlib.sha256("\x1e".join(completions).encode("utf-8")).hexdigest()
    return result


def standard_error(values: list[float]) -> float:
    """Sample standard deviation / sqrt(n); 0 for fewer than two values."""
    if len(values) < 2:
        return 0.0
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1) / len(values))


def _periodic_evaluation(run: RLRun, tokenizer: Any, papers: list[dict], spec: rewards.RewardSpec) -> Any:
    """A TrainerCallback that evaluates the policy every ``eval_every`` steps and after the last one."""
    transformers = require("transformers")
    settings = run.settings

    class PeriodicEvaluation(transformers.TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
            step = state.global_step
            if step % settings.eval_every == 0 or step == settings.steps:
                run.evals.append({"step": step, **evaluate_policy(model, tokenizer, papers, spec, settings)})

    return PeriodicEvaluation()


def train_grpo(
    policy: Any,
    tokenizer: Any,
    train_papers: list[dict],
    eval_papers: list[dict],
    settings: GRPOSettings,
    output_dir: str | Path,
) -> RLRun:
    """Run GRPO on `policy` (trained in place); evaluate at step 0, every ``eval_every`` steps and at the end."""
    trl = require("trl")
    runtime.configure_determinism(settings.deterministic, settings.threads)
    runtime.seed_everything(settings.seed)
    spec = rewards.reward_spec(settings.reward, [p["disruption_label"] for p in train_papers])
    reward_log = rewards.RewardLog()
    run = RLRun(settings=settings)
    run.evals.append({"step": 0, **evaluate_policy(policy, tokenizer, eval_papers, spec, settings)})
    trainer = trl.GRPOTrainer(
        model=policy,
        reward_funcs=rewards.make_reward_functions(spec, reward_log, completion_prefix=ANSWER_PREFIX),
        args=grpo_config(settings, output_dir),
        train_dataset=prompt_dataset(train_papers),
        processing_class=tokenizer,
        callbacks=[_periodic_evaluation(run, tokenizer, eval_papers, spec)],
    )
    started = time.perf_counter()
    trainer.train()
    run.train_seconds = time.perf_counter() - started
    run.train_steps = _train_steps(trainer.state.log_history, reward_log, settings.num_generations)
    logger.info(
        "GRPO %s seed %d: %d steps in %.1f s",
        settings.reward,
        settings.seed,
        settings.steps,
        run.train_seconds,
    )
    return run


def _train_steps(log_history: list[dict], reward_log: rewards.RewardLog, group_size: int) -> list[dict]:
    """TRL's per-step numeric logs, plus, from the scored generation batches, the fraction of groups with
    zero reward spread and the fraction of sampled completions with a valid payload."""
    rows = [
        {k: float(v) for k, v in entry.items() if isinstance(v, int | float)}
        for entry in log_history
        if "reward" in entry
    ]
    batches = reward_log.totals()
    if len(batches) != len(rows):
        raise RuntimeError(f"{len(batches)} scored generation batches but {len(rows)} logged training steps")
    for row, totals, scored in zip(rows, batches, reward_log.batches, strict=True):
        rewards_B_G = [totals[i : i + group_size] for i in range(0, len(totals), group_size)]
        row["zero_spread_fraction"] = zero_spread_fraction(rewards_B_G)
        row["valid_sample_fraction"] = sum(s.parsed.payload_valid for s in scored) / len(scored)
    return rows


def run_arm(
    base_path: str | Path,
    adapter_dir: str | Path | None,
    train_papers: list[dict],
    eval_papers: list[dict],
    settings: GRPOSettings,
    output_dir: str | Path,
) -> RLRun:
    """Load the policy (SFT adapter or fresh LoRA on the base), train it with GRPO, free it."""
    policy, tokenizer = load_policy(base_path, adapter_dir, settings)
    run = train_grpo(policy, tokenizer, train_papers, eval_papers, settings, output_dir)
    del policy
    if not settings.on_cpu:
        require("torch").cuda.empty_cache()
    return run


def sft_base_path(adapter_dir: str | Path, shared_cache: str | Path) -> Path:
    """The base-model folder the SFT adapter was trained on, found in `shared_cache` by its name.

    lab.models names a cached base by the hash of everything that built it, and peft records that
    folder as the adapter's ``base_model_name_or_path``: the same name means the same base.
    """
    import json

    config = json.loads((Path(adapter_dir) / "adapter_config.json").read_text(encoding="utf-8"))
    name = Path(str(config.get("base_model_name_or_path") or "")).name
    candidate = Path(shared_cache) / name
    if not name or not (candidate / "config.json").exists():
        raise FileNotFoundError(
            f"adapter {adapter_dir} was trained on base {name!r}, which is not in {shared_cache}: "
            "rerun the upstream SFT experiment with this shared cache"
        )
    return candidate


def final_values(runs: list[RLRun], key: str) -> list[float]:
    """One value per run (seed): `key` at the last held-out evaluation."""
    return [float(run.evals[-1][key]) for run in runs]


def deltas_from_start(runs: list[RLRun], key: str) -> list[float]:
    """One value per run (seed): `key` at the last evaluation minus `key` at step 0."""
    return [float(run.evals[-1][key]) - float(run.evals[0][key]) for run in runs]


def seed_band(runs: list[RLRun], key: str, source: str = "evals") -> dict[str, list[float]]:
    """Mean, SE, min and max over runs (seeds) at each step of `key`; `source` is "evals" or "train_steps"."""
    tables = [getattr(run, source) for run in runs]
    steps = [row["step"] for row in tables[0]]
    if any([row["step"] for row in table] != steps for table in tables):
        raise ValueError(f"seed_band({key!r}): the runs were evaluated at different steps")
    band: dict[str, list[float]] = {"steps": steps, "mean": [], "se": [], "min": [], "max": []}
    for index in range(len(steps)):
        values = [float(table[index][key]) for table in tables]
        band["mean"].append(sum(values) / len(values))
        band["se"].append(standard_error(values))
        band["min"].append(min(values))
        band["max"].append(max(values))
    return band
