"""The smol-RL experiment: does class weighting collapse the policy, by its mechanism, with controls.

1. An SFT policy per label-noise level (LoRA on the base, merged), each trained on its own noise level.
2. A learning-rate sweep for the bandit, chosen on val by the expected reward (strong reward, low noise).
3. The factorial: label noise {low, high} x rewards {soft, strong, class-weighted, balanced} x seeds, all
   with the exact-expectation bandit from the SFT policy, curves on val, final policies scored on test once.
4. Group size: the sampled (GRPO) estimator at G = 2 and 8 on the cell where the collapse is predicted.
5. SFT vs RL at matched labelled examples: from the same base, SFT on N labelled rows against the bandit
   (strong reward) on N labelled prompts.
6. The theory the data allows: for each reward, the share of test rows on which answering "disruptive"
   maximises the expected reward under the generator's exact posterior.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from notes_lab import bandit, rewards, scoring, sft
from notes_lab.data import Split
from notes_lab.validation import check
from notes_lab.vocab import LABELS

logger = logging.getLogger(__name__)
NOISES = ("low", "high")


@dataclass(frozen=True)
class RLPlan:
    rewards: tuple[str, ...] = ("soft", "strong", "class_weighted", "balanced")
    seeds: tuple[int, ...] = (0, 1, 2)
    steps: int = 100
    prompts_per_step: int = 8
    learning_rates: tuple[float, ...] = (1e-4, 3e-4, 1e-3, 3e-3)
    group_sizes: tuple[int, ...] = (2, 8)
    eval_every: int = 50
    eval_rows: int = 128
    test_rows: int = 400
    rank: int = 8
    sft_steps: int = 150
    sft_learning_rate: float = 3e-3
    device: str = "cpu"
    threads: int | None = None

    def __post_init__(self) -> None:
        check(self, [
            ("rewards", set(self.rewards) <= set(rewards.REWARD_SPECS), f"must be among {sorted(rewards.REWARD_SPECS)}"),
            ("seeds", len(self.seeds) >= 1, "must name at least one seed"),
            ("learning_rates", len(self.learning_rates) >= 1, "must name at least one rate"),
            ("eval_every", 1 <= self.eval_every <= self.steps, "must be in [1, steps]"),
        ])  # fmt: skip

    def bandit(self, reward: str, seed: int, learning_rate: float, **changes: Any) -> bandit.BanditConfig:
        return bandit.BanditConfig(reward=reward, seed=seed, steps=self.steps, prompts_per_step=self.prompts_per_step,
                                   learning_rate=learning_rate, rank=self.rank, eval_every=self.eval_every,
                                   device=self.device, **changes)  # fmt: skip


@dataclass
class RLResults:
    sft: dict[str, dict[str, Any]] = field(default_factory=dict)  # noise -> test metrics of the SFT policy
    sweep: dict[float, bandit.BanditRun] = field(default_factory=dict)
    learning_rate: float = 0.0
    cells: dict[tuple[str, str], list[bandit.BanditRun]] = field(default_factory=dict)
    finals: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)  # test metrics per seed
    groups: dict[int, bandit.BanditRun] = field(default_factory=dict)
    matched: dict[str, dict[str, Any]] = field(default_factory=dict)
    theory: dict[tuple[str, str], float] = field(default_factory=dict)
    labelled_examples: int = 0


def sft_policy(base: str | Path, train: list[dict], plan: RLPlan, folder: Path) -> Path:
    """LoRA SFT on `train` (the qdora recipe's LoRA arm), merged into the base and saved with save_pretrained."""
    config = sft.SFTConfig(arm="lora", rank=16, alpha=32, learning_rate=plan.sft_learning_rate, steps=plan.sft_steps,
                           warmup_steps=min(sft.SFTConfig.warmup_steps, plan.sft_steps), device=plan.device,
                           threads=plan.threads)  # fmt: skip
    model, tokenizer = sft.build_arm(config, base)
    sft.train(model, tokenizer, train, config)
    merged = model.merge_and_unload()
    merged.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    _LOADED.pop(str(folder), None)  # a rewritten folder is a new start policy (a re-run in the same kernel)
    return folder


_LOADED: dict[str, tuple[Any, Any]] = {}


def start_policy(path: str | Path, plan: RLPlan, seed: int) -> tuple[Any, Any]:
    """A fresh LoRA on a copy of the starting model (loaded once per path, copied per run)."""
    import copy

    from notes_lab.models import load_causal_lm

    if str(path) not in _LOADED:
        _LOADED[str(path)] = load_causal_lm(str(path), device=plan.device)
    model, tokenizer = _LOADED[str(path)]
    return bandit.attach_lora(copy.deepcopy(model), plan.rank, seed), tokenizer


def reference_probs(path: str | Path, papers: list[dict], plan: RLPlan) -> list[list[float]]:
    from notes_lab.models import load_causal_lm

    model, tokenizer = load_causal_lm(str(path), device=plan.device)
    # the policy's own path and dtype (scoring autocasts to bf16 on CUDA, the bandit does not): KL 0 at step 0
    spec = rewards.reward_spec("strong")  # any reward: only the probabilities are kept
    actions = bandit.encode(tokenizer, papers)
    return list(bandit.evaluate_policy(model, tokenizer, papers, actions, None, spec, plan.device)["probs"])


def run_bandit(start: str | Path, split: Split, plan: RLPlan, cfg: bandit.BanditConfig, reference: list[list[float]],
               test_reference: list[list[float]] | None = None) -> tuple[bandit.BanditRun, dict[str, Any]]:  # fmt: skip
    """One bandit run from `start`: curves on val, then the final policy scored once on test."""
    model, tokenizer = start_policy(start, plan, cfg.seed)
    val = split.val[: plan.eval_rows]
    run = bandit.train(model, tokenizer, split.train, val, cfg, reference)
    test = split.test[: plan.test_rows]
    spec = rewards.reward_spec(cfg.reward, [p["disruption_label"] for p in split.train])
    final = bandit.evaluate_policy(
        model, tokenizer, test, bandit.encode(tokenizer, test), test_reference, spec, plan.device
    )
    return run, final


def run(plan: RLPlan, base: str | Path, splits: dict[str, Split], output_dir: str | Path) -> RLResults:
    results = RLResults(labelled_examples=plan.steps * plan.prompts_per_step)
    out = Path(output_dir)
    starts = {noise: sft_policy(base, splits[noise].train, plan, out / f"sft_{noise}") for noise in NOISES}
    val_ref = {n: reference_probs(starts[n], splits[n].val[: plan.eval_rows], plan) for n in NOISES}
    test_ref = {n: reference_probs(starts[n], splits[n].test[: plan.test_rows], plan) for n in NOISES}
    for noise in NOISES:
        results.sft[noise] = _static_metrics(splits[noise].test[: plan.test_rows], test_ref[noise])
    for rate in plan.learning_rates:
        cfg = plan.bandit("strong", plan.seeds[0], rate)
        results.sweep[rate] = run_bandit(starts["low"], splits["low"], plan, cfg, val_ref["low"])[0]
    results.learning_rate = max(
        plan.learning_rates, key=lambda r: results.sweep[r].evals[-1]["expected_reward"]
    )
    for noise in NOISES:
        for reward in plan.rewards:
            cell = [run_bandit(starts[noise], splits[noise], plan, plan.bandit(reward, seed, results.learning_rate),
                               val_ref[noise], test_ref[noise]) for seed in plan.seeds]  # fmt: skip
            results.cells[(noise, reward)] = [c[0] for c in cell]
            results.finals[(noise, reward)] = [c[1] for c in cell]
            logger.info("%s/%s: final disruptive shares %s", noise, reward,
                        [round(f["predicted_share/disruptive"], 3) for f in results.finals[(noise, reward)]])  # fmt: skip
    for group in plan.group_sizes:
        cfg = plan.bandit(
            "class_weighted", plan.seeds[0], results.learning_rate, estimator="sampled", group_size=group
        )
        results.groups[group] = run_bandit(starts["high"], splits["high"], plan, cfg, val_ref["high"])[0]
    results.matched = matched_examples(base, splits["low"], plan, results.learning_rate)
    results.theory = {(noise, reward): optimal_disruptive_share(splits[noise].test[: plan.test_rows], reward) for noise in NOISES
                      for reward in plan.rewards if reward != "balanced"}  # fmt: skip
    return results


def _static_metrics(papers: list[dict], probs: list[list[float]]) -> dict[str, Any]:
    from notes_lab import evaluate

    gold = [p["disruption_label"] for p in papers]
    metrics = evaluate.classification_metrics(gold, [LABELS[max(range(3), key=r.__getitem__)] for r in probs])
    metrics.update(evaluate.soft_class_metrics(gold, [dict(zip(LABELS, r, strict=True)) for r in probs]))
    metrics["label_nll"] = sum(-math.log(r[LABELS.index(g)]) for r, g in zip(probs, gold, strict=True)) / len(
        gold
    )
    return metrics


def matched_examples(
    base: str | Path, split: Split, plan: RLPlan, learning_rate: float
) -> dict[str, dict[str, Any]]:
    """From the same base and the same LoRA rank: SFT on N labelled rows vs the bandit on N labelled prompts."""
    config = sft.SFTConfig(arm="lora", rank=plan.rank, alpha=2 * plan.rank, learning_rate=plan.sft_learning_rate,
                           steps=plan.steps, warmup_steps=min(sft.SFTConfig.warmup_steps, plan.steps),
                           batch_size=plan.prompts_per_step, device=plan.device, threads=plan.threads)  # fmt: skip
    model, tokenizer = sft.build_arm(config, base)
    sft.train(model, tokenizer, split.train, config)
    log_probs = scoring.label_log_probs(model, tokenizer, split.test[: plan.test_rows], 64, plan.device)
    sft_probs = [[math.exp(row[label]) for label in LABELS] for row in log_probs]
    cfg = plan.bandit("strong", plan.seeds[0], learning_rate)
    rl_final = run_bandit(base, split, plan, cfg, reference_probs(base, split.val[: plan.eval_rows], plan))[1]
    return {"sft": _static_metrics(split.test[: plan.test_rows], sft_probs), "rl": rl_final}


def optimal_disruptive_share(papers: list[dict], reward: str) -> float:
    """Share of rows where answering "disruptive" maximises the expected reward under the exact posterior."""
    spec = rewards.reward_spec(reward)
    hits = 0
    for paper in papers:
        posterior = paper["bayes_posterior"]
        values = {a: sum(posterior[g] * (spec.contract_bonus + (spec.correct * spec.multiplier(g) if a == g else spec.wrong))
                         for g in LABELS) for a in LABELS}  # fmt: skip
        hits += max(LABELS, key=lambda a: values[a]) == "disruptive"
    return hits / len(papers)
